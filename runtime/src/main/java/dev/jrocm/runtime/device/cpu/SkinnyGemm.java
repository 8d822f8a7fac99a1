package dev.jrocm.runtime.device.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GEMM for few rows of C (a batch of 8): {@code C = x·Wᵀ} (forward) and {@code C = dY·W} (input
 * gradient), where the whole cost is streaming W once from memory. A BLAS sgemm packs W into
 * panels first and so moves it more than once; these Vector API kernels ({@link SkinnyKernels})
 * read each element of W once and use it for every row of C while it is in a register, the way
 * sgemv does for one row. Every other shape, and every shape when the Vector API is not there,
 * goes to the fallback path — and, when the fallback is CBLAS, so do the thin ones where the
 * kernels' per-block work outweighs the streaming they save: x·Wᵀ with fewer than
 * {@value #MIN_DEPTH_NT} columns of W, dY·W with fewer than {@value #MIN_COLUMNS_NN} (measured,
 * docs/PERFORMANCE.md; a rank-1 LoRA update 8×4096×1 took 199 µs in the kernels and 3.3 µs in
 * OpenBLAS). Over pure Java the kernels keep them: JavaGemm was no better there (194 µs).
 *
 * <p>The Vector API is an incubator module: it is used only when {@code jdk.incubator.vector} is
 * in the boot layer ({@code --add-modules jdk.incubator.vector}) and its preferred vectors are at
 * least 256 bits wide (narrower ones, or its pure-Java fallback on an unsupported CPU, lose to
 * BLAS). {@code -Djrocm.cpu.skinny=false} turns it off.
 */
public final class SkinnyGemm implements Sgemm {
    /** The system property that turns the Vector API kernels off: {@code -Djrocm.cpu.skinny=false}. */
    public static final String PROPERTY = "jrocm.cpu.skinny";
    /** Rows of C up to which the skinny kernels take a GEMM. */
    public static final int MAX_ROWS = 16;
    /** Below this many multiply-adds a GEMM runs on the calling thread alone. */
    private static final long PARALLEL_WORK = 1L << 18;
    // Never started: a thread other than any caller, to ask whether a segment is confined to one.
    private static final Thread ELSEWHERE = Thread.ofVirtual().unstarted(() -> { });

    // A's rows copied into the heap: array loads keep the kernels small enough for C2 to inline
    // every vector operation (with all loads from segments it gave up on some and boxed them).
    // Per calling thread; workers only read the caller's copy while the caller waits.
    private static final ThreadLocal<float[][]> PACKED = ThreadLocal.withInitial(() -> new float[1][0]);

    private static final String UNAVAILABLE = probe();

    /** x·Wᵀ (B transposed) takes the kernels from this depth k on. */
    public static final int MIN_DEPTH_NT = 256;
    /** dY·W (B not transposed) takes the kernels from this many columns n of C on. */
    public static final int MIN_COLUMNS_NN = 128;

    private final Sgemm fallback;
    private final boolean everyShape;

    /** The skinny kernels where they are faster, {@code fallback} for everything else. */
    public SkinnyGemm(Sgemm fallback) {
        this(fallback, false);
    }

    private SkinnyGemm(Sgemm fallback, boolean everyShape) {
        this.fallback = fallback;
        this.everyShape = everyShape;
    }

    /**
     * The kernels for every shape they can compute (A not transposed, ≤ {@value #MAX_ROWS} rows),
     * whether or not they are the faster path there: for tests of the kernels and benchmarks.
     */
    public static SkinnyGemm kernelsOnly(Sgemm fallback) {
        return new SkinnyGemm(fallback, true);
    }

    /** Whether the Vector API kernels run here (see the class comment). */
    public static boolean vectorAvailable() { return UNAVAILABLE == null; }

    /** Why the Vector API kernels do not run here, or {@code null} when they do. */
    public static String whyUnavailable() { return UNAVAILABLE; }

    private static String probe() {
        if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
            return "-D" + PROPERTY + "=false";
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "jdk.incubator.vector is not in the boot layer (add --add-modules jdk.incubator.vector)";
        }
        int bits = SkinnyKernels.lanes() * Float.SIZE;
        return bits >= 256 ? null : "the preferred vector is " + bits + " bits wide; BLAS is faster";
    }

    /** Whether the kernels can compute this GEMM at all: the Vector API is there, A is not transposed, ≤ 16 rows. */
    public static boolean takes(boolean transA, int m) {
        return vectorAvailable() && !transA && m <= MAX_ROWS;
    }

    /** Whether this GEMM goes to the kernels when CBLAS is behind them: they can, and it is not one of the thin shapes. */
    public static boolean takes(boolean transA, boolean transB, int m, int n, int k) {
        return takes(transA, m) && (transB ? k >= MIN_DEPTH_NT : n >= MIN_COLUMNS_NN);
    }

    public Sgemm fallback() { return fallback; }

    @Override
    public String name() { return (everyShape ? "skinny kernels everywhere+" : "skinny+") + fallback.name(); }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float alpha, MemorySegment a, int lda, MemorySegment b, int ldb,
                      float beta, MemorySegment c, int ldc) {
        boolean kernels = everyShape || !(fallback instanceof Cblas) ? takes(transA, m) : takes(transA, transB, m, n, k);
        if (!kernels || m == 0 || n == 0 || k == 0 || alpha == 0) {
            fallback.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        long work = (long) m * n * k;
        boolean parallel = work >= PARALLEL_WORK
                && a.isAccessibleBy(ELSEWHERE) && b.isAccessibleBy(ELSEWHERE) && c.isAccessibleBy(ELSEWHERE);
        float[] x = pack(a, lda, m, k);
        if (transB) {
            // Units of four rows of B, so that each part but the last is whole 4×4 blocks.
            int units = Math.ceilDiv(n, 4);
            Parallel.Range body = (from, to) -> SkinnyKernels.nt(m, (int) from * 4, (int) Math.min(n, to * 4), k,
                    alpha, x, b, ldb, beta, c, ldc);
            run(units, parallel, body);
        } else {
            int strips = SkinnyKernels.strips(n);
            Parallel.Range body = (from, to) -> SkinnyKernels.nn(m, (int) from, (int) to, n, k,
                    alpha, x, b, ldb, beta, c, ldc);
            run(strips, parallel, body);
        }
    }

    /** The m×k matrix A, row stride lda, as an array with row stride k. */
    private static float[] pack(MemorySegment a, int lda, int m, int k) {
        float[][] holder = PACKED.get();
        if (holder[0].length < m * k) {
            holder[0] = new float[m * k];
        }
        float[] x = holder[0];
        for (int i = 0; i < m; i++) {
            MemorySegment.copy(a, ValueLayout.JAVA_FLOAT, (long) i * lda * Float.BYTES, x, i * k, k);
        }
        return x;
    }

    private static void run(int units, boolean parallel, Parallel.Range body) {
        if (parallel) {
            Parallel.forRange(units, 1, body);
        } else {
            body.run(0, units);
        }
    }
}
