package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Backend.BinaryOp;
import dev.jrocm.runtime.device.Backend.UnaryOp;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Strides;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * The differentiable tensor ops (PyTorch's names and semantics), each with its forward
 * computation and — in the same place — its gradient rule; the convolutional ones are in
 * {@link ConvOps}. Rules add into their inputs' gradients through {@code Grads}, the one place
 * that creates a gradient, accumulates a second contribution, undoes broadcasting (a
 * contribution of the broadcast shape is summed to the input's) and chooses a weight gradient's
 * form ({@link Gradient}). A rule hands its contribution to the target directly — a GEMM with
 * beta = 1, a backward kernel with {@code accumulate} — instead of returning it for the engine to
 * add, so an input used twice (a residual stream, a shared weight) costs no temporary and no
 * extra pass. Inputs that do not require grad get no gradient computed at all: a frozen weight
 * costs no weight-gradient GEMM, and the first layer, whose input is data, computes no input
 * gradient.
 */
public final class Ops {
    private Ops() {}

    /** The result of {@link #crossEntropyWithAccuracy}: the mean loss and the number of correct argmaxes. */
    public record LossAndCorrect(Tensor loss, Tensor correct) {}

    // ---- shape ops (view and row narrow recorded for Tensor; the others copy via copyStrided) --

    /** Records {@code view} (same buffer as {@code x}, another shape) as an op: dx (+)= dy in x's shape. */
    public static void recordView(Tensor x, Tensor view) {
        Autograd.record(view, new Node("view", List.of(x), dy -> {
            if (x.requiresGrad()) {
                try (Autograd.NoGrad none = Autograd.noGrad(); Tensor asX = dy.view(x.shape())) {
                    Grads.accumulate(x, asX, false);
                }
            }
        }));
    }

    /** Records {@code slice} (rows [from, from + n) of {@code x}) as an op: those rows of dx (+)= dy, the rest 0. */
    public static void recordNarrow(Tensor x, Tensor slice, int from) {
        Autograd.record(slice, new Node("narrow", List.of(x), dy -> {
            if (!x.requiresGrad()) {
                return;
            }
            Grads.Target dx = Grads.target(x);
            Backend be = dx.grad().backend();
            if (dx.fresh()) {
                be.fill(dx.grad().buffer(), 0f);
            }
            try (Autograd.NoGrad none = Autograd.noGrad(); Tensor rows = dx.grad().narrow(from, slice.dim(0))) {
                be.axpy(1f, dy.buffer(), rows.buffer());
            }
        }));
    }

    /**
     * x with dims {@code dim0} and {@code dim1} swapped (negative dims count from the end), as
     * PyTorch's {@code transpose}, but a new dense tensor (a copy) rather than a strided view.
     * Gradient: dy transposed back into dx. Throws {@link IllegalArgumentException} naming
     * {@code transpose} for a dim out of range.
     */
    public static Tensor transpose(Tensor x, int dim0, int dim1) {
        int[] perm = new int[x.rank()];
        Arrays.setAll(perm, d -> d);
        int d0 = dim("transpose", x, dim0), d1 = dim("transpose", x, dim1);
        perm[d0] = d1;
        perm[d1] = d0;
        return permuted("transpose", x, perm);
    }

    /**
     * x's dims reordered: {@code y.dim(d) == x.dim(dims[d])}, as PyTorch's {@code permute} (negative
     * dims count from the end), but a new dense tensor (a copy). Gradient: dy permuted back by the
     * inverse permutation into dx. Throws {@link IllegalArgumentException} when dims is not a
     * permutation of x's dims (wrong length, a dim out of range or repeated), naming it.
     */
    public static Tensor permute(Tensor x, int... dims) {
        int rank = x.rank();
        if (dims.length != rank) {
            throw new IllegalArgumentException("permute: dims " + Arrays.toString(dims) + " are not a permutation of the "
                    + rank + " dims of " + x.shapeString() + " (it needs " + rank + " dims, got " + dims.length + ")");
        }
        int[] perm = new int[rank];
        boolean[] seen = new boolean[rank];
        for (int d = 0; d < rank; d++) {
            perm[d] = dim("permute", x, dims[d]);
            if (seen[perm[d]]) {
                throw new IllegalArgumentException("permute: dims " + Arrays.toString(dims) + " are not a permutation of the "
                        + rank + " dims of " + x.shapeString() + " (dim " + perm[d] + " appears twice)");
            }
            seen[perm[d]] = true;
        }
        return permuted("permute", x, perm);
    }

    /**
     * PyTorch's {@code t()}: a matrix transposed (a copy); a tensor of rank 0 or 1 is returned as
     * it is. Throws {@link IllegalArgumentException} for rank above 2.
     */
    public static Tensor t(Tensor x) {
        if (x.rank() > 2) {
            throw new IllegalArgumentException("t: expects a tensor of rank 2 or less, not " + x.shapeString()
                    + " (use transpose(dim0, dim1))");
        }
        return x.rank() < 2 ? x : transpose(x, 0, 1);
    }

    /** y.dim(d) = x.dim(perm[d]), perm valid: one strided copy forward, its inverse backward (into a dense dx). */
    private static Tensor permuted(String op, Tensor x, int[] perm) {
        int rank = perm.length;
        int[] xShape = x.shape(), yShape = new int[rank];
        long[] xStrides = Strides.dense(xShape), read = new long[rank];
        for (int d = 0; d < rank; d++) {
            yShape[d] = xShape[perm[d]];
            read[d] = xStrides[perm[d]];
        }
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.dtype(), yShape);
        be.copyStrided(x.buffer(), read, y.buffer(), Strides.dense(yShape), yShape, false);
        if (Autograd.records(x)) {
            Autograd.record(y, new Node(op, inputs(x), dy -> {
                long[] yStrides = Strides.dense(yShape), back = new long[rank]; // dx[i] = dy[i permuted]
                for (int d = 0; d < rank; d++) {
                    back[perm[d]] = yStrides[d];
                }
                Grads.Target dx = Grads.target(x);
                be.copyStrided(dy.buffer(), back, dx.grad().buffer(), xStrides, xShape, !dx.fresh());
            }));
        }
        return y;
    }

    /**
     * Elements [start, start + length) of x along {@code dim} (negative dim and start count from
     * the end), as PyTorch's {@code narrow}: along dim 0 a view sharing x's buffer ({@link Tensor#narrow(int, int)}),
     * along any other dim a new dense tensor (a copy). Gradient: dy into that slice of dx, 0
     * elsewhere. Throws {@link IllegalArgumentException} for a dim out of range, a rank-0 x, or a
     * range that is negative or ends past the dim.
     */
    public static Tensor narrow(Tensor x, int dim, int start, int length) {
        if (x.rank() == 0) {
            throw new IllegalArgumentException("narrow: a tensor of rank 0 has no dimension to narrow");
        }
        int d = dim("narrow", x, dim);
        int[] xShape = x.shape();
        if (start < -xShape[d] || length < 0 || start > xShape[d]
                || length > xShape[d] - (start < 0 ? start + xShape[d] : start)) {
            throw new IllegalArgumentException("narrow: elements [" + start + ", " + ((long) start + length) + ") of dim "
                    + dim + " of " + x.shapeString() + " (start must be in [" + -xShape[d] + ", " + xShape[d]
                    + "], length ≥ 0, and the range must end within the dim's " + xShape[d] + " elements)");
        }
        if (start < 0) {
            start += xShape[d];
        }
        if (d == 0) {
            return x.narrow(start, length);
        }
        int[] yShape = xShape.clone();
        yShape[d] = length;
        long[] xStrides = Strides.dense(xShape);
        long offset = start * xStrides[d];
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.dtype(), yShape);
        if (y.size() > 0) {
            be.copyStrided(x.buffer().slice(offset, x.size() - offset), xStrides, y.buffer(), Strides.dense(yShape),
                    yShape, false);
        }
        if (Autograd.records(x)) {
            Autograd.record(y, new Node("narrow", inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                if (dx.fresh()) {
                    be.fill(dx.grad().buffer(), 0f);
                }
                if (y.size() > 0) {
                    be.copyStrided(dy.buffer(), Strides.dense(yShape), dx.grad().buffer().slice(offset, x.size() - offset),
                            xStrides, yShape, true);
                }
            }));
        }
        return y;
    }

    /** {@link #cat(int, List)} of {@code parts}. */
    public static Tensor cat(int dim, Tensor... parts) {
        return cat(dim, Arrays.asList(parts));
    }

    /**
     * The parts joined along {@code dim} (negative counts from the end), as PyTorch's {@code cat}:
     * every part of one rank (at least 1), dtype and backend, with equal dims except along
     * {@code dim}, where the result's is their sum; always a new tensor. A part may appear more
     * than once. Gradient: each part gets its slice of dy (a part used twice gets both slices
     * added). Throws {@link IllegalArgumentException} for no parts, a dim out of range, or the
     * first part that differs from part 0, naming it and how.
     */
    public static Tensor cat(int dim, List<Tensor> parts) {
        if (parts == null || parts.isEmpty()) {
            throw new IllegalArgumentException("cat: needs at least one tensor, got none");
        }
        Tensor first = parts.get(0);
        if (first.rank() == 0) {
            throw new IllegalArgumentException("cat: part 0 has rank 0 (shape []): a tensor of rank 0 cannot be concatenated");
        }
        int d = dim("cat", first, dim);
        int[] outShape = first.shape();
        long total = 0;
        for (int p = 0; p < parts.size(); p++) {
            total += requireCatPart(parts, p, d, outShape).dim(d);
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("cat: dim " + dim + " of the result would be " + total
                    + ", more than " + Integer.MAX_VALUE);
        }
        outShape[d] = (int) total;
        Backend be = first.backend();
        Tensor y = Tensor.empty(be, first.dtype(), outShape);
        long[] yStrides = Strides.dense(outShape);
        long[] offsets = new long[parts.size()];
        long at = 0;
        for (int p = 0; p < parts.size(); p++) {
            Tensor part = parts.get(p);
            offsets[p] = at * yStrides[d];
            at += part.dim(d);
            if (part.size() > 0) {
                be.copyStrided(part.buffer(), Strides.dense(part.shape()), y.buffer().slice(offsets[p], y.size() - offsets[p]),
                        yStrides, part.shape(), false);
            }
        }
        if (Autograd.records(parts.toArray(Tensor[]::new))) {
            List<Tensor> inputs = List.copyOf(parts);
            Autograd.record(y, new Node("cat", inputs, dy -> {
                for (int p = 0; p < inputs.size(); p++) {
                    Tensor part = inputs.get(p);
                    if (!part.requiresGrad()) {
                        continue;
                    }
                    Grads.Target dp = Grads.target(part);
                    if (part.size() > 0) {
                        be.copyStrided(dy.buffer().slice(offsets[p], y.size() - offsets[p]), yStrides, dp.grad().buffer(),
                                Strides.dense(part.shape()), part.shape(), !dp.fresh());
                    }
                }
            }));
        }
        return y;
    }

    /** Part p of a cat along d, checked against part 0 (whose shape is {@code shape}). */
    private static Tensor requireCatPart(List<Tensor> parts, int p, int d, int[] shape) {
        Tensor part = parts.get(p), first = parts.get(0);
        if (part == null) {
            throw new IllegalArgumentException("cat: part " + p + " is null");
        }
        String differs = "cat: part " + p + " (" + part.describe() + ") does not match part 0 (" + first.describe() + "): ";
        if (part.backend() != first.backend()) {
            throw new IllegalArgumentException(differs + "it is on another backend");
        }
        if (part.dtype() != first.dtype()) {
            throw new IllegalArgumentException(differs + "its dtype differs");
        }
        if (part.rank() != shape.length) {
            throw new IllegalArgumentException(differs + "its rank is " + part.rank() + ", not " + shape.length);
        }
        for (int k = 0; k < shape.length; k++) {
            if (k != d && part.dim(k) != shape[k]) {
                throw new IllegalArgumentException(differs + "dim " + k + " is " + part.dim(k) + ", not " + shape[k]
                        + " (only dim " + d + ", the one joined along, may differ)");
            }
        }
        return part;
    }

    /**
     * x in pieces of {@code size} along {@code dim} (the last one smaller when size does not
     * divide the dim), as PyTorch's {@code split(split_size, dim)}: each piece is
     * {@link #narrow}, so along dim 0 views, otherwise copies, each carrying its gradient. An empty
     * dim gives one empty piece. Throws {@link IllegalArgumentException} for a size below 1 or a dim
     * out of range.
     */
    public static List<Tensor> split(Tensor x, int size, int dim) {
        if (x.rank() == 0) {
            throw new IllegalArgumentException("split: a tensor of rank 0 has no dimension to split");
        }
        int d = dim("split", x, dim);
        if (size < 1) {
            throw new IllegalArgumentException("split: size must be at least 1, got " + size);
        }
        int n = x.dim(d);
        List<Tensor> pieces = new java.util.ArrayList<>();
        for (int start = 0; start < n || pieces.isEmpty(); start += size) {
            pieces.add(narrow(x, d, start, Math.min(size, n - start)));
        }
        return pieces;
    }

    /**
     * x in at most {@code chunks} pieces along {@code dim}, as PyTorch's {@code chunk}: pieces of
     * ⌈n/chunks⌉ ({@link #split}), so fewer than {@code chunks} when the dim is short ({@code chunks}
     * empty pieces when it is empty). Throws
     * {@link IllegalArgumentException} for chunks below 1 or a dim out of range.
     */
    public static List<Tensor> chunk(Tensor x, int chunks, int dim) {
        if (x.rank() == 0) {
            throw new IllegalArgumentException("chunk: a tensor of rank 0 has no dimension to split");
        }
        int d = dim("chunk", x, dim);
        if (chunks < 1) {
            throw new IllegalArgumentException("chunk: chunks must be at least 1, got " + chunks);
        }
        int n = x.dim(d);
        if (n == 0) { // as PyTorch: that many empty pieces
            List<Tensor> empty = new java.util.ArrayList<>();
            for (int c = 0; c < chunks; c++) {
                empty.add(narrow(x, d, 0, 0));
            }
            return empty;
        }
        return split(x, (int) ((n + (long) chunks - 1) / chunks), d);
    }

    // ---- linear algebra -----------------------------------------------------------------------

    /**
     * {@code y = x·Wᵀ + b}: x (…, in), W (out, in), b (out) or null → y (…, out), as PyTorch's
     * {@code F.linear}. Leading dimensions are flattened into rows for one GEMM and viewed back
     * (both views carry gradients); a rank-1 x gives a rank-1 y.
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        requireFloat("linear", "x", x);
        if (x.rank() == 0) {
            throw new IllegalArgumentException("linear: x must have at least one dimension (…, in), not " + x.shapeString());
        }
        if (x.rank() != 2) {
            int[] shape = x.shape();
            int in = shape[shape.length - 1];
            requireMatrix("linear", "weight", weight);
            if (in != weight.dim(1)) {
                throw new IllegalArgumentException("linear: x is " + x.shapeString() + " but weight is "
                        + weight.shapeString() + " (x's last dimension needs to be " + weight.dim(1) + ")");
            }
            long rows = 1;
            for (int d = 0; d < shape.length - 1; d++) {
                rows *= shape[d];
            }
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("linear: x " + x.shapeString() + " has more than "
                        + Integer.MAX_VALUE + " rows");
            }
            Tensor y = linear(x.view((int) rows, in), weight, bias);
            shape[shape.length - 1] = y.dim(1);
            return y.view(shape);
        }
        requireMatrix("linear", "x", x);
        requireMatrix("linear", "weight", weight);
        if (x.dim(1) != weight.dim(1)) {
            throw new IllegalArgumentException("linear: x is " + x.shapeString() + " but weight is " + weight.shapeString()
                    + " (x needs " + weight.dim(1) + " columns)");
        }
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0))) {
            throw new IllegalArgumentException("linear: bias is " + bias.shapeString() + " but weight is "
                    + weight.shapeString() + " (bias needs " + weight.dim(0) + " elements)");
        }
        Backend be = x.backend();
        int batch = x.dim(0), in = x.dim(1), out = weight.dim(0);
        Tensor y = Tensor.empty(be, batch, out);
        be.gemm(false, true, batch, out, in, 1f, x.buffer(), weight.buffer(), 0f, y.buffer());
        if (bias != null) {
            be.addBias(y.buffer(), bias.buffer(), batch, out);
        }
        if (Autograd.records(x, weight, bias)) {
            Autograd.record(y, new Node("linear", inputs(x, weight, bias), dy -> {
                linearBackward(x, weight, bias, dy);
            }));
        }
        return y;
    }

    private static void linearBackward(Tensor x, Tensor weight, Tensor bias, Tensor dy) {
        Backend be = dy.backend();
        int batch = x.dim(0), in = x.dim(1), out = weight.dim(0);
        if (x.requiresGrad()) { // dx (+)= dy·W
            Grads.Target dx = Grads.target(x);
            be.gemm(false, false, batch, in, out, 1f, dy.buffer(), weight.buffer(), dx.beta(), dx.grad().buffer());
        }
        if (weight.requiresGrad()) { // dW (+)= dyᵀ·x, formed or kept factored (Grads chooses)
            Grads.addOuterProduct(weight, dy, x);
        }
        if (bias != null && bias.requiresGrad()) { // db (+)= Σ_rows dy
            Grads.Target db = Grads.target(bias);
            be.columnSums(dy.buffer(), batch, out, db.grad().buffer(), !db.fresh());
        }
    }

    /**
     * A LoRA layer, {@code y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ}: x (batch, in) or (…, in) as in
     * {@link #linear}, W (out, in), b (out) or null, A (r, in), B (out, r). The low-rank path is two thin GEMMs, the second accumulating
     * into y (beta = 1): the out×in update B·A is never formed. With a frozen W and b their
     * gradients are neither computed nor stored; with data as x (no grad) neither is dx.
     *
     * @param dropout probability of dropping an element of x on the low-rank path (0: none)
     * @param dropoutSeed the mask's seed; backward regenerates the mask from it
     */
    @SuppressWarnings("try")
    public static Tensor loraLinear(Tensor x, Tensor weight, Tensor bias, Tensor loraA, Tensor loraB,
                                    float scale, float dropout, long dropoutSeed) {
        if (x.rank() != 2 && x.rank() > 0) { // (…, in): rows flattened through views that carry gradients, as linear
            int[] shape = x.shape();
            long rows = Strides.count(Arrays.copyOf(shape, shape.length - 1));
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("loraLinear: x " + x.shapeString() + " has more than "
                        + Integer.MAX_VALUE + " rows");
            }
            Tensor y = loraLinear(x.view((int) rows, shape[shape.length - 1]), weight, bias, loraA, loraB,
                    scale, dropout, dropoutSeed);
            shape[shape.length - 1] = y.dim(1);
            return y.view(shape);
        }
        requireMatrix("loraLinear", "x", x);
        requireMatrix("loraLinear", "lora_A", loraA);
        requireMatrix("loraLinear", "lora_B", loraB);
        int rank = loraA.dim(0);
        if (loraA.dim(1) != weight.dim(1) || loraB.dim(0) != weight.dim(0) || loraB.dim(1) != rank) {
            throw new IllegalArgumentException("loraLinear: weight is " + weight.shapeString() + ", lora_A " + loraA.shapeString()
                    + " and lora_B " + loraB.shapeString() + " (they need to be out×in, r×in and out×r)");
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("loraLinear: dropout must be in [0, 1), got " + dropout);
        }
        Tensor y;
        try (Autograd.NoGrad base = Autograd.noGrad()) {
            y = linear(x, weight, bias); // checks x, weight and bias; records nothing here
        }
        Backend be = x.backend();
        int batch = x.dim(0), in = x.dim(1), out = weight.dim(0);
        Tensor xd = x;
        if (dropout > 0f) {
            xd = Tensor.empty(be, x.shape());
            be.dropout(x.buffer(), xd.buffer(), dropout, dropoutSeed);
        }
        Tensor u = Tensor.empty(be, batch, rank); // drop(x)·Aᵀ
        be.gemm(false, true, batch, rank, in, 1f, xd.buffer(), loraA.buffer(), 0f, u.buffer());
        be.gemm(false, true, batch, out, rank, scale, u.buffer(), loraB.buffer(), 1f, y.buffer());
        if (Autograd.records(x, weight, bias, loraA, loraB)) {
            Tensor dropped = xd;
            Autograd.record(y, new Node("loraLinear", inputs(x, weight, bias, loraA, loraB), dy -> {
                if (x.requiresGrad() || weight.requiresGrad() || (bias != null && bias.requiresGrad())) {
                    linearBackward(x, weight, bias, dy);
                }
                if (loraB.requiresGrad()) { // dB (+)= s·dyᵀ·u
                    Grads.Target dB = Grads.target(loraB);
                    be.gemm(true, false, out, rank, batch, scale, dy.buffer(), u.buffer(), dB.beta(), dB.grad().buffer());
                }
                if (!loraA.requiresGrad() && !x.requiresGrad()) {
                    return;
                }
                try (Tensor du = Tensor.empty(be, batch, rank)) { // s·dy·B
                    be.gemm(false, false, batch, rank, out, scale, dy.buffer(), loraB.buffer(), 0f, du.buffer());
                    if (loraA.requiresGrad()) { // dA (+)= duᵀ·drop(x)
                        Grads.Target dA = Grads.target(loraA);
                        be.gemm(true, false, rank, in, batch, 1f, du.buffer(), dropped.buffer(), dA.beta(), dA.grad().buffer());
                    }
                    if (x.requiresGrad()) { // dx += drop'(du·A); linearBackward has already written dy·W
                        Tensor dx = Grads.target(x).grad();
                        if (dropout == 0f) {
                            be.gemm(false, false, batch, in, rank, 1f, du.buffer(), loraA.buffer(), 1f, dx.buffer());
                        } else {
                            try (Tensor t = Tensor.empty(be, batch, in)) {
                                be.gemm(false, false, batch, in, rank, 1f, du.buffer(), loraA.buffer(), 0f, t.buffer());
                                be.dropoutBackward(t.buffer(), dx.buffer(), dropout, dropoutSeed, true);
                            }
                        }
                    }
                }
            }));
        }
        return y;
    }

    /** {@code y = x·Wᵀ}: x (batch, in), W (out, in) → (batch, out). */
    public static Tensor matmulTransposed(Tensor x, Tensor weight) {
        return linearNamed("matmulT", x, weight);
    }

    /**
     * PyTorch's {@code torch.matmul}: 1-D·1-D is the dot product (rank 0); 2-D·2-D the matrix
     * product; a 1-D a is taken as a row (1, k) and a 1-D b as a column (k, 1), that dimension
     * dropped from the result; otherwise a (…, m, k)·b (…, k, n) → (…, m, n) with the batch
     * dimensions (all but the last two) broadcast (NumPy rules). A b of rank 2 under an a of rank
     * 3 or more is one GEMM over a's rows, as PyTorch folds it; other batches are one GEMM per
     * matrix of the broadcast batch. Gradients: da = dy·bᵀ, db = aᵀ·dy, each summed over the
     * batch dimensions its operand was broadcast along. Throws {@link IllegalArgumentException} for
     * a rank-0 or non-f32 operand, inner dimensions that differ, or batch shapes that do not broadcast.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        requireFloat("matmul", "a", a);
        requireFloat("matmul", "b", b);
        if (a.rank() == 0 || b.rank() == 0) {
            throw new IllegalArgumentException("matmul: both operands need at least one dimension, got a "
                    + a.shapeString() + " and b " + b.shapeString() + " (use mul for a scalar)");
        }
        int k = a.dim(a.rank() - 1), kb = b.dim(b.rank() == 1 ? 0 : b.rank() - 2);
        if (k != kb) {
            throw new IllegalArgumentException("matmul: a is " + a.shapeString() + " and b is " + b.shapeString()
                    + ": a's last dimension (" + k + ") must equal b's " + (b.rank() == 1 ? "only" : "second-to-last")
                    + " dimension (" + kb + ")");
        }
        if (a.rank() == 1 || b.rank() == 1) { // a row or a column through views, that dimension dropped again
            Tensor a2 = a.rank() == 1 ? a.view(1, k) : a;
            Tensor b2 = b.rank() == 1 ? b.view(k, 1) : b;
            Tensor y = matmul(a2, b2);
            int[] shape = y.shape();
            int[] s = new int[shape.length - (a.rank() == 1 ? 1 : 0) - (b.rank() == 1 ? 1 : 0)];
            for (int d = 0, j = 0; d < shape.length; d++) {
                boolean dropped = (a.rank() == 1 && d == shape.length - 2) || (b.rank() == 1 && d == shape.length - 1);
                if (!dropped) {
                    s[j++] = shape[d];
                }
            }
            return y.view(s);
        }
        if (b.rank() == 2) { // (…, m, k)·(k, n): one GEMM over all of a's rows
            if (a.rank() == 2) {
                return matmul2d(a, b);
            }
            int[] shape = a.shape();
            long rows = Strides.count(Arrays.copyOf(shape, shape.length - 1));
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("matmul: a " + a.shapeString() + " has more than " + Integer.MAX_VALUE + " rows");
            }
            Tensor y = matmul2d(a.view((int) rows, k), b);
            shape[shape.length - 1] = b.dim(1);
            return y.view(shape);
        }
        return batchedMatmul(a, b);
    }

    /** (m, k)·(k, n) → (m, n), one GEMM; gradients da = dy·bᵀ and db = aᵀ·dy. */
    private static Tensor matmul2d(Tensor a, Tensor b) {
        Backend be = a.backend();
        int m = a.dim(0), k = a.dim(1), n = b.dim(1);
        Tensor y = Tensor.empty(be, m, n);
        gemmOrZero(be, false, false, m, n, k, a.buffer(), b.buffer(), 0f, y.buffer());
        if (Autograd.records(a, b)) {
            Autograd.record(y, new Node("matmul", inputs(a, b), dy -> {
                if (a.requiresGrad()) {
                    Grads.Target da = Grads.target(a);
                    gemmOrZero(be, false, true, m, k, n, dy.buffer(), b.buffer(), da.beta(), da.grad().buffer());
                }
                if (b.requiresGrad()) {
                    Grads.Target db = Grads.target(b);
                    gemmOrZero(be, true, false, k, n, m, a.buffer(), dy.buffer(), db.beta(), db.grad().buffer());
                }
            }));
        }
        return y;
    }

    /** A GEMM, or with an empty inner dimension (no products) C = beta·C: 0 when beta is 0. */
    private static void gemmOrZero(Backend be, boolean ta, boolean tb, int m, int n, int k,
                                   Buffer a, Buffer b, float beta, Buffer c) {
        if ((long) m * n == 0) {
            return;
        }
        if (k == 0) {
            if (beta == 0f) {
                be.fill(c, 0f);
            }
            return;
        }
        be.gemm(ta, tb, m, n, k, 1f, a, b, beta, c);
    }

    /**
     * a (…, m, k)·b (…, k, n), both of rank ≥ 2 and at least one above 2: the batch shapes
     * broadcast, one {@link Backend#gemmBatched} over the output matrices (and over each gradient
     * whose matrices are each written once; a broadcast operand's gradient sums several products
     * into one matrix, so it stays one GEMM per matrix, in order).
     */
    private static Tensor batchedMatmul(Tensor a, Tensor b) {
        int ra = a.rank(), rb = b.rank();
        int m = a.dim(ra - 2), k = a.dim(ra - 1), n = b.dim(rb - 1);
        int[] aBatch = Arrays.copyOf(a.shape(), ra - 2), bBatch = Arrays.copyOf(b.shape(), rb - 2);
        int[] batch;
        try {
            batch = broadcastShape("matmul", aBatch, bBatch);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("matmul: a is " + a.shapeString() + " and b is " + b.shapeString()
                    + ": their batch dimensions " + Arrays.toString(aBatch) + " and " + Arrays.toString(bBatch)
                    + " cannot be broadcast", e);
        }
        int count = Math.toIntExact(Strides.count(batch));
        long[] aStep = Strides.broadcast(Strides.padded(aBatch, batch.length), batch);
        long[] bStep = Strides.broadcast(Strides.padded(bBatch, batch.length), batch);
        long[] aOffsets = batchOffsets(batch, aStep, (long) m * k), bOffsets = batchOffsets(batch, bStep, (long) k * n);
        int[] shape = Arrays.copyOf(batch, batch.length + 2);
        shape[batch.length] = m;
        shape[batch.length + 1] = n;
        Backend be = a.backend();
        Tensor y = Tensor.empty(be, shape);
        long mk = (long) m * k, kn = (long) k * n, mn = (long) m * n;
        long[] yOffsets = new long[count];
        Arrays.setAll(yOffsets, i -> i * mn);
        if (k > 0 && mn > 0) { // one batched GEMM (the matrices split across the cores on the CPU)
            be.gemmBatched(false, false, m, n, k, 1f, a.buffer(), aOffsets, b.buffer(), bOffsets, 0f, y.buffer(), yOffsets);
        } else {
            for (int i = 0; i < count; i++) {
                gemmOrZero(be, false, false, m, n, k, a.buffer().slice(aOffsets[i], mk), b.buffer().slice(bOffsets[i], kn),
                        0f, y.buffer().slice(i * mn, mn));
            }
        }
        if (Autograd.records(a, b)) {
            boolean aRepeats = Strides.count(aBatch) != count, bRepeats = Strides.count(bBatch) != count;
            Autograd.record(y, new Node("matmul", inputs(a, b), dy -> {
                if (a.requiresGrad()) { // da_i (+)= dy_i·b_iᵀ; a matrix used by several i sums them
                    float beta = batchGradBeta(be, Grads.target(a), aRepeats);
                    Buffer g = a.grad().buffer();
                    if (!aRepeats && n > 0 && mk > 0) { // each da_i written once: one batched GEMM
                        be.gemmBatched(false, true, m, k, n, 1f, dy.buffer(), yOffsets, b.buffer(), bOffsets, beta, g, aOffsets);
                    } else {
                        for (int i = 0; i < count; i++) {
                            gemmOrZero(be, false, true, m, k, n, dy.buffer().slice(i * mn, mn), b.buffer().slice(bOffsets[i], kn),
                                    beta, g.slice(aOffsets[i], mk));
                        }
                    }
                }
                if (b.requiresGrad()) { // db_i (+)= a_iᵀ·dy_i
                    float beta = batchGradBeta(be, Grads.target(b), bRepeats);
                    Buffer g = b.grad().buffer();
                    if (!bRepeats && m > 0 && kn > 0) {
                        be.gemmBatched(true, false, k, n, m, 1f, a.buffer(), aOffsets, dy.buffer(), yOffsets, beta, g, bOffsets);
                    } else {
                        for (int i = 0; i < count; i++) {
                            gemmOrZero(be, true, false, k, n, m, a.buffer().slice(aOffsets[i], mk), dy.buffer().slice(i * mn, mn),
                                    beta, g.slice(bOffsets[i], kn));
                        }
                    }
                }
            }));
        }
        return y;
    }

    /** The element offset of each batch matrix of an operand read with {@code step} (0 where it repeats). */
    private static long[] batchOffsets(int[] batch, long[] step, long matrix) {
        int count = Math.toIntExact(Strides.count(batch));
        long[] offsets = new long[count];
        int[] index = new int[batch.length];
        for (int i = 0; i < count; i++) {
            long o = 0;
            for (int d = 0; d < batch.length; d++) {
                o += index[d] * step[d];
            }
            offsets[i] = o * matrix;
            for (int d = batch.length - 1; d >= 0 && ++index[d] == batch[d]; d--) {
                index[d] = 0;
            }
        }
        return offsets;
    }

    /**
     * The GEMM beta for a batched gradient: an operand whose matrices are each used once takes the
     * target's (overwrite when fresh); one used by several batch entries is zeroed when fresh and
     * then always accumulated.
     */
    private static float batchGradBeta(Backend be, Grads.Target target, boolean repeats) {
        if (!repeats) {
            return target.beta();
        }
        if (target.fresh()) {
            be.fill(target.grad().buffer(), 0f);
        }
        return 1f;
    }

    private static Tensor linearNamed(String op, Tensor x, Tensor weight) {
        requireMatrix(op, "x", x);
        requireMatrix(op, "weight", weight);
        if (x.dim(1) != weight.dim(1)) {
            throw new IllegalArgumentException(op + ": x is " + x.shapeString() + " but weight is " + weight.shapeString()
                    + " (x needs " + weight.dim(1) + " columns)");
        }
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.dim(0), weight.dim(0));
        be.gemm(false, true, x.dim(0), weight.dim(0), x.dim(1), 1f, x.buffer(), weight.buffer(), 0f, y.buffer());
        if (Autograd.records(x, weight)) {
            Autograd.record(y, new Node(op, inputs(x, weight), dy -> linearBackward(x, weight, null, dy)));
        }
        return y;
    }

    /** {@code y = x + b} with b (cols) added to every row of x (rows, cols). */
    public static Tensor addBias(Tensor x, Tensor bias) {
        requireMatrix("addBias", "x", x);
        if (bias.rank() != 1 || bias.dim(0) != x.dim(1)) {
            throw new IllegalArgumentException("addBias: x is " + x.shapeString() + " but bias is " + bias.shapeString()
                    + " (bias needs " + x.dim(1) + " elements)");
        }
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.copy(x.buffer(), y.buffer());
        be.addBias(y.buffer(), bias.buffer(), x.dim(0), x.dim(1));
        if (Autograd.records(x, bias)) {
            Autograd.record(y, new Node("addBias", inputs(x, bias), dy -> {
                if (x.requiresGrad()) {
                    Grads.accumulate(x, dy, false);
                }
                if (bias.requiresGrad()) {
                    Grads.Target db = Grads.target(bias);
                    be.columnSums(dy.buffer(), x.dim(0), x.dim(1), db.grad().buffer(), !db.fresh());
                }
            }));
        }
        return y;
    }

    // ---- element-wise -------------------------------------------------------------------------

    /** {@code y = max(x, 0)}. */
    public static Tensor relu(Tensor x) {
        requireFloat("relu", "x", x);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.relu(x.buffer(), y.buffer());
        if (Autograd.records(x)) {
            Autograd.record(y, new Node("relu", inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                be.reluBackward(y.buffer(), dy.buffer(), dx.grad().buffer(), !dx.fresh());
            }));
        }
        return y;
    }

    // ---- element-wise functions ---------------------------------------------------------------

    /** {@code eˣ}, any shape. */
    public static Tensor exp(Tensor x) { return unary(UnaryOp.EXP, "exp", x); }

    /** Natural logarithm, any shape (log 0 = −∞, log of a negative number NaN, as PyTorch). */
    public static Tensor log(Tensor x) { return unary(UnaryOp.LOG, "log", x); }

    /** Square root, any shape (NaN for negative numbers, as PyTorch). */
    public static Tensor sqrt(Tensor x) { return unary(UnaryOp.SQRT, "sqrt", x); }

    /** Hyperbolic tangent, any shape. */
    public static Tensor tanh(Tensor x) { return unary(UnaryOp.TANH, "tanh", x); }

    /** {@code 1/(1 + e⁻ˣ)}, any shape. */
    public static Tensor sigmoid(Tensor x) { return unary(UnaryOp.SIGMOID, "sigmoid", x); }

    /** GELU, exact: {@code x·Φ(x)} with Φ the standard normal CDF (PyTorch's default, approximate='none'). */
    public static Tensor gelu(Tensor x) { return unary(UnaryOp.GELU, "gelu", x); }

    /** SiLU (swish): {@code x·σ(x)}. */
    public static Tensor silu(Tensor x) { return unary(UnaryOp.SILU, "silu", x); }

    /** One {@link Backend#unary}; its rule dx (+)= dy·f′(x) reads x and y, both kept by the graph. */
    private static Tensor unary(UnaryOp op, String name, Tensor x) {
        requireFloat(name, "x", x);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.unary(op, x.buffer(), y.buffer());
        if (Autograd.records(x)) {
            Autograd.record(y, new Node(name, inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                be.unaryBackward(op, x.buffer(), y.buffer(), dy.buffer(), dx.grad().buffer(), !dx.fresh());
            }));
        }
        return y;
    }

    /** {@code y = a + b}, with NumPy broadcasting ({@link #broadcastShape}). */
    public static Tensor add(Tensor a, Tensor b) {
        return binary(BinaryOp.ADD, "add", a, b);
    }

    /** {@code y = a − b}, with NumPy broadcasting. */
    public static Tensor sub(Tensor a, Tensor b) {
        return binary(BinaryOp.SUB, "sub", a, b);
    }

    /** {@code y = a·b} element by element, with NumPy broadcasting. */
    public static Tensor mul(Tensor a, Tensor b) {
        return binary(BinaryOp.MUL, "mul", a, b);
    }

    /** {@code y = a / b} element by element, with NumPy broadcasting (IEEE: x/0 is ±∞ or NaN, as PyTorch). */
    public static Tensor div(Tensor a, Tensor b) {
        return binary(BinaryOp.DIV, "div", a, b);
    }

    /**
     * The shape of an element-wise op's result (NumPy's and PyTorch's broadcasting): shapes aligned
     * from the right, each pair of dimensions equal or one of them 1 (which repeats), missing
     * leading dimensions taken as 1. Otherwise {@link IllegalArgumentException}, e.g.
     * {@code "add: shapes [2, 3] and [4] cannot be broadcast: dimension -1 is 3 and 4"}.
     */
    public static int[] broadcastShape(String op, int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] out = new int[rank];
        for (int d = 1; d <= rank; d++) { // d-th from the right
            int x = d <= a.length ? a[a.length - d] : 1, y = d <= b.length ? b[b.length - d] : 1;
            if (x != y && x != 1 && y != 1) {
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " cannot be broadcast: dimension -" + d + " is " + x + " and " + y);
            }
            out[rank - d] = x == 1 ? y : x;
        }
        return out;
    }

    /**
     * One {@link Backend#binary} over the broadcast shape. Gradients, each summed back over the
     * dimensions its input was broadcast along ({@link Grads#sumInto}): add da = dy, db = dy;
     * sub da = dy, db = −dy; mul da = dy·b, db = dy·a; div da = dy/b, db = −dy·y/b.
     */
    private static Tensor binary(BinaryOp op, String name, Tensor a, Tensor b) {
        requireFloat(name, "a", a);
        requireFloat(name, "b", b);
        int[] shape = broadcastShape(name, a.shape(), b.shape());
        Backend be = a.backend();
        Tensor y = Tensor.empty(be, shape);
        be.binary(op, a.buffer(), Strides.broadcast(a.shape(), shape), b.buffer(), Strides.broadcast(b.shape(), shape),
                y.buffer(), shape);
        if (Autograd.records(a, b)) {
            Autograd.record(y, new Node(name, inputs(a, b), dy -> {
                switch (op) {
                    case ADD, SUB -> {
                        if (a.requiresGrad()) {
                            Grads.sumInto(a, 1f, dy);
                        }
                        if (b.requiresGrad()) {
                            Grads.sumInto(b, op == BinaryOp.ADD ? 1f : -1f, dy);
                        }
                    }
                    case MUL -> {
                        if (a.requiresGrad()) {
                            Grads.sumProductInto(a, 1f, dy, BinaryOp.MUL, b);
                        }
                        if (b.requiresGrad()) {
                            Grads.sumProductInto(b, 1f, dy, BinaryOp.MUL, a);
                        }
                    }
                    case DIV -> {
                        if (a.requiresGrad()) {
                            Grads.sumProductInto(a, 1f, dy, BinaryOp.DIV, b);
                        }
                        if (b.requiresGrad()) {
                            try (Tensor dyY = Tensor.empty(be, shape)) { // dy·y, then /b: −dy·a/b²
                                long[] dense = Strides.dense(shape);
                                be.binary(BinaryOp.MUL, dy.buffer(), dense, y.buffer(), dense, dyY.buffer(), shape);
                                Grads.sumProductInto(b, -1f, dyY, BinaryOp.DIV, b);
                            }
                        }
                    }
                }
            }));
        }
        return y;
    }

    /** {@code y = s·x}. */
    public static Tensor scale(Tensor x, float s) {
        requireFloat("scale", "x", x);
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.copy(x.buffer(), y.buffer());
        be.scale(y.buffer(), s);
        if (Autograd.records(x)) {
            Autograd.record(y, new Node("scale", inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                if (dx.fresh()) {
                    be.copy(dy.buffer(), dx.grad().buffer());
                    be.scale(dx.grad().buffer(), s);
                } else {
                    be.axpy(s, dy.buffer(), dx.grad().buffer());
                }
            }));
        }
        return y;
    }

    // ---- reductions ---------------------------------------------------------------------------
    // Dims count from the end when negative (−1 is the last), as PyTorch's; one out of range throws
    // "op: dim 3 is out of range for a tensor of rank 2 (expected -2 to 1)". Full reductions give a
    // rank-0 tensor, as PyTorch's (and as crossEntropy's loss).

    /** The result of {@link #max(Tensor, int, boolean)}: the largest values and their indices (i32) along the dim. */
    public record MaxResult(Tensor values, Tensor indices) {}

    /**
     * The sum of all elements of x (any shape): a rank-0 tensor, as PyTorch's; 0 for an empty
     * x. Gradient: dx = dy everywhere.
     */
    public static Tensor sum(Tensor x) {
        requireFloat("sum", "x", x);
        return reduce("sum", x, ones(x.rank()), new int[0], false);
    }

    /**
     * The mean of all elements of x (any shape): a rank-0 tensor; NaN for an
     * empty x (the mean of nothing), as PyTorch. Gradient: dx = dy/N everywhere.
     */
    public static Tensor mean(Tensor x) {
        requireFloat("mean", "x", x);
        return reduce("mean", x, ones(x.rank()), new int[0], true);
    }

    /**
     * The sum of x along {@code dim} (negative counts from the end): x's shape with that dim 1
     * ({@code keepDim}) or dropped; a rank-1 x reduced without keepDim gives rank 0. A sum over
     * an empty dim is 0. Gradient: dy repeated along the dim. Throws
     * {@link IllegalArgumentException} for a dim out of range or a non-f32 x.
     */
    public static Tensor sum(Tensor x, int dim, boolean keepDim) {
        requireFloat("sum", "x", x);
        int d = dim("sum", x, dim);
        return reduce("sum", x, reducedShape(x.shape(), d, true), reducedShape(x.shape(), d, keepDim), false);
    }

    /**
     * The mean of x along {@code dim}: the shapes of {@link #sum(Tensor, int, boolean)}; NaN over an
     * empty dim. Gradient: dy/n repeated along the dim (n = x's extent there).
     */
    public static Tensor mean(Tensor x, int dim, boolean keepDim) {
        requireFloat("mean", "x", x);
        int d = dim("mean", x, dim);
        return reduce("mean", x, reducedShape(x.shape(), d, true), reducedShape(x.shape(), d, keepDim), true);
    }

    /**
     * The largest element of x along {@code dim} and its index (i32, the first on ties; a NaN is
     * the largest, as PyTorch), both of x's shape with that dim 1 ({@code keepDim}) or dropped (a
     * rank-1 x gives rank 0). The gradient of values goes to the element each index names, as
     * PyTorch's on the CPU; the indices are read at backward, so they must stay open until then.
     * Throws {@link IllegalArgumentException} for a dim out of range, an empty dim or a non-f32 x.
     */
    public static MaxResult max(Tensor x, int dim, boolean keepDim) {
        requireFloat("max", "x", x);
        int d = dim("max", x, dim);
        if (x.dim(d) == 0) {
            throw new IllegalArgumentException("max: dim " + dim + " of " + x.shapeString()
                    + " is empty (a max over no elements is not defined)");
        }
        int[] a = along("max", x, d);
        int[] shape = reducedShape(x.shape(), d, keepDim);
        Backend be = x.backend();
        Tensor values = Tensor.empty(be, shape);
        Tensor indices = Tensor.empty(be, DType.I32, shape);
        be.maxAlong(x.buffer(), a[0], a[1], a[2], values.buffer(), indices.buffer());
        if (Autograd.records(x)) {
            Autograd.record(values, new Node("max", inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                be.scatterAlong(dy.buffer(), indices.buffer(), a[0], a[1], a[2], dx.grad().buffer(), !dx.fresh());
            }));
        }
        return new MaxResult(values, indices);
    }

    /**
     * Softmax along {@code dim} (negative counts from the end), y of x's shape: exp(x)/Σ exp(x),
     * computed stably (the row's max subtracted first). Gradient: dx = y⊙(dy − Σ dy⊙y). Throws
     * {@link IllegalArgumentException} for a dim out of range or a non-f32 x.
     */
    public static Tensor softmax(Tensor x, int dim) {
        return softmaxAlong("softmax", x, dim, false);
    }

    /**
     * Log-softmax along {@code dim}: x − log Σ exp(x), stably. Gradient: dx = dy − softmax(x)·Σ dy.
     * Throws as {@link #softmax}.
     */
    public static Tensor logSoftmax(Tensor x, int dim) {
        return softmaxAlong("logSoftmax", x, dim, true);
    }

    private static Tensor softmaxAlong(String op, Tensor x, int dim, boolean log) {
        requireFloat(op, "x", x);
        int[] a = along(op, x, dim(op, x, dim));
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.softmax(x.buffer(), a[0], a[1], a[2], y.buffer(), log);
        if (Autograd.records(x)) {
            Autograd.record(y, new Node(op, inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                be.softmaxBackward(y.buffer(), dy.buffer(), a[0], a[1], a[2], dx.grad().buffer(), log, !dx.fresh());
            }));
        }
        return y;
    }

    /**
     * Sums (or averages) x to {@code kept} (x's rank, 1 on the reduced dims) and gives it the shape
     * {@code shape} (the same elements). Backward spreads dy (times 1/n for a mean) back over x.
     */
    private static Tensor reduce(String op, Tensor x, int[] kept, int[] shape, boolean mean) {
        int[] xShape = x.shape();
        long count = 1; // elements summed into each output
        for (int d = 0; d < xShape.length; d++) {
            count *= kept[d] == 1 ? xShape[d] : 1;
        }
        float alpha = mean ? (float) (1.0 / count) : 1f;
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, shape);
        if (mean && count == 0) {
            be.fill(y.buffer(), Float.NaN); // the mean of nothing
        } else {
            be.sumTo(alpha, x.buffer(), xShape, 0f, y.buffer(), kept);
        }
        if (Autograd.records(x)) {
            Autograd.record(y, new Node(op, inputs(x), dy -> { // dx (+)= alpha·dy, dy read with x's shape (stride 0 on reduced dims)
                Grads.Target dx = Grads.target(x);
                if (dx.fresh()) {
                    be.fill(dx.grad().buffer(), 0f);
                }
                Tensor g = dy;
                if (alpha != 1f) {
                    g = Tensor.empty(be, dy.shape());
                    be.copy(dy.buffer(), g.buffer());
                    be.scale(g.buffer(), alpha);
                }
                try {
                    be.binary(BinaryOp.ADD, dx.grad().buffer(), Strides.dense(xShape), g.buffer(),
                            Strides.broadcast(kept, xShape), dx.grad().buffer(), xShape);
                } finally {
                    if (g != dy) {
                        g.close();
                    }
                }
            }));
        }
        return y;
    }

    private static int[] ones(int rank) {
        int[] s = new int[rank];
        Arrays.fill(s, 1);
        return s;
    }

    /** {@code dim} as an index in [0, rank), negative dims counting from the end. */
    private static int dim(String op, Tensor x, int dim) {
        int rank = x.rank();
        if (dim < -rank || dim >= rank) {
            throw new IllegalArgumentException(op + ": dim " + dim + " is out of range for a tensor of rank " + rank
                    + " (expected " + -rank + " to " + (rank - 1) + ")");
        }
        return dim < 0 ? dim + rank : dim;
    }

    /** {@code shape} with dim d set to 1 ({@code keepDim}) or dropped (a rank-1 shape becomes rank 0). */
    private static int[] reducedShape(int[] shape, int d, boolean keepDim) {
        if (keepDim) {
            int[] s = shape.clone();
            s[d] = 1;
            return s;
        }
        int[] s = new int[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k != d) {
                s[j++] = shape[k];
            }
        }
        return s;
    }

    /** x as (outer, n, inner) around dim d, the view of {@link Backend#softmax} and the other ops along a dim. */
    private static int[] along(String op, Tensor x, int d) {
        int[] shape = x.shape();
        long outer = 1, inner = 1;
        for (int k = 0; k < d; k++) {
            outer *= shape[k];
        }
        for (int k = d + 1; k < shape.length; k++) {
            inner *= shape[k];
        }
        if (outer > Integer.MAX_VALUE || inner > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + x.shapeString() + " has more than " + Integer.MAX_VALUE
                    + " elements before or after dim " + d);
        }
        return new int[] {(int) outer, shape[d], (int) inner};
    }

    // ---- loss ---------------------------------------------------------------------------------

    /**
     * Mean cross-entropy of (batch, classes) logits against int32 labels (batch): a rank-0
     * tensor. Logits (…, classes) of higher rank take labels of their leading shape (…), every
     * position one row, as {@code F.cross_entropy(logits.view(-1, C), labels.view(-1))}.
     */
    public static Tensor crossEntropy(Tensor logits, Tensor labels) {
        return crossEntropyWithAccuracy(logits, labels).loss();
    }

    /**
     * Mean cross-entropy (log-softmax + NLL, fused) and the number of rows whose argmax is the
     * label, computed in the same pass. When recording, the gradient (softmax − onehot)/batch is
     * computed in that pass too, and backward only scales it. Logits (…, C) of rank 3 or more take
     * i32 labels of their leading shape (…) and are viewed as (N, C) and (N); shapes that differ
     * throw {@link IllegalArgumentException} naming both.
     */
    public static LossAndCorrect crossEntropyWithAccuracy(Tensor logits, Tensor labels) {
        if (logits.rank() > 2) { // (…, C) with labels (…): the rows flattened through views that carry gradients
            requireFloat("crossEntropy", "logits", logits);
            int[] shape = logits.shape();
            int[] lead = Arrays.copyOf(shape, shape.length - 1);
            if (labels.dtype() != DType.I32 || !Arrays.equals(labels.shape(), lead)) {
                throw new IllegalArgumentException("crossEntropy: logits are " + logits.shapeString() + " but labels are "
                        + labels.describe() + " (labels need to be i32 of shape "
                        + String.join("×", Arrays.stream(lead).mapToObj(Integer::toString).toList())
                        + ", the logits' leading dimensions)");
            }
            long rows = Strides.count(lead);
            if (rows > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("crossEntropy: logits " + logits.shapeString() + " have more than "
                        + Integer.MAX_VALUE + " rows");
            }
            return crossEntropyWithAccuracy(logits.view((int) rows, shape[shape.length - 1]), labels.view((int) rows));
        }
        requireMatrix("crossEntropy", "logits", logits);
        if (labels.dtype() != DType.I32 || labels.rank() != 1 || labels.dim(0) != logits.dim(0)) {
            throw new IllegalArgumentException("crossEntropy: logits are " + logits.shapeString() + " but labels are "
                    + labels.describe() + " (labels need to be i32 of " + logits.dim(0) + " elements)");
        }
        Backend be = logits.backend();
        int batch = logits.dim(0), classes = logits.dim(1);
        boolean record = Autograd.records(logits);
        Tensor stats = Tensor.empty(be, 2); // [loss, correct]
        Tensor dLogits = record ? Tensor.empty(be, batch, classes) : null;
        be.crossEntropy(logits.buffer(), labels.buffer(), batch, classes, stats.buffer(),
                dLogits == null ? null : dLogits.buffer());
        Tensor loss, correct;
        try (Autograd.NoGrad none = Autograd.noGrad()) { // rank-0 views of the two stats, as PyTorch's loss
            loss = stats.narrow(0, 1).view();
            correct = stats.narrow(1, 1).view();
        }
        if (record) {
            Autograd.record(loss, new Node("crossEntropy", inputs(logits), dLoss -> {
                if (Autograd.isSeedOfOne(dLoss)) {
                    Grads.accumulate(logits, dLogits, true);
                } else {
                    be.scale(dLogits.buffer(), dLoss.item());
                    Grads.accumulate(logits, dLogits, true);
                }
            }));
        }
        return new LossAndCorrect(loss, correct);
    }

    /**
     * Mean squared error, PyTorch's {@code F.mse_loss(pred, target)} (reduction 'mean'): pred and
     * target of one shape (no broadcasting: a shape mismatch is usually a bug, so it throws naming
     * both); gradients to both when they require grad.
     */
    public static Tensor mseLoss(Tensor pred, Tensor target) {
        requireFloat("mseLoss", "pred", pred);
        requireFloat("mseLoss", "target", target);
        if (!Arrays.equals(pred.shape(), target.shape())) {
            throw new IllegalArgumentException("mseLoss: pred is " + pred.shapeString() + " but target is "
                    + target.shapeString() + " (they need the same shape)");
        }
        Tensor d = sub(pred, target);
        return mean(mul(d, d));
    }

    // ---- not differentiable -------------------------------------------------------------------

    /** Row-wise argmax of (rows, cols) as int32 (rows). Has no gradient rule. */
    public static Tensor argmax(Tensor x) {
        requireMatrix("argmax", "x", x);
        Tensor out = Tensor.empty(x.backend(), DType.I32, x.dim(0));
        x.backend().argmaxRows(x.buffer(), x.dim(0), x.dim(1), out.buffer());
        return out;
    }

    /**
     * Rows {@code indices} (int32, rank 1) of {@code source} (rows, …) gathered into a new tensor
     * (indices.length, …), as PyTorch's {@code source[indices]} or {@code index_select(0, …)}. An
     * index outside [0, rows) throws naming it and its position. Gradient: each picked row's
     * gradient is added into that row of d(source) ({@link Backend#scatterAddRows}), so a row
     * picked twice gets both contributions; rows never picked get 0.
     */
    public static Tensor gatherRows(Tensor source, Tensor indices) {
        if (indices.dtype() != DType.I32 || indices.rank() != 1) {
            throw new IllegalArgumentException("gatherRows: indices must be i32 of rank 1, not " + indices.describe());
        }
        int[] shape = source.shape();
        int rows = shape[0];
        long rowSize = 1; // elements per row: the product of the other dimensions (also with no rows)
        for (int d = 1; d < shape.length && rowSize <= Integer.MAX_VALUE; d++) {
            rowSize *= shape[d];
        }
        if (rowSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("gatherRows: rows of " + source.shapeString()
                    + " hold more than " + Integer.MAX_VALUE + " elements");
        }
        int cols = (int) rowSize;
        if (cols == 0) { // no elements to move, so no kernel sees the indices: check them here
            int[] picked = indices.toIntArray();
            for (int i = 0; i < picked.length; i++) {
                if (picked[i] < 0 || picked[i] >= rows) {
                    throw new IllegalArgumentException("gatherRows: index " + picked[i] + " at position " + i
                            + " is outside [0, " + rows + ")");
                }
            }
        }
        shape[0] = indices.dim(0);
        Tensor out = Tensor.empty(source.backend(), source.dtype(), shape);
        source.backend().gatherRows(source.buffer(), cols, indices.buffer(), indices.dim(0), out.buffer());
        if (Autograd.records(source)) {
            Autograd.record(out, new Node("gatherRows", inputs(source, indices), dy -> {
                Grads.Target ds = Grads.target(source);
                Backend be = ds.grad().backend();
                if (ds.fresh()) {
                    be.fill(ds.grad().buffer(), 0f);
                }
                be.scatterAddRows(dy.buffer(), cols, indices.buffer(), indices.dim(0), ds.grad().buffer());
            }));
        }
        return out;
    }

    // ---- normalisation and regularisation -------------------------------------------------------

    /**
     * Layer normalisation over the last dimension, as PyTorch's {@code F.layer_norm(x, (C,), w, b,
     * eps)}: x (…, C); each row of C is shifted to mean 0 and scaled to variance 1 (the biased
     * variance, plus eps), then times weight (C) plus bias (C); weight and bias may each be null.
     * Gradients to x, weight and bias.
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        requireFloat("layerNorm", "x", x);
        int cols = x.dim(x.rank() - 1);
        for (Tensor p : new Tensor[] {weight, bias}) {
            if (p != null && (p.dtype() != DType.F32 || p.rank() != 1 || p.dim(0) != cols)) {
                throw new IllegalArgumentException("layerNorm: x is " + x.shapeString() + " but " + (p == weight ? "weight" : "bias")
                        + " is " + p.describe() + " (it needs to be f32 of " + cols + " elements, x's last dimension)");
            }
        }
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("layerNorm: eps must be a positive finite number, got " + eps);
        }
        Backend be = x.backend();
        int rows = cols == 0 ? 0 : (int) (x.size() / cols);
        boolean record = Autograd.records(x, weight, bias);
        Tensor y = Tensor.empty(be, x.shape());
        Tensor mean = record ? Tensor.empty(be, rows) : null, rstd = record ? Tensor.empty(be, rows) : null;
        be.layerNorm(x.buffer(), weight == null ? null : weight.buffer(), bias == null ? null : bias.buffer(), rows, cols,
                eps, y.buffer(), mean == null ? null : mean.buffer(), rstd == null ? null : rstd.buffer());
        if (record) {
            List<Tensor> in = java.util.stream.Stream.of(x, weight, bias).filter(java.util.Objects::nonNull).toList();
            Autograd.record(y, new Node("layerNorm", in, dy -> {
                boolean dw = weight != null && weight.requiresGrad(), db = bias != null && bias.requiresGrad();
                Tensor dx = x.requiresGrad() ? Tensor.empty(be, x.shape()) : null;
                Tensor dW = dw ? Tensor.empty(be, cols) : null, dB = db ? Tensor.empty(be, cols) : null;
                be.layerNormBackward(x.buffer(), weight == null ? null : weight.buffer(), mean.buffer(), rstd.buffer(),
                        dy.buffer(), rows, cols, dx == null ? null : dx.buffer(), dW == null ? null : dW.buffer(),
                        dB == null ? null : dB.buffer());
                for (Tensor[] pair : new Tensor[][] {{x, dx}, {weight, dW}, {bias, dB}}) {
                    if (pair[1] != null) {
                        Grads.accumulate(pair[0], pair[1], true);
                    }
                }
            }));
        }
        return y;
    }

    /**
     * Inverted dropout, as PyTorch's {@code F.dropout(x, p, training=True)}: each element is zeroed
     * with probability p and the rest scaled by 1/(1−p). The mask comes from {@code seed} (the same
     * seed gives the same mask on every backend) and is regenerated for the gradient, not stored.
     * p = 0 returns x itself; p = 1 gives zeros (and a zero gradient), as PyTorch; p must be in [0, 1].
     */
    public static Tensor dropout(Tensor x, float p, long seed) {
        requireFloat("dropout", "x", x);
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("dropout: p must be in [0, 1], got " + p);
        }
        if (p == 0f) {
            return x;
        }
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, x.shape());
        be.dropout(x.buffer(), y.buffer(), p, seed); // p = 1 keeps nothing: the mask is all zeros
        if (Autograd.records(x)) {
            Autograd.record(y, new Node("dropout", inputs(x), dy -> {
                Grads.Target dx = Grads.target(x);
                be.dropoutBackward(dy.buffer(), dx.grad().buffer(), p, seed, !dx.fresh());
            }));
        }
        return y;
    }

    // ---- checks -------------------------------------------------------------------------------

    private static List<Tensor> inputs(Tensor... tensors) {
        return Arrays.asList(tensors);
    }

    private static void requireFloat(String op, String name, Tensor t) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + name + " must be f32, not " + t.describe());
        }
    }

    private static void requireMatrix(String op, String name, Tensor t) {
        requireFloat(op, name, t);
        if (t.rank() != 2) {
            throw new IllegalArgumentException(op + ": " + name + " must be a matrix, not " + t.shapeString());
        }
    }
}
