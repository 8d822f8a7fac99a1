package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
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
 * The machine's memory bandwidth as the CPU backend sees it: one copy of a buffer far larger
 * than the caches, GB/s = 2·size / time (read + write). The floor every training-step figure is
 * compared with. Pitfall avoided: both buffers are filled in setup, so no page is touched for
 * the first time inside the measurement.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CopyBandwidthBenchmark {
    /** Megabytes copied per operation (the blog model's fc1 weight is 48 MiB). */
    @Param({"256"})
    public int megabytes;

    private Backend backend;
    private Buffer source, target;

    @Setup
    public void setUp() {
        backend = new CpuBackend();
        source = backend.allocate((long) megabytes << 20);
        target = backend.allocate((long) megabytes << 20);
        backend.fill(source, 1f);
        backend.fill(target, 0f);
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }

    @Benchmark
    public Buffer copy() {
        backend.copy(source, target);
        return target;
    }
}
