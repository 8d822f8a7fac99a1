package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.cpu.CpuGemm;
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

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * One full training step (zero grad, forward, cross-entropy, backward, Adam) of the blog's MLP
 * 3072 → 4096 → 2048 → 10 on the CPU backend. Pitfall avoided: the model, optimizer state and the
 * batch are created once per trial, so the step measures compute and memory traffic, not
 * allocation or first touch; the loss is read back (as a training loop does), which also keeps
 * the work from being eliminated. Samples/s = batch / time.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class TrainStepBenchmark {
    @Param({"8", "64", "256"})
    public int batch;

    /** {@code auto}: CBLAS when present; {@code java}: the pure-Java GEMM. */
    @Param({"auto"})
    public String gemm;

    /**
     * Real training steps taken before the trial (on 16 random batches, cycled): 0 measures a
     * fresh model; 1000 one whose Adam state has aged as in a long run (past step ~800 the
     * moments of dead units reach float's subnormal range, which made late steps slow). The
     * subnormal share of the moments is printed after the aging.
     */
    @Param({"0"})
    public int agedSteps;

    private Backend backend;
    private Sequential model;
    private Adam adam;
    private BlogMlp.Batch data;

    @Setup
    public void setUp() {
        backend = gemm.equals("java") ? new CpuBackend(CpuGemm.java()) : new CpuBackend();
        model = BlogMlp.model(backend);
        adam = new Adam(model.trainableParameters(), 1e-3f);
        data = BlogMlp.batch(backend, batch, 42);
        if (agedSteps > 0) {
            List<BlogMlp.Batch> batches = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                batches.add(BlogMlp.batch(backend, batch, 100 + i));
            }
            for (int step = 0; step < agedSteps; step++) {
                BlogMlp.step(model, adam, batches.get(step % batches.size()));
            }
            batches.forEach(BlogMlp.Batch::close);
            double[] sub = StepWindows.subnormalShares(model, adam);
            System.out.printf(Locale.ROOT, "%nafter %d steps: %.2f %% of m and %.2f %% of v are subnormal%n",
                    agedSteps, 100 * sub[0], 100 * sub[1]);
        }
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
