package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.device.cpu.Matrix;
import dev.jrocm.runtime.device.cpu.Sgemm;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * The CPU GEMM paths on the blog MLP's shapes and on squares. Pitfall avoided: operands are
 * allocated and filled once per trial (never inside the measured call), and the output is
 * handed to a Blackhole so the call cannot be dropped. GFLOP/s = 2·m·n·k / time.
 */
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CpuGemmBenchmark {
    /** m×n×k and which operands are transposed (N/T for A then B). */
    @Param({"8x4096x3072:NT", "8x2048x4096:NT", "4096x3072x8:TN", "512x512x512:NN", "1024x1024x1024:NN"})
    public String shape;

    @Param({"cblas", "java"})
    public String path;

    private Arena arena;
    private Sgemm gemm;
    private Matrix a, b, c; // op(A) m×k, op(B) k×n, C m×n
    private boolean transA, transB;

    @Setup
    public void setUp() {
        String[] parts = shape.split("[x:]");
        int m = Integer.parseInt(parts[0]), n = Integer.parseInt(parts[1]), k = Integer.parseInt(parts[2]);
        transA = parts[3].charAt(0) == 'T';
        transB = parts[3].charAt(1) == 'T';
        gemm = switch (path) {
            case "java" -> CpuGemm.java();
            case "cblas" -> CpuGemm.cblas().orElseThrow(() -> new IllegalStateException("no CBLAS library here"));
            default -> throw new IllegalArgumentException(path);
        };
        arena = Arena.ofShared();
        Random random = new Random(42);
        a = filled(transA ? k : m, transA ? m : k, random);
        b = filled(transB ? n : k, transB ? k : n, random);
        c = filled(m, n, random);
    }

    private Matrix filled(int rows, int cols, Random random) {
        Matrix x = new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, (long) rows * cols), rows, cols);
        for (long i = 0; i < (long) rows * cols; i++) {
            x.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat() - 0.5f);
        }
        return x;
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void gemm(Blackhole bh) {
        CpuGemm.gemm(gemm, 1f, a, transA, b, transB, 0f, c);
        bh.consume(c.data());
    }
}
