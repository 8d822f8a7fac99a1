package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.AdamStep;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;
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
 * The Backend SPI on a GPU, written once over a {@link GpuDriver}: HIP and CUDA differ only in the
 * driver. GEMM goes to the vendor BLAS (column-major, so the operands are swapped, never copied);
 * everything else is one of jrocm's kernels ({@code kernels.cu}), compiled for the device at the
 * first launch, except where the driver offers a vendor routine ({@link GpuDnn}: MIOpen's ReLU and
 * log-softmax on HIP).
 *
 * <p>Memory: a caching pool of blocks rounded up to {@value #GRANULE} bytes, one free list per
 * size. A training step asks for the same sizes every time, so after the first step no request
 * reaches the driver ({@link MemoryStats#systemAllocations()} stays put). Because all work runs
 * on one stream, a released block can be handed out again at once: whatever uses it next is
 * queued after whatever used it before. When the driver runs out of memory the pool gives its
 * cached blocks back and tries once more; then the error says how much was asked for and free.
 *
 * <p>Host synchronisation happens only where a value comes back to the host
 * ({@link #copyToHost}, {@link #synchronize}). So errors found by kernels — a cross-entropy label
 * outside [0, classes), a gather index outside the source — are recorded on the device and thrown
 * ({@link IllegalArgumentException}, the CPU backend's message) at the next of those calls, not by
 * the op that queued the kernel.
 *
 * <p>Thread-safe: every op holds this backend's lock while it queues its work (the kernel
 * arguments are one shared block), so ops from several threads are serialised on the one stream.
 */
public final class GpuBackend implements Backend {
    /** Allocation granularity of the pool, bytes. */
    static final long GRANULE = 512;
    private static final int BLOCK = 256;
    private static final int MAX_GRID = 65_535;
    private static final int CE_THREADS = 128;   // JR_CE_THREADS in kernels.cu
    private static final int REDUCE_THREADS = 256; // JR_REDUCE_THREADS
    private static final int ROW_THREADS = 128;    // JR_ROW_THREADS
    private static final long NO_ERROR = -1L;    // all ones: no error recorded
    /** sumTo runs a thread per output (jr_sum_to) from this many outputs on, or when each sums at most SUM_THREADS_MAX_COUNT. */
    private static final long SUM_THREADS_MIN_OUTPUTS = 16_384;
    private static final long SUM_THREADS_MAX_COUNT = 32;
    private static final int SUMSQ_THREADS = 256;        // JR_SUMSQ_THREADS
    /** sumOfSquares: at most this many blocks, each of at least SUMSQ_PER_BLOCK elements when x has that many. */
    private static final int SUMSQ_MAX_BLOCKS = 256;
    private static final long SUMSQ_PER_BLOCK = 8 * SUMSQ_THREADS;

    private final GpuDriver driver;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private final Map<Buffer, Block> live = new IdentityHashMap<>();
    private final Map<String, Long> functions = new HashMap<>();
    private final Arena arena = Arena.ofShared();
    private final KernelArgs args = new KernelArgs(arena);
    private long module;
    private long systemAllocations;
    private long bytesInUse;
    private long bytesReserved;
    private long launches;
    private Buffer errors;          // (4) u64, see kernels.cu
    private boolean errorsPending;  // a kernel that may report ran since the last check
    private String indexErrorOp = "gatherRows"; // the op whose index error slot 1 holds
    private volatile boolean closed;

    private record Block(long address, long size) {}

    public GpuBackend(GpuDriver driver) {
        this.driver = driver;
    }

    @Override
    public DeviceKind kind() { return driver.kind(); }

    @Override
    public String describe() { return driver.describe(); }

    /** The driver underneath (for checks and timing). */
    public GpuDriver driver() { return driver; }

    /** Kernel launches queued so far (GEMMs not counted). */
    public long kernelLaunches() { return launches; }

    /** Milliseconds the device spent on {@code work}, between two events on the stream. */
    public float timeMillis(Runnable work) {
        long start = driver.createEvent(), end = driver.createEvent();
        try {
            driver.recordEvent(start);
            work.run();
            driver.recordEvent(end);
            return driver.elapsedMillis(start, end);
        } finally {
            driver.destroyEvent(start);
            driver.destroyEvent(end);
        }
    }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public synchronized Buffer allocate(long bytes) {
        requireOpen();
        if (bytes < 0) {
            throw new IllegalArgumentException("cannot allocate " + bytes + " bytes");
        }
        long size = Math.max(GRANULE, (bytes + GRANULE - 1) / GRANULE * GRANULE);
        ArrayDeque<Long> blocks = free.get(size);
        Long address = blocks == null ? null : blocks.poll();
        if (address == null) {
            address = systemMalloc(size, bytes);
        }
        bytesInUse += size;
        Buffer buffer = new Buffer(this, MemorySegment.ofAddress(address).reinterpret(bytes));
        live.put(buffer, new Block(address, size));
        return buffer;
    }

    private long systemMalloc(long size, long asked) {
        try {
            return countedMalloc(size);
        } catch (GpuException e) {
            if (!driver.isOutOfMemory(e)) {
                throw e;
            }
            emptyCache();
            try {
                return countedMalloc(size);
            } catch (GpuException again) {
                if (!driver.isOutOfMemory(again)) {
                    throw again;
                }
                long[] info = safeMemoryInfo();
                throw new GpuException(again.library(), again.function(), again.code(), again.codeName(),
                        again.libraryMessage(), "out of device memory: asked for " + bytes(asked)
                        + (size != asked ? " (" + bytes(size) + " with the pool's rounding)" : "")
                        + (info == null ? "" : "; " + bytes(info[0]) + " free of " + bytes(info[1]))
                        + "; jrocm's live buffers hold " + bytes(bytesInUse)
                        + " (the pool's cached blocks were handed back before this last try)");
            }
        }
    }

    private long countedMalloc(long size) {
        long address = driver.malloc(size);
        systemAllocations++;
        bytesReserved += size;
        return address;
    }

    private long[] safeMemoryInfo() {
        try {
            return driver.memoryInfo();
        } catch (GpuException e) {
            return null;
        }
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.1f %s", v, units[u]);
    }

    @Override
    public synchronized void release(Buffer buffer) {
        Block block = live.remove(buffer);
        if (block == null) {
            return; // already released, or a view
        }
        buffer.markReleased();
        bytesInUse -= block.size();
        free.computeIfAbsent(block.size(), k -> new ArrayDeque<>()).push(block.address());
    }

    @Override
    public MemorySegment slice(MemorySegment memory, long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > memory.byteSize()) {
            throw new IndexOutOfBoundsException("slice of " + bytes + " bytes at " + offset
                    + " is outside a buffer of " + memory.byteSize() + " bytes");
        }
        return MemorySegment.ofAddress(memory.address() + offset).reinterpret(bytes);
    }

    @Override
    public synchronized MemoryStats memoryStats() {
        return new MemoryStats(systemAllocations, bytesInUse, bytesReserved);
    }

    @Override
    public synchronized void emptyCache() {
        if (!free.isEmpty()) {
            driver.synchronize(); // a cached block may still be named by queued work
        }
        for (Map.Entry<Long, ArrayDeque<Long>> entry : free.entrySet()) {
            for (long address : entry.getValue()) {
                driver.free(address);
                bytesReserved -= entry.getKey();
            }
        }
        free.clear();
    }

    @Override
    public synchronized void copyFromHost(MemorySegment source, Buffer target) {
        Operands.whole(this, "copyFromHost", "target", target);
        MemorySegment t = target.memory();
        requireAtLeast("copyFromHost: source", source.byteSize(), t.byteSize());
        if (t.byteSize() > 0) {
            driver.copyToDevice(source, t.address(), t.byteSize());
        }
    }

    @Override
    public synchronized void copyToHost(Buffer source, MemorySegment target) {
        Operands.whole(this, "copyToHost", "source", source);
        MemorySegment s = source.memory();
        requireAtLeast("copyToHost: target", target.byteSize(), s.byteSize());
        if (s.byteSize() > 0) {
            driver.copyToHost(s.address(), target, s.byteSize());
        } else {
            driver.synchronize();
        }
        checkDeviceErrors();
    }

    @Override
    public synchronized void copy(Buffer source, Buffer target) {
        Operands.whole(this, "copy", "source", source);
        Operands.whole(this, "copy", "target", target);
        MemorySegment s = source.memory(), t = target.memory();
        requireAtLeast("copy: target", t.byteSize(), s.byteSize());
        if (s.byteSize() > 0) {
            driver.copyOnDevice(s.address(), t.address(), s.byteSize());
        }
    }

    /**
     * A thread per element over the merged dimensions ({@link Strides#walk}), as {@link #binary};
     * a plain copy that merges into one contiguous run is a device-to-device copy.
     */
    @Override
    public synchronized void copyStrided(Buffer src, long[] srcStrides, Buffer dst, long[] dstStrides, int[] shape,
                                         boolean accumulate) {
        Operands.copyStrided(this, src, srcStrides, dst, dstStrides, shape);
        long n = Strides.count(shape);
        if (n == 0) {
            return;
        }
        Strides.Walk w = Strides.walk(shape, srcStrides, dstStrides);
        if (!accumulate && w.isDense()) {
            driver.copyOnDevice(src.memory().address(), dst.memory().address(), n * Float.BYTES);
            return;
        }
        elementwise("jr_copy_strided", n, args.reset().ptr(src).ptr(dst).i32(w.rank())
                .longs(dims(w.shape(), w.strides()[0], w.strides()[1])).i32(accumulate ? 1 : 0).i64(n));
    }

    private static void requireAtLeast(String what, long has, long needs) {
        if (has < needs) {
            throw new IllegalArgumentException(what + " holds " + has + " bytes, needs " + needs);
        }
    }

    // ---- initialisation -----------------------------------------------------------------------

    @Override
    public synchronized void fill(Buffer x, float value) {
        Operands.whole(this, "fill", "x", x);
        long n = x.length();
        elementwise("jr_fill", n, args.reset().ptr(x).f32(value).i64(n));
    }

    @Override
    public synchronized void uniform(Buffer x, float lo, float hi, long seed) {
        Operands.whole(this, "uniform", "x", x);
        long n = x.length();
        elementwise("jr_uniform_init", n, args.reset().ptr(x).f32(lo).f32(hi - lo).i64(seed).i64(n));
    }

    @Override
    public synchronized void normal(Buffer x, float mean, float std, long seed) {
        Operands.whole(this, "normal", "x", x);
        long n = x.length();
        elementwise("jr_normal_init", n, args.reset().ptr(x).f32(mean).f32(std).i64(seed).i64(n));
    }

    // ---- linear algebra -----------------------------------------------------------------------

    /**
     * Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, and a row-major matrix read
     * column-major is its transpose: so BLAS gets B and A swapped, with the same transpose flags,
     * n and m swapped, and the row-major leading dimensions unchanged.
     */
    @Override
    public synchronized void gemm(boolean transA, boolean transB, int m, int n, int k,
                     float alpha, Buffer a, Buffer b, float beta, Buffer c) {
        Operands.counts("gemm", "m, n, k", m, n, k);
        Operands.require(this, "gemm", "a", a, Operands.elements(m, k));
        Operands.require(this, "gemm", "b", b, Operands.elements(k, n));
        Operands.require(this, "gemm", "c", c, Operands.elements(m, n));
        if (m == 0 || n == 0) {
            return;
        }
        int lda = Math.max(1, transA ? m : k), ldb = Math.max(1, transB ? k : n), ldc = Math.max(1, n);
        driver.sgemm(transB, transA, n, m, k, alpha, b.memory().address(), ldb, a.memory().address(), lda,
                beta, c.memory().address(), ldc);
    }

    /** One BLAS call per matrix on the stream (the calls queue; nothing waits between them). */
    @Override
    public synchronized void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a,
                                         long[] aOffsets, Buffer b, long[] bOffsets, float beta, Buffer c, long[] cOffsets) {
        Operands.gemmBatched(this, m, n, k, a, aOffsets, b, bOffsets, c, cOffsets);
        if (m == 0 || n == 0) {
            return;
        }
        int lda = Math.max(1, transA ? m : k), ldb = Math.max(1, transB ? k : n), ldc = Math.max(1, n);
        long ap = a.memory().address(), bp = b.memory().address(), cp = c.memory().address();
        for (int i = 0; i < cOffsets.length; i++) {
            driver.sgemm(transB, transA, n, m, k, alpha, bp + bOffsets[i] * Float.BYTES, ldb, ap + aOffsets[i] * Float.BYTES,
                    lda, beta, cp + cOffsets[i] * Float.BYTES, ldc);
        }
    }

    @Override
    public synchronized void addBias(Buffer y, Buffer bias, int rows, int cols) {
        Operands.counts("addBias", "rows, cols", rows, cols);
        Operands.require(this, "addBias", "y", y, Operands.elements(rows, cols));
        Operands.require(this, "addBias", "bias", bias, cols);
        long n = (long) rows * cols;
        elementwise("jr_add_bias", n, args.reset().ptr(y).ptr(bias).i32(cols).i64(n));
    }

    @Override
    public synchronized void columnSums(Buffer x, int rows, int cols, Buffer out, boolean accumulate) {
        Operands.counts("columnSums", "rows, cols", rows, cols);
        Operands.require(this, "columnSums", "x", x, Operands.elements(rows, cols));
        Operands.require(this, "columnSums", "out", out, cols);
        if (cols == 0) {
            return;
        }
        launch("jr_column_sums", (cols + 31) / 32, 1, 32, 8,
                args.reset().ptr(x).i32(rows).i32(cols).ptr(out).i32(accumulate ? 1 : 0));
    }

    // ---- element-wise -------------------------------------------------------------------------

    @Override
    public synchronized void relu(Buffer x, Buffer y) {
        Operands.require(this, "relu", "y", y, Operands.whole(this, "relu", "x", x));
        long n = x.length();
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (n > 0 && dnn != null && dnn.relu(x.memory().address(), y.memory().address(), n)) {
            return;
        }
        elementwise("jr_relu", n, args.reset().ptr(x).ptr(y).i64(n));
    }

    /** MIOpen's activation backward only overwrites (beta = 0): accumulating is jrocm's kernel. */
    @Override
    public synchronized void unary(UnaryOp op, Buffer x, Buffer y) {
        long n = Operands.whole(this, "unary " + op, "x", x);
        Operands.require(this, "unary " + op, "y", y, n);
        elementwise("jr_unary", n, args.reset().ptr(x).ptr(y).i64(n).i32(op.ordinal()));
    }

    @Override
    public synchronized void unaryBackward(UnaryOp op, Buffer x, Buffer y, Buffer dy, Buffer dx, boolean accumulate) {
        String name = "unaryBackward " + op;
        long n = Operands.whole(this, name, "x", x);
        Operands.require(this, name, "y", y, n);
        Operands.require(this, name, "dy", dy, n);
        Operands.require(this, name, "dx", dx, n);
        elementwise("jr_unary_backward", n, args.reset().ptr(x).ptr(y).ptr(dy).ptr(dx).i64(n).i32(op.ordinal())
                .i32(accumulate ? 1 : 0));
    }

    @Override
    public synchronized void reluBackward(Buffer y, Buffer dy, Buffer dx, boolean accumulate) {
        Operands.require(this, "reluBackward", "dy", dy, Operands.whole(this, "reluBackward", "y", y));
        Operands.require(this, "reluBackward", "dx", dx, y.length());
        long n = y.length();
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (!accumulate && n > 0 && dnn != null
                && dnn.reluBackward(y.memory().address(), dy.memory().address(), dx.memory().address(), n)) {
            return;
        }
        elementwise("jr_relu_backward", n, args.reset().ptr(y).ptr(dy).ptr(dx).i32(accumulate ? 1 : 0).i64(n));
    }

    @Override
    public synchronized void dropout(Buffer x, Buffer y, float p, long seed) {
        Operands.require(this, "dropout", "y", y, Operands.whole(this, "dropout", "x", x));
        Operands.probability("dropout", p);
        long n = x.length();
        elementwise("jr_dropout", n, args.reset().ptr(x).ptr(y).f32(p).f32(1f / (1f - p)).i64(seed).i64(n));
    }

    @Override
    public synchronized void dropoutBackward(Buffer dy, Buffer dx, float p, long seed, boolean accumulate) {
        Operands.require(this, "dropoutBackward", "dx", dx, Operands.whole(this, "dropoutBackward", "dy", dy));
        Operands.probability("dropoutBackward", p);
        long n = dy.length();
        elementwise("jr_dropout_backward", n, args.reset().ptr(dy).ptr(dx).f32(p).f32(1f / (1f - p)).i64(seed)
                .i32(accumulate ? 1 : 0).i64(n));
    }

    @Override
    public synchronized void scale(Buffer x, float alpha) {
        Operands.whole(this, "scale", "x", x);
        long n = x.length();
        elementwise("jr_scale", n, args.reset().ptr(x).f32(alpha).i64(n));
    }

    @Override
    public synchronized void axpy(float alpha, Buffer x, Buffer y) {
        Operands.require(this, "axpy", "y", y, Operands.whole(this, "axpy", "x", x));
        long n = x.length();
        elementwise("jr_axpy", n, args.reset().f32(alpha).ptr(x).ptr(y).i64(n));
    }

    /**
     * Two launches (jr_sum_of_squares_blocks, then _reduce): partial sums in double per block, the
     * number of blocks a function of x's length alone, so the result does not vary from run to run.
     */
    @Override
    public synchronized void sumOfSquares(Buffer x, Buffer out) {
        Operands.sumOfSquares(this, x, out);
        long n = x.length();
        int blocks = (int) Math.max(1, Math.min(SUMSQ_MAX_BLOCKS, (n + SUMSQ_PER_BLOCK - 1) / SUMSQ_PER_BLOCK));
        Buffer partial = allocate((long) blocks * Double.BYTES);
        try {
            launch("jr_sum_of_squares_blocks", blocks, 1, SUMSQ_THREADS, 1, args.reset().ptr(x).i64(n).ptr(partial));
            launch("jr_sum_of_squares_reduce", 1, 1, SUMSQ_THREADS, 1, args.reset().ptr(partial).i32(blocks).ptr(out));
        } finally {
            release(partial); // safe at once: the next user of the block is queued behind these kernels
        }
    }

    /** One kernel over the merged dimensions ({@link Strides#walk}); shape and strides go by value. */
    @Override
    public synchronized void binary(BinaryOp op, Buffer a, long[] aStrides, Buffer b, long[] bStrides, Buffer out,
                                    int[] outShape) {
        Operands.binary(this, op, a, aStrides, b, bStrides, out, outShape);
        long n = Strides.count(outShape);
        Strides.Walk w = Strides.walk(outShape, aStrides, bStrides, Strides.dense(outShape));
        elementwise("jr_binary", n, args.reset().i32(op.ordinal()).ptr(a).ptr(b).ptr(out).i32(w.rank())
                .longs(dims(w.shape(), w.strides()[0], w.strides()[1])).i64(n));
    }

    /**
     * A thread per output (jr_sum_to) when there are enough outputs to fill the device or each
     * sums few elements; otherwise a block per output (jr_sum_to_blocks).
     */
    @Override
    public synchronized void sumTo(float alpha, Buffer x, int[] xShape, float beta, Buffer out, int[] outShape) {
        Operands.sumTo(this, x, xShape, beta, out, outShape);
        long outputs = Strides.count(outShape);
        if (outputs == 0) {
            return;
        }
        if (Strides.count(xShape) == 0) { // sums over nothing
            if (beta == 0f) {
                fill(out, 0f);
            }
            return;
        }
        Strides.Walk w = Strides.walk(xShape, Strides.dense(xShape), Strides.broadcast(outShape, xShape));
        long count = 1;
        for (int d = 0; d < w.rank(); d++) {
            count *= w.strides()[1][d] == 0 ? w.shape()[d] : 1;
        }
        args.reset().ptr(x).ptr(out).f32(alpha).f32(beta).i32(w.rank())
                .longs(dims(w.shape(), w.strides()[0], w.strides()[1])).i64(outputs).i64(count);
        if (outputs >= SUM_THREADS_MIN_OUTPUTS || count <= SUM_THREADS_MAX_COUNT) {
            elementwise("jr_sum_to", outputs, args);
        } else {
            launch("jr_sum_to_blocks", (int) Math.min(MAX_GRID, outputs), 1, REDUCE_THREADS, 1, args);
        }
    }

    // ---- along one dimension: a thread per row (o, i) of (outer, n, inner) --------------------

    /**
     * Whether a row of {@code n} contiguous elements goes to one block of {@value #ROW_THREADS}
     * threads (reading it together, coalesced) rather than to one thread: from a quarter block's
     * worth of elements on, as attention's scores and a transformer's features are.
     */
    private static boolean blockPerRow(int n, int inner) {
        return inner == 1 && n >= ROW_THREADS / 4;
    }

    @Override
    public synchronized void softmax(Buffer x, int outer, int n, int inner, Buffer y, boolean log) {
        Operands.softmax(this, x, outer, n, inner, y);
        if (blockPerRow(n, inner)) {
            if (outer > 0) {
                launch("jr_softmax_rows", Math.min(outer, MAX_GRID), 1, ROW_THREADS, 1,
                        args.reset().ptr(x).ptr(y).i32(outer).i32(n).i32(log ? 1 : 0));
            }
            return;
        }
        elementwise("jr_softmax", (long) outer * inner,
                args.reset().ptr(x).ptr(y).i32(outer).i32(n).i32(inner).i32(log ? 1 : 0));
    }

    @Override
    public synchronized void softmaxBackward(Buffer y, Buffer dy, int outer, int n, int inner, Buffer dx, boolean log,
                                             boolean accumulate) {
        Operands.softmaxBackward(this, y, dy, outer, n, inner, dx);
        if (blockPerRow(n, inner)) {
            if (outer > 0) {
                launch("jr_softmax_backward_rows", Math.min(outer, MAX_GRID), 1, ROW_THREADS, 1, args.reset().ptr(y)
                        .ptr(dy).ptr(dx).i32(outer).i32(n).i32(log ? 1 : 0).i32(accumulate ? 1 : 0));
            }
            return;
        }
        elementwise("jr_softmax_backward", (long) outer * inner, args.reset().ptr(y).ptr(dy).ptr(dx)
                .i32(outer).i32(n).i32(inner).i32(log ? 1 : 0).i32(accumulate ? 1 : 0));
    }

    @Override
    public synchronized void maxAlong(Buffer x, int outer, int n, int inner, Buffer values, Buffer indices) {
        Operands.maxAlong(this, x, outer, n, inner, values, indices);
        elementwise("jr_max_along", (long) outer * inner,
                args.reset().ptr(x).ptr(values).ptr(indices).i32(outer).i32(n).i32(inner));
    }

    @Override
    public synchronized void scatterAlong(Buffer dy, Buffer indices, int outer, int n, int inner, Buffer dx,
                                          boolean accumulate) {
        Operands.scatterAlong(this, dy, indices, outer, n, inner, dx);
        if ((long) outer * inner == 0) {
            return;
        }
        elementwise("jr_scatter_along", (long) outer * inner, args.reset().ptr(dy).ptr(indices).ptr(dx)
                .i32(outer).i32(n).i32(inner).i32(accumulate ? 1 : 0).ptr(errors()));
        indexErrorOp = "scatterAlong";
        errorsPending = true;
    }

    /** The jr_dims struct of kernels.cu: extents and two operands' strides, each padded to {@link Backend#MAX_RANK}. */
    private static long[] dims(long[] shape, long[] s0, long[] s1) {
        long[] g = new long[3 * MAX_RANK];
        System.arraycopy(shape, 0, g, 0, shape.length);
        System.arraycopy(s0, 0, g, MAX_RANK, s0.length);
        System.arraycopy(s1, 0, g, 2 * MAX_RANK, s1.length);
        return g;
    }

    // ---- fused ops ----------------------------------------------------------------------------

    /**
     * Two launches: one block per row (loss, correct flag and gradient of the row), then one block
     * that sums the rows in double. With a vendor library ({@link GpuDriver#dnn()}, MIOpen on HIP)
     * its log-softmax comes first and the rows kernel reads log-probabilities instead. A bad label
     * is thrown at the next read-back (class comment).
     */
    @Override
    public synchronized void crossEntropy(Buffer logits, Buffer labels, int rows, int classes, Buffer out, Buffer dLogits) {
        Operands.crossEntropy(this, logits, labels, rows, classes, out, dLogits);
        if (rows == 0) { // the mean of no rows: NaN, as the CPU and PyTorch
            fill(out.slice(0, 1), Float.NaN);
            fill(out.slice(1, 1), 0f);
            return;
        }
        Buffer scratch = allocate((long) rows * 2 * Double.BYTES);
        Buffer logp = null;
        try {
            GpuDnn dnn = driver.dnn();
            if (dnn != null) {
                logp = allocate((long) rows * classes * Float.BYTES);
                if (!dnn.logSoftmax(logits.memory().address(), logp.memory().address(), rows, classes)) {
                    release(logp);
                    logp = null;
                }
            }
            launch(logp != null ? "jr_nll_rows" : "jr_cross_entropy_rows", rows, 1, CE_THREADS, 1,
                    args.reset().ptr(logp != null ? logp : logits).ptr(labels).i32(rows).i32(classes).ptr(scratch)
                            .ptrOrNull(dLogits).ptr(errors()));
            errorsPending = true;
            launch("jr_cross_entropy_reduce", 1, 1, REDUCE_THREADS, 1, args.reset().ptr(scratch).i32(rows).ptr(out));
        } finally {
            release(scratch); // safe at once: the next user of the block is queued behind these kernels
            if (logp != null) {
                release(logp);
            }
        }
    }

    @Override
    public synchronized void argmaxRows(Buffer x, int rows, int cols, Buffer out) {
        Operands.argmaxRows(this, x, rows, cols, out);
        elementwise("jr_argmax_rows", rows, args.reset().ptr(x).i32(rows).i32(cols).ptr(out));
    }

    @Override
    public synchronized void adam(Buffer p, Buffer g, Buffer m, Buffer v, AdamStep step) {
        Operands.adam(this, p, g, m, v);
        long n = p.length();
        elementwise("jr_adam", n, adamScalars(step, args.reset().ptr(p).ptr(g).ptr(m).ptr(v).i64(n)));
    }

    /** The scalars of jr_adam_at, as the CPU backend's adamChunk takes them. */
    private static KernelArgs adamScalars(AdamStep step, KernelArgs a) {
        float lr = step.lr(), wd = step.weightDecay();
        return a.f32(step.beta1()).f32(step.beta2()).f32(step.eps()).f32((float) (lr / step.biasCorrection1()))
                .f32((float) Math.sqrt(step.biasCorrection2()))
                .f32(step.decoupled() ? 1f - lr * wd : 1f).f32(step.decoupled() ? 0f : wd)
                .i32(step.flushesSubnormals() ? 1 : 0);
    }

    /**
     * One kernel: each weight forms its gradient from the batch's rows of dy and x and steps, so the
     * gradient matrix is never written (jr_adam_factored). How many rows are worth it is the
     * autograd's choice ({@link dev.jrocm.runtime.autograd.Gradient#FACTORED_MAX_ROWS}), not this backend's.
     */
    @Override
    public synchronized void adamFactored(Buffer p, Buffer m, Buffer v, Buffer dy, Buffer x, int batch, int out, int in, AdamStep step) {
        Operands.adamFactored(this, p, m, v, dy, x, batch, out, in);
        if ((long) out * in == 0) {
            return;
        }
        int gridX = (int) Math.min(MAX_GRID, (in + BLOCK - 1) / BLOCK), gridY = Math.min(MAX_GRID, out);
        launch("jr_adam_factored", gridX, gridY, BLOCK, 1, adamScalars(step,
                args.reset().ptr(p).ptr(m).ptr(v).ptr(dy).ptr(x).i32(batch).i32(out).i32(in)));
    }

    @Override
    public synchronized void gatherRows(Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        Operands.gatherRows(this, src, cols, indices, count, dst);
        long n = (long) count * cols;
        long sourceRows = cols == 0 ? 0 : src.byteSize() / ((long) cols * Float.BYTES);
        elementwise("jr_gather_rows", n, args.reset().ptr(src).i32(cols).ptr(indices).i32(count).i64(sourceRows)
                .ptr(dst).ptr(errors()));
        indexErrorOp = "gatherRows";
        errorsPending = true;
    }

    @Override
    public synchronized void layerNorm(Buffer x, Buffer weight, Buffer bias, int rows, int cols, float eps, Buffer y,
                                       Buffer mean, Buffer rstd) {
        Operands.layerNorm(this, x, weight, bias, rows, cols, eps, y, mean, rstd);
        args.reset().ptr(x).ptrOrNull(weight).ptrOrNull(bias).i32(rows).i32(cols).f32(eps).ptr(y).ptrOrNull(mean)
                .ptrOrNull(rstd);
        if (blockPerRow(cols, 1)) { // a block reads each row together
            if (rows > 0) {
                launch("jr_layer_norm_rows", Math.min(rows, MAX_GRID), 1, ROW_THREADS, 1, args);
            }
        } else {
            elementwise("jr_layer_norm", rows, args);
        }
    }

    @Override
    public synchronized void layerNormBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int rows,
                                               int cols, Buffer dx, Buffer dWeight, Buffer dBias) {
        Operands.layerNormBackward(this, x, weight, mean, rstd, dy, rows, cols, dx, dWeight, dBias);
        if (dx != null) {
            args.reset().ptr(x).ptrOrNull(weight).ptr(mean).ptr(rstd).ptr(dy).i32(rows).i32(cols).ptr(dx);
            if (!blockPerRow(cols, 1)) {
                elementwise("jr_layer_norm_dx", rows, args);
            } else if (rows > 0) {
                launch("jr_layer_norm_dx_rows", Math.min(rows, MAX_GRID), 1, ROW_THREADS, 1, args);
            }
        }
        if (dWeight != null || dBias != null) {
            elementwise("jr_layer_norm_dparams", cols, args.reset().ptr(x).ptr(mean).ptr(rstd).ptr(dy).i32(rows).i32(cols)
                    .ptrOrNull(dWeight).ptrOrNull(dBias));
        }
    }

    @Override
    public synchronized void scatterAddRows(Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        Operands.scatterAddRows(this, src, cols, indices, count, dst);
        if (cols == 0 || count == 0) {
            return;
        }
        long dstRows = dst.byteSize() / ((long) cols * Float.BYTES);
        // One thread per column, each adding the rows in the order of i: deterministic, no atomics.
        elementwise("jr_scatter_add_rows", cols, args.reset().ptr(src).i32(cols).ptr(indices).i32(count).i64(dstRows)
                .ptr(dst).ptr(errors()));
        indexErrorOp = "scatterAddRows";
        errorsPending = true;
    }

    @Override
    public synchronized void synchronize() {
        driver.synchronize();
        checkDeviceErrors();
    }

    // ---- device-side errors -------------------------------------------------------------------

    private Buffer errors() {
        if (errors == null) {
            errors = allocate(4 * Long.BYTES);
            resetErrors();
        }
        return errors;
    }

    private void resetErrors() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ones = a.allocate(errors.byteSize());
            ones.fill((byte) 0xff);
            driver.copyToDevice(ones, errors.memory().address(), errors.byteSize());
        }
    }

    /** Throws what the kernels recorded since the last check (and clears it). */
    private void checkDeviceErrors() {
        if (!errorsPending) {
            return;
        }
        errorsPending = false;
        long[] e;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(errors.byteSize());
            driver.copyToHost(errors.memory().address(), host, errors.byteSize());
            e = host.toArray(ValueLayout.JAVA_LONG);
        }
        if (e[0] == NO_ERROR && e[1] == NO_ERROR) {
            return;
        }
        resetErrors();
        if (e[0] != NO_ERROR) {
            throw new IllegalArgumentException("cross-entropy: label " + (int) e[0] + " of row " + (int) (e[0] >>> 32)
                    + " is outside [0, " + e[2] + ")");
        }
        throw new IllegalArgumentException(indexErrorOp + ": index " + (int) e[1] + " at position " + (int) (e[1] >>> 32)
                + " is outside [0, " + e[3] + ")");
    }

    // ---- launching ----------------------------------------------------------------------------

    private void elementwise(String kernel, long n, KernelArgs a) {
        if (n == 0) {
            return;
        }
        int grid = (int) Math.min(MAX_GRID, (n + BLOCK - 1) / BLOCK);
        launch(kernel, grid, 1, BLOCK, 1, a);
    }

    private void launch(String kernel, int gridX, int gridY, int blockX, int blockY, KernelArgs a) {
        requireOpen();
        driver.launch(function(kernel), gridX, gridY, blockX, blockY, 0, a.pointers());
        launches++;
    }

    private long function(String kernel) {
        Long f = functions.get(kernel);
        if (f == null) {
            if (module == 0) {
                module = driver.loadModule(GpuKernels.image(driver));
            }
            f = driver.function(module, kernel);
            functions.put(kernel, f);
        }
        return f;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the " + driver.kind().id() + " backend is closed");
        }
    }

    /** Waits for queued work, frees every block, then closes the driver. Idempotent. */
    @Override
    public boolean isClosed() { return closed; }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        try {
            driver.synchronize();
        } finally {
            for (Map.Entry<Buffer, Block> entry : live.entrySet()) {
                entry.getKey().markReleased();
                driver.free(entry.getValue().address());
            }
            live.clear();
            errors = null;
            emptyCache();
            bytesInUse = 0;
            bytesReserved = 0;
            closed = true;
            arena.close();
            driver.close();
        }
    }

    /**
     * The {@code void**} kernelParams of one launch: a pointer per argument to an 8-byte slot
     * holding its value. One per backend, refilled for each launch: the driver copies the values
     * before the launch call returns.
     */
    static final class KernelArgs {
        static final int MAX = 16;
        /** Longs of the one struct argument a launch may have ({@link #longs}). */
        static final int MAX_STRUCT_LONGS = 32;
        private final MemorySegment pointers;
        private final MemorySegment slots;
        private final MemorySegment struct;
        private int count;
        private int structAt = -1; // the argument whose pointer names the struct, or -1

        KernelArgs(Arena arena) {
            pointers = arena.allocate(ValueLayout.ADDRESS, MAX);
            slots = arena.allocate(8L * MAX, 8);
            struct = arena.allocate(8L * MAX_STRUCT_LONGS, 16);
            for (int i = 0; i < MAX; i++) {
                pointers.setAtIndex(ValueLayout.ADDRESS, i, slots.asSlice(8L * i, 8));
            }
        }

        KernelArgs reset() {
            count = 0;
            if (structAt >= 0) { // point it back at its slot
                pointers.setAtIndex(ValueLayout.ADDRESS, structAt, slots.asSlice(8L * structAt, 8));
                structAt = -1;
            }
            return this;
        }

        private MemorySegment next() {
            if (count == MAX) {
                throw new IllegalStateException("more than " + MAX + " kernel arguments");
            }
            MemorySegment slot = slots.asSlice(8L * count++, 8);
            slot.set(ValueLayout.JAVA_LONG, 0, 0L);
            return slot;
        }

        /** A struct of 8-byte fields passed by value (the driver copies {@code values.length}·8 bytes); one per launch. */
        KernelArgs longs(long... values) {
            if (structAt >= 0 || values.length > MAX_STRUCT_LONGS) {
                throw new IllegalStateException("one struct argument of at most " + MAX_STRUCT_LONGS + " longs per launch");
            }
            next();
            structAt = count - 1;
            MemorySegment.copy(values, 0, struct, ValueLayout.JAVA_LONG, 0, values.length);
            pointers.setAtIndex(ValueLayout.ADDRESS, structAt, struct);
            return this;
        }

        KernelArgs ptr(Buffer b) { next().set(ValueLayout.JAVA_LONG, 0, b.memory().address()); return this; }

        KernelArgs ptrOrNull(Buffer b) { return b == null ? i64(0L) : ptr(b); }

        KernelArgs i32(int v) { next().set(ValueLayout.JAVA_INT, 0, v); return this; }

        KernelArgs f32(float v) { next().set(ValueLayout.JAVA_FLOAT, 0, v); return this; }

        KernelArgs i64(long v) { next().set(ValueLayout.JAVA_LONG, 0, v); return this; }

        int count() { return count; }

        /** The slot of argument {@code i} (tests read what was passed). */
        MemorySegment slot(int i) { return slots.asSlice(8L * i, 8); }

        MemorySegment pointers() { return pointers; }
    }

    // ---- convolution --------------------------------------------------------------------------

    /** The jr_window struct of kernels.cu for a convolution. */
    private static long[] window(Conv2dShape s) {
        return new long[] {s.n(), s.c(), s.h(), s.w(), s.k(), s.kh(), s.kw(), s.strideH(), s.strideW(), s.padH(), s.padW(),
                s.dilH(), s.dilW(), s.outH(), s.outW()};
    }

    /** The jr_window struct for a pooling: k = c, dilation 1. */
    private static long[] window(Pool2dShape s) {
        return new long[] {s.n(), s.c(), s.h(), s.w(), s.c(), s.kh(), s.kw(), s.strideH(), s.strideW(), s.padH(), s.padW(),
                1, 1, s.outH(), s.outW()};
    }

    /** {@link Im2col}'s kernels, launched under this backend's lock (the callers hold it). */
    private final Im2col.Kernels lowering = new Im2col.Kernels() {
        @Override
        public void im2col(Buffer x, Conv2dShape s, int first, int count, Buffer columns) {
            long n = (long) s.c() * s.kh() * s.kw() * count * s.outH() * s.outW();
            elementwise("jr_im2col", n, args.reset().ptr(x).ptr(columns).longs(window(s)).i64(first).i64(count));
        }

        @Override
        public void col2im(Buffer columns, Conv2dShape s, int first, int count, Buffer dx, boolean accumulate) {
            long n = (long) count * s.c() * s.h() * s.w();
            elementwise("jr_col2im", n, args.reset().ptr(columns).ptr(dx).longs(window(s)).i64(first).i64(count)
                    .i32(accumulate ? 1 : 0));
        }

        @Override
        public void swapLeading(Buffer in, int a, int b, int inner, Buffer out) {
            elementwise("jr_swap_leading", (long) a * b * inner, args.reset().ptr(in).ptr(out).i64(a).i64(b).i64(inner));
        }
    };

    /** A vendor routine that overwrites {@code count} floats at the address it is given; false when it declines. */
    private interface Overwriting {
        boolean into(long address);
    }

    /**
     * Runs {@code routine} into {@code out} (the first {@code count} floats), or, when accumulating,
     * into a temporary from the pool that is then added to {@code out} (the vendor routines take
     * beta = 0 only). False, with nothing written, when there is no vendor library or it declines.
     */
    private boolean viaDnn(Buffer out, long count, boolean accumulate, Overwriting routine) {
        requireOpen();
        if (!accumulate) {
            return routine.into(out.memory().address());
        }
        Buffer temporary = allocate(count * Float.BYTES);
        try {
            if (!routine.into(temporary.memory().address())) {
                return false;
            }
            axpy(1f, temporary, out.slice(0, count));
            return true;
        } finally {
            release(temporary); // safe at once: the next user of the block is queued behind the axpy
        }
    }

    /** One convolution pass through the vendor library with its workspace from the pool; false when it does not take it. */
    private boolean dnnConv(GpuDnn.ConvPass pass, Conv2dShape s, Buffer a, Buffer b, Buffer out, long count,
                            boolean accumulate) {
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (dnn == null || s.n() == 0) {
            return false;
        }
        long bytes = dnn.conv2dWorkspace(pass, s);
        if (bytes < 0) {
            return false;
        }
        Buffer workspace = bytes > 0 ? allocate(bytes) : null;
        try {
            long ws = workspace == null ? 0L : workspace.memory().address();
            return viaDnn(out, count, accumulate,
                    target -> dnn.conv2d(pass, s, a.memory().address(), b.memory().address(), target, ws, bytes));
        } finally {
            if (workspace != null) {
                release(workspace);
            }
        }
    }

    /** The address of an optional operand, 0 for null. */
    private static long addressOrZero(Buffer b) {
        return b == null ? 0L : b.memory().address();
    }

    @Override
    public synchronized void conv2dForward(Buffer x, Buffer weight, Conv2dShape shape, Buffer y) {
        Operands.conv2dForward(this, x, weight, shape, y);
        if (!dnnConv(GpuDnn.ConvPass.FORWARD, shape, x, weight, y, shape.outputSize(), false)) {
            Im2col.forward(this, lowering, x, weight, shape, y);
        }
    }

    @Override
    public synchronized void conv2dBackwardData(Buffer dy, Buffer weight, Conv2dShape shape, Buffer dx, boolean accumulate) {
        Operands.conv2dBackwardData(this, dy, weight, shape, dx);
        if (!dnnConv(GpuDnn.ConvPass.BACKWARD_DATA, shape, dy, weight, dx, shape.inputSize(), accumulate)) {
            Im2col.backwardData(this, lowering, dy, weight, shape, dx, accumulate);
        }
    }

    @Override
    public synchronized void conv2dBackwardWeight(Buffer dy, Buffer x, Conv2dShape shape, Buffer dw, boolean accumulate) {
        Operands.conv2dBackwardWeight(this, dy, x, shape, dw);
        if (!dnnConv(GpuDnn.ConvPass.BACKWARD_WEIGHT, shape, dy, x, dw, shape.weightSize(), accumulate)) {
            Im2col.backwardWeight(this, lowering, dy, x, shape, dw, accumulate);
        }
    }

    /**
     * jrocm's kernel even with MIOpen: MIOpen's max pooling starts each window from the lowest float
     * and keeps a strictly larger element, so a NaN never wins and an all −∞ window gives −FLT_MAX,
     * where PyTorch's semantics (this method's contract) give NaN and −∞.
     */
    @Override
    public synchronized void maxPool2dForward(Buffer x, Pool2dShape shape, Buffer y, Buffer indices) {
        Operands.pool2dForward(this, "maxPool2dForward", x, shape, y, indices);
        elementwise("jr_max_pool", shape.outputSize(), args.reset().ptr(x).ptr(y).ptr(indices).longs(window(shape)));
    }

    @Override
    public synchronized void maxPool2dBackward(Buffer dy, Buffer indices, Pool2dShape shape, Buffer dx, boolean accumulate) {
        Operands.pool2dBackward(this, "maxPool2dBackward", dy, indices, shape, dx);
        elementwise("jr_max_pool_backward", (long) shape.n() * shape.c(), args.reset().ptr(dy).ptr(indices).ptr(dx)
                .longs(window(shape)).i32(accumulate ? 1 : 0).ptr(errors()));
        indexErrorOp = "maxPool2dBackward";
        errorsPending = true;
    }

    @Override
    public synchronized void avgPool2dForward(Buffer x, Pool2dShape shape, Buffer y) {
        Operands.pool2dForward(this, "avgPool2dForward", x, shape, y, null);
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (dnn != null && shape.n() > 0 && dnn.avgPool2dForward(shape, x.memory().address(), y.memory().address())) {
            return;
        }
        elementwise("jr_avg_pool", shape.outputSize(), args.reset().ptr(x).ptr(y).longs(window(shape)));
    }

    @Override
    public synchronized void avgPool2dBackward(Buffer dy, Pool2dShape shape, Buffer dx, boolean accumulate) {
        Operands.pool2dBackward(this, "avgPool2dBackward", dy, null, shape, dx);
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (dnn != null && shape.n() > 0 && viaDnn(dx, shape.inputSize(), accumulate,
                target -> dnn.avgPool2dBackward(shape, dy.memory().address(), target))) {
            return;
        }
        elementwise("jr_avg_pool_backward", shape.inputSize(), args.reset().ptr(dy).ptr(dx).longs(window(shape))
                .i32(accumulate ? 1 : 0));
    }

    /** One block per channel (at most {@value #MAX_GRID}, each then taking several). */
    private void perChannel(String kernel, int c, long count, KernelArgs a) {
        if (count > 0 && c > 0) {
            launch(kernel, Math.min(c, MAX_GRID), 1, REDUCE_THREADS, 1, a);
        }
    }

    @Override
    public synchronized void batchNorm2dTraining(Buffer x, Buffer weight, Buffer bias, int n, int c, int hw, float eps,
                                                 float momentum, Buffer runningMean, Buffer runningVar, Buffer y,
                                                 Buffer saveMean, Buffer saveRstd) {
        Operands.batchNorm2d(this, "batchNorm2dTraining", x, weight, bias, n, c, hw, eps, runningMean, runningVar, y,
                saveMean, saveRstd);
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (dnn != null && (long) n * hw > 0 && dnn.batchNorm2dTraining(n, c, hw, eps, momentum, x.memory().address(),
                addressOrZero(weight), addressOrZero(bias), addressOrZero(runningMean), addressOrZero(runningVar),
                y.memory().address(), addressOrZero(saveMean), addressOrZero(saveRstd))) {
            return;
        }
        perChannel("jr_batch_norm_train", c, (long) n * hw, args.reset().ptr(x).ptrOrNull(weight).ptrOrNull(bias)
                .i32(n).i32(c).i32(hw).f32(eps).f32(momentum).ptrOrNull(runningMean).ptrOrNull(runningVar).ptr(y)
                .ptrOrNull(saveMean).ptrOrNull(saveRstd));
    }

    @Override
    public synchronized void batchNorm2dInference(Buffer x, Buffer weight, Buffer bias, Buffer runningMean,
                                                  Buffer runningVar, int n, int c, int hw, float eps, Buffer y) {
        Operands.batchNorm2d(this, "batchNorm2dInference", x, weight, bias, n, c, hw, eps, runningMean, runningVar, y,
                null, null);
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (dnn != null && (long) n * hw > 0 && dnn.batchNorm2dInference(n, c, hw, eps, x.memory().address(),
                addressOrZero(weight), addressOrZero(bias), runningMean.memory().address(),
                runningVar.memory().address(), y.memory().address())) {
            return;
        }
        elementwise("jr_batch_norm_infer", (long) n * c * hw, args.reset().ptr(x).ptrOrNull(weight).ptrOrNull(bias)
                .ptr(runningMean).ptr(runningVar).i32(n).i32(c).i32(hw).f32(eps).ptr(y));
    }

    @Override
    public synchronized void batchNorm2dBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int n,
                                                 int c, int hw, boolean training, Buffer dx, Buffer dWeight,
                                                 Buffer dBias) {
        Operands.batchNorm2dBackward(this, x, weight, mean, rstd, dy, n, c, hw, dx, dWeight, dBias);
        if ((long) n * hw == 0) { // sums over nothing: 0, as the CPU backend
            for (Buffer b : new Buffer[] {dWeight, dBias}) {
                if (b != null && c > 0) {
                    fill(b.slice(0, c), 0f);
                }
            }
            return;
        }
        requireOpen();
        GpuDnn dnn = driver.dnn();
        if (training && dnn != null && dnn.batchNorm2dBackward(n, c, hw, x.memory().address(), addressOrZero(weight),
                mean.memory().address(), rstd.memory().address(), dy.memory().address(), addressOrZero(dx),
                addressOrZero(dWeight), addressOrZero(dBias))) {
            return; // evaluation mode has no MIOpen call: dx = weight·rstd·dy stays with the kernel
        }
        perChannel("jr_batch_norm_backward", c, (long) n * hw, args.reset().ptr(x).ptrOrNull(weight).ptr(mean).ptr(rstd)
                .ptr(dy).i32(n).i32(c).i32(hw).i32(training ? 1 : 0).ptrOrNull(dx).ptrOrNull(dWeight).ptrOrNull(dBias));
    }
}
