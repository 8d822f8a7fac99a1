package dev.jrocm.benchmarks;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.GptBlock;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.optim.Optimizer;
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

import java.util.concurrent.TimeUnit;

/**
 * One training step of a GPT-2 block ({@link GptBlock}: B = 8, T = 128, C = 256, 4 heads) on the
 * CPU backend: forward, MSE against a fixed target, backward, clipping to norm 1, AdamW. The peer
 * is {@code benchmarks/pytorch/gpt_block_step.py} (the same block and step in PyTorch). Built once
 * per trial; the loss is read back, so the step is complete when the call returns.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class GptBlockBenchmark {
    @Param({"8"})
    public int batch;

    @Param({"128"})
    public int time;

    @Param({"256"})
    public int channels;

    @Param({"4"})
    public int heads;

    private Backend backend;
    private GptBlock block;
    private Adam adam;
    private Tensor x, target;

    @Setup
    public void setUp() {
        backend = new CpuBackend();
        block = new GptBlock(backend, channels, heads, 7);
        adam = Adam.adamW(block.trainableParameters(), 3e-4f, 0.1f);
        x = Tensor.empty(backend, batch, time, channels);
        target = Tensor.empty(backend, batch, time, channels);
        backend.normal(x.buffer(), 0f, 1f, 1);
        backend.normal(target.buffer(), 0f, 1f, 2);
    }

    @TearDown
    public void tearDown() {
        adam.close();
        block.close();
        x.close();
        target.close();
        backend.close();
    }

    @Benchmark
    public float step() {
        try (Scope s = Scope.open()) {
            adam.zeroGrad();
            Tensor loss = Ops.mseLoss(block.forward(x), target);
            loss.backward();
            Optimizer.clipGradNorm(block.trainableParameters(), 1.0);
            adam.step();
            return loss.item();
        }
    }
}
