package dev.jrocm.benchmarks;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
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
 * One LoRA fine-tuning step (rank r on fc1–fc3, base frozen, Adam over the factors only) of the
 * blog's MLP on the CPU backend; compare with {@link TrainStepBenchmark} at the same batch.
 * Pitfall avoided: as there, everything is built once per trial, and the loss is read back.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class LoraStepBenchmark {
    @Param({"8", "64"})
    public int batch;

    @Param({"1"})
    public int rank;

    private Backend backend;
    private Sequential model;
    private Adam adam;
    private BlogMlp.Batch data;

    @Setup
    public void setUp() {
        backend = new CpuBackend();
        model = BlogMlp.model(backend);
        LoraModel lora = Lora.apply(model, LoraConfig.of(rank, 1, "fc1", "fc2", "fc3"));
        lora.freezeBase();
        adam = new Adam(lora.adapterParameters(), 1e-3f);
        data = BlogMlp.batch(backend, batch, 42);
    }

    @TearDown
    public void tearDown() {
        adam.close();
        model.close();
        data.close();
        backend.close();
    }

    @Benchmark
    public float step() {
        return BlogMlp.step(model, adam, data);
    }
}
