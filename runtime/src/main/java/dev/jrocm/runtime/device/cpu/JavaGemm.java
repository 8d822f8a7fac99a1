package dev.jrocm.runtime.device.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/**
 * A pure-Java {@link Sgemm}: C is cut into tiles of at most {@value #MC}×{@value #NC}, each tile is
 * computed by one task, which walks k in slices of {@value #KC}, packs the matching blocks of
 * alpha·op(A) and op(B) into arrays and adds their product into the tile held in arrays, so C is
 * read once (not at all when beta is 0) and written once.
 *
 * <p>The micro-kernel adds four rows of op(B), weighted by four elements of alpha·op(A), into one
 * row of the tile. Every array in its loop is indexed by the loop counter alone: HotSpot C2 then
 * vectorizes it (it does not when the arrays are indexed at different offsets, because it cannot
 * rule out that they are the same array). Four rows loads and stores the tile row once per four
 * multiply-adds; eight rows, or two tile rows at once, exceeded C2's unrolling budget and ran
 * scalar (JDK 25).
 *
 * <p>Tiles are spread over the pool's threads: over row blocks of C when m is large, over column
 * blocks as well when there are too few row blocks to keep every thread busy (m = 8, a batch).
 * Segments of a confined arena can only be touched by their owner, so with any of those the
 * whole product runs on the calling thread.
 */
public final class JavaGemm implements Sgemm {
    // A kc×nc block of op(B) (1 MiB) stays in a 1–2 MiB L2 while all mc = 128 tile rows use it, so
    // each packed element serves 128 multiply-adds; the four op(B) rows and the tile row one
    // kernel call streams (5 × 4 KiB) fit a 32–48 KiB L1. Measured best of kc 64–512, nc 256–4096.
    private static final int KC = 256;
    private static final int MC = 128;
    private static final int NC = 1024;
    /** Below this many multiply-adds a fork costs more than it saves. */
    private static final long SERIAL_WORK = 32_768;
    /** Tasks per thread, so that work stealing can even out uneven tiles. */
    private static final int TASKS_PER_THREAD = 4;
    /** Column blocks are cut at multiples of a cache line of floats. */
    private static final int COLUMN_QUANTUM = 16;

    // Never started: a thread other than any caller, to ask whether a segment is confined to one.
    private static final Thread ELSEWHERE = Thread.ofVirtual().unstarted(() -> { });
    // Per thread, reused across calls: a multiply allocates nothing after warm-up.
    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private final ForkJoinPool pool;
    private final int workers;

    /** Runs on the common pool; the calling thread works alongside its workers. */
    public JavaGemm() {
        this.pool = ForkJoinPool.commonPool();
        this.workers = pool.getParallelism() + 1;
    }

    /** Runs on {@code threads} threads of its own ({@code 1}: on the calling thread alone). */
    public JavaGemm(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.pool = threads == 1 ? null : new ForkJoinPool(threads);
        this.workers = threads;
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float alpha, MemorySegment a, int lda,
                      MemorySegment b, int ldb,
                      float beta, MemorySegment c, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0) {
            scale(beta, c, ldc, m, n);
            return;
        }
        Problem problem = new Problem(transA, transB, k, alpha, a, lda, b, ldb, beta, c, ldc);
        boolean serial = pool == null || (long) m * n * k < SERIAL_WORK
                || !(a.isAccessibleBy(ELSEWHERE) && b.isAccessibleBy(ELSEWHERE) && c.isAccessibleBy(ELSEWHERE));
        int rowBlocks = Math.ceilDiv(m, MC);
        int columnBlocks = serial ? Math.ceilDiv(n, NC) : columnBlocks(n, rowBlocks);
        int mc = Math.ceilDiv(m, rowBlocks);
        int nc = Math.min(n, roundUp(Math.ceilDiv(n, columnBlocks), COLUMN_QUANTUM));
        int tiles = rowBlocks * Math.ceilDiv(n, nc);
        IntConsumer tile = t -> {
            int row = t % rowBlocks * mc;
            int column = t / rowBlocks * nc;
            problem.tile(row, column, Math.min(mc, m - row), Math.min(nc, n - column));
        };
        if (serial || tiles == 1) {
            for (int t = 0; t < tiles; t++) {
                tile.accept(t);
            }
        } else {
            pool.invoke(new Tiles(tile, 0, tiles));
        }
    }

    /** Enough column blocks that every worker gets several tiles, but none narrower than needed. */
    private int columnBlocks(int n, int rowBlocks) {
        int wanted = Math.ceilDiv(TASKS_PER_THREAD * workers, rowBlocks);
        return Math.max(Math.ceilDiv(n, NC), Math.min(wanted, Math.ceilDiv(n, COLUMN_QUANTUM)));
    }

    /** C = beta·C without touching A or B, as BLAS does when k or alpha is 0. */
    private static void scale(float beta, MemorySegment c, int ldc, int m, int n) {
        if (beta == 1) {
            return;
        }
        float[] row = new float[n]; // stays all zeros, the new rows of C, when beta is 0
        for (int i = 0; i < m; i++) {
            long offset = (long) i * ldc * Float.BYTES;
            if (beta != 0) {
                MemorySegment.copy(c, ValueLayout.JAVA_FLOAT, offset, row, 0, n);
                multiply(row, beta, n);
            }
            MemorySegment.copy(row, 0, c, ValueLayout.JAVA_FLOAT, offset, n);
        }
    }

    private static void multiply(float[] x, float factor, int length) {
        for (int j = 0; j < length; j++) {
            x[j] *= factor;
        }
    }

    private static int roundUp(int x, int quantum) {
        return Math.ceilDiv(x, quantum) * quantum;
    }

    /** One GEMM's operands; computes a tile of C on whichever thread calls {@link #tile}. */
    private record Problem(boolean transA, boolean transB, int k, float alpha,
                           MemorySegment a, int lda, MemorySegment b, int ldb,
                           float beta, MemorySegment c, int ldc) {

        void tile(int row, int column, int mb, int nb) {
            Workspace w = WORKSPACE.get();
            loadC(w.c, row, column, mb, nb);
            for (int p = 0; p < k; p += KC) {
                int kb = Math.min(KC, k - p);
                if (transA) {
                    packTransposedA(w, row, p, mb, kb);
                } else {
                    packA(w.a, row, p, mb, kb);
                }
                if (transB) {
                    packTransposedB(w, p, column, kb, nb);
                } else {
                    packB(w.b, p, column, kb, nb);
                }
                multiplyAdd(w.a, w.b, w.c, mb, nb, kb);
            }
            storeC(w.c, row, column, mb, nb);
        }

        private void loadC(float[][] tile, int row, int column, int mb, int nb) {
            for (int i = 0; i < mb; i++) {
                if (beta == 0) {
                    Arrays.fill(tile[i], 0, nb, 0f);
                } else {
                    MemorySegment.copy(c, ValueLayout.JAVA_FLOAT, at(row + i, ldc, column), tile[i], 0, nb);
                    if (beta != 1) {
                        multiply(tile[i], beta, nb);
                    }
                }
            }
        }

        private void storeC(float[][] tile, int row, int column, int mb, int nb) {
            for (int i = 0; i < mb; i++) {
                MemorySegment.copy(tile[i], 0, c, ValueLayout.JAVA_FLOAT, at(row + i, ldc, column), nb);
            }
        }

        /** Rows of A are rows of op(A): one copy per row, then alpha folded in. */
        private void packA(float[] packed, int row, int p, int mb, int kb) {
            for (int i = 0; i < mb; i++) {
                MemorySegment.copy(a, ValueLayout.JAVA_FLOAT, at(row + i, lda, p), packed, i * kb, kb);
            }
            if (alpha != 1) {
                multiply(packed, alpha, mb * kb);
            }
        }

        /** Rows of A are columns of op(A): copy each, then scatter it down a column of the block. */
        private void packTransposedA(Workspace w, int row, int p, int mb, int kb) {
            float[] strip = w.strip;
            for (int q = 0; q < kb; q++) {
                MemorySegment.copy(a, ValueLayout.JAVA_FLOAT, at(p + q, lda, row), strip, 0, mb);
                for (int i = 0; i < mb; i++) {
                    w.a[i * kb + q] = alpha * strip[i];
                }
            }
        }

        private void packB(float[][] packed, int p, int column, int kb, int nb) {
            for (int q = 0; q < kb; q++) {
                MemorySegment.copy(b, ValueLayout.JAVA_FLOAT, at(p + q, ldb, column), packed[q], 0, nb);
            }
        }

        /**
         * Rows of B are columns of op(B): eight are copied at once, so that each packed row then
         * receives eight consecutive elements instead of one per cache line touched.
         */
        private void packTransposedB(Workspace w, int p, int column, int kb, int nb) {
            int j = 0;
            for (; j + 8 <= nb; j += 8) {
                for (int r = 0; r < 8; r++) {
                    MemorySegment.copy(b, ValueLayout.JAVA_FLOAT, at(column + j + r, ldb, p), w.strip, r * kb, kb);
                }
                scatterEight(w.strip, kb, w.b, j);
            }
            for (; j < nb; j++) {
                MemorySegment.copy(b, ValueLayout.JAVA_FLOAT, at(column + j, ldb, p), w.strip, 0, kb);
                for (int q = 0; q < kb; q++) {
                    w.b[q][j] = w.strip[q];
                }
            }
        }

        private static long at(int row, int stride, int column) {
            return ((long) row * stride + column) * Float.BYTES;
        }
    }

    /**
     * Columns j..j+7 of the packed block from eight strips of kb. Written out: C2 does not
     * vectorize a transposition, and a loop over the eight took nearly three times as long.
     */
    private static void scatterEight(float[] strip, int kb, float[][] packed, int j) {
        for (int q = 0; q < kb; q++) {
            float[] target = packed[q];
            target[j] = strip[q];
            target[j + 1] = strip[kb + q];
            target[j + 2] = strip[2 * kb + q];
            target[j + 3] = strip[3 * kb + q];
            target[j + 4] = strip[4 * kb + q];
            target[j + 5] = strip[5 * kb + q];
            target[j + 6] = strip[6 * kb + q];
            target[j + 7] = strip[7 * kb + q];
        }
    }

    /** tile += packedA·packedB, two tile rows at a time (each row of B loaded once for both), then the odd one. */
    private static void multiplyAdd(float[] packedA, float[][] packedB, float[][] tile, int mb, int nb, int kb) {
        int i = 0;
        for (; i + 2 <= mb; i += 2) {
            float[] row0 = tile[i], row1 = tile[i + 1];
            int x0 = i * kb, x1 = x0 + kb;
            int q = 0;
            for (; q + 4 <= kb; q += 4) {
                addFourTwoRows(row0, row1, packedB[q], packedB[q + 1], packedB[q + 2], packedB[q + 3],
                        packedA[x0 + q], packedA[x0 + q + 1], packedA[x0 + q + 2], packedA[x0 + q + 3],
                        packedA[x1 + q], packedA[x1 + q + 1], packedA[x1 + q + 2], packedA[x1 + q + 3], nb);
            }
            for (; q < kb; q++) {
                addOne(row0, packedB[q], packedA[x0 + q], nb);
                addOne(row1, packedB[q], packedA[x1 + q], nb);
            }
        }
        for (; i < mb; i++) {
            float[] row = tile[i];
            int x = i * kb;
            int q = 0;
            for (; q + 4 <= kb; q += 4) {
                addFour(row, packedB[q], packedB[q + 1], packedB[q + 2], packedB[q + 3],
                        packedA[x + q], packedA[x + q + 1], packedA[x + q + 2], packedA[x + q + 3], nb);
            }
            for (; q < kb; q++) {
                addOne(row, packedB[q], packedA[x + q], nb);
            }
        }
    }

    // Kept as separate small methods: compiled on their own they vectorize reliably, whereas
    // inlined into a loop nest compiled on stack replacement they sometimes did not.
    private static void addFour(float[] row, float[] b0, float[] b1, float[] b2, float[] b3,
                                float a0, float a1, float a2, float a3, int nb) {
        for (int j = 0; j < nb; j++) {
            row[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
        }
    }

    private static void addFourTwoRows(float[] row0, float[] row1, float[] b0, float[] b1, float[] b2, float[] b3,
                                       float a0, float a1, float a2, float a3,
                                       float c0, float c1, float c2, float c3, int nb) {
        for (int j = 0; j < nb; j++) {
            float v0 = b0[j], v1 = b1[j], v2 = b2[j], v3 = b3[j];
            row0[j] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
            row1[j] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
        }
    }

    private static void addOne(float[] row, float[] b0, float a0, int nb) {
        for (int j = 0; j < nb; j++) {
            row[j] += a0 * b0[j];
        }
    }

    /** Buffers of one thread, sized for the largest tile. */
    private static final class Workspace {
        final float[] a = new float[MC * KC];             // (mc, kc) packed rows of alpha·op(A)
        final float[][] b = new float[KC][NC];            // (kc, nc) packed rows of op(B)
        final float[][] c = new float[MC][NC];            // (mc, nc) the C tile, over all of k
        final float[] strip = new float[8 * KC];          // (8, kc) rows of B, or one (mc) row of A
    }

    /** Tiles [from, to), split in halves until each task holds one. */
    private static final class Tiles extends RecursiveAction {
        private static final long serialVersionUID = 1L;

        private final transient IntConsumer tile;
        private final int from;
        private final int to;

        Tiles(IntConsumer tile, int from, int to) {
            this.tile = tile;
            this.from = from;
            this.to = to;
        }

        @Override
        protected void compute() {
            if (to - from == 1) {
                tile.accept(from);
                return;
            }
            int middle = (from + to) >>> 1;
            invokeAll(new Tiles(tile, from, middle), new Tiles(tile, middle, to));
        }
    }
}
