package dev.jrocm.benchmarks;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.runtime.device.gpu.GpuBackend;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * jrocm's own host time in one GPU training step of the blog's MLP: {@link GpuBackend} over
 * {@link NullGpuDriver}, which drops every launch and GEMM. What remains is autograd, tensors,
 * scopes, the caching pool and kernel-argument packing — a floor under any GPU step, to which a
 * real driver adds its per-call cost (cuLaunchKernel, cuBLAS's host side) and the device its time.
 * The launches and GEMMs one step queues are printed at tear-down, to multiply by those costs.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class GpuStepHostBenchmark {
    @Param({"full", "lora"})
    public String run;

    @Param({"8"})
    public int batch;

    private NullGpuDriver driver;
    private GpuBackend backend;
    private Sequential model;
    private Adam adam;
    private BlogMlp.Batch data;
    private long steps;

    @Setup
    public void setUp() {
        driver = new NullGpuDriver();
        backend = new GpuBackend(driver);
        model = BlogMlp.model(backend);
        if (run.equals("lora")) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(1, 1, "fc1", "fc2", "fc3"));
            lora.freezeBase();
            adam = new Adam(lora.adapterParameters(), 1e-3f);
        } else {
            adam = new Adam(model.trainableParameters(), 1e-3f);
        }
        data = BlogMlp.batch(backend, batch, 42);
        BlogMlp.step(model, adam, data); // Adam's state is made at the first step: not counted below
        driver.launches = 0;
        driver.gemms = 0;
        steps = 0;
    }

    @TearDown
    public void tearDown() {
        System.out.printf("%n%s batch %d: %.1f kernel launches and %.1f GEMMs per step, %d driver allocations in all%n",
                run, batch, (double) driver.launches / steps, (double) driver.gemms / steps,
                backend.memoryStats().systemAllocations());
        adam.close();
        model.close();
        data.close();
        backend.close();
    }

    @Benchmark
    public float step() {
        steps++;
        return BlogMlp.step(model, adam, data);
    }
}
