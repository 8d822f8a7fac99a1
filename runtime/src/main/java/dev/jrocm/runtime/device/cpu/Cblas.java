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
 */
public final class Cblas implements Sgemm {
    private final Path library;
    private final boolean openBlas;
    private final String description;

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
        return Optional.of(new Cblas(probe.path(), openBlas, describe(probe.path(), openBlas)));
    }

    private static String describe(Path library, boolean openBlas) {
        if (openBlas) {
            // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
            return CStrings.read(cblas_h.openblas_get_config()).strip() + ", " + cblas_h.openblas_get_num_threads() + " threads";
        }
        return "CBLAS " + library.getFileName();
    }

    /** Sets OpenBLAS's thread count; false (and nothing done) when the library is not OpenBLAS. */
    public boolean setThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be ≥ 1, got " + threads);
        }
        if (!openBlas) {
            return false;
        }
        cblas_h.openblas_set_num_threads(threads);
        return true;
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
        cblas_h.cblas_sgemm(cblas_h.CblasRowMajor(),
                transA ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                transB ? cblas_h.CblasTrans() : cblas_h.CblasNoTrans(),
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    @Override
    public String name() { return "cblas"; }
}
