package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
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

import java.util.Random;
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

    private Backend backend;
    private Sequential model;
    private Adam adam;
    private Tensor x, y;
    private final CrossEntropyLoss lossFn = new CrossEntropyLoss();

    @Setup
    public void setUp() {
        backend = gemm.equals("java") ? new CpuBackend(CpuGemm.java()) : new CpuBackend();
        model = new Sequential("fc1", new Linear(backend, 3072, 4096, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, 4096, 2048, 2), "relu2", new ReLU(),
                "fc3", new Linear(backend, 2048, 10, 3));
        adam = new Adam(model.trainableParameters(), 1e-3f);
        Random random = new Random(42);
        float[] xs = new float[batch * 3072];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) random.nextGaussian();
        }
        int[] ys = new int[batch];
        for (int i = 0; i < batch; i++) {
            ys[i] = random.nextInt(10);
        }
        x = Tensor.of(backend, xs, batch, 3072);
        y = Tensor.ofInts(backend, ys, batch);
    }

    @TearDown
    public void tearDown() {
        adam.close();
        model.close();
        x.close();
        y.close();
        backend.close();
    }

    @Benchmark
    public float step() {
        try (Scope s = Scope.open()) {
            adam.zeroGrad();
            Tensor loss = lossFn.forward(model.forward(x), y);
            loss.backward();
            adam.step();
            return loss.item();
        }
    }
}
