package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The GPU backends' GEMM (hipBLAS / cuBLAS) on the shapes of {@link CpuGemmBenchmark}. Pitfall
 * avoided: GPU work is asynchronous, so every call synchronizes before it returns (otherwise
 * the time is that of queueing a launch). Without a GPU backend setup fails with the reason
 * ({@link #whyNoGpu()}), and scripts/bench.sh does not run it at all.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GpuGemmBenchmark {
    @Param({"8x4096x3072:NT", "8x2048x4096:NT", "8x4096x2048:NN", "4096x3072x8:TN", "2048x4096x8:TN",
            "256x4096x3072:NT", "256x4096x2048:NN", "4096x3072x256:TN",
            "512x512x512:NN", "1024x1024x1024:NN", "2048x2048x2048:NN"})
    public String shape;

    /** {@code hip} or {@code cuda}. */
    @Param({"hip", "cuda"})
    public String device;

    private Backend backend;
    private Buffer a, b, c;
    private int m, n, k;
    private boolean transA, transB;

    /** The first GPU backend available ({@code hip} or {@code cuda}), or null. */
    public static String gpuKind() {
        for (DeviceKind kind : new DeviceKind[] {DeviceKind.HIP, DeviceKind.CUDA}) {
            if (Devices.status(kind).available()) {
                return kind.id();
            }
        }
        return null;
    }

    /** Null when a GPU backend is available, else why neither is (one line). */
    public static String whyNoGpu() {
        StringBuilder why = new StringBuilder();
        for (DeviceKind kind : new DeviceKind[] {DeviceKind.HIP, DeviceKind.CUDA}) {
            BackendStatus status = Devices.status(kind);
            if (status.available()) {
                return null;
            }
            why.append(why.isEmpty() ? "" : "; ").append(kind.id()).append(": ").append(status.reason());
        }
        return why.toString();
    }

    @Setup
    public void setUp() {
        String[] parts = shape.split("[x:]");
        m = Integer.parseInt(parts[0]);
        n = Integer.parseInt(parts[1]);
        k = Integer.parseInt(parts[2]);
        transA = parts[3].charAt(0) == 'T';
        transB = parts[3].charAt(1) == 'T';
        backend = Devices.open(DeviceSpec.parse(device)); // throws, saying why, when that GPU is not there
        Random random = new Random(42);
        a = upload((long) m * k, random);
        b = upload((long) k * n, random);
        c = upload((long) m * n, random);
    }

    private Buffer upload(long floats, Random random) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(ValueLayout.JAVA_FLOAT, floats);
            for (long i = 0; i < floats; i++) {
                host.setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat() - 0.5f);
            }
            Buffer buffer = backend.allocate(floats * Float.BYTES);
            backend.copyFromHost(host, buffer);
            return buffer;
        }
    }

    @TearDown
    public void tearDown() {
        backend.close();
    }

    @Benchmark
    public Buffer gemm() {
        backend.gemm(transA, transB, m, n, k, 1f, a, b, 0f, c);
        backend.synchronize();
        return c;
    }
}
