package dev.jrocm.runtime.device.cpu;

import dev.jrocm.runtime.device.AdamStep;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.Im2col;
import dev.jrocm.runtime.device.MemoryStats;
import dev.jrocm.runtime.device.Operands;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.Strides;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The reference backend: every op over native memory segments, in Java loops split across the
 * cores where the work is large enough to pay for it, GEMM through {@link CpuGemm}.
 *
 * <p>Memory comes from a pool of exact-size blocks: a training step asks for the same sizes
 * every time, so after the first step every request is served from the pool and no memory is
 * touched for the first time (first touch of fresh pages is the slowest thing on these machines).
 */
public final class CpuBackend implements Backend {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    /** Elements per parallel chunk: below ~64K floats a fork costs more than the loop. */
    private static final long GRAIN = 1 << 16;

    private final Sgemm gemm;
    private final Map<Long, ArrayDeque<Block>> free = new HashMap<>();
    private final Map<Buffer, Block> live = new IdentityHashMap<>();
    private long systemAllocations;
    private long bytesInUse;
    private long bytesReserved;
    private volatile boolean closed;

    /** One allocation from the system, in its own arena so it can be returned alone. */
    private record Block(Arena arena, MemorySegment memory) {}

    /** A CPU backend with the default GEMM path ({@link CpuGemm#defaultPath()}). */
    public CpuBackend() {
        this(CpuGemm.defaultPath());
    }

    public CpuBackend(Sgemm gemm) {
        this.gemm = gemm;
    }

    @Override
    public DeviceKind kind() { return DeviceKind.CPU; }

    @Override
    public String describe() {
        return "cpu (" + Runtime.getRuntime().availableProcessors() + " cores, GEMM: " + CpuGemm.describe(gemm) + ")";
    }

    /** The GEMM path this backend uses. */
    public Sgemm gemmPath() { return gemm; }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public synchronized Buffer allocate(long bytes) {
        if (closed) {
            throw new IllegalStateException("the cpu backend is closed");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("cannot allocate " + bytes + " bytes");
        }
        // Zero-byte requests still get a distinct block, so every buffer has an identity.
        long size = Math.max(bytes, Float.BYTES);
        ArrayDeque<Block> blocks = free.get(size);
        Block block = blocks == null ? null : blocks.poll();
        if (block == null) {
            Arena arena = Arena.ofShared();
            block = new Block(arena, arena.allocate(size, 64));
            systemAllocations++;
            bytesReserved += size;
        }
        bytesInUse += size;
        Buffer buffer = new Buffer(this, block.memory().asSlice(0, bytes));
        live.put(buffer, block);
        return buffer;
    }

    @Override
    public synchronized void release(Buffer buffer) {
        Block block = live.remove(buffer);
        if (block == null) {
            return; // already released, or a view: views die with their allocation
        }
        buffer.markReleased();
        bytesInUse -= block.memory().byteSize();
        free.computeIfAbsent(block.memory().byteSize(), k -> new ArrayDeque<>()).push(block);
    }

    @Override
    public MemorySegment slice(MemorySegment memory, long offset, long bytes) {
        return memory.asSlice(offset, bytes);
    }

    @Override
    public synchronized MemoryStats memoryStats() {
        return new MemoryStats(systemAllocations, bytesInUse, bytesReserved);
    }

    @Override
    public synchronized void emptyCache() {
        for (ArrayDeque<Block> blocks : free.values()) {
            for (Block block : blocks) {
                bytesReserved -= block.memory().byteSize();
                block.arena().close();
            }
        }
        free.clear();
    }

    @Override
    public boolean isClosed() { return closed; }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        for (Map.Entry<Buffer, Block> entry : live.entrySet()) {
            entry.getKey().markReleased();
            entry.getValue().arena().close();
        }
        live.clear();
        emptyCache();
        bytesInUse = 0;
        bytesReserved = 0;
        closed = true;
    }

    @Override
    public void copyFromHost(MemorySegment source, Buffer target) {
        Operands.whole(this, "copyFromHost", "target", target);
        MemorySegment t = target.memory();
        requireAtLeast("copyFromHost: source", source.byteSize(), t.byteSize());
        MemorySegment.copy(source, 0, t, 0, t.byteSize());
    }

    @Override
    public void copyToHost(Buffer source, MemorySegment target) {
        Operands.whole(this, "copyToHost", "source", source);
        MemorySegment s = source.memory();
        requireAtLeast("copyToHost: target", target.byteSize(), s.byteSize());
        MemorySegment.copy(s, 0, target, 0, s.byteSize());
    }

    @Override
    public void copy(Buffer source, Buffer target) {
        Operands.whole(this, "copy", "source", source);
        Operands.whole(this, "copy", "target", target);
        MemorySegment s = source.memory(), t = target.memory();
        requireAtLeast("copy: target", t.byteSize(), s.byteSize());
        MemorySegment.copy(s, 0, t, 0, s.byteSize());
    }

    /**
     * Over the merged dimensions ({@link Strides#walk}), as {@link #binary}: rows of the last one
     * split across the cores (the writes are distinct, so no two chunks touch one element); a row
     * that is contiguous on both sides is one bulk copy.
     */
    @Override
    public void copyStrided(Buffer src, long[] srcStrides, Buffer dst, long[] dstStrides, int[] shape, boolean accumulate) {
        Operands.copyStrided(this, src, srcStrides, dst, dstStrides, shape);
        long n = Strides.count(shape);
        if (n == 0) {
            return;
        }
        MemorySegment sm = src.memory(), dm = dst.memory();
        Strides.Walk w = Strides.walk(shape, srcStrides, dstStrides);
        int inner = w.rank() - 1;
        long len = w.shape()[inner], ss = w.strides()[0][inner], ds = w.strides()[1][inner];
        if (w.rank() == 1) {
            Parallel.forRange(len, GRAIN, (from, to) ->
                    copyRow(sm, from * ss, ss, dm, from * ds, ds, to - from, accumulate));
            return;
        }
        Parallel.forRange(n / len, Math.max(1, GRAIN / len), (from, to) -> {
            for (long r = from; r < to; r++) {
                copyRow(sm, rowOffset(w, 0, r), ss, dm, rowOffset(w, 1, r), ds, len, accumulate);
            }
        });
    }

    /** Where row r (an index over every merged dimension but the last) of operand k starts. */
    private static long rowOffset(Strides.Walk w, int k, long r) {
        long o = 0;
        for (int d = w.rank() - 2; d >= 0; d--) {
            o += r % w.shape()[d] * w.strides()[k][d];
            r /= w.shape()[d];
        }
        return o;
    }

    /** dst[d0 + j·ds] (+)= src[s0 + j·ss] for j in [0, len); plain copies move ints, so any 4-byte type keeps its bits. */
    private static void copyRow(MemorySegment src, long s0, long ss, MemorySegment dst, long d0, long ds, long len,
                                boolean accumulate) {
        if (accumulate) {
            for (long j = 0; j < len; j++) {
                long at = d0 + j * ds;
                dst.setAtIndex(F, at, dst.getAtIndex(F, at) + src.getAtIndex(F, s0 + j * ss));
            }
        } else if (ss == 1 && ds == 1) {
            MemorySegment.copy(src, s0 * Float.BYTES, dst, d0 * Float.BYTES, len * Float.BYTES);
        } else {
            for (long j = 0; j < len; j++) {
                dst.setAtIndex(I, d0 + j * ds, src.getAtIndex(I, s0 + j * ss));
            }
        }
    }

    private static void requireAtLeast(String what, long has, long needs) {
        if (has < needs) {
            throw new IllegalArgumentException(what + " holds " + has + " bytes, needs " + needs);
        }
    }

    // ---- initialisation -----------------------------------------------------------------------

    @Override
    public void fill(Buffer x, float value) {
        Operands.whole(this, "fill", "x", x);
        MemorySegment m = x.memory();
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                m.setAtIndex(F, i, value);
            }
        });
    }

    @Override
    public void uniform(Buffer x, float lo, float hi, long seed) {
        Operands.whole(this, "uniform", "x", x);
        MemorySegment m = x.memory();
        float width = hi - lo;
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                m.setAtIndex(F, i, lo + width * CounterRandom.uniform(seed, i));
            }
        });
    }

    @Override
    public void normal(Buffer x, float mean, float std, long seed) {
        Operands.whole(this, "normal", "x", x);
        MemorySegment m = x.memory();
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                m.setAtIndex(F, i, mean + std * CounterRandom.normal(seed, i));
            }
        });
    }

    // ---- linear algebra -----------------------------------------------------------------------

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k,
                     float alpha, Buffer a, Buffer b, float beta, Buffer c) {
        Operands.counts("gemm", "m, n, k", m, n, k);
        Operands.require(this, "gemm", "a", a, Operands.elements(m, k));
        Operands.require(this, "gemm", "b", b, Operands.elements(k, n));
        Operands.require(this, "gemm", "c", c, Operands.elements(m, n));
        gemm.sgemm(transA, transB, m, n, k, alpha, a.memory(), Math.max(1, transA ? m : k),
                b.memory(), Math.max(1, transB ? k : n), beta, c.memory(), Math.max(1, n));
    }

    /**
     * The matrices split across the cores, each GEMM on one (a GEMM below Cblas's parallel size
     * runs on its caller alone: attention's 128×128×64 products ran one core at a time).
     */
    @Override
    public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, long[] aOffsets,
                            Buffer b, long[] bOffsets, float beta, Buffer c, long[] cOffsets) {
        Operands.gemmBatched(this, m, n, k, a, aOffsets, b, bOffsets, c, cOffsets);
        if ((long) m * n == 0) {
            return;
        }
        MemorySegment am = a.memory(), bm = b.memory(), cm = c.memory();
        long mk = (long) m * k * Float.BYTES, kn = (long) k * n * Float.BYTES, mn = (long) m * n * Float.BYTES;
        int lda = Math.max(1, transA ? m : k), ldb = Math.max(1, transB ? k : n), ldc = Math.max(1, n);
        Parallel.forRange(cOffsets.length, 1, (from, to) -> {
            for (int i = (int) from; i < to; i++) {
                gemm.sgemm(transA, transB, m, n, k, alpha, am.asSlice(aOffsets[i] * Float.BYTES, mk), lda,
                        bm.asSlice(bOffsets[i] * Float.BYTES, kn), ldb, beta, cm.asSlice(cOffsets[i] * Float.BYTES, mn), ldc);
            }
        });
    }

    /** Rows on the heap, the bias an array: loops C2 vectorises. */
    @Override
    public void addBias(Buffer y, Buffer bias, int rows, int cols) {
        Operands.counts("addBias", "rows, cols", rows, cols);
        Operands.require(this, "addBias", "y", y, Operands.elements(rows, cols));
        Operands.require(this, "addBias", "bias", bias, cols);
        MemorySegment ym = y.memory();
        float[] bs = load(bias.memory(), 0, cols, new float[cols]);
        Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, cols)), (from, to) -> {
            float[] row = new float[cols];
            for (long r = from; r < to; r++) {
                load(ym, r * cols, cols, row);
                for (int c = 0; c < cols; c++) {
                    row[c] = row[c] + bs[c];
                }
                store(row, cols, ym, r * cols);
            }
        });
    }

    /**
     * Split over columns, so each thread owns its sums, kept on the heap while x's rows pass in
     * order (each column summed over the rows in order), a row's part read in one copy.
     */
    @Override
    public void columnSums(Buffer x, int rows, int cols, Buffer out, boolean accumulate) {
        Operands.counts("columnSums", "rows, cols", rows, cols);
        Operands.require(this, "columnSums", "x", x, Operands.elements(rows, cols));
        Operands.require(this, "columnSums", "out", out, cols);
        MemorySegment xm = x.memory(), om = out.memory();
        Parallel.forRange(cols, Math.max(1, GRAIN / Math.max(1, rows)), (from, to) -> {
            int n = (int) (to - from);
            float[] acc = new float[n], row = new float[n];
            if (accumulate) {
                load(om, from, n, acc);
            }
            for (long r = 0; r < rows; r++) {
                load(xm, r * cols + from, n, row);
                for (int c = 0; c < n; c++) {
                    acc[c] = acc[c] + row[c];
                }
            }
            store(acc, n, om, from);
        });
    }

    // ---- element-wise -------------------------------------------------------------------------

    /** In heap chunks (array loops C2 vectorises; over the segments the loop ran scalar). */
    @Override
    public void relu(Buffer x, Buffer y) {
        Operands.require(this, "relu", "y", y, Operands.whole(this, "relu", "x", x));
        MemorySegment xm = x.memory(), ym = y.memory();
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            float[] xs = new float[(int) Math.min(CHUNK, to - from)];
            for (long start = from; start < to; start += CHUNK) {
                int len = (int) Math.min(CHUNK, to - start);
                load(xm, start, len, xs);
                for (int i = 0; i < len; i++) {
                    xs[i] = Math.max(xs[i], 0f);
                }
                store(xs, len, ym, start);
            }
        });
    }

    /**
     * In heap chunks, the mask branch-free through the Vector API where it can be ({@link
     * VectorMath#reluBackward}): on real data y &gt; 0 is a coin toss, and a mispredicted branch
     * per element made this the CNN step's fourth-largest op.
     */
    @Override
    public void reluBackward(Buffer y, Buffer dy, Buffer dx, boolean accumulate) {
        long n = Operands.whole(this, "reluBackward", "y", y);
        Operands.require(this, "reluBackward", "dy", dy, n);
        Operands.require(this, "reluBackward", "dx", dx, n);
        MemorySegment ym = y.memory(), dym = dy.memory(), dxm = dx.memory();
        Parallel.forRange(y.length(), GRAIN, (from, to) -> {
            int width = (int) Math.min(CHUNK, to - from);
            float[] ys = new float[width], gs = new float[width], ds = new float[width];
            for (long start = from; start < to; start += CHUNK) {
                int len = (int) Math.min(CHUNK, to - start);
                load(ym, start, len, ys);
                load(dym, start, len, gs);
                if (accumulate) {
                    load(dxm, start, len, ds);
                } else {
                    java.util.Arrays.fill(ds, 0, len, 0f);
                }
                if (UnaryMath.VECTOR) {
                    VectorMath.reluBackward(ys, gs, ds, len);
                } else {
                    for (int i = 0; i < len; i++) {
                        ds[i] += ys[i] > 0f ? gs[i] : 0f;
                    }
                }
                store(ds, len, dxm, start);
            }
        });
    }

    /** In heap chunks of {@link #CHUNK}, through {@link UnaryMath#values} (GELU vectorised where it can be). */
    @Override
    public void unary(UnaryOp op, Buffer x, Buffer y) {
        long n = Operands.whole(this, "unary " + op, "x", x);
        Operands.require(this, "unary " + op, "y", y, n);
        MemorySegment xm = x.memory(), ym = y.memory();
        Parallel.forRange(n, GRAIN / 16, (from, to) -> {
            int width = (int) Math.min(CHUNK, to - from);
            float[] xs = new float[width], ys = new float[width];
            double[] wide = new double[width];
            for (long start = from; start < to; start += CHUNK) {
                int len = (int) Math.min(CHUNK, to - start);
                load(xm, start, len, xs);
                UnaryMath.values(op, xs, ys, len, wide);
                store(ys, len, ym, start);
            }
        });
    }

    @Override
    public void unaryBackward(UnaryOp op, Buffer x, Buffer y, Buffer dy, Buffer dx, boolean accumulate) {
        String name = "unaryBackward " + op;
        long n = Operands.whole(this, name, "x", x);
        Operands.require(this, name, "y", y, n);
        Operands.require(this, name, "dy", dy, n);
        Operands.require(this, name, "dx", dx, n);
        MemorySegment xm = x.memory(), ym = y.memory(), dym = dy.memory(), dxm = dx.memory();
        Parallel.forRange(n, GRAIN / 16, (from, to) -> {
            int width = (int) Math.min(CHUNK, to - from);
            float[] xs = new float[width], ys = new float[width], gs = new float[width], ds = new float[width];
            double[] wide = new double[width];
            for (long start = from; start < to; start += CHUNK) {
                int len = (int) Math.min(CHUNK, to - start);
                load(xm, start, len, xs);
                load(ym, start, len, ys);
                load(dym, start, len, gs);
                UnaryMath.derivatives(op, xs, ys, gs, ds, len, wide);
                if (accumulate) {
                    load(dxm, start, len, gs);
                    for (int i = 0; i < len; i++) {
                        ds[i] = gs[i] + ds[i];
                    }
                }
                store(ds, len, dxm, start);
            }
        });
    }

    @Override
    public void dropout(Buffer x, Buffer y, float p, long seed) {
        Operands.require(this, "dropout", "y", y, Operands.whole(this, "dropout", "x", x));
        Operands.probability("dropout", p);
        MemorySegment xm = x.memory(), ym = y.memory();
        float keep = 1f / (1f - p);
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                ym.setAtIndex(F, i, CounterRandom.uniform(seed, i) >= p ? xm.getAtIndex(F, i) * keep : 0f);
            }
        });
    }

    @Override
    public void dropoutBackward(Buffer dy, Buffer dx, float p, long seed, boolean accumulate) {
        Operands.require(this, "dropoutBackward", "dx", dx, Operands.whole(this, "dropoutBackward", "dy", dy));
        Operands.probability("dropoutBackward", p);
        MemorySegment dym = dy.memory(), dxm = dx.memory();
        float keep = 1f / (1f - p);
        Parallel.forRange(dy.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                float g = CounterRandom.uniform(seed, i) >= p ? dym.getAtIndex(F, i) * keep : 0f;
                dxm.setAtIndex(F, i, accumulate ? dxm.getAtIndex(F, i) + g : g);
            }
        });
    }

    @Override
    public void scale(Buffer x, float alpha) {
        Operands.whole(this, "scale", "x", x);
        MemorySegment m = x.memory();
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                m.setAtIndex(F, i, alpha * m.getAtIndex(F, i));
            }
        });
    }

    @Override
    public void axpy(float alpha, Buffer x, Buffer y) {
        Operands.require(this, "axpy", "y", y, Operands.whole(this, "axpy", "x", x));
        MemorySegment xm = x.memory(), ym = y.memory();
        Parallel.forRange(x.length(), GRAIN, (from, to) -> {
            for (long i = from; i < to; i++) {
                ym.setAtIndex(F, i, ym.getAtIndex(F, i) + alpha * xm.getAtIndex(F, i));
            }
        });
    }

    /**
     * Chunks of {@link #GRAIN} elements, each summed in double on its own core, then the chunks'
     * sums in order: the same result for any number of cores.
     */
    @Override
    public void sumOfSquares(Buffer x, Buffer out) {
        Operands.sumOfSquares(this, x, out);
        MemorySegment xm = x.memory();
        long n = x.length();
        double[] partial = new double[(int) ((n + GRAIN - 1) / GRAIN)];
        Parallel.forRange(partial.length, 1, (from, to) -> {
            for (long c = from; c < to; c++) {
                double acc = 0;
                for (long i = c * GRAIN, end = Math.min(n, i + GRAIN); i < end; i++) {
                    double v = xm.getAtIndex(F, i);
                    acc += v * v;
                }
                partial[(int) c] = acc;
            }
        });
        double sum = 0;
        for (double p : partial) {
            sum += p;
        }
        out.memory().setAtIndex(F, 0, (float) sum);
    }

    /**
     * Over the merged dimensions ({@link Strides#walk}): the last one is an inner loop with fixed
     * steps, the ones before it are split across the cores, a row at a time. A dense same-shape
     * op is one row, split in chunks.
     */
    @Override
    public void binary(BinaryOp op, Buffer a, long[] aStrides, Buffer b, long[] bStrides, Buffer out, int[] outShape) {
        Operands.binary(this, op, a, aStrides, b, bStrides, out, outShape);
        long n = Strides.count(outShape);
        if (n == 0) {
            return;
        }
        MemorySegment am = a.memory(), bm = b.memory(), om = out.memory();
        Strides.Walk w = Strides.walk(outShape, aStrides, bStrides, Strides.dense(outShape));
        int inner = w.rank() - 1;
        long len = w.shape()[inner], as = w.strides()[0][inner], bs = w.strides()[1][inner];
        boolean heap = as <= 1 && bs <= 1; // each operand's row contiguous or one repeated value
        if (w.rank() == 1) {
            Parallel.forRange(len, GRAIN, (from, to) -> {
                if (heap) {
                    int width = (int) Math.min(CHUNK, to - from);
                    binaryOnHeap(op, am, from * as, as, bm, from * bs, bs, om, from, to - from, new float[width], new float[width]);
                } else {
                    binaryRow(op, am, from * as, as, bm, from * bs, bs, om, from, to - from);
                }
            });
            return;
        }
        long rows = n / len;
        Parallel.forRange(rows, Math.max(1, GRAIN / len), (from, to) -> {
            float[] x = heap ? new float[(int) Math.min(CHUNK, len)] : null, y = heap ? new float[x.length] : null;
            for (long r = from; r < to; r++) {
                long ao = 0, bo = 0, rest = r;
                for (int d = inner - 1; d >= 0; d--) {
                    long i = rest % w.shape()[d];
                    rest /= w.shape()[d];
                    ao += i * w.strides()[0][d];
                    bo += i * w.strides()[1][d];
                }
                if (heap) {
                    binaryOnHeap(op, am, ao, as, bm, bo, bs, om, r * len, len, x, y);
                } else {
                    binaryRow(op, am, ao, as, bm, bo, bs, om, r * len, len);
                }
            }
        });
    }

    /**
     * {@link #binaryRow} for operands whose steps are 1 or 0, through heap chunks x and y (each
     * filled from its row, or with its one value): loops over arrays, which C2 vectorises.
     * out may be a or b (a chunk is read before it is written).
     */
    private static void binaryOnHeap(BinaryOp op, MemorySegment a, long ao, long as, MemorySegment b, long bo, long bs,
                                     MemorySegment out, long o, long len, float[] x, float[] y) {
        for (long start = 0; start < len; start += x.length) {
            int n = (int) Math.min(x.length, len - start);
            operand(a, ao + start * as, as, n, x);
            operand(b, bo + start * bs, bs, n, y);
            switch (op) {
                case ADD -> {
                    for (int i = 0; i < n; i++) {
                        x[i] = x[i] + y[i];
                    }
                }
                case SUB -> {
                    for (int i = 0; i < n; i++) {
                        x[i] = x[i] - y[i];
                    }
                }
                case MUL -> {
                    for (int i = 0; i < n; i++) {
                        x[i] = x[i] * y[i];
                    }
                }
                case DIV -> {
                    for (int i = 0; i < n; i++) {
                        x[i] = x[i] / y[i];
                    }
                }
            }
            store(x, n, out, o + start);
        }
    }

    /** n elements of an operand from {@code at} into {@code into}: a contiguous run (step 1) or one value repeated (step 0). */
    private static void operand(MemorySegment m, long at, long step, int n, float[] into) {
        if (step == 1) {
            load(m, at, n, into);
        } else {
            java.util.Arrays.fill(into, 0, n, m.getAtIndex(F, at));
        }
    }

    /** out[o..o+len) = a[ao + j·as] op b[bo + j·bs]: one loop per op, so none branches per element. */
    private static void binaryRow(BinaryOp op, MemorySegment a, long ao, long as, MemorySegment b, long bo, long bs,
                                  MemorySegment out, long o, long len) {
        switch (op) {
            case ADD -> {
                for (long j = 0; j < len; j++) {
                    out.setAtIndex(F, o + j, a.getAtIndex(F, ao + j * as) + b.getAtIndex(F, bo + j * bs));
                }
            }
            case SUB -> {
                for (long j = 0; j < len; j++) {
                    out.setAtIndex(F, o + j, a.getAtIndex(F, ao + j * as) - b.getAtIndex(F, bo + j * bs));
                }
            }
            case MUL -> {
                for (long j = 0; j < len; j++) {
                    out.setAtIndex(F, o + j, a.getAtIndex(F, ao + j * as) * b.getAtIndex(F, bo + j * bs));
                }
            }
            case DIV -> {
                for (long j = 0; j < len; j++) {
                    out.setAtIndex(F, o + j, a.getAtIndex(F, ao + j * as) / b.getAtIndex(F, bo + j * bs));
                }
            }
        }
    }

    /**
     * Each output element sums its own x elements in order (over the merged dimensions), so the
     * result does not depend on the split; outputs are split across the cores. When the innermost
     * dimension is kept (a column sum), outputs go in blocks whose x rows are read in order.
     */
    @Override
    public void sumTo(float alpha, Buffer x, int[] xShape, float beta, Buffer out, int[] outShape) {
        Operands.sumTo(this, x, xShape, beta, out, outShape);
        long m = Strides.count(outShape);
        if (m == 0) {
            return;
        }
        MemorySegment xm = x.memory(), om = out.memory();
        if (Strides.count(xShape) == 0) { // sums over nothing
            Parallel.forRange(m, GRAIN, (from, to) -> {
                for (long j = from; j < to; j++) {
                    om.setAtIndex(F, j, beta == 0f ? 0f : om.getAtIndex(F, j));
                }
            });
            return;
        }
        Strides.Walk w = Strides.walk(xShape, Strides.dense(xShape), Strides.broadcast(outShape, xShape));
        Reduction red = Reduction.of(w);
        Parallel.forRange(m, Math.max(1, GRAIN / red.count()), (from, to) -> {
            float[] acc = new float[(int) Math.min(SUM_BLOCK, to - from)];
            long[] base = new long[acc.length];
            for (long start = from; start < to; start += SUM_BLOCK) {
                int len = (int) Math.min(SUM_BLOCK, to - start);
                for (int j = 0; j < len; j++) {
                    base[j] = red.keptOffset(start + j);
                    acc[j] = 0f;
                }
                // Reduced combinations in order, the last reduced dimension a loop of fixed steps (no
                // index arithmetic per element): outputs inner when they are x's rows (kept inner
                // dimension), each output's run inner when the summed dimension is the contiguous one.
                long last = red.lastExtent(), step = red.lastStride(), outerCount = red.count() / last;
                if (step == 1 && last >= SUM_RUN) {
                    float[] run = new float[(int) Math.min(CHUNK, last)];
                    for (long k = 0; k < outerCount; k++) {
                        long ro = red.reducedOffset(k * last);
                        for (int j = 0; j < len; j++) {
                            float a = acc[j];
                            for (long t0 = 0; t0 < last; t0 += run.length) {
                                int n = (int) Math.min(run.length, last - t0);
                                load(xm, base[j] + ro + t0, n, run);
                                for (int t = 0; t < n; t++) {
                                    a += run[t];
                                }
                            }
                            acc[j] = a;
                        }
                    }
                } else {
                    for (long k = 0; k < outerCount; k++) { // x rows in order
                        long ro = red.reducedOffset(k * last);
                        for (long t = 0; t < last; t++, ro += step) {
                            for (int j = 0; j < len; j++) {
                                acc[j] += xm.getAtIndex(F, base[j] + ro);
                            }
                        }
                    }
                }
                for (int j = 0; j < len; j++) {
                    long o = start + j;
                    om.setAtIndex(F, o, alpha * acc[j] + (beta == 0f ? 0f : om.getAtIndex(F, o)));
                }
            }
        });
    }

    /** Output elements per block of {@link #sumTo}'s accumulators. */
    private static final int SUM_BLOCK = 1024;
    /** A contiguous summed run at least this long is read into the heap and summed there, output by output. */
    private static final int SUM_RUN = 16;

    /**
     * The merged dimensions of a {@link #sumTo}, split in those kept (the output's, in order) and
     * those summed over, each with its x strides: offsets of the k-th output and the k-th summed
     * combination.
     */
    private record Reduction(long[] keptShape, long[] keptStrides, long[] sumShape, long[] sumStrides, long count) {
        static Reduction of(Strides.Walk w) {
            int rank = w.rank(), kept = 0;
            for (int d = 0; d < rank; d++) {
                kept += w.strides()[1][d] != 0 || w.shape()[d] == 1 ? 1 : 0;
            }
            long[] ks = new long[kept], kst = new long[kept], ss = new long[rank - kept], sst = new long[rank - kept];
            long count = 1;
            for (int d = 0, k = 0, s = 0; d < rank; d++) {
                if (w.strides()[1][d] != 0 || w.shape()[d] == 1) {
                    ks[k] = w.shape()[d];
                    kst[k++] = w.strides()[0][d];
                } else {
                    ss[s] = w.shape()[d];
                    sst[s++] = w.strides()[0][d];
                    count *= w.shape()[d];
                }
            }
            return new Reduction(ks, kst, ss, sst, count);
        }

        long keptOffset(long index) { return offset(index, keptShape, keptStrides); }

        long reducedOffset(long index) { return offset(index, sumShape, sumStrides); }

        /** The extent of the last (fastest) summed dimension, 1 when nothing is summed. */
        long lastExtent() { return sumShape.length == 0 ? 1 : sumShape[sumShape.length - 1]; }

        /** The x stride of the last summed dimension (0 when nothing is summed). */
        long lastStride() { return sumShape.length == 0 ? 0 : sumStrides[sumStrides.length - 1]; }

        private static long offset(long index, long[] shape, long[] strides) {
            long o = 0;
            for (int d = shape.length - 1; d >= 0; d--) {
                o += index % shape[d] * strides[d];
                index /= shape[d];
            }
            return o;
        }
    }

    // ---- along one dimension: rows (o, i) of (outer, n, inner), parallel over the rows ----------

    /**
     * Each row reduced in float, as the GPU kernels: max, then Σ exp(x − max). Contiguous rows
     * (inner = 1, attention's last dim) go through {@link UnaryMath#softmaxRow} on the heap
     * (vectorised where it can be); strided rows in order, on the segments.
     */
    @Override
    public void softmax(Buffer x, int outer, int n, int inner, Buffer y, boolean log) {
        Operands.softmax(this, x, outer, n, inner, y);
        MemorySegment xm = x.memory(), ym = y.memory();
        if (inner == 1) {
            Parallel.forRange(outer, Math.max(1, GRAIN / 4 / Math.max(1, n)), (from, to) -> {
                float[] xs = new float[n], ys = new float[n];
                for (long r = from; r < to; r++) {
                    load(xm, r * n, n, xs);
                    UnaryMath.softmaxRow(xs, ys, n, log);
                    store(ys, n, ym, r * n);
                }
            });
            return;
        }
        alongRows(outer, n, inner, (row, base, step) -> {
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < n; k++) {
                max = Math.max(max, xm.getAtIndex(F, base + k * step)); // NaN wins: the row becomes NaN
            }
            float sum = 0f;
            for (int k = 0; k < n; k++) {
                sum += (float) Math.exp(xm.getAtIndex(F, base + k * step) - max);
            }
            float logSum = (float) Math.log(sum);
            for (int k = 0; k < n; k++) {
                long at = base + k * step;
                float shifted = xm.getAtIndex(F, at) - max;
                ym.setAtIndex(F, at, log ? shifted - logSum : (float) Math.exp(shifted) / sum);
            }
        });
    }

    @Override
    public void softmaxBackward(Buffer y, Buffer dy, int outer, int n, int inner, Buffer dx, boolean log, boolean accumulate) {
        Operands.softmaxBackward(this, y, dy, outer, n, inner, dx);
        MemorySegment ym = y.memory(), gm = dy.memory(), dm = dx.memory();
        if (inner == 1) { // contiguous rows on the heap: the same sums, in the same order
            Parallel.forRange(outer, Math.max(1, GRAIN / 4 / Math.max(1, n)), (from, to) -> {
                float[] ys = new float[n], gs = new float[n], ds = new float[n];
                for (long r = from; r < to; r++) {
                    load(ym, r * n, n, ys);
                    load(gm, r * n, n, gs);
                    float dot = 0f;
                    for (int k = 0; k < n; k++) {
                        dot += log ? gs[k] : gs[k] * ys[k];
                    }
                    if (accumulate) {
                        load(dm, r * n, n, ds);
                    }
                    for (int k = 0; k < n; k++) {
                        float d = log ? gs[k] - (float) Math.exp(ys[k]) * dot : ys[k] * (gs[k] - dot);
                        ds[k] = accumulate ? ds[k] + d : d;
                    }
                    store(ds, n, dm, r * n);
                }
            });
            return;
        }
        alongRows(outer, n, inner, (row, base, step) -> {
            float dot = 0f; // Σ dy⊙y, or Σ dy for log-softmax
            for (int k = 0; k < n; k++) {
                long at = base + k * step;
                dot += log ? gm.getAtIndex(F, at) : gm.getAtIndex(F, at) * ym.getAtIndex(F, at);
            }
            for (int k = 0; k < n; k++) {
                long at = base + k * step;
                float g = gm.getAtIndex(F, at), yv = ym.getAtIndex(F, at);
                float d = log ? g - (float) Math.exp(yv) * dot : yv * (g - dot);
                dm.setAtIndex(F, at, accumulate ? dm.getAtIndex(F, at) + d : d);
            }
        });
    }

    @Override
    public void maxAlong(Buffer x, int outer, int n, int inner, Buffer values, Buffer indices) {
        Operands.maxAlong(this, x, outer, n, inner, values, indices);
        MemorySegment xm = x.memory(), vm = values.memory(), im = indices.memory();
        alongRows(outer, n, inner, (row, base, step) -> {
            int best = 0;
            float max = xm.getAtIndex(F, base);
            for (int k = 1; k < n && max == max; k++) { // stops at the first NaN
                float v = xm.getAtIndex(F, base + k * step);
                if (v > max || v != v) {
                    max = v;
                    best = k;
                }
            }
            vm.setAtIndex(F, row, max);
            im.setAtIndex(I, row, best);
        });
    }

    @Override
    public void scatterAlong(Buffer dy, Buffer indices, int outer, int n, int inner, Buffer dx, boolean accumulate) {
        Operands.scatterAlong(this, dy, indices, outer, n, inner, dx);
        MemorySegment gm = dy.memory(), im = indices.memory(), dm = dx.memory();
        long rows = (long) outer * inner;
        for (long r = 0; r < rows; r++) { // every index checked before anything is written
            int k = im.getAtIndex(I, r);
            if (k < 0 || k >= n) {
                throw new IllegalArgumentException("scatterAlong: index " + k + " at position " + r
                        + " is outside [0, " + n + ")");
            }
        }
        alongRows(outer, n, inner, (row, base, step) -> {
            int pick = im.getAtIndex(I, row);
            float g = gm.getAtIndex(F, row);
            for (int k = 0; k < n; k++) {
                long at = base + k * step;
                float d = k == pick ? g : 0f;
                dm.setAtIndex(F, at, accumulate ? dm.getAtIndex(F, at) + d : d);
            }
        });
    }

    /** A body over one row of (outer, n, inner): its number o·inner + i, its first element's offset and the step between its elements. */
    @FunctionalInterface
    private interface AlongRow {
        void run(long row, long base, long step);
    }

    /** Runs {@code body} over every row (o, i) of (outer, n, inner), the rows split across the cores. */
    private static void alongRows(int outer, int n, int inner, AlongRow body) {
        long rows = (long) outer * inner;
        Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, n)), (from, to) -> {
            for (long r = from; r < to; r++) {
                long o = r / inner, i = r - o * inner;
                body.run(r, o * n * inner + i, inner);
            }
        });
    }

    // ---- fused ops ----------------------------------------------------------------------------

    @Override
    public void crossEntropy(Buffer logits, Buffer labels, int rows, int classes, Buffer out, Buffer dLogits) {
        Operands.crossEntropy(this, logits, labels, rows, classes, out, dLogits);
        MemorySegment x = logits.memory(), y = labels.memory(), o = out.memory();
        MemorySegment d = dLogits == null ? null : dLogits.memory();
        double loss = 0;
        int correct = 0;
        for (int r = 0; r < rows; r++) {
            int label = y.getAtIndex(I, r);
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("cross-entropy: label " + label + " of row " + r
                        + " is outside [0, " + classes + ")");
            }
            long row = (long) r * classes;
            float max = Float.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int c = 0; c < classes; c++) {
                float v = x.getAtIndex(F, row + c);
                if (v > max) {
                    max = v;
                    argmax = c;
                }
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(x.getAtIndex(F, row + c) - max);
            }
            double logSum = max + Math.log(sum);
            loss += logSum - x.getAtIndex(F, row + label);
            if (argmax == label) {
                correct++;
            }
            if (d != null) {
                for (int c = 0; c < classes; c++) {
                    double p = Math.exp(x.getAtIndex(F, row + c) - logSum);
                    d.setAtIndex(F, row + c, (float) ((p - (c == label ? 1 : 0)) / rows));
                }
            }
        }
        o.setAtIndex(F, 0, (float) (loss / rows));
        o.setAtIndex(F, 1, correct);
    }

    @Override
    public void argmaxRows(Buffer x, int rows, int cols, Buffer out) {
        Operands.argmaxRows(this, x, rows, cols, out);
        MemorySegment xm = x.memory(), om = out.memory();
        for (int r = 0; r < rows; r++) {
            long row = (long) r * cols;
            int best = 0;
            for (int c = 1; c < cols; c++) {
                if (xm.getAtIndex(F, row + c) > xm.getAtIndex(F, row + best)) {
                    best = c;
                }
            }
            om.setAtIndex(I, r, best);
        }
    }

    @Override
    public void adam(Buffer p, Buffer g, Buffer m, Buffer v, AdamStep step) {
        Operands.adam(this, p, g, m, v);
        MemorySegment pm = p.memory(), gm = g.memory(), mm = m.memory(), vm = v.memory();
        float lr = step.lr(), b1 = step.beta1(), b2 = step.beta2(), eps = step.eps(), wd = step.weightDecay();
        boolean decoupled = step.decoupled(), flush = step.flushesSubnormals();
        float stepSize = (float) (lr / step.biasCorrection1());
        float bc2Sqrt = (float) Math.sqrt(step.biasCorrection2());
        float decay = decoupled ? 1f - lr * wd : 1f;
        float l2 = decoupled ? 0f : wd;
        Parallel.forRange(p.length(), GRAIN, (from, to) -> {
            // Heap chunks that stay in L1: C2 vectorises array loops (sqrt and division included),
            // while this loop over segments would run scalar; the copies cost less than they save.
            float[] pc = new float[CHUNK], gc = new float[CHUNK], mc = new float[CHUNK], vc = new float[CHUNK];
            for (long start = from; start < to; start += CHUNK) {
                int len = (int) Math.min(CHUNK, to - start);
                long offset = start * Float.BYTES;
                MemorySegment.copy(gm, F, offset, gc, 0, len);
                if (UnaryMath.VECTOR) { // p, m, v stepped in place in one pass
                    VectorMath.adam(pm, mm, vm, offset, gc, len, b1, b2, eps, stepSize, bc2Sqrt, decay, l2, flush);
                    continue;
                }
                MemorySegment.copy(pm, F, offset, pc, 0, len);
                MemorySegment.copy(mm, F, offset, mc, 0, len);
                MemorySegment.copy(vm, F, offset, vc, 0, len);
                adamChunk(pc, gc, mc, vc, len, b1, b2, eps, stepSize, bc2Sqrt, decay, l2, flush);
                MemorySegment.copy(pc, 0, pm, F, offset, len);
                MemorySegment.copy(mc, 0, mm, F, offset, len);
                MemorySegment.copy(vc, 0, vm, F, offset, len);
            }
        });
    }

    /**
     * Adam with the gradient recomputed row by row from its factors, g[o, ·] = Σ_b dy[b, o]·x[b, ·]:
     * one pass reading and writing p, m, v — the out×in gradient is never stored nor read.
     */
    @Override
    public void adamFactored(Buffer p, Buffer m, Buffer v, Buffer dy, Buffer x, int batch, int out, int in, AdamStep step) {
        Operands.adamFactored(this, p, m, v, dy, x, batch, out, in);
        MemorySegment pm = p.memory(), mm = m.memory(), vm = v.memory(), dym = dy.memory(), xm = x.memory();
        float lr = step.lr(), b1 = step.beta1(), b2 = step.beta2(), eps = step.eps(), wd = step.weightDecay();
        float stepSize = (float) (lr / step.biasCorrection1());
        float bc2Sqrt = (float) Math.sqrt(step.biasCorrection2());
        float decay = step.decoupled() ? 1f - lr * wd : 1f;
        float l2 = step.decoupled() ? 0f : wd;
        boolean flush = step.flushesSubnormals();
        int chunks = (in + CHUNK - 1) / CHUNK;
        // x on the heap, split in column chunks that start at index 0 (so the AXPYs below vectorise):
        float[][][] xs = new float[batch][chunks][]; // (batch, chunk, ≤ CHUNK)
        for (int b = 0; b < batch; b++) {
            for (int c = 0; c < chunks; c++) {
                int len = Math.min(CHUNK, in - c * CHUNK);
                xs[b][c] = new float[len];
                MemorySegment.copy(xm, F, ((long) b * in + (long) c * CHUNK) * Float.BYTES, xs[b][c], 0, len);
            }
        }
        Parallel.forRange(out, Math.max(1, GRAIN / in), (from, to) -> {
            int width = Math.min(CHUNK, in);
            float[] pc = new float[width], gc = new float[width], mc = new float[width], vc = new float[width];
            float[] coef = new float[batch];
            for (long o = from; o < to; o++) {
                for (int b = 0; b < batch; b++) {
                    coef[b] = dym.getAtIndex(F, (long) b * out + o);
                }
                for (int c = 0; c < chunks; c++) {
                    int len = Math.min(CHUNK, in - c * CHUNK);
                    long offset = (o * in + (long) c * CHUNK) * Float.BYTES;
                    java.util.Arrays.fill(gc, 0, len, 0f);
                    int b = 0;
                    for (; b + 4 <= batch; b += 4) {
                        axpy4(gc, coef[b], xs[b][c], coef[b + 1], xs[b + 1][c], coef[b + 2], xs[b + 2][c],
                                coef[b + 3], xs[b + 3][c], len);
                    }
                    for (; b < batch; b++) {
                        axpyArray(gc, coef[b], xs[b][c], len);
                    }
                    if (UnaryMath.VECTOR) { // p, m, v stepped in place in one pass
                        VectorMath.adam(pm, mm, vm, offset, gc, len, b1, b2, eps, stepSize, bc2Sqrt, decay, l2, flush);
                        continue;
                    }
                    MemorySegment.copy(pm, F, offset, pc, 0, len);
                    MemorySegment.copy(mm, F, offset, mc, 0, len);
                    MemorySegment.copy(vm, F, offset, vc, 0, len);
                    adamChunk(pc, gc, mc, vc, len, b1, b2, eps, stepSize, bc2Sqrt, decay, l2, flush);
                    MemorySegment.copy(pc, 0, pm, F, offset, len);
                    MemorySegment.copy(mc, 0, mm, F, offset, len);
                    MemorySegment.copy(vc, 0, vm, F, offset, len);
                }
            }
        });
    }

    /** y += a0·x0 + a1·x1 + a2·x2 + a3·x3 over [0, len): four rows per store of y. */
    private static void axpy4(float[] y, float a0, float[] x0, float a1, float[] x1, float a2, float[] x2,
                              float a3, float[] x3, int len) {
        for (int i = 0; i < len; i++) {
            y[i] += a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i];
        }
    }

    /** y += a·x over [0, len): its own small method so C2 compiles (and vectorises) it alone. */
    private static void axpyArray(float[] y, float a, float[] x, int len) {
        if (a == 0f) {
            return; // a ReLU'd-away unit contributes nothing
        }
        for (int i = 0; i < len; i++) {
            y[i] += a * x[i];
        }
    }

    /** Elements per heap chunk of the fused loops: 4 arrays × 16 KiB fit L1 and L2 comfortably. */
    private static final int CHUNK = 4096;

    static void adamChunk(float[] p, float[] g, float[] m, float[] v, int len, float b1, float b2,
                                  float eps, float stepSize, float bc2Sqrt, float decay, float l2, boolean flush) {
        if (flush) {
            adamChunkFlushing(p, g, m, v, len, b1, b2, eps, stepSize, bc2Sqrt, decay, l2);
            return;
        }
        for (int i = 0; i < len; i++) {
            float param = p[i] * decay;           // AdamW's decoupled decay (decay = 1 for Adam)
            float grad = g[i] + l2 * p[i];        // Adam's L2 term (l2 = 0 for AdamW)
            float mi = m[i] + (1f - b1) * (grad - m[i]); // PyTorch's lerp form
            float vi = v[i] * b2 + (1f - b2) * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] = param - stepSize * (mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps));
        }
    }

    /** {@link #adamChunk} that also flushes subnormal m and v to 0 ({@link AdamStep}'s class comment), branch-free. */
    private static void adamChunkFlushing(float[] p, float[] g, float[] m, float[] v, int len, float b1, float b2,
                                          float eps, float stepSize, float bc2Sqrt, float decay, float l2) {
        final float t = AdamStep.FLUSH_BELOW;
        for (int i = 0; i < len; i++) {
            float param = p[i] * decay;
            float grad = g[i] + l2 * p[i];
            float mi = m[i] + (1f - b1) * (grad - m[i]);
            float vi = v[i] * b2 + (1f - b2) * grad * grad;
            mi *= Math.min(1f, Math.max(0f, (Math.abs(mi) - t) * 0x1p127f * 0x1p22f)); // 0 or 1: see AdamStep
            vi *= Math.min(1f, Math.max(0f, (vi - t) * 0x1p127f * 0x1p22f));
            m[i] = mi;
            v[i] = vi;
            p[i] = param - stepSize * (mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps));
        }
    }

    @Override
    public void scatterAddRows(Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        Operands.scatterAddRows(this, src, cols, indices, count, dst);
        if (cols == 0) {
            return; // nothing to add; the destination's row count is not known here
        }
        MemorySegment s = src.memory(), idx = indices.memory(), d = dst.memory();
        long rowsInDst = d.byteSize() / ((long) cols * Float.BYTES);
        int[] rows = new int[count];
        for (int i = 0; i < count; i++) { // every index checked before anything is added
            rows[i] = idx.getAtIndex(I, i);
            if (rows[i] < 0 || rows[i] >= rowsInDst) {
                throw new IllegalArgumentException("scatterAddRows: index " + rows[i] + " at position " + i
                        + " is outside [0, " + rowsInDst + ")");
            }
        }
        // Split over columns, so each element's contributions are added in the order of i.
        Parallel.forRange(cols, Math.max(1, GRAIN / Math.max(1, count)), (from, to) -> {
            for (int i = 0; i < count; i++) {
                long in = (long) i * cols, out = (long) rows[i] * cols;
                for (long c = from; c < to; c++) {
                    d.setAtIndex(F, out + c, d.getAtIndex(F, out + c) + s.getAtIndex(F, in + c));
                }
            }
        });
    }

    /** Rows on the heap (weight and bias as arrays): the same sums in double, in the same order. */
    @Override
    public void layerNorm(Buffer x, Buffer weight, Buffer bias, int rows, int cols, float eps, Buffer y,
                          Buffer mean, Buffer rstd) {
        Operands.layerNorm(this, x, weight, bias, rows, cols, eps, y, mean, rstd);
        MemorySegment xs = x.memory(), ys = y.memory();
        float[] w = weight == null ? null : load(weight.memory(), 0, cols, new float[cols]);
        float[] b = bias == null ? null : load(bias.memory(), 0, cols, new float[cols]);
        Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, cols)), (from, to) -> {
            float[] row = new float[cols];
            for (long r = from; r < to; r++) {
                load(xs, r * cols, cols, row);
                double sum = 0; // two passes in double: the mean, then the variance about it
                for (int c = 0; c < cols; c++) {
                    sum += row[c];
                }
                float mu = (float) (sum / cols);
                double sq = 0;
                for (int c = 0; c < cols; c++) {
                    double d = row[c] - mu;
                    sq += d * d;
                }
                float rs = (float) (1 / Math.sqrt(sq / cols + eps));
                for (int c = 0; c < cols; c++) {
                    row[c] = (row[c] - mu) * rs;
                }
                if (w != null) {
                    for (int c = 0; c < cols; c++) {
                        row[c] = row[c] * w[c];
                    }
                }
                if (b != null) {
                    for (int c = 0; c < cols; c++) {
                        row[c] = row[c] + b[c];
                    }
                }
                store(row, cols, ys, r * cols);
                if (mean != null) {
                    mean.memory().setAtIndex(F, r, mu);
                    rstd.memory().setAtIndex(F, r, rs);
                }
            }
        });
    }

    /**
     * Rows on the heap. dx row by row; dWeight and dBias split over column blocks, each block's
     * sums on the heap while the rows pass in order (each column's sum over the rows in order).
     */
    @Override
    public void layerNormBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int rows, int cols,
                                  Buffer dx, Buffer dWeight, Buffer dBias) {
        Operands.layerNormBackward(this, x, weight, mean, rstd, dy, rows, cols, dx, dWeight, dBias);
        MemorySegment xs = x.memory(), dys = dy.memory(), mu = mean.memory(), rs = rstd.memory();
        float[] w = weight == null ? null : load(weight.memory(), 0, cols, new float[cols]);
        if (dx != null) {
            MemorySegment dxs = dx.memory();
            Parallel.forRange(rows, Math.max(1, GRAIN / Math.max(1, cols)), (from, to) -> {
                float[] xr = new float[cols], g = new float[cols];
                for (long r = from; r < to; r++) {
                    long at = r * cols;
                    float m = mu.getAtIndex(F, r), s = rs.getAtIndex(F, r);
                    load(xs, at, cols, xr);
                    load(dys, at, cols, g);
                    if (w != null) {
                        for (int c = 0; c < cols; c++) {
                            g[c] = g[c] * w[c];
                        }
                    }
                    double sumG = 0, sumGx = 0;
                    for (int c = 0; c < cols; c++) {
                        sumG += g[c];
                        sumGx += g[c] * ((xr[c] - m) * s);
                    }
                    float meanG = (float) (sumG / cols), meanGx = (float) (sumGx / cols);
                    for (int c = 0; c < cols; c++) {
                        float xhat = (xr[c] - m) * s;
                        xr[c] = s * (g[c] - meanG - xhat * meanGx);
                    }
                    store(xr, cols, dxs, at);
                }
            });
        }
        if (dWeight != null || dBias != null) {
            float[] means = load(mu, 0, rows, new float[rows]), rstds = load(rs, 0, rows, new float[rows]);
            Parallel.forRange(cols, Math.max(1, GRAIN / Math.max(1, rows)), (from, to) -> {
                int n = (int) (to - from);
                float[] sw = new float[n], sb = new float[n], d = new float[n], xr = new float[n];
                for (int r = 0; r < rows; r++) {
                    long at = (long) r * cols + from;
                    load(dys, at, n, d);
                    load(xs, at, n, xr);
                    float m = means[r], s = rstds[r];
                    for (int c = 0; c < n; c++) {
                        sw[c] += d[c] * ((xr[c] - m) * s);
                        sb[c] += d[c];
                    }
                }
                if (dWeight != null) {
                    store(sw, n, dWeight.memory(), from);
                }
                if (dBias != null) {
                    store(sb, n, dBias.memory(), from);
                }
            });
        }
    }

    @Override
    public void gatherRows(Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        Operands.gatherRows(this, src, cols, indices, count, dst);
        if (cols == 0) {
            return; // nothing to copy; the source's row count is not known here (Ops.gatherRows checks)
        }
        MemorySegment s = src.memory(), idx = indices.memory(), d = dst.memory();
        long rowsInSource = s.byteSize() / ((long) cols * Float.BYTES);
        long rowBytes = (long) cols * Float.BYTES;
        for (int i = 0; i < count; i++) {
            int row = idx.getAtIndex(I, i);
            if (row < 0 || row >= rowsInSource) {
                throw new IllegalArgumentException("gatherRows: index " + row + " at position " + i
                        + " is outside [0, " + rowsInSource + ")");
            }
            MemorySegment.copy(s, row * rowBytes, d, i * rowBytes, rowBytes);
        }
    }

    @Override
    public void synchronize() {
        // CPU ops complete before they return.
    }

    // ---- convolution --------------------------------------------------------------------------
    // Each task copies its planes (one image's channel) to the heap, works there and copies back:
    // C2 compiles array loops tightly (and vectorises them), loops over native segments it does not.

    /** {@code n} floats of {@code m} from element {@code from} into {@code into} (returned). */
    private static float[] load(MemorySegment m, long from, int n, float[] into) {
        MemorySegment.copy(m, F, from * Float.BYTES, into, 0, n);
        return into;
    }

    private static void store(float[] from, int n, MemorySegment m, long at) {
        MemorySegment.copy(from, 0, m, F, at * Float.BYTES, n);
    }

    /** The first output column oj whose tap oj·stride + offset lies in [0, size) (ow when none). */
    private static int firstInside(int offset, int stride, int ow) {
        return Math.min(ow, Math.max(0, Math.ceilDiv(-offset, stride)));
    }

    /** The last output column oj whose tap oj·stride + offset lies in [0, size) (below firstInside when none). */
    private static int lastInside(int offset, int stride, int size, int ow) {
        return Math.min(ow - 1, Math.floorDiv(size - 1 - offset, stride));
    }

    /**
     * im2col, col2im and the transpose of {@link Im2col}, each split over (image, channel) planes.
     * Each kernel tap (p, q) touches the output columns from the first whose input column lies
     * inside x to the last ({@link #firstInside}, {@link #lastInside}): runs with no test per element.
     */
    private final Im2col.Kernels lowering = new Im2col.Kernels() {
        @Override
        public void im2col(Buffer x, Conv2dShape s, int first, int count, Buffer columns) {
            MemorySegment xm = x.memory(), cm = columns.memory();
            int positions = s.outH() * s.outW(), window = s.kh() * s.kw(), ow = s.outW(), plane = s.h() * s.w();
            int oh = s.outH(), sw = s.strideW();
            long width = (long) count * positions; // a row of columns
            Parallel.forRange((long) count * s.c(), Math.max(1, GRAIN / ((long) window * positions)), (from, to) -> {
                float[] in = new float[plane], out = new float[positions];
                for (long jc = from; jc < to; jc++) {
                    long j = jc / s.c(), ch = jc % s.c();
                    load(xm, ((first + j) * s.c() + ch) * plane, plane, in);
                    for (int p = 0; p < s.kh(); p++) {
                        for (int q = 0; q < s.kw(); q++) {
                            int shift = q * s.dilW() - s.padW();
                            int lo = firstInside(shift, s.strideW(), ow), hi = lastInside(shift, s.strideW(), s.w(), ow);
                            for (int oi = 0; oi < oh; oi++) { // only what the tap leaves is zeroed
                                int ih = oi * s.strideH() - s.padH() + p * s.dilH(), row = oi * ow;
                                if (ih < 0 || ih >= s.h() || hi < lo) {
                                    java.util.Arrays.fill(out, row, row + ow, 0f);
                                    continue;
                                }
                                java.util.Arrays.fill(out, row, row + lo, 0f);
                                java.util.Arrays.fill(out, row + hi + 1, row + ow, 0f);
                                int src = ih * s.w() + lo * s.strideW() + shift;
                                if (sw == 1) { // a run of the input row: one bulk copy
                                    System.arraycopy(in, src, out, row + lo, hi - lo + 1);
                                } else {
                                    for (int oj = lo; oj <= hi; oj++, src += sw) {
                                        out[row + oj] = in[src];
                                    }
                                }
                            }
                            store(out, positions, cm, (ch * window + (long) p * s.kw() + q) * width + j * positions);
                        }
                    }
                }
            });
        }

        @Override
        public void col2im(Buffer columns, Conv2dShape s, int first, int count, Buffer dx, boolean accumulate) {
            MemorySegment cm = columns.memory(), dm = dx.memory();
            int positions = s.outH() * s.outW(), window = s.kh() * s.kw(), ow = s.outW(), plane = s.h() * s.w();
            int oh = s.outH(), sw = s.strideW();
            long width = (long) count * positions;
            Parallel.forRange((long) count * s.c(), Math.max(1, GRAIN / ((long) window * positions)), (from, to) -> {
                float[] sum = new float[plane], row = new float[positions], old = accumulate ? new float[plane] : null;
                for (long jc = from; jc < to; jc++) {
                    long j = jc / s.c(), ch = jc % s.c();
                    java.util.Arrays.fill(sum, 0f);
                    for (int p = 0; p < s.kh(); p++) { // each element's terms added in the order of (p, q), as jr_col2im
                        for (int q = 0; q < s.kw(); q++) {
                            int shift = q * s.dilW() - s.padW();
                            int lo = firstInside(shift, s.strideW(), ow), hi = lastInside(shift, s.strideW(), s.w(), ow);
                            load(cm, (ch * window + (long) p * s.kw() + q) * width + j * positions, positions, row);
                            for (int oi = 0; oi < oh; oi++) {
                                int ih = oi * s.strideH() - s.padH() + p * s.dilH();
                                if (ih < 0 || ih >= s.h()) {
                                    continue;
                                }
                                int to0 = ih * s.w() + lo * sw + shift, from0 = oi * ow + lo;
                                if (sw == 1) { // one index: a loop C2 vectorises
                                    for (int t = 0, n = hi - lo + 1; t < n; t++) {
                                        sum[to0 + t] += row[from0 + t];
                                    }
                                } else {
                                    for (int oj = lo; oj <= hi; oj++, to0 += sw) {
                                        sum[to0] += row[oi * ow + oj];
                                    }
                                }
                            }
                        }
                    }
                    long base = ((first + j) * s.c() + ch) * plane;
                    if (accumulate) {
                        load(dm, base, plane, old);
                        for (int i = 0; i < plane; i++) {
                            sum[i] = old[i] + sum[i];
                        }
                    }
                    store(sum, plane, dm, base);
                }
            });
        }

        @Override
        public void swapLeading(Buffer in, int a, int b, int inner, Buffer out) {
            MemorySegment im = in.memory(), om = out.memory();
            long bytes = (long) inner * Float.BYTES;
            Parallel.forRange((long) a * b, Math.max(1, GRAIN / Math.max(1, inner)), (from, to) -> {
                for (long ba = from; ba < to; ba++) { // out row (bi, ai) is in row (ai, bi)
                    long bi = ba / a, ai = ba % a;
                    MemorySegment.copy(im, (ai * b + bi) * bytes, om, ba * bytes, bytes);
                }
            });
        }
    };

    @Override
    public void conv2dForward(Buffer x, Buffer weight, Conv2dShape shape, Buffer y) {
        Operands.conv2dForward(this, x, weight, shape, y);
        Im2col.forward(this, lowering, x, weight, shape, y);
    }

    @Override
    public void conv2dBackwardData(Buffer dy, Buffer weight, Conv2dShape shape, Buffer dx, boolean accumulate) {
        Operands.conv2dBackwardData(this, dy, weight, shape, dx);
        Im2col.backwardData(this, lowering, dy, weight, shape, dx, accumulate);
    }

    @Override
    public void conv2dBackwardWeight(Buffer dy, Buffer x, Conv2dShape shape, Buffer dw, boolean accumulate) {
        Operands.conv2dBackwardWeight(this, dy, x, shape, dw);
        Im2col.backwardWeight(this, lowering, dy, x, shape, dw, accumulate);
    }

    /** The body of a pooling over one (image, channel) plane: its input and output on the heap. */
    @FunctionalInterface
    private interface PlaneBody {
        void run(long plane, float[] in, float[] out);
    }

    /**
     * Runs {@code body} for every (image, channel) plane, split over the cores, each with its plane
     * of {@code source} (planes of {@code sourcePlane} floats) loaded and its plane of {@code target}
     * (of {@code targetPlane}) stored after, or first loaded too when {@code loadTarget}.
     */
    private static void forPlanes(Pool2dShape s, MemorySegment source, int sourcePlane, MemorySegment target,
                                  int targetPlane, boolean loadTarget, PlaneBody body) {
        long work = (long) Math.max(sourcePlane, targetPlane) * s.kh() * s.kw();
        Parallel.forRange((long) s.n() * s.c(), Math.max(1, GRAIN / Math.max(1, work)), (from, to) -> {
            float[] in = new float[sourcePlane], out = new float[targetPlane];
            for (long pl = from; pl < to; pl++) {
                load(source, pl * sourcePlane, sourcePlane, in);
                if (loadTarget) {
                    load(target, pl * targetPlane, targetPlane, out);
                }
                body.run(pl, in, out);
                store(out, targetPlane, target, pl * targetPlane);
            }
        });
    }

    @Override
    public void maxPool2dForward(Buffer x, Pool2dShape s, Buffer y, Buffer indices) {
        Operands.pool2dForward(this, "maxPool2dForward", x, s, y, indices);
        MemorySegment im = indices.memory();
        int oh = s.outH(), ow = s.outW(), planeOut = oh * ow;
        int h = s.h(), w = s.w(), kh = s.kh(), kw = s.kw(), sh = s.strideH(), sw = s.strideW(), ph = s.padH(), pw = s.padW();
        // Without padding, L windows at a time through the Vector API, branch-free; the rest here.
        boolean vector = UnaryMath.VECTOR && VectorMath.POOL && ph == 0 && pw == 0;
        int[] base = new int[vector ? planeOut : 0]; // where window o starts in its plane
        for (int o = 0; o < base.length; o++) {
            base[o] = o / ow * sh * w + o % ow * sw;
        }
        forPlanes(s, x.memory(), h * w, y.memory(), planeOut, false, (plane, in, out) -> {
            int[] where = new int[planeOut];
            int done = vector ? VectorMath.maxPoolPlane(in, w, kh, kw, base, out, where, planeOut) : 0;
            for (int o = done; o < planeOut; o++) {
                int oi = o / ow, oj = o % ow;
                int h0 = oi * sh - ph, h1 = Math.min(h0 + kh, h);
                h0 = Math.max(h0, 0);
                int w0 = oj * sw - pw, w1 = Math.min(w0 + kw, w);
                w0 = Math.max(w0, 0);
                float best = Float.NEGATIVE_INFINITY;
                int at = h0 * w + w0;
                for (int ih = h0; ih < h1; ih++) {
                    for (int iw = w0; iw < w1; iw++) {
                        float v = in[ih * w + iw];
                        if (v > best || (v != v && best == best)) { // a NaN wins, the first one
                            best = v;
                            at = ih * w + iw;
                        }
                    }
                }
                out[o] = best;
                where[o] = at;
            }
            MemorySegment.copy(where, 0, im, I, plane * planeOut * Integer.BYTES, planeOut);
        });
    }

    @Override
    public void maxPool2dBackward(Buffer dy, Buffer indices, Pool2dShape s, Buffer dx, boolean accumulate) {
        Operands.pool2dBackward(this, "maxPool2dBackward", dy, indices, s, dx);
        MemorySegment im = indices.memory();
        int planeIn = s.h() * s.w(), planeOut = s.outH() * s.outW();
        for (long i = 0, outputs = s.outputSize(); i < outputs; i++) { // every index checked before anything is written
            int at = im.getAtIndex(I, i);
            if (at < 0 || at >= planeIn) {
                throw new IllegalArgumentException("maxPool2dBackward: index " + at + " at position " + i
                        + " is outside [0, " + planeIn + ")");
            }
        }
        forPlanes(s, dy.memory(), planeOut, dx.memory(), planeIn, accumulate, (plane, in, out) -> {
            if (!accumulate) {
                java.util.Arrays.fill(out, 0f);
            }
            int[] where = new int[planeOut];
            MemorySegment.copy(im, I, plane * planeOut * Integer.BYTES, where, 0, planeOut);
            for (int o = 0; o < planeOut; o++) { // in the order of the outputs
                out[where[o]] += in[o];
            }
        });
    }

    /** The divisor of window (oi, oj) with count_include_pad: its size within the padded input. */
    private static int poolDivisor(Pool2dShape s, int oi, int oj) {
        int h0 = oi * s.strideH() - s.padH(), w0 = oj * s.strideW() - s.padW();
        return (Math.min(h0 + s.kh(), s.h() + s.padH()) - h0) * (Math.min(w0 + s.kw(), s.w() + s.padW()) - w0);
    }

    @Override
    public void avgPool2dForward(Buffer x, Pool2dShape s, Buffer y) {
        Operands.pool2dForward(this, "avgPool2dForward", x, s, y, null);
        int oh = s.outH(), ow = s.outW();
        forPlanes(s, x.memory(), s.h() * s.w(), y.memory(), oh * ow, false, (plane, in, out) -> {
            for (int oi = 0; oi < oh; oi++) {
                int h0 = Math.max(oi * s.strideH() - s.padH(), 0), h1 = Math.min(oi * s.strideH() - s.padH() + s.kh(), s.h());
                for (int oj = 0; oj < ow; oj++) {
                    int w0 = Math.max(oj * s.strideW() - s.padW(), 0), w1 = Math.min(oj * s.strideW() - s.padW() + s.kw(), s.w());
                    double sum = 0;
                    for (int ih = h0; ih < h1; ih++) {
                        for (int iw = w0; iw < w1; iw++) {
                            sum += in[ih * s.w() + iw];
                        }
                    }
                    out[oi * ow + oj] = (float) (sum / poolDivisor(s, oi, oj));
                }
            }
        });
    }

    @Override
    public void avgPool2dBackward(Buffer dy, Pool2dShape s, Buffer dx, boolean accumulate) {
        Operands.pool2dBackward(this, "avgPool2dBackward", dy, null, s, dx);
        int oh = s.outH(), ow = s.outW();
        forPlanes(s, dy.memory(), oh * ow, dx.memory(), s.h() * s.w(), accumulate, (plane, in, out) -> {
            for (int ih = 0; ih < s.h(); ih++) {
                // the windows oi·stride − pad ≤ ih < oi·stride − pad + kh that hold row ih
                int oi0 = Math.max(0, Math.floorDiv(ih + s.padH() - s.kh(), s.strideH()) + 1);
                int oi1 = Math.min(oh - 1, Math.floorDiv(ih + s.padH(), s.strideH()));
                for (int iw = 0; iw < s.w(); iw++) {
                    int oj0 = Math.max(0, Math.floorDiv(iw + s.padW() - s.kw(), s.strideW()) + 1);
                    int oj1 = Math.min(ow - 1, Math.floorDiv(iw + s.padW(), s.strideW()));
                    double sum = 0;
                    for (int oi = oi0; oi <= oi1; oi++) {
                        for (int oj = oj0; oj <= oj1; oj++) {
                            sum += (double) in[oi * ow + oj] / poolDivisor(s, oi, oj);
                        }
                    }
                    int at = ih * s.w() + iw;
                    out[at] = (float) (accumulate ? out[at] + sum : sum);
                }
            }
        });
    }

    /**
     * Runs {@code channel} for every channel, split over the cores, with the channel's n·hw
     * elements of x (and of dy when not null) on the heap, image after image.
     */
    private static void forChannels(MemorySegment x, MemorySegment dy, int n, int c, int hw, ChannelBody channel) {
        long count = (long) n * hw;
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch norm: " + count + " values per channel are more than one array holds");
        }
        Parallel.forRange(c, Math.max(1, GRAIN / Math.max(1, count)), (from, to) -> {
            float[] xs = new float[(int) count], dys = dy == null ? null : new float[(int) count];
            for (long ch = from; ch < to; ch++) {
                for (int b = 0; b < n; b++) {
                    MemorySegment.copy(x, F, ((long) b * c + ch) * hw * Float.BYTES, xs, b * hw, hw);
                    if (dy != null) {
                        MemorySegment.copy(dy, F, ((long) b * c + ch) * hw * Float.BYTES, dys, b * hw, hw);
                    }
                }
                channel.run((int) ch, xs, dys);
            }
        });
    }

    @FunctionalInterface
    private interface ChannelBody {
        void run(int ch, float[] x, float[] dy);
    }

    /** Writes a channel's n·hw values back, image after image. */
    private static void storeChannel(float[] values, MemorySegment m, int n, int c, int hw, int ch) {
        for (int b = 0; b < n; b++) {
            MemorySegment.copy(values, b * hw, m, F, ((long) b * c + ch) * hw * Float.BYTES, hw);
        }
    }

    @Override
    public void batchNorm2dTraining(Buffer x, Buffer weight, Buffer bias, int n, int c, int hw, float eps, float momentum,
                                    Buffer runningMean, Buffer runningVar, Buffer y, Buffer saveMean, Buffer saveRstd) {
        Operands.batchNorm2d(this, "batchNorm2dTraining", x, weight, bias, n, c, hw, eps, runningMean, runningVar, y,
                saveMean, saveRstd);
        long count = (long) n * hw;
        if (count == 0) {
            return;
        }
        MemorySegment ym = y.memory();
        forChannels(x.memory(), null, n, c, hw, (ch, xs, unused) -> {
            double sum = 0; // two passes in double: the mean, then the variance about it
            for (float v : xs) {
                sum += v;
            }
            float mu = (float) (sum / count);
            double sq = 0;
            for (float v : xs) {
                double d = v - mu;
                sq += d * d;
            }
            float rs = (float) (1 / Math.sqrt(sq / count + eps));
            normalise(xs, weight, bias, ch, mu, rs);
            storeChannel(xs, ym, n, c, hw, ch);
            if (saveMean != null) {
                saveMean.memory().setAtIndex(F, ch, mu);
                saveRstd.memory().setAtIndex(F, ch, rs);
            }
            if (runningMean != null) {
                MemorySegment rm = runningMean.memory(), rv = runningVar.memory();
                rm.setAtIndex(F, ch, (float) ((1.0 - momentum) * rm.getAtIndex(F, ch) + (double) momentum * mu));
                rv.setAtIndex(F, ch, (float) ((1.0 - momentum) * rv.getAtIndex(F, ch) + (double) momentum * (sq / (count - 1))));
            }
        });
    }

    /** values = (values − mu)·rs·w + b, in place, for channel ch. */
    private static void normalise(float[] values, Buffer weight, Buffer bias, int ch, float mu, float rs) {
        float w = weight == null ? 1f : weight.memory().getAtIndex(F, ch);
        float b = bias == null ? 0f : bias.memory().getAtIndex(F, ch);
        for (int i = 0; i < values.length; i++) {
            values[i] = (values[i] - mu) * rs * w + b;
        }
    }

    @Override
    public void batchNorm2dInference(Buffer x, Buffer weight, Buffer bias, Buffer runningMean, Buffer runningVar, int n,
                                     int c, int hw, float eps, Buffer y) {
        Operands.batchNorm2d(this, "batchNorm2dInference", x, weight, bias, n, c, hw, eps, runningMean, runningVar, y,
                null, null);
        MemorySegment ym = y.memory(), rm = runningMean.memory(), rv = runningVar.memory();
        forChannels(x.memory(), null, n, c, hw, (ch, xs, unused) -> {
            float rs = (float) (1 / Math.sqrt((double) rv.getAtIndex(F, ch) + eps));
            normalise(xs, weight, bias, ch, rm.getAtIndex(F, ch), rs);
            storeChannel(xs, ym, n, c, hw, ch);
        });
    }

    @Override
    public void batchNorm2dBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int n, int c, int hw,
                                    boolean training, Buffer dx, Buffer dWeight, Buffer dBias) {
        Operands.batchNorm2dBackward(this, x, weight, mean, rstd, dy, n, c, hw, dx, dWeight, dBias);
        MemorySegment mm = mean.memory(), rm = rstd.memory();
        long count = (long) n * hw;
        forChannels(x.memory(), dy.memory(), n, c, hw, (ch, xs, dys) -> {
            float mu = mm.getAtIndex(F, ch), rs = rm.getAtIndex(F, ch);
            double sumDy = 0, sumDyXhat = 0;
            for (int i = 0; i < xs.length; i++) {
                sumDy += dys[i];
                sumDyXhat += dys[i] * (double) ((xs[i] - mu) * rs);
            }
            if (dWeight != null) {
                dWeight.memory().setAtIndex(F, ch, (float) sumDyXhat);
            }
            if (dBias != null) {
                dBias.memory().setAtIndex(F, ch, (float) sumDy);
            }
            if (dx == null) {
                return;
            }
            float scale = (weight == null ? 1f : weight.memory().getAtIndex(F, ch)) * rs;
            float meanDy = training ? (float) (sumDy / count) : 0f, meanDyXhat = training ? (float) (sumDyXhat / count) : 0f;
            for (int i = 0; i < xs.length; i++) {
                float xhat = (xs[i] - mu) * rs;
                xs[i] = scale * (dys[i] - meanDy - xhat * meanDyXhat);
            }
            storeChannel(xs, dx.memory(), n, c, hw, ch);
        });
    }
}
