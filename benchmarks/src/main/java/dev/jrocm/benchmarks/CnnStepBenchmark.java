package dev.jrocm.benchmarks;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Flatten;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.MaxPool2d;
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

import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One Adam training step of issue #15's Fashion-MNIST CNN (conv 1→32 3×3 pad 1, ReLU, max-pool 2,
 * conv 32→64 3×3 pad 1, ReLU, max-pool 2, Linear 3136→128, ReLU, Linear →10; cross-entropy, Adam
 * 1e-3) on the CPU backend, on a fixed random batch. The peer is {@code benchmarks/pytorch/cnn_step.py}.
 * Pitfall avoided: the loss is read back, so the step is complete when the call returns.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class CnnStepBenchmark {
    @Param({"64"})
    public int batch;

    /** true: the main job's LoRA phase (rank 4, α 4 on conv1, conv2, fc1, fc2; base frozen). */
    @Param({"false", "true"})
    public boolean lora;

    private Backend backend;
    private StepBreakdown.Step step;

    @Setup
    public void setUp() {
        backend = new CpuBackend();
        step = step(backend, batch, lora);
    }

    @TearDown
    public void tearDown() {
        step.close();
        backend.close();
    }

    @Benchmark
    public float step() {
        return step.run();
    }

    /**
     * The recipe's model, Adam and a seeded batch (x standard normal (batch, 1, 28, 28), labels
     * 0..9); with {@code lora}, Adam trains rank-4 adapters on both convolutions and both Linear
     * layers of the frozen model, as the main job's second phase does.
     */
    static StepBreakdown.Step step(Backend backend, int batch, boolean lora) {
        Sequential model = new Sequential(
                "conv1", new Conv2d(backend, 1, 32, 3, 1, 1, 1, true, 1), "relu1", new ReLU(), "pool1", new MaxPool2d(2),
                "conv2", new Conv2d(backend, 32, 64, 3, 1, 1, 1, true, 2), "relu2", new ReLU(), "pool2", new MaxPool2d(2),
                "flat", new Flatten(), "fc1", new Linear(backend, 64 * 7 * 7, 128, 3), "relu3", new ReLU(),
                "fc2", new Linear(backend, 128, 10, 4));
        List<Tensor> trained = model.trainableParameters();
        if (lora) {
            LoraModel adapted = Lora.apply(model, LoraConfig.of(4, 4, "conv1", "conv2", "fc1", "fc2"), 6L);
            adapted.freezeBase();
            trained = adapted.adapterParameters();
        }
        Adam adam = new Adam(trained, 1e-3f);
        Random random = new Random(5);
        float[] xs = new float[batch * 28 * 28];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) random.nextGaussian();
        }
        int[] ys = new int[batch];
        for (int i = 0; i < batch; i++) {
            ys[i] = random.nextInt(10);
        }
        Tensor x = Scope.detached(() -> Tensor.of(backend, xs, batch, 1, 28, 28));
        Tensor y = Scope.detached(() -> Tensor.ofInts(backend, ys, batch));
        CrossEntropyLoss loss = new CrossEntropyLoss();
        return new StepBreakdown.Step() {
            @Override
            public float run() {
                try (Scope s = Scope.open()) {
                    adam.zeroGrad();
                    Tensor l = loss.forward(model.forward(x), y);
                    l.backward();
                    adam.step();
                    return l.item();
                }
            }

            @Override
            public void close() {
                adam.close();
                model.close();
                x.close();
                y.close();
            }
        };
    }
}
