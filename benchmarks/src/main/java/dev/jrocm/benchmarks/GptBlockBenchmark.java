package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
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
 * One training step of a GPT-2 block ({@link dev.jrocm.runtime.nn.GptBlock}: B = 8, T = 128,
 * C = 256, 4 heads) on the CPU backend ({@link StepBreakdown#gptStep}): forward, MSE against a
 * fixed target, backward, clipping to norm 1, AdamW. The peer is
 * {@code benchmarks/pytorch/gpt_block_step.py} (the same block and step in PyTorch). Built once
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
    private StepBreakdown.Step step;

    @Setup
    public void setUp() {
        backend = new CpuBackend();
        step = StepBreakdown.gptStep(backend, batch, time, channels, heads);
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
}
