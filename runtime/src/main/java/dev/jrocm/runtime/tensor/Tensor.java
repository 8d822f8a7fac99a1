package dev.jrocm.runtime.tensor;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Gradient;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.autograd.Node;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.tensor.internal.Internals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A dense, contiguous, row-major tensor of float32 (or int32 labels) on one backend, rank 1 to
 * {@link Backend#MAX_RANK} (6).
 *
 * <p>A tensor owns its buffer (views share their base's) and gives it back to the backend's pool
 * when closed; using a closed tensor throws {@link IllegalStateException}. Tensors created while
 * a {@link Scope} is open belong to it. For autograd a tensor carries {@code requiresGrad}, its
 * accumulated {@link #grad()}, and — when an op produced it — the {@link Node} that did.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private final Buffer buffer;
    private final int[] shape;
    private final DType dtype;
    private final Tensor base; // the tensor whose buffer this views, or null when it owns its buffer
    private boolean requiresGrad;
    private Gradient gradient; // null: none yet
    private Node node;
    private boolean closed;
    private String closedBecause; // why its owner closed it, for the error a later use throws; null when unsaid

    static {
        Internals.install(new Slots());
    }

    private Tensor(Backend backend, Buffer buffer, int[] shape, DType dtype, Tensor base) {
        this.backend = backend;
        this.buffer = buffer;
        this.shape = shape;
        this.dtype = dtype;
        this.base = base;
        Scope.register(this);
    }

    // ---- creation -----------------------------------------------------------------------------

    /** An uninitialised float32 tensor. */
    public static Tensor empty(Backend backend, int... shape) {
        return empty(backend, DType.F32, shape);
    }

    /** An uninitialised tensor of the given type. */
    public static Tensor empty(Backend backend, DType dtype, int... shape) {
        int[] s = checkShape(shape);
        long bytes = count(s) * Float.BYTES;
        return new Tensor(backend, backend.allocate(bytes), s, dtype, null);
    }

    public static Tensor zeros(Backend backend, int... shape) {
        return full(backend, 0f, shape);
    }

    public static Tensor full(Backend backend, float value, int... shape) {
        Tensor t = empty(backend, shape);
        backend.fill(t.buffer, value);
        return t;
    }

    /**
     * A float32 tensor holding {@code data} (row-major), whose length must match the shape. With
     * no dims ({@code Tensor.of(backend, new float[] {v})}) it is a rank-0 tensor of one element,
     * unlike {@link #scalar}, whose shape is [1].
     */
    public static Tensor of(Backend backend, float[] data, int... shape) {
        Tensor t = empty(backend, shape);
        t.copyFrom(data);
        return t;
    }

    /** An int32 tensor (labels, indices) holding {@code data}. */
    public static Tensor ofInts(Backend backend, int[] data, int... shape) {
        Tensor t = empty(backend, DType.I32, shape);
        if (data.length != t.size()) {
            throw new IllegalArgumentException(data.length + " ints do not fill a tensor of shape " + t.shapeString());
        }
        t.upload(MemorySegment.ofArray(data));
        return t;
    }

    public static Tensor scalar(Backend backend, float value) {
        return of(backend, new float[] {value}, 1);
    }

    private static int[] checkShape(int[] shape) {
        if (shape.length > Backend.MAX_RANK) {
            throw new IllegalArgumentException("tensors have rank 0 to " + Backend.MAX_RANK + ", not " + shape.length + " "
                    + Arrays.toString(shape));
        }
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
        }
        return shape.clone();
    }

    private static long count(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d != 0 && n > Long.MAX_VALUE / Float.BYTES / d) { // the byte count would overflow a long
                throw new IllegalArgumentException("shape " + Arrays.toString(shape)
                        + " has more elements than memory can address");
            }
            n *= d;
        }
        return n;
    }

    // ---- views --------------------------------------------------------------------------------

    /**
     * The same elements in another shape of the same size (no copy; lives as long as this). One
     * dimension may be {@code -1}: it is inferred from the size, as in PyTorch. Inside a recorded
     * graph the view is an autograd op: its gradient flows back into this tensor's.
     *
     * @throws IllegalArgumentException if the sizes differ, more than one dimension is {@code -1},
     *     or {@code -1} cannot be inferred (the other dimensions do not divide the size)
     */
    public Tensor view(int... newShape) {
        int[] s = checkShape(inferred("view", newShape));
        if (count(s) != size()) {
            throw new IllegalArgumentException("view: cannot view " + shapeString() + " (" + size() + " elements) as "
                    + shapeString(s) + " (" + count(s) + ")");
        }
        Tensor view = new Tensor(backend, buffer(), s, dtype, root());
        if (Autograd.records(this)) {
            Ops.recordView(this, view);
        }
        return view;
    }

    /**
     * PyTorch's {@code reshape}: our tensors are always dense, so this is {@link #view(int...)}
     * (no copy), one dimension may be {@code -1}, and the gradient flows back the same way.
     *
     * @throws IllegalArgumentException as {@link #view(int...)}, naming {@code reshape}
     */
    public Tensor reshape(int... newShape) {
        int[] s = checkShape(inferred("reshape", newShape));
        if (count(s) != size()) {
            throw new IllegalArgumentException("reshape: cannot reshape " + shapeString() + " (" + size()
                    + " elements) as " + shapeString(s) + " (" + count(s) + ")");
        }
        return view(s);
    }

    /**
     * PyTorch's {@code contiguous()}: our tensors are always dense (views share a dense buffer), so
     * this returns {@code this}.
     */
    public Tensor contiguous() {
        return this;
    }

    /** {@code shape} with its one {@code -1} (if any) replaced by what makes the size this tensor's. */
    private int[] inferred(String op, int[] shape) {
        int free = -1;
        long known = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                if (free >= 0) {
                    throw new IllegalArgumentException(op + ": only one dimension can be -1, not dims " + free + " and " + i
                            + " of " + Arrays.toString(shape));
                }
                free = i;
            } else if (shape[i] >= 0) {
                known *= shape[i];
            }
        }
        if (free < 0) {
            return shape;
        }
        if (known == 0 || size() % known != 0) {
            throw new IllegalArgumentException(op + ": cannot infer dim " + free + " of " + Arrays.toString(shape)
                    + " for a tensor of shape " + shapeString() + " (" + size() + " elements)");
        }
        int[] s = shape.clone();
        s[free] = Math.toIntExact(size() / known);
        return s;
    }

    /**
     * Rows [from, from + count) along the first dimension (no copy; lives as long as this). Inside
     * a recorded graph the slice is an autograd op: its gradient lands in those rows of this
     * tensor's gradient.
     */
    public Tensor narrow(int from, int count) {
        if (shape.length == 0) {
            throw new IllegalArgumentException("narrow: a tensor of rank 0 has no dimension to narrow");
        }
        if (from < 0 || count < 0 || from > shape[0] || count > shape[0] - from) {
            throw new IllegalArgumentException("narrow: rows [" + from + ", " + ((long) from + count) + ") of " + shapeString()
                    + " (from and count must be ≥ 0 and end within the " + shape[0] + " rows)");
        }
        long rowElements = size() / Math.max(1, shape[0]);
        int[] s = shape.clone();
        s[0] = count;
        Tensor slice = new Tensor(backend, buffer().slice(from * rowElements, count * rowElements), s, dtype, root());
        if (Autograd.records(this)) {
            Ops.recordNarrow(this, slice, from);
        }
        return slice;
    }

    /**
     * {@link Ops#narrow}: elements [start, start + length) along {@code dim} (negative dim and start
     * count from the end); along dim 0 a view as {@link #narrow(int, int)}, along others a copy.
     * Carries the gradient.
     */
    public Tensor narrow(int dim, int start, int length) {
        return Ops.narrow(this, dim, start, length);
    }

    /** {@link Ops#transpose}: dims {@code dim0} and {@code dim1} swapped, as a new dense tensor carrying the gradient. */
    public Tensor transpose(int dim0, int dim1) {
        return Ops.transpose(this, dim0, dim1);
    }

    /** {@link Ops#permute}: {@code result.dim(d) == dim(dims[d])}, as a new dense tensor carrying the gradient. */
    public Tensor permute(int... dims) {
        return Ops.permute(this, dims);
    }

    /** {@link Ops#t}: a matrix transposed (a copy); rank 0 and 1 give this tensor itself. */
    public Tensor t() {
        return Ops.t(this);
    }

    private Tensor root() { return base == null ? this : base; }

    // ---- facts --------------------------------------------------------------------------------

    public Backend backend() { return backend; }

    public DType dtype() { return dtype; }

    public int rank() { return shape.length; }

    public int dim(int i) { return shape[i]; }

    public int[] shape() { return shape.clone(); }

    public long size() { return count(shape); }

    /** {@code "8×3072"}. */
    public String shapeString() { return shapeString(shape); }

    static String shapeString(int[] shape) {
        if (shape.length == 0) {
            return "[]";
        }
        return Arrays.stream(shape).mapToObj(Integer::toString).collect(Collectors.joining("×"));
    }

    /** The memory, for ops; {@link IllegalStateException} once this tensor (or its base) is closed. */
    public Buffer buffer() {
        if (closed || (base != null && base.closed)) {
            String because = closed ? closedBecause : base.closedBecause;
            throw new IllegalStateException("tensor " + shapeString() + " is closed" + (because == null ? "" : ": " + because));
        }
        return buffer;
    }

    public boolean isClosed() { return closed || (base != null && base.closed); }

    // ---- data in and out ----------------------------------------------------------------------

    public void copyFrom(float[] data) {
        requireType(DType.F32, "copyFrom(float[])");
        if (data.length != size()) {
            throw new IllegalArgumentException(data.length + " floats do not fill a tensor of shape " + shapeString());
        }
        upload(MemorySegment.ofArray(data));
    }

    /**
     * Copies {@code source}'s elements into this tensor; shapes and dtypes must be equal. The
     * source may live on another backend (the copy then goes through host memory).
     */
    public void copyFrom(Tensor source) {
        if (!Arrays.equals(shape, source.shape) || dtype != source.dtype) {
            throw new IllegalArgumentException("copyFrom: source is " + source.describe() + " but this is " + describe());
        }
        if (source.backend == backend) {
            backend.copy(source.buffer(), buffer());
            return;
        }
        try (Arena arena = Arena.ofConfined()) { // another device: through the host
            backend.copyFromHost(source.download(arena), buffer());
        }
    }

    private void upload(MemorySegment heap) {
        // Off-heap staging: a GPU driver cannot read the Java heap, and the CPU copy is the same cost.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staging = arena.allocate(heap.byteSize(), 16);
            staging.copyFrom(heap);
            backend.copyFromHost(staging, buffer());
        }
    }

    private MemorySegment download(Arena arena) {
        MemorySegment staging = arena.allocate(Math.max(1, size() * Float.BYTES), 16).asSlice(0, size() * Float.BYTES);
        backend.copyToHost(buffer(), staging);
        return staging;
    }

    public float[] toArray() {
        requireType(DType.F32, "toArray()");
        try (Arena arena = Arena.ofConfined()) {
            return download(arena).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    public int[] toIntArray() {
        requireType(DType.I32, "toIntArray()");
        try (Arena arena = Arena.ofConfined()) {
            return download(arena).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** The value of a one-element tensor. */
    public float item() {
        if (size() != 1) {
            throw new IllegalStateException("item() needs a tensor with one element, not " + shapeString());
        }
        return toArray()[0];
    }

    private void requireType(DType expected, String what) {
        if (dtype != expected) {
            throw new IllegalStateException(what + " needs a " + expected + " tensor, this is " + describe());
        }
    }

    // ---- autograd -----------------------------------------------------------------------------

    public boolean requiresGrad() { return requiresGrad; }

    /**
     * Marks a leaf tensor (one no op produced) as wanting a gradient, or not (frozen). Only float
     * tensors can. Returns this.
     */
    public Tensor requiresGrad(boolean wanted) {
        if (node != null) {
            throw new IllegalStateException("requiresGrad can only be set on leaf tensors; " + describe()
                    + " was produced by " + node.op());
        }
        if (wanted && dtype != DType.F32) {
            throw new IllegalStateException("only float tensors can require gradients, not " + describe());
        }
        requiresGrad = wanted;
        if (!wanted) {
            zeroGrad();
        }
        return this;
    }

    /**
     * The accumulated gradient as a tensor of this shape, or null before any backward pass (or
     * after {@link #zeroGrad}). A gradient the autograd kept {@link Gradient.Factored factored}
     * is formed here on first access and held formed from then on.
     */
    public Tensor grad() {
        if (gradient instanceof Gradient.Factored factored) {
            Tensor formed = factored.form();
            factored.close();
            gradient = new Gradient.Dense(formed);
        }
        return gradient instanceof Gradient.Dense(Tensor value) ? value : null;
    }

    /**
     * The accumulated gradient in the form the autograd left it ({@link Gradient.Dense} or
     * {@link Gradient.Factored}), or null when there is none; it still belongs to this tensor.
     * Optimizers match on it to read a factored gradient without forming it.
     */
    public Gradient gradient() {
        return gradient;
    }

    /** Whether a gradient has been accumulated (formed or still factored). */
    public boolean hasGrad() {
        return gradient != null;
    }

    /** Drops the gradient (its memory returns to the pool); the next backward pass starts afresh. */
    public void zeroGrad() {
        if (gradient != null) {
            Gradient g = gradient;
            gradient = null;
            g.close();
        }
    }

    /**
     * PyTorch's {@code t.grad = g}: makes {@code g} (this tensor's shape, or its size) this
     * tensor's gradient, which then owns it ({@link #zeroGrad} and {@link #close} close it); the
     * previous gradient, if a different one, is closed. Null drops the gradient.
     *
     * @throws IllegalArgumentException if g's size is not this tensor's
     */
    public void setGrad(Tensor g) {
        if (g != null && g.size() != size()) {
            throw new IllegalArgumentException("gradient " + g.shapeString() + " does not match tensor " + shapeString());
        }
        if (gradient instanceof Gradient.Dense(Tensor value) && value == g) {
            return;
        }
        zeroGrad();
        gradient = g == null ? null : new Gradient.Dense(g);
    }

    /** The one way the autograd reaches a tensor's graph and gradient slots; see {@link Internals}. */
    private static final class Slots implements Internals.Slots {
        @Override
        public void setNode(Tensor t, Node node) {
            t.node = node;
            t.requiresGrad = true;
        }

        @Override
        public void setGradient(Tensor t, Gradient g) {
            if (g != null && !Arrays.equals(g.shape(), t.shape)) {
                throw new IllegalArgumentException("gradient " + shapeString(g.shape()) + " does not match tensor "
                        + t.shapeString());
            }
            t.gradient = g;
        }
    }

    /** The op that produced this tensor, or null for a leaf. */
    public Node node() { return node; }

    /** Back-propagates from this one-element tensor into every leaf that requires grad. */
    public void backward() {
        Autograd.backward(this);
    }

    // ---- lifetime -----------------------------------------------------------------------------

    /** Gives the buffer back to the pool (views give nothing back); closes the gradient too. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        node = null;
        zeroGrad();
        if (base == null) {
            backend.release(buffer);
        }
    }

    /**
     * {@link #close()}, and a later use of this tensor (or a view of it) throws an error ending
     * in {@code because}. Does nothing to a tensor already closed.
     */
    public void close(String because) {
        if (!closed) {
            closedBecause = because;
            close();
        }
    }

    /** {@code "f32 8×3072 on cpu"}. */
    public String describe() {
        return dtype.name().toLowerCase() + " " + shapeString() + " on " + backend.kind().id();
    }

    /**
     * Small open tensors (at most {@value #PRINTED} elements) print their values as PyTorch does,
     * e.g. {@code tensor([[1.0000, 2.0000], [3.0000, 4.0000]], requiresGrad)} (i32 tensors print
     * integers and add {@code , dtype=i32}); larger or closed ones print {@code Tensor(f32 8×3072
     * on cpu)}. Rows are separated by {@code ", "} on one line, not PyTorch's line breaks.
     */
    @Override
    public String toString() {
        if (!isClosed() && size() <= PRINTED) {
            StringBuilder b = new StringBuilder("tensor(");
            if (dtype == DType.I32) {
                int[] v = toIntArray();
                printNested(b, 0, 0, i -> Integer.toString(v[i]));
                b.append(", dtype=i32");
            } else {
                float[] v = toArray();
                printNested(b, 0, 0, i -> formatValue(v[i]));
            }
            return b.append(requiresGrad ? ", requiresGrad" : "").append(")").toString();
        }
        return "Tensor(" + describe() + (closed ? ", closed" : "") + (requiresGrad ? ", requiresGrad" : "") + ")";
    }

    private static final int PRINTED = 100;

    private void printNested(StringBuilder b, int dim, int offset, java.util.function.IntFunction<String> value) {
        if (shape.length == 0) { // rank 0: tensor(3.0000), as PyTorch
            b.append(value.apply(0));
            return;
        }
        b.append('[');
        long stride = 1;
        for (int d = dim + 1; d < shape.length; d++) {
            stride *= shape[d];
        }
        for (int i = 0; i < shape[dim]; i++) {
            if (i > 0) {
                b.append(", ");
            }
            int at = Math.toIntExact(offset + i * stride);
            if (dim == shape.length - 1) {
                b.append(value.apply(at));
            } else {
                printNested(b, dim + 1, at, value);
            }
        }
        b.append(']');
    }

    private static String formatValue(float v) {
        if (Float.isNaN(v)) {
            return "nan";
        }
        if (Float.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        return String.format(java.util.Locale.ROOT, "%.4f", v);
    }
}
