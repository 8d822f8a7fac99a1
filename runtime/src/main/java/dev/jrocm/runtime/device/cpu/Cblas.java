package dev.jrocm.runtime.device.cpu;

import dev.jrocm.bindings.cblas.cblas_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.NativeLibrary;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;

/**
 * {@code cblas_sgemm} of the CBLAS library the probe found (OpenBLAS on Debian), called through
 * the generated bindings. Row-major is passed through as such: CBLAS handles the layout itself,
 * so nothing is copied or transposed on the Java side.
 *
 * <p>Threads: OpenBLAS is told to use one thread, and jrocm splits a large GEMM into one block
 * of C per core itself, on the same pool as its other parallel loops. Two thread pools on two
 * cores fight: OpenBLAS's threads keep spinning after a call while jrocm's next loop wants the
 * cores (measured: a batch-8 forward pass took 15 ms instead of 8).
 */
public final class Cblas implements Sgemm {
    /** Below this many multiply-adds a GEMM runs on the calling thread alone. */
    private static final long PARALLEL_WORK = 1L << 21;

    private final Path library;
    private final boolean openBlas;
    private final String description;
    private volatile int threads = Runtime.getRuntime().availableProcessors();

    private Cblas(Path library, boolean openBlas, String description) {
        this.library = library;
        this.openBlas = openBlas;
        this.description = description;
    }

    /** The CBLAS GEMM when a CBLAS library loads, else empty (see {@link NativeLibrary#CBLAS}). */
    public static Optional<Cblas> load() {
        NativeLibrary.Probe probe = NativeLibrary.CBLAS.probe();
        if (!probe.isLoaded()) {
            return Optional.empty();
        }
        boolean openBlas = probe.hasSymbol("openblas_get_config");
        if (openBlas) {
            cblas_h.openblas_set_num_threads(1);
        }
        return Optional.of(new Cblas(probe.path(), openBlas, describe(probe.path(), openBlas)));
    }

    private static String describe(Path library, boolean openBlas) {
        if (openBlas) {
            // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
            return CStrings.read(cblas_h.openblas_get_config()).strip();
        }
        return "CBLAS " + library.getFileName();
    }

    /** How many blocks (one per thread) a large GEMM is split into; the default is the core count. */
    public void setThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be ≥ 1, got " + threads);
        }
        this.threads = threads;
    }

    public int threads() { return threads; }

    /**
     * OpenBLAS's own thread count ({@code openblas_get_num_threads}, 1 once loaded here; -1 for
     * another CBLAS): the cheapest downcall there is, which the benchmarks time to show what the
     * FFM call itself costs.
     */
    public int nativeThreads() {
        return openBlas ? cblas_h.openblas_get_num_threads() : -1;
    }

    /** The file the GEMM comes from. */
    public Path library() { return library; }

    /** What the library says of itself, e.g. {@code OpenBLAS 0.3.21 … Haswell …, 2 threads}. */
    public String description() { return description; }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float alpha, MemorySegment a, int lda, MemorySegment b, int ldb,
                      float beta, MemorySegment c, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        int parts = (int) Math.min(threads, Math.max(1, (long) m * n * k / PARALLEL_WORK));
        if (parts == 1) {
            call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        // Split the longer side of C into parts blocks of whole 16-wide strips.
        boolean splitRows = m >= n;
        int length = splitRows ? m : n;
        int block = (length + parts - 1) / parts;
        block = (block + 15) / 16 * 16;
        int blocks = (length + block - 1) / block;
        int step = block;
        Parallel.forRange(blocks, 1, (from, to) -> {
            for (long i = from; i < to; i++) {
                int start = (int) (i * step);
                int size = Math.min(step, length - start);
                if (splitRows) { // rows of C and of op(A)
                    long aOffset = transA ? start : (long) start * lda;
                    call(transA, transB, size, n, k, alpha, at(a, aOffset), lda, b, ldb, beta, at(c, (long) start * ldc), ldc);
                } else { // columns of C and of op(B)
                    long bOffset = transB ? (long) start * ldb : start;
                    call(transA, transB, m, size, k, alpha, a, lda, at(b, bOffset), ldb, beta, at(c, start), ldc);
                }
            }
        });
    }

    private static MemorySegment at(MemorySegment s, long floatOffset) {
        return s.asSlice(floatOffset * Float.BYTES);
    }

    private static void call(boolean transA, boolean transB, int m, int n, int k,
                             float alpha, MemorySegment a, int lda, MemorySegment b, int ldb,
                             float beta, MemorySegment c, int ldc) {
        cblas_h.cblas_sgemm(cblas_h.CblasRowMajor(),
                transA ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                transB ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    @Override
    public String name() { return "cblas"; }
}
