package dev.jrocm.runtime.device.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The Vector API kernels of {@link SkinnyGemm}: few rows of C, each element of B (the weight
 * matrix) loaded from memory once and used for four rows of C while it is in a register (more
 * rows re-read it from cache). Loaded only after {@link SkinnyGemm#vectorAvailable()} found
 * {@code jdk.incubator.vector} in the boot layer; only SkinnyGemm calls it.
 *
 * <p>Register budget (32 vector registers with AVX-512): 16 accumulators. Four rows of A against
 * four rows of B (NT) loads 8 vectors per 16 multiply-adds. Measured at 8×4096×3072 (2 cores):
 * 1.6 ms, 124 GFLOP/s, W at 31 GB/s; 8 A rows × 2 B rows (10 loads per 16) took 2.5 ms, and
 * cutting k into 2 KiB chunks so that the second row group finds B in L1 took 2.0–2.3 ms: the
 * kernel is bound by issuing loads (with the segment's checks), not by memory.
 *
 * <p>C2 must inline every vector operation or it boxes vectors on the heap (seen: 7× slower,
 * 140 young GCs per run): so A is read from an array (its segment loads made the method too
 * large to inline), and sums leave the kernels as floats or through arrays, never as vectors
 * handed to another method.
 */
final class SkinnyKernels {
    private SkinnyKernels() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    /** NN: columns of C per strip (four vectors), and rows of B per block: a block's strip
     *  (32 × 256 B) stays in L1 while every group of four A rows passes over it. Measured at
     *  8×3072×4096: 16 rows 2.8 ms, 32 rows 2.2 ms, 64 rows 2.2 ms. */
    private static final int STRIP = 4 * L;
    private static final int KB = 32;

    /** The vector width in floats, for the caller's decision whether vectors pay at all. */
    static int lanes() { return L; }

    // ---- NT: C[i][j] = alpha·⟨A row i, B row j⟩ + beta·C[i][j] --------------------------------

    /** Rows j of B in [jFrom, jTo) (a multiple of four apart, except at n), all m rows of C. */
    static void nt(int m, int jFrom, int jTo, int k, float alpha, float[] a,
                   MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        int lda = k;
        float[] lanes = new float[16 * L]; // (16 sums, L lanes) of one block, added up in order
        int j = jFrom;
        for (; j + 4 <= jTo; j += 4) {
            int i = 0;
            for (; i + 4 <= m; i += 4) {
                nt4x4(lanes, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
            }
            for (; i < m; i++) {
                nt1x4(lanes, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
            }
        }
        for (; j < jTo; j++) {
            for (int i = 0; i < m; i++) {
                float dot = dot(lanes, a, i * lda, b, (long) j * ldb, k);
                store(c, (long) i * ldc + j, alpha, dot, beta);
            }
        }
    }

    private static void nt4x4(float[] lanes, int i, int j, int k, float alpha, float[] a, int lda,
                              MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        int a0 = i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        long b0 = (long) j * ldb * 4, b1 = b0 + (long) ldb * 4, b2 = b1 + (long) ldb * 4, b3 = b2 + (long) ldb * 4;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int kv = k - k % L;
        for (int p = 0; p < kv; p += L) {
            long o = (long) p * 4;
            FloatVector w0 = FloatVector.fromMemorySegment(S, b, b0 + o, NATIVE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, b, b1 + o, NATIVE);
            FloatVector w2 = FloatVector.fromMemorySegment(S, b, b2 + o, NATIVE);
            FloatVector w3 = FloatVector.fromMemorySegment(S, b, b3 + o, NATIVE);
            FloatVector x = FloatVector.fromArray(S, a, a0 + p);
            c00 = w0.fma(x, c00); c01 = w1.fma(x, c01); c02 = w2.fma(x, c02); c03 = w3.fma(x, c03);
            x = FloatVector.fromArray(S, a, a1 + p);
            c10 = w0.fma(x, c10); c11 = w1.fma(x, c11); c12 = w2.fma(x, c12); c13 = w3.fma(x, c13);
            x = FloatVector.fromArray(S, a, a2 + p);
            c20 = w0.fma(x, c20); c21 = w1.fma(x, c21); c22 = w2.fma(x, c22); c23 = w3.fma(x, c23);
            x = FloatVector.fromArray(S, a, a3 + p);
            c30 = w0.fma(x, c30); c31 = w1.fma(x, c31); c32 = w2.fma(x, c32); c33 = w3.fma(x, c33);
        }
        // Out through an array (a vector handed to a method C2 does not inline is boxed), and
        // lanes added in a fixed order: reduceLanes(ADD) may add them in another order once
        // compiled than interpreted, and training must give the same bits run after run.
        float[] t = lanes;
        c00.intoArray(t, 0); c01.intoArray(t, L); c02.intoArray(t, 2 * L); c03.intoArray(t, 3 * L);
        c10.intoArray(t, 4 * L); c11.intoArray(t, 5 * L); c12.intoArray(t, 6 * L); c13.intoArray(t, 7 * L);
        c20.intoArray(t, 8 * L); c21.intoArray(t, 9 * L); c22.intoArray(t, 10 * L); c23.intoArray(t, 11 * L);
        c30.intoArray(t, 12 * L); c31.intoArray(t, 13 * L); c32.intoArray(t, 14 * L); c33.intoArray(t, 15 * L);
        for (int r = 0; r < 4; r++) {
            finish(t, 4 * r, i + r, j, k, kv, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    /** The sum of the L lanes at lanes[from·L ..], first to last. */
    private static float sum(float[] lanes, int from) {
        float sum = 0;
        for (int x = from * L, end = x + L; x < end; x++) {
            sum += lanes[x];
        }
        return sum;
    }

    /** Row i of C, columns j..j+3: the four sums reduced, the k tail added, stored. */
    private static void finish(float[] lanes, int from, int i, int j,
                               int k, int kv, float alpha, float[] a, int lda, MemorySegment b, int ldb,
                               float beta, MemorySegment c, int ldc) {
        int aRow = i * lda;
        long cRow = (long) i * ldc + j;
        store(c, cRow, alpha, sum(lanes, from) + tail(a, aRow, b, (long) j * ldb, kv, k), beta);
        store(c, cRow + 1, alpha, sum(lanes, from + 1) + tail(a, aRow, b, (long) (j + 1) * ldb, kv, k), beta);
        store(c, cRow + 2, alpha, sum(lanes, from + 2) + tail(a, aRow, b, (long) (j + 2) * ldb, kv, k), beta);
        store(c, cRow + 3, alpha, sum(lanes, from + 3) + tail(a, aRow, b, (long) (j + 3) * ldb, kv, k), beta);
    }

    private static void nt1x4(float[] lanes, int i, int j, int k, float alpha, float[] a, int lda,
                              MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        int a0 = i * lda;
        long b0 = (long) j * ldb * 4, b1 = b0 + (long) ldb * 4, b2 = b1 + (long) ldb * 4, b3 = b2 + (long) ldb * 4;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        int kv = k - k % L;
        for (int p = 0; p < kv; p += L) {
            long o = (long) p * 4;
            FloatVector x = FloatVector.fromArray(S, a, a0 + p);
            c0 = FloatVector.fromMemorySegment(S, b, b0 + o, NATIVE).fma(x, c0);
            c1 = FloatVector.fromMemorySegment(S, b, b1 + o, NATIVE).fma(x, c1);
            c2 = FloatVector.fromMemorySegment(S, b, b2 + o, NATIVE).fma(x, c2);
            c3 = FloatVector.fromMemorySegment(S, b, b3 + o, NATIVE).fma(x, c3);
        }
        c0.intoArray(lanes, 0); c1.intoArray(lanes, L); c2.intoArray(lanes, 2 * L); c3.intoArray(lanes, 3 * L);
        finish(lanes, 0, i, j, k, kv, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    private static float dot(float[] lanes, float[] a, int aRow, MemorySegment b, long bRow, int k) {
        FloatVector acc = FloatVector.zero(S);
        int kv = k - k % L;
        for (int p = 0; p < kv; p += L) {
            acc = FloatVector.fromArray(S, a, aRow + p)
                    .fma(FloatVector.fromMemorySegment(S, b, (bRow + p) * 4, NATIVE), acc);
        }
        acc.intoArray(lanes, 0);
        return sum(lanes, 0) + tail(a, aRow, b, bRow, kv, k);
    }

    private static float tail(float[] a, int aRow, MemorySegment b, long bRow, int from, int k) {
        float sum = 0;
        for (int p = from; p < k; p++) {
            sum += a[aRow + p] * b.getAtIndex(F, bRow + p);
        }
        return sum;
    }

    private static void store(MemorySegment c, long index, float alpha, float dot, float beta) {
        // beta == 0: C is not read, as in BLAS (NaNs in it vanish).
        c.setAtIndex(F, index, beta == 0 ? alpha * dot : alpha * dot + beta * c.getAtIndex(F, index));
    }

    // ---- NN: C[i][:] = alpha·Σ_p A[i][p]·B[p][:] + beta·C[i][:] ---------------------------------

    /** Number of column strips NN splits C into (the last may be narrower). */
    static int strips(int n) { return Math.ceilDiv(n, STRIP); }

    /** Column strips [sFrom, sTo) of C, all m rows. */
    static void nn(int m, int sFrom, int sTo, int n, int k, float alpha, float[] a,
                   MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        int lda = k;
        float[] tile = new float[4 * STRIP]; // (4, STRIP) sums of one block
        // Rows of B block by block, each block across this part's whole width: every row of the
        // block is then read front to back, a few streams the prefetcher follows, where a
        // strip's full height at once touched 256 B per row and ran latency-bound.
        int full = Math.min(sTo, n / STRIP);
        for (int p = 0; p < k; p += KB) {
            int pe = Math.min(k, p + KB);
            boolean first = p == 0;
            for (int s = sFrom; s < full; s++) {
                int j = s * STRIP;
                int i = 0;
                for (; i + 4 <= m; i += 4) {
                    nn4(tile, i, j, p, pe, first, alpha, a, lda, b, ldb, beta, c, ldc);
                }
                for (; i < m; i++) {
                    nn1(tile, i, j, p, pe, first, alpha, a, lda, b, ldb, beta, c, ldc);
                }
            }
        }
        for (int s = Math.max(sFrom, full); s < sTo; s++) {
            int j = s * STRIP;
            {
                // the last, narrow strip: one column at a time, plain loops
                for (int i = 0; i < m; i++) {
                    for (int jj = j; jj < n; jj++) {
                        float sum = 0;
                        for (int p = 0; p < k; p++) {
                            sum += a[i * lda + p] * b.getAtIndex(F, (long) p * ldb + jj);
                        }
                        store(c, (long) i * ldc + jj, alpha, sum, beta);
                    }
                }
            }
        }
    }

    /** Rows i..i+3, columns j..j+STRIP of C, over rows [p, pe) of B; the first block applies beta. */
    private static void nn4(float[] tile, int i, int j, int p, int pe, boolean first, float alpha, float[] a, int lda,
                            MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int r0 = i * lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
        for (int q = p; q < pe; q++) {
            long o = ((long) q * ldb + j) * 4;
            FloatVector w0 = FloatVector.fromMemorySegment(S, b, o, NATIVE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, b, o + 4L * L, NATIVE);
            FloatVector w2 = FloatVector.fromMemorySegment(S, b, o + 8L * L, NATIVE);
            FloatVector w3 = FloatVector.fromMemorySegment(S, b, o + 12L * L, NATIVE);
            FloatVector x = FloatVector.broadcast(S, a[r0 + q]);
            c00 = w0.fma(x, c00); c01 = w1.fma(x, c01); c02 = w2.fma(x, c02); c03 = w3.fma(x, c03);
            x = FloatVector.broadcast(S, a[r1 + q]);
            c10 = w0.fma(x, c10); c11 = w1.fma(x, c11); c12 = w2.fma(x, c12); c13 = w3.fma(x, c13);
            x = FloatVector.broadcast(S, a[r2 + q]);
            c20 = w0.fma(x, c20); c21 = w1.fma(x, c21); c22 = w2.fma(x, c22); c23 = w3.fma(x, c23);
            x = FloatVector.broadcast(S, a[r3 + q]);
            c30 = w0.fma(x, c30); c31 = w1.fma(x, c31); c32 = w2.fma(x, c32); c33 = w3.fma(x, c33);
        }
        // Out through an array: a vector handed to a method C2 does not inline is boxed.
        float[] t = tile;
        c00.intoArray(t, 0); c01.intoArray(t, L); c02.intoArray(t, 2 * L); c03.intoArray(t, 3 * L);
        c10.intoArray(t, STRIP); c11.intoArray(t, STRIP + L); c12.intoArray(t, STRIP + 2 * L); c13.intoArray(t, STRIP + 3 * L);
        c20.intoArray(t, 2 * STRIP); c21.intoArray(t, 2 * STRIP + L); c22.intoArray(t, 2 * STRIP + 2 * L); c23.intoArray(t, 2 * STRIP + 3 * L);
        c30.intoArray(t, 3 * STRIP); c31.intoArray(t, 3 * STRIP + L); c32.intoArray(t, 3 * STRIP + 2 * L); c33.intoArray(t, 3 * STRIP + 3 * L);
        flush(t, 4, i, j, first, alpha, beta, c, ldc);
    }

    private static void nn1(float[] tile, int i, int j, int p, int pe, boolean first, float alpha, float[] a, int lda,
                            MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        int r0 = i * lda;
        for (int q = p; q < pe; q++) {
            long o = ((long) q * ldb + j) * 4;
            FloatVector x = FloatVector.broadcast(S, a[r0 + q]);
            c0 = FloatVector.fromMemorySegment(S, b, o, NATIVE).fma(x, c0);
            c1 = FloatVector.fromMemorySegment(S, b, o + 4L * L, NATIVE).fma(x, c1);
            c2 = FloatVector.fromMemorySegment(S, b, o + 8L * L, NATIVE).fma(x, c2);
            c3 = FloatVector.fromMemorySegment(S, b, o + 12L * L, NATIVE).fma(x, c3);
        }
        c0.intoArray(tile, 0); c1.intoArray(tile, L); c2.intoArray(tile, 2 * L); c3.intoArray(tile, 3 * L);
        flush(tile, 1, i, j, first, alpha, beta, c, ldc);
    }

    /** Rows of sums (STRIP wide) into C: alpha·sum + beta·C on the first block of k, C + alpha·sum after. */
    private static void flush(float[] tile, int rows, int i, int j, boolean first, float alpha, float beta,
                              MemorySegment c, int ldc) {
        for (int r = 0; r < rows; r++) {
            long row = (long) (i + r) * ldc + j;
            for (int x = 0; x < STRIP; x += L) {
                long o = (row + x) * 4;
                FloatVector sum = FloatVector.fromArray(S, tile, r * STRIP + x).mul(alpha);
                if (!first) {
                    sum = sum.add(FloatVector.fromMemorySegment(S, c, o, NATIVE));
                } else if (beta != 0) {
                    sum = FloatVector.fromMemorySegment(S, c, o, NATIVE).fma(FloatVector.broadcast(S, beta), sum);
                }
                sum.intoMemorySegment(c, o, NATIVE);
            }
        }
    }
}
