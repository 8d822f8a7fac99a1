package dev.jrocm.runtime.device.cpu;

import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.Optional;

/**
 * Row-major {@code C = alpha·op(A)·op(B) + beta·C} on the CPU, through the CBLAS library the probe
 * found or, without one, jrocm's own parallel blocked {@link JavaGemm}. Shapes are checked here,
 * once, so the two paths need not.
 *
 * <p>The path is chosen once: {@code -Djrocm.cpu.gemm=auto|cblas|java} ({@code auto}, the
 * default, takes CBLAS when it loads, with {@link SkinnyGemm}'s Vector API kernels in front of it
 * for few-row GEMMs when {@code jdk.incubator.vector} is there: measured faster than OpenBLAS at
 * every shape they take, 1.5× at the batch-8 forward GEMMs; {@code -Djrocm.cpu.skinny=false}
 * leaves them out). Tests and benchmarks call a path directly.
 */
public final class CpuGemm {
    /** The system property that chooses the path: {@code auto}, {@code cblas} or {@code java}. */
    public static final String PROPERTY = "jrocm.cpu.gemm";

    private CpuGemm() {}

    private static final class Paths {
        static final JavaGemm JAVA = new JavaGemm();
        static final Optional<Cblas> CBLAS = Cblas.load();
        static final Optional<SkinnyGemm> SKINNY = SkinnyGemm.vectorAvailable()
                ? Optional.of(new SkinnyGemm(CBLAS.<Sgemm>map(c -> c).orElse(JAVA))) : Optional.empty();
        static final Sgemm DEFAULT = choose(System.getProperty(PROPERTY, "auto"));

        static {
            System.getLogger(CpuGemm.class.getName()).log(System.Logger.Level.DEBUG, () -> "CPU GEMM: " + describe(DEFAULT));
        }
    }

    static Sgemm choose(String setting) {
        return switch (setting.strip().toLowerCase(Locale.ROOT)) {
            case "auto", "" -> Paths.SKINNY.<Sgemm>map(s -> s).orElse(Paths.CBLAS.<Sgemm>map(c -> c).orElse(Paths.JAVA));
            case "java" -> Paths.JAVA;
            case "cblas" -> Paths.CBLAS.orElseThrow(() -> new IllegalStateException(
                    "-D" + PROPERTY + "=cblas but no CBLAS library loads: "
                            + dev.jrocm.runtime.device.NativeLibrary.CBLAS.probe().problem()));
            default -> throw new IllegalArgumentException(
                    "-D" + PROPERTY + "=" + setting + " is not one of auto, cblas, java");
        };
    }

    /**
     * What a path is, for people: {@code OpenBLAS 0.3.21 … (libopenblas.so.0), split over 2
     * threads}, {@code Vector API for ≤ 16 rows, else …}, {@code pure Java}.
     */
    public static String describe(Sgemm path) {
        return switch (path) {
            case Cblas c -> c.description() + " (" + c.library() + "), split over " + c.threads() + " threads";
            case SkinnyGemm s -> "Vector API kernels for ≤ " + SkinnyGemm.MAX_ROWS + " rows, else " + describe(s.fallback());
            case JavaGemm j -> "pure Java";
            default -> path.name();
        };
    }

    /** The path used by default (see the class comment). */
    public static Sgemm defaultPath() { return Paths.DEFAULT; }

    /** The pure-Java path, always there. */
    public static JavaGemm java() { return Paths.JAVA; }

    /**
     * The Vector API kernels for few rows of C over the CBLAS path (the pure-Java one without a
     * BLAS), when {@link SkinnyGemm#vectorAvailable()}.
     */
    public static Optional<SkinnyGemm> skinny() { return Paths.SKINNY; }

    /** The CBLAS path, when a CBLAS library loads. */
    public static Optional<Cblas> cblas() { return Paths.CBLAS; }

    /** {@code C = alpha·op(A)·op(B) + beta·C} on the default path. */
    public static void gemm(float alpha, Matrix a, boolean transA, Matrix b, boolean transB, float beta, Matrix c) {
        gemm(defaultPath(), alpha, a, transA, b, transB, beta, c);
    }

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C} on the given path. A shape mismatch throws
     * {@link IllegalArgumentException} naming the shapes involved.
     */
    public static void gemm(Sgemm path, float alpha, Matrix a, boolean transA, Matrix b, boolean transB,
                            float beta, Matrix c) {
        int m = transA ? a.cols() : a.rows();
        int k = transA ? a.rows() : a.cols();
        int kb = transB ? b.cols() : b.rows();
        int n = transB ? b.rows() : b.cols();
        if (k != kb) {
            throw new IllegalArgumentException("gemm: op(A) is " + m + "×" + k + describe("A", a, transA)
                    + " but op(B) is " + kb + "×" + n + describe("B", b, transB)
                    + ": the inner dimensions " + k + " and " + kb + " differ");
        }
        if (c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("gemm: C is " + c.shape() + " but op(A)·op(B) is " + m + "×" + n
                    + " (op(A) " + m + "×" + k + describe("A", a, transA) + ", op(B) " + k + "×" + n + describe("B", b, transB) + ")");
        }
        requireNativeFor(path, a, "A");
        requireNativeFor(path, b, "B");
        requireNativeFor(path, c, "C");
        path.sgemm(transA, transB, m, n, k, alpha, a.data(), Math.max(1, a.cols()), b.data(), Math.max(1, b.cols()),
                beta, c.data(), Math.max(1, n));
    }

    private static String describe(String name, Matrix x, boolean transposed) {
        return " (" + name + " " + x.shape() + (transposed ? ", transposed)" : ")");
    }

    private static void requireNativeFor(Sgemm path, Matrix x, String name) {
        // A native library can only be handed off-heap memory.
        if (path instanceof Cblas && !x.data().isNative()) {
            throw new IllegalArgumentException("gemm: " + name + " (" + x.shape()
                    + ") is on the Java heap; the " + path.name() + " path needs native memory (Arena.allocate)");
        }
    }
}
