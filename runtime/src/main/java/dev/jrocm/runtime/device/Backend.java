package dev.jrocm.runtime.device;

import java.lang.foreign.MemorySegment;

/**
 * Everything a tensor needs from a device: memory, copies, GEMM and the element-wise, reduction
 * and fused kernels of a training step. The CPU backend is the reference; GPU backends
 * implement the same list and nothing above changes.
 *
 * <p>Conventions: buffers hold float32 (or int32 where said) in row-major order; counts are
 * elements. Shapes are {@code Tensor}'s and the autograd ops' to check; every entry point here
 * checks what keeps memory safe ({@link Operands}): each buffer is a live one of this backend and
 * holds at least the elements the op reads or writes, and counts are not negative — otherwise
 * {@link IllegalArgumentException} naming the op and the operand. Empty inputs are defined: an op
 * over zero elements does nothing, the cross-entropy of zero rows is NaN (the mean of nothing,
 * as PyTorch), and its correct count 0. Ops are asynchronous on GPUs: results are visible to
 * {@link #copyToHost} (which waits).
 *
 * <p>Thread safety: a backend may be shared by threads — the CPU backend's ops keep no state
 * and its pool is locked; a GPU backend serialises its ops. What is built on a backend is not:
 * a model, its optimizer and the tensors of a step belong to one thread at a time (as a
 * PyTorch module does), and the misuse that can be detected throws
 * {@link IllegalStateException} ({@code Scope}s used from another thread, an optimizer
 * stepped from two threads at once).
 */
public interface Backend extends AutoCloseable {

    DeviceKind kind();

    /** One line: what this backend runs on. */
    String describe();

    // ---- memory -------------------------------------------------------------------------------

    /** {@code bytes} of memory from the caching pool (contents undefined). */
    Buffer allocate(long bytes);

    /** Returns the buffer's memory to the pool; using it afterwards throws. Idempotent. */
    void release(Buffer buffer);

    /** A view of {@code bytes} bytes of {@code memory} from {@code offset}. */
    MemorySegment slice(MemorySegment memory, long offset, long bytes);

    /** Allocation statistics: how often the pool had to ask the system/driver for memory. */
    MemoryStats memoryStats();

    /** Hands pooled memory that no buffer uses back to the system/driver. */
    void emptyCache();

    void copyFromHost(MemorySegment source, Buffer target);

    void copyToHost(Buffer source, MemorySegment target);

    void copy(Buffer source, Buffer target);

    /**
     * A strided copy: {@code dst[Σ i_d·dstStrides[d]] = src[Σ i_d·srcStrides[d]]} for every index i
     * of {@code shape} (rank 0 to {@link #MAX_RANK}; rank 0 is one element, an empty shape copies
     * nothing), or {@code +=} when {@code accumulate}. Strides are elements, not negative, one per
     * dimension; offsets come from {@link Buffer#slice}. What transpose, permute, narrow and cat
     * (and their gradients) are made of. 4-byte elements of any type are copied bit for bit
     * (accumulate adds floats).
     *
     * <p>The write pattern must not reach one element of dst twice (each is written once, in no
     * fixed order, in parallel) and src must not overlap dst; otherwise the result is undefined.
     * {@link Operands#copyStrided} checks what is cheap: ranks equal, every stride ≥ 0, the
     * furthest element read and written within each buffer, no dst stride 0 over an extent above
     * 1, and dst spanning at least as many elements as are written.
     */
    void copyStrided(Buffer src, long[] srcStrides, Buffer dst, long[] dstStrides, int[] shape, boolean accumulate);

    // ---- initialisation -----------------------------------------------------------------------

    void fill(Buffer x, float value);

    /**
     * x[i] = lo + (hi−lo)·u(seed, i), u uniform in [0, 1) from a counter-based generator: the
     * same seed gives the same values on every backend.
     */
    void uniform(Buffer x, float lo, float hi, long seed);

    /** x[i] = mean + std·n(seed, i), n standard normal (Box–Muller over the same generator). */
    void normal(Buffer x, float mean, float std, long seed);

    // ---- linear algebra -----------------------------------------------------------------------

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C}, row-major, dense (leading dimension = stored
     * columns): op(A) m×k, op(B) k×n, C m×n. With beta = 0, C is not read.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k,
              float alpha, Buffer a, Buffer b, float beta, Buffer c);

    /**
     * A batch of {@link #gemm}s of one shape: {@code C_i = alpha·op(A_i)·op(B_i) + beta·C_i} for
     * i in [0, count), count = {@code cOffsets.length}, where A_i is the m×k (k×m when transA)
     * matrix starting at element {@code aOffsets[i]} of a, B_i likewise in b, C_i the m×n matrix
     * at {@code cOffsets[i]} of c; dense row-major, as {@link #gemm}. An A_i or B_i may be used by
     * several i (a broadcast batch); the C_i must not overlap one another (each is written once,
     * in no fixed order, in parallel) nor any A_i or B_i, otherwise the result is undefined.
     * {@link Operands#gemmBatched} checks the counts, that the three offset arrays have one
     * length, and that every matrix lies inside its buffer. What a batched {@code matmul} (a
     * transformer's attention) is made of: one call instead of one per matrix.
     */
    void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, long[] aOffsets,
                     Buffer b, long[] bOffsets, float beta, Buffer c, long[] cOffsets);

    /** y[r, c] += bias[c] for a rows×cols y. */
    void addBias(Buffer y, Buffer bias, int rows, int cols);

    /** out[c] = Σ_r x[r, c] (+ out[c] when accumulate). */
    void columnSums(Buffer x, int rows, int cols, Buffer out, boolean accumulate);

    // ---- element-wise -------------------------------------------------------------------------

    /** y = max(x, 0); y may be x. */
    void relu(Buffer x, Buffer y);

    /** dx = dy·[y > 0] (+ dx when accumulate), y the ReLU's output. */
    void reluBackward(Buffer y, Buffer dy, Buffer dx, boolean accumulate);

    /**
     * The element-wise functions of {@link #unary}, each as PyTorch defines it: GELU is the exact
     * form x·Φ(x) (PyTorch's default, {@code approximate='none'}), SILU is x·σ(x).
     */
    enum UnaryOp { EXP, LOG, SQRT, TANH, SIGMOID, GELU, SILU }

    /**
     * y = f(x) element by element, computed in double and rounded to float on every backend (IEEE
     * edges as PyTorch: log(0) = −∞, log(−1) and sqrt(−1) NaN, exp(100) = ∞). y may be x.
     */
    void unary(UnaryOp op, Buffer x, Buffer y);

    /** dx = dy·f′(x) (+ dx when accumulate), from the input x and the output y of {@link #unary}. */
    void unaryBackward(UnaryOp op, Buffer x, Buffer y, Buffer dy, Buffer dx, boolean accumulate);

    /**
     * Inverted dropout: y = x·mask/(1−p), mask[i] = [u(seed, i) ≥ p] from the counter generator,
     * so backward regenerates the same mask from the seed instead of storing it. y may be x.
     */
    void dropout(Buffer x, Buffer y, float p, long seed);

    /** dx = dy·mask/(1−p) (+ dx when accumulate), the mask of {@link #dropout} with the same seed. */
    void dropoutBackward(Buffer dy, Buffer dx, float p, long seed, boolean accumulate);

    /** x = alpha·x. */
    void scale(Buffer x, float alpha);

    /** y = y + alpha·x. */
    void axpy(float alpha, Buffer x, Buffer y);

    /**
     * out[0] = Σ x[i]² over the whole of x (0 when x is empty), summed in double in an order fixed
     * by x's length alone (so the result does not depend on the number of cores), then rounded
     * once to float: the squared L2 norm of a gradient for {@code clipGradNorm}. An infinite or
     * NaN element gives an infinite or NaN sum, as does a sum beyond float's range.
     */
    void sumOfSquares(Buffer x, Buffer out);

    /** Most dimensions {@link #binary} and {@link #sumTo} take (and tensors have). */
    int MAX_RANK = 6;

    /** The element-wise operations of {@link #binary}: {@code out = a op b}. */
    enum BinaryOp { ADD, SUB, MUL, DIV }

    /**
     * {@code out[i] = a[Σ i_d·aStrides[d]] op b[Σ i_d·bStrides[d]]} for every index i of the dense
     * row-major {@code outShape} (rank 0 to {@link #MAX_RANK}; rank 0 is one element): a stride of 0 repeats an operand
     * along that dimension (NumPy broadcasting; see {@link Strides#broadcast}). Strides are
     * elements, not negative, one per dimension. {@code out} may be {@code a} or {@code b} when
     * that operand's strides are out's own dense ones; any other overlap is undefined.
     */
    void binary(BinaryOp op, Buffer a, long[] aStrides, Buffer b, long[] bStrides, Buffer out, int[] outShape);

    /**
     * Undoes a broadcast: {@code out = alpha·Σ x + beta·out}, the sum over every dimension where
     * {@code outShape} is 1 and {@code xShape} is not (a broadcast gradient summed back to its
     * operand's shape). Both dense row-major, of one rank (0 to {@link #MAX_RANK}), each
     * {@code outShape[d]} equal to {@code xShape[d]} or 1; beta is 0 (out not read) or 1. A sum
     * over no elements is 0.
     */
    void sumTo(float alpha, Buffer x, int[] xShape, float beta, Buffer out, int[] outShape);

    /*
     * The ops below work along one dimension of a dense tensor viewed as (outer, n, inner): n
     * elements of a row lie inner apart, rows (o, i) start at o·n·inner + i. A rank-k tensor reduced
     * along d has outer = Π shape[0..d), n = shape[d], inner = Π shape(d..k).
     */

    /**
     * Softmax along the middle dimension of (outer, n, inner): y = exp(x − max)/Σ exp(x − max), or
     * with {@code log} y = x − max − log Σ exp(x − max) (numerically stable: softmax of [1000, 1000]
     * is [0.5, 0.5]). −∞ elements get 0 (log: −∞); a row of only −∞, or holding +∞ or NaN, is NaN,
     * as PyTorch. y may be x.
     */
    void softmax(Buffer x, int outer, int n, int inner, Buffer y, boolean log);

    /**
     * The gradient of {@link #softmax} from its output y: dx = y⊙(dy − Σ dy⊙y), or with {@code log}
     * dx = dy − exp(y)·Σ dy, the sums along each row (+ dx when accumulate).
     */
    void softmaxBackward(Buffer y, Buffer dy, int outer, int n, int inner, Buffer dx, boolean log, boolean accumulate);

    /**
     * The largest element of each row of (outer, n, inner) and its index: values and indices
     * (int32) are (outer, inner). Ties give the first; a NaN is the largest (the first NaN), as
     * PyTorch. Rows of no elements (n = 0 with outer·inner &gt; 0) throw.
     */
    void maxAlong(Buffer x, int outer, int n, int inner, Buffer values, Buffer indices);

    /**
     * The gradient of {@link #maxAlong}: dx[o, k, i] = dy[o, i] where k = indices[o, i], else 0 (+ dx
     * when accumulate); dy and indices (int32) are (outer, inner), dx (outer, n, inner). An index
     * outside [0, n) throws {@link IllegalArgumentException} naming it and its row o·inner + i: on
     * the CPU before anything is written, on a GPU from the next read-back or {@link #synchronize}.
     */
    void scatterAlong(Buffer dy, Buffer indices, int outer, int n, int inner, Buffer dx, boolean accumulate);

    // ---- fused ops ----------------------------------------------------------------------------

    /**
     * Log-softmax + negative log-likelihood over rows×classes logits with int32 labels, mean over
     * the rows: out[0] = loss, out[1] = number of rows whose argmax is the label. When dLogits is
     * not null it receives (softmax − onehot)/rows, the gradient of the mean loss. A label
     * outside [0, classes) throws {@link IllegalArgumentException} naming the row: on the CPU
     * from this call, on a GPU (where the kernel records it) from the next read-back or
     * {@link #synchronize}.
     */
    void crossEntropy(Buffer logits, Buffer labels, int rows, int classes, Buffer out, Buffer dLogits);

    /** out[r] = index of the largest x[r, ·] (int32; the first on ties). */
    void argmaxRows(Buffer x, int rows, int cols, Buffer out);

    /** One Adam/AdamW step over p, g, m, v of equal length (PyTorch's semantics; see {@link AdamStep}). */
    void adam(Buffer p, Buffer g, Buffer m, Buffer v, AdamStep step);

    /**
     * One Adam step for an out×in parameter whose gradient is given as factors, g = dyᵀ·x
     * (dy batch×out, x batch×in): a linear layer's weight gradient, never written to memory.
     * This default forms g with a GEMM and calls {@link #adam}; backends fuse it.
     */
    default void adamFactored(Buffer p, Buffer m, Buffer v, Buffer dy, Buffer x, int batch, int out, int in, AdamStep step) {
        Buffer g = allocate((long) out * in * Float.BYTES);
        try {
            gemm(true, false, out, in, batch, 1f, dy, x, 0f, g);
            adam(p, g, m, v, step);
        } finally {
            release(g);
        }
    }

    /**
     * dst[i, ·] = src[indices[i], ·] for count rows of cols elements; indices int32. An index
     * outside the source throws {@link IllegalArgumentException} naming it (on a GPU from the
     * next read-back or {@link #synchronize}, as for {@link #crossEntropy}).
     */
    void gatherRows(Buffer src, int cols, Buffer indices, int count, Buffer dst);

    /**
     * dst[indices[i], ·] += src[i, ·] for count rows of cols elements; indices int32: the gradient
     * of {@link #gatherRows}. A row picked more than once gets every contribution, added in the
     * order of i on every backend (so results are deterministic). An index outside dst throws
     * {@link IllegalArgumentException} naming it: on the CPU before anything is added, on a GPU
     * from the next read-back or {@link #synchronize} (the in-range rows were added).
     */
    void scatterAddRows(Buffer src, int cols, Buffer indices, int count, Buffer dst);

    // ---- normalisation ------------------------------------------------------------------------

    /**
     * Layer normalisation of each of {@code rows} rows of {@code cols}: y = (x − μ)·σ⁻¹·w + b with
     * μ the row's mean, σ = √(var + eps), var the biased variance (as PyTorch). weight and bias
     * (cols) may each be null (1 and 0). mean and rstd (rows) receive μ and σ⁻¹ for the backward,
     * or are both null when it is not needed.
     */
    void layerNorm(Buffer x, Buffer weight, Buffer bias, int rows, int cols, float eps, Buffer y,
                   Buffer mean, Buffer rstd);

    /**
     * The gradients of {@link #layerNorm} from its saved mean and rstd, each overwriting its target
     * and each skipped when its target is null: dx (rows, cols) = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂))
     * with g = dy·w and x̂ = (x − μ)·σ⁻¹; dWeight (cols) = Σ_rows dy·x̂; dBias (cols) = Σ_rows dy.
     * Sums run in the order of the rows on every backend.
     */
    void layerNormBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int rows, int cols,
                           Buffer dx, Buffer dWeight, Buffer dBias);

    // ---- convolution --------------------------------------------------------------------------

    /*
     * NCHW batches, float32, dense; the shapes are records checked when made (Conv2dShape,
     * Pool2dShape), so here only the buffers' sizes are. These are the operations MIOpen offers
     * (convolution forward, backward-data, backward-weights; pooling; spatial batch norm), so a
     * backend may route them to it: results agree with the CPU's within float rounding, and sums
     * run in an order fixed by the shape on every backend (no atomics: results are deterministic).
     */

    /**
     * The cross-correlation PyTorch's {@code F.conv2d} computes (groups = 1, no bias): y[b, o, i, j] =
     * Σ_{ch, p, q} x[b, ch, i·strideH − padH + p·dilH, j·strideW − padW + q·dilW]·weight[o, ch, p, q],
     * reading x as 0 outside its h×w (zero padding). x (n, c, h, w), weight (k, c, kh, kw), y (n, k,
     * outH, outW), overwritten.
     */
    void conv2dForward(Buffer x, Buffer weight, Conv2dShape shape, Buffer y);

    /** The gradient of {@link #conv2dForward} with respect to x: dx (n, c, h, w) (+)= the transposed convolution of dy (n, k, outH, outW). */
    void conv2dBackwardData(Buffer dy, Buffer weight, Conv2dShape shape, Buffer dx, boolean accumulate);

    /** The gradient of {@link #conv2dForward} with respect to the weight: dw (k, c, kh, kw) (+)= Σ over the batch and positions of dy·x. */
    void conv2dBackwardWeight(Buffer dy, Buffer x, Conv2dShape shape, Buffer dw, boolean accumulate);

    /**
     * Max pooling as PyTorch's {@code F.max_pool2d(x, kernel, stride, padding, return_indices=True)}:
     * y (n, c, outH, outW) is the largest element of each window, padding counting as −∞, and
     * indices (int32, y's shape) its position ih·w + iw within its h×w plane. Ties give the first in
     * row-major order of the window; a NaN is the largest (the first NaN), as PyTorch.
     */
    void maxPool2dForward(Buffer x, Pool2dShape shape, Buffer y, Buffer indices);

    /**
     * The gradient of {@link #maxPool2dForward}: each dy[b, ch, i, j] goes to dx[b, ch] at its index,
     * contributions to one element (overlapping windows) added in the order of the outputs (+ dx when
     * accumulate). An index outside [0, h·w) throws {@link IllegalArgumentException} naming it and its
     * position in indices: on the CPU before anything is written, on a GPU from the next read-back or
     * {@link #synchronize}.
     */
    void maxPool2dBackward(Buffer dy, Buffer indices, Pool2dShape shape, Buffer dx, boolean accumulate);

    /**
     * Average pooling as PyTorch's {@code F.avg_pool2d(x, kernel, stride, padding)} with its defaults
     * ({@code count_include_pad=True}, {@code ceil_mode=False}): the sum of each window's elements of x
     * divided by the window's size, padding included. y (n, c, outH, outW), overwritten.
     */
    void avgPool2dForward(Buffer x, Pool2dShape shape, Buffer y);

    /** The gradient of {@link #avgPool2dForward}: dx (+)= each window's dy over the window's size, spread over it. */
    void avgPool2dBackward(Buffer dy, Pool2dShape shape, Buffer dx, boolean accumulate);

    /**
     * Spatial batch normalisation in training mode, as PyTorch's {@code F.batch_norm(…, training=True)}
     * over x (n, c, hw) (hw = h·w): per channel, μ and the biased variance σ² over its n·hw
     * elements, y = (x − μ)/√(σ² + eps)·weight + bias. weight and bias (c) may each be null (1 and 0).
     * runningMean and runningVar (c), when not null, are updated in place: r ← (1 − momentum)·r +
     * momentum·s with s = μ, and for the variance the unbiased σ²·N/(N − 1), N = n·hw. saveMean and
     * saveRstd (c) receive μ and 1/√(σ² + eps) for {@link #batchNorm2dBackward}, or are both null. An
     * empty batch changes nothing; running statistics from N = 1 value throw.
     */
    void batchNorm2dTraining(Buffer x, Buffer weight, Buffer bias, int n, int c, int hw, float eps, float momentum,
                             Buffer runningMean, Buffer runningVar, Buffer y, Buffer saveMean, Buffer saveRstd);

    /**
     * Spatial batch normalisation in evaluation mode: y = (x − runningMean)/√(runningVar + eps)·weight
     * + bias per channel; weight and bias may each be null.
     */
    void batchNorm2dInference(Buffer x, Buffer weight, Buffer bias, Buffer runningMean, Buffer runningVar, int n, int c,
                              int hw, float eps, Buffer y);

    /**
     * The gradients of batch normalisation, each overwriting its target and each skipped when its
     * target is null, from the mean and rstd (c) it normalised with (saved by
     * {@link #batchNorm2dTraining}, or in evaluation the running mean and 1/√(runningVar + eps)):
     * with x̂ = (x − mean)·rstd and the sums over a channel's N = n·hw elements, dWeight = Σ dy·x̂,
     * dBias = Σ dy, and dx = weight·rstd·(dy − Σ dy/N − x̂·Σ dy·x̂/N) in training (the statistics
     * depend on x), weight·rstd·dy when not. weight may be null (1).
     */
    void batchNorm2dBackward(Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy, int n, int c, int hw,
                             boolean training, Buffer dx, Buffer dWeight, Buffer dBias);

    /** Waits for all queued work. */
    void synchronize();

    /** Whether {@link #close} was called: every op then throws {@link IllegalStateException}. */
    boolean isClosed();

    /** Frees all memory; buffers must not be used afterwards. */
    @Override
    void close();
}
