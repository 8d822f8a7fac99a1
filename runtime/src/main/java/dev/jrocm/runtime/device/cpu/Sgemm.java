package dev.jrocm.runtime.device.cpu;

import java.lang.foreign.MemorySegment;

/**
 * One way of computing a row-major single-precision GEMM,
 * {@code C = alpha·op(A)·op(B) + beta·C}, where {@code op(X)} is X or Xᵀ.
 *
 * <p>Shapes: op(A) is m×k, op(B) is k×n, C is m×n. A is stored m×k (k×m when transposed) with
 * row stride {@code lda} floats, B likewise k×n (n×k) with {@code ldb}, C m×n with {@code ldc}.
 * Segments hold native-order floats. Arguments are validated by {@link CpuGemm}; implementations
 * may assume they are consistent. When {@code beta == 0}, C is not read (NaNs in it vanish), as
 * in BLAS.
 */
public interface Sgemm {

    void sgemm(boolean transA, boolean transB, int m, int n, int k,
               float alpha, MemorySegment a, int lda,
               MemorySegment b, int ldb,
               float beta, MemorySegment c, int ldc);

    /** A short name for logs and benchmarks, e.g. {@code "openblas"} or {@code "java"}. */
    String name();
}
