package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.device.cpu.Matrix;
import dev.jrocm.runtime.device.cpu.Sgemm;
import dev.jrocm.runtime.device.cpu.SkinnyGemm;
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
 * The CPU GEMM paths as jrocm calls them (row-major, either operand transposed) on the blog MLP's
 * GEMMs at batch 8 and 256 and on squares. Pitfall avoided: operands are allocated and filled
 * with random values once per trial (never zeros, never inside the measured call); a large B
 * rotates among copies so that it is read from memory, not from cache ({@link #copies}); C is
 * returned so the call cannot be dropped. benchmarks/summarize.py turns the time into GFLOP/s
 * (2·m·n·k / time) and GB/s (the fewest bytes: A, B read once, C written once / time).
 *
 * <p>Paths: {@code cblas} (OpenBLAS through FFM, one block of C per core), {@code skinny} (the
 * Vector API kernels for ≤ 16 rows; needs {@code --add-modules jdk.incubator.vector}),
 * {@code java} (the pure-Java blocked, parallel GEMM), {@code naive} (three loops, one thread:
 * what a first try in Java gives). Combinations a path does not take fail in setup, saying why;
 * scripts/bench.sh picks the combinations with {@code -p}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CpuGemmBenchmark {
    /** m×n×k and which operands are transposed (N/T for A then B). */
    @Param({
            // batch 8: fc1 forward x·W1ᵀ, fc2 forward, fc2 input gradient dY·W2, weight gradients dYᵀ·X
            "8x4096x3072:NT", "8x2048x4096:NT", "8x4096x2048:NN", "4096x3072x8:TN", "2048x4096x8:TN",
            // batch 256: the same GEMMs
            "256x4096x3072:NT", "256x4096x2048:NN", "4096x3072x256:TN",
            "512x512x512:NN", "1024x1024x1024:NN", "2048x2048x2048:NN"})
    public String shape;

    @Param({"cblas", "skinny", "java", "naive"})
    public String path;

    /**
     * CBLAS only: blocks of C (one OpenBLAS call, one thread each); 0 = one per core, as jrocm runs.
     * {@code -p threads=1} against numpy under OPENBLAS_NUM_THREADS=1 isolates the cost of FFM.
     */
    @Param({"0"})
    public int threads;

    private Arena arena;
    private Sgemm gemm;
    private Matrix a, c;    // op(A) m×k, C m×n
    private Matrix[] bs;     // copies of op(B) k×n, taken in turn
    private int turn;
    private boolean transA, transB;

    @Setup
    public void setUp() {
        String[] parts = shape.split("[x:]");
        int m = Integer.parseInt(parts[0]), n = Integer.parseInt(parts[1]), k = Integer.parseInt(parts[2]);
        transA = parts[3].charAt(0) == 'T';
        transB = parts[3].charAt(1) == 'T';
        gemm = switch (path) {
            case "cblas" -> {
                var cblas = CpuGemm.cblas().orElseThrow(() -> new IllegalStateException("no CBLAS library here"));
                cblas.setThreads(threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
                yield cblas;
            }
            case "skinny" -> { // the kernels themselves, also at shapes where the default path leaves them out
                SkinnyGemm skinny = SkinnyGemm.kernelsOnly(CpuGemm.skinny().orElseThrow(() -> new IllegalStateException(
                        "skinny path off: " + SkinnyGemm.whyUnavailable())).fallback());
                if (!SkinnyGemm.takes(transA, m)) {
                    throw new IllegalStateException("the skinny path does not take " + shape
                            + " (it takes ≤ " + SkinnyGemm.MAX_ROWS + " rows of C, A not transposed)");
                }
                yield skinny;
            }
            case "java" -> CpuGemm.java();
            case "naive" -> new NaiveGemm();
            default -> throw new IllegalArgumentException(path);
        };
        arena = Arena.ofShared();
        Random random = new Random(42);
        a = filled(transA ? k : m, transA ? m : k, random);
        bs = new Matrix[copies((long) k * n * Float.BYTES)];
        for (int i = 0; i < bs.length; i++) {
            bs[i] = filled(transB ? n : k, transB ? k : n, random);
        }
        c = filled(m, n, random);
    }

    private Matrix filled(int rows, int cols, Random random) {
        Matrix x = new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, (long) rows * cols), rows, cols);
        for (long i = 0; i < (long) rows * cols; i++) {
            x.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, random.nextFloat() - 0.5f);
        }
        return x;
    }

    /**
     * A B of 8 MiB or more (the weight matrices) is taken in turn from copies of ≥ 96 MiB in all,
     * so each call reads it from memory, as a training step does, not from the 32 MiB L3 where
     * a 33.5 MB matrix read over and over mostly stays. benchmarks/numpy/gemm.py does the same.
     */
    static int copies(long bytes) {
        return bytes < (8L << 20) ? 1 : (int) Math.max(2, Math.ceilDiv(96L << 20, bytes));
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment gemm() {
        Matrix b = bs[turn];
        turn = turn + 1 == bs.length ? 0 : turn + 1;
        CpuGemm.gemm(gemm, 1f, a, transA, b, transB, 0f, c);
        return c.data();
    }

    /** The textbook three loops, one dot product per element of C, on the calling thread. */
    static final class NaiveGemm implements Sgemm {
        private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

        @Override
        public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                          MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    float sum = 0;
                    for (int p = 0; p < k; p++) {
                        float x = a.getAtIndex(F, transA ? (long) p * lda + i : (long) i * lda + p);
                        float y = b.getAtIndex(F, transB ? (long) j * ldb + p : (long) p * ldb + j);
                        sum += x * y;
                    }
                    long at = (long) i * ldc + j;
                    c.setAtIndex(F, at, beta == 0 ? alpha * sum : alpha * sum + beta * c.getAtIndex(F, at));
                }
            }
        }

        @Override
        public String name() { return "naive"; }
    }
}
