package dev.jrocm.runtime.device;

import java.util.Arrays;

/**
 * The checks every {@link Backend} entry point makes before it touches memory: each operand is a
 * live buffer of this backend holding at least the elements the op reads or writes, and every
 * count is non-negative. A kernel or a BLAS call given a buffer too small would read or write
 * outside it; these checks turn that into an {@link IllegalArgumentException} naming the op and
 * the operand. They cost a few comparisons per op.
 */
public final class Operands {
    private Operands() {}

    /**
     * Throws unless {@code buffer} belongs to {@code backend}, is not released and holds at least
     * {@code elements} 4-byte elements.
     */
    public static void require(Backend backend, String op, String name, Buffer buffer, long elements) {
        if (buffer == null) {
            throw new IllegalArgumentException(op + ": operand " + name + " is null");
        }
        if (backend.isClosed()) {
            throw new IllegalStateException(op + ": the backend is closed (" + backend.kind() + ")");
        }
        if (buffer.backend() != backend) {
            throw new IllegalArgumentException(op + ": operand " + name + " belongs to another backend ("
                    + buffer.backend().describe() + "), not to " + backend.describe()
                    + "; copy it over with Tensor.to(backend)");
        }
        if (buffer.isReleased()) {
            throw new IllegalStateException(op + ": operand " + name + " was released");
        }
        if (buffer.length() < elements) {
            throw new IllegalArgumentException(op + ": operand " + name + " holds " + buffer.length()
                    + " elements, the op needs " + elements);
        }
    }

    /** {@link #require} for an operand whose whole length the op uses, returning that length. */
    public static long whole(Backend backend, String op, String name, Buffer buffer) {
        require(backend, op, name, buffer, 0);
        return buffer.length();
    }

    /** Throws unless each of {@code counts} (named, in order, by {@code names}) is ≥ 0. */
    public static void counts(String op, String names, int... counts) {
        for (int count : counts) {
            if (count < 0) {
                throw new IllegalArgumentException(op + ": counts (" + names + ") must not be negative, got "
                        + java.util.Arrays.toString(counts));
            }
        }
    }

    /**
     * The operands of {@link Backend#gemmBatched}: counts ≥ 0, three offset arrays of one length,
     * and each matrix (offset ≥ 0, offset + size) inside its buffer; the message names the first
     * offending matrix.
     */
    public static void gemmBatched(Backend backend, int m, int n, int k, Buffer a, long[] aOffsets, Buffer b,
                                   long[] bOffsets, Buffer c, long[] cOffsets) {
        String op = "gemmBatched";
        counts(op, "m, n, k", m, n, k);
        if (aOffsets == null || bOffsets == null || cOffsets == null) {
            throw new IllegalArgumentException(op + ": the offsets of a, b and c must not be null");
        }
        if (aOffsets.length != cOffsets.length || bOffsets.length != cOffsets.length) {
            throw new IllegalArgumentException(op + ": a, b and c need one offset per matrix of the batch, got "
                    + aOffsets.length + ", " + bOffsets.length + " and " + cOffsets.length);
        }
        require(backend, op, "a", a, 0);
        require(backend, op, "b", b, 0);
        require(backend, op, "c", c, 0);
        inside(op, "a", a, aOffsets, elements(m, k));
        inside(op, "b", b, bOffsets, elements(k, n));
        inside(op, "c", c, cOffsets, elements(m, n));
    }

    private static void inside(String op, String name, Buffer buffer, long[] offsets, long size) {
        for (int i = 0; i < offsets.length; i++) {
            if (offsets[i] < 0 || offsets[i] > buffer.length() - size) {
                throw new IllegalArgumentException(op + ": matrix " + i + " of " + name + " (" + size
                        + " elements from offset " + offsets[i] + ") does not lie inside its " + buffer.length() + " elements");
            }
        }
    }

    /** {@code rows × cols} as a long (cannot overflow for two ints). */
    public static long elements(int rows, int cols) {
        return (long) rows * cols;
    }

    /** Throws unless {@code p} is a dropout probability in [0, 1]. */
    public static void probability(String op, float p) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException(op + ": p must be in [0, 1], got " + p);
        }
    }

    /** The operands of {@link Backend#crossEntropy}; {@code dLogits} may be null. */
    public static void crossEntropy(Backend backend, Buffer logits, Buffer labels, int rows, int classes,
                                    Buffer out, Buffer dLogits) {
        counts("crossEntropy", "rows, classes", rows, classes);
        if (rows > 0 && classes == 0) {
            throw new IllegalArgumentException("crossEntropy: " + rows + " rows of 0 classes");
        }
        require(backend, "crossEntropy", "logits", logits, elements(rows, classes));
        require(backend, "crossEntropy", "labels", labels, rows);
        require(backend, "crossEntropy", "out", out, 2);
        if (dLogits != null) {
            require(backend, "crossEntropy", "dLogits", dLogits, elements(rows, classes));
        }
    }

    /** The operands of {@link Backend#argmaxRows}. */
    public static void argmaxRows(Backend backend, Buffer x, int rows, int cols, Buffer out) {
        counts("argmaxRows", "rows, cols", rows, cols);
        if (rows > 0 && cols == 0) {
            throw new IllegalArgumentException("argmaxRows: " + rows + " rows of 0 columns have no largest element");
        }
        require(backend, "argmaxRows", "x", x, elements(rows, cols));
        require(backend, "argmaxRows", "out", out, rows);
    }

    /** The operands of {@link Backend#adam}: g, m and v at least as long as p. */
    public static void adam(Backend backend, Buffer p, Buffer g, Buffer m, Buffer v) {
        long n = whole(backend, "adam", "p", p);
        require(backend, "adam", "g", g, n);
        require(backend, "adam", "m", m, n);
        require(backend, "adam", "v", v, n);
    }

    /** The operands of {@link Backend#adamFactored}. */
    public static void adamFactored(Backend backend, Buffer p, Buffer m, Buffer v, Buffer dy, Buffer x,
                                    int batch, int out, int in) {
        counts("adamFactored", "batch, out, in", batch, out, in);
        long n = elements(out, in);
        require(backend, "adamFactored", "p", p, n);
        require(backend, "adamFactored", "m", m, n);
        require(backend, "adamFactored", "v", v, n);
        require(backend, "adamFactored", "dy", dy, elements(batch, out));
        require(backend, "adamFactored", "x", x, elements(batch, in));
    }

    /** The operands of {@link Backend#sumOfSquares}: any x, one element of out. */
    public static void sumOfSquares(Backend backend, Buffer x, Buffer out) {
        whole(backend, "sumOfSquares", "x", x);
        require(backend, "sumOfSquares", "out", out, 1);
    }

    /** The operands of {@link Backend#gatherRows}. */
    public static void gatherRows(Backend backend, Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        counts("gatherRows", "cols, count", cols, count);
        whole(backend, "gatherRows", "src", src);
        require(backend, "gatherRows", "indices", indices, count);
        require(backend, "gatherRows", "dst", dst, elements(count, cols));
    }

    /** The operands of {@link Backend#scatterAddRows}. */
    public static void scatterAddRows(Backend backend, Buffer src, int cols, Buffer indices, int count, Buffer dst) {
        counts("scatterAddRows", "cols, count", cols, count);
        require(backend, "scatterAddRows", "src", src, elements(count, cols));
        require(backend, "scatterAddRows", "indices", indices, count);
        whole(backend, "scatterAddRows", "dst", dst);
    }

    /** The operands of {@link Backend#layerNorm}. */
    public static void layerNorm(Backend backend, Buffer x, Buffer weight, Buffer bias, int rows, int cols, float eps,
                                 Buffer y, Buffer mean, Buffer rstd) {
        counts("layerNorm", "rows, cols", rows, cols);
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("layerNorm: eps must be a positive finite number, got " + eps);
        }
        if ((mean == null) != (rstd == null)) {
            throw new IllegalArgumentException("layerNorm: mean and rstd are saved together: give both or neither");
        }
        require(backend, "layerNorm", "x", x, elements(rows, cols));
        optional(backend, "layerNorm", "weight", weight, cols);
        optional(backend, "layerNorm", "bias", bias, cols);
        require(backend, "layerNorm", "y", y, elements(rows, cols));
        optional(backend, "layerNorm", "mean", mean, rows);
        optional(backend, "layerNorm", "rstd", rstd, rows);
    }

    /** The operands of {@link Backend#layerNormBackward}. */
    public static void layerNormBackward(Backend backend, Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy,
                                         int rows, int cols, Buffer dx, Buffer dWeight, Buffer dBias) {
        counts("layerNormBackward", "rows, cols", rows, cols);
        require(backend, "layerNormBackward", "x", x, elements(rows, cols));
        optional(backend, "layerNormBackward", "weight", weight, cols);
        require(backend, "layerNormBackward", "mean", mean, rows);
        require(backend, "layerNormBackward", "rstd", rstd, rows);
        require(backend, "layerNormBackward", "dy", dy, elements(rows, cols));
        optional(backend, "layerNormBackward", "dx", dx, elements(rows, cols));
        optional(backend, "layerNormBackward", "dWeight", dWeight, cols);
        optional(backend, "layerNormBackward", "dBias", dBias, cols);
    }

    /** {@link #require} for an operand that may be null (then nothing is checked). */
    private static void optional(Backend backend, String op, String name, Buffer buffer, long elements) {
        if (buffer != null) {
            require(backend, op, name, buffer, elements);
        }
    }

    /** The operands of {@link Backend#binary}. */
    public static void binary(Backend backend, Backend.BinaryOp op, Buffer a, long[] aStrides, Buffer b, long[] bStrides,
                              Buffer out, int[] outShape) {
        if (op == null) {
            throw new IllegalArgumentException("binary: op is null");
        }
        String name = "binary " + op;
        shape(name, "outShape", outShape);
        require(backend, name, "a", a, reach(name, "a", aStrides, outShape));
        require(backend, name, "b", b, reach(name, "b", bStrides, outShape));
        require(backend, name, "out", out, Strides.count(outShape));
    }

    /**
     * The operands of {@link Backend#copyStrided}: shape of rank 0 to {@link Backend#MAX_RANK}, one
     * non-negative stride per dimension for each side, the furthest element read and written within
     * src and dst, and the cheap part of "no element of dst written twice": no dst stride 0 over an
     * extent above 1, and dst spanning at least as many elements as the shape has.
     */
    public static void copyStrided(Backend backend, Buffer src, long[] srcStrides, Buffer dst, long[] dstStrides,
                                   int[] shape) {
        shape("copyStrided", "shape", shape);
        long srcReach = reach("copyStrided", "src", srcStrides, shape);
        long dstReach = reach("copyStrided", "dst", dstStrides, shape);
        long n = Strides.count(shape);
        if (n > 0) {
            for (int d = 0; d < shape.length; d++) {
                if (shape[d] > 1 && dstStrides[d] == 0) {
                    throw new IllegalArgumentException("copyStrided: dst stride 0 along dimension " + d + " of shape "
                            + Arrays.toString(shape) + " would write its elements more than once");
                }
            }
            if (dstReach < n) {
                throw new IllegalArgumentException("copyStrided: dst strides " + Arrays.toString(dstStrides)
                        + " span " + dstReach + " elements, fewer than the " + n + " of shape " + Arrays.toString(shape)
                        + ": some would be written more than once");
            }
        }
        require(backend, "copyStrided", "src", src, srcReach);
        require(backend, "copyStrided", "dst", dst, dstReach);
    }

    /** The operands of {@link Backend#sumTo}. */
    public static void sumTo(Backend backend, Buffer x, int[] xShape, float beta, Buffer out, int[] outShape) {
        shape("sumTo", "xShape", xShape);
        shape("sumTo", "outShape", outShape);
        if (xShape.length != outShape.length) {
            throw new IllegalArgumentException("sumTo: xShape " + Arrays.toString(xShape) + " and outShape "
                    + Arrays.toString(outShape) + " differ in rank");
        }
        for (int d = 0; d < xShape.length; d++) {
            if (outShape[d] != xShape[d] && outShape[d] != 1) {
                throw new IllegalArgumentException("sumTo: cannot sum " + Arrays.toString(xShape) + " to "
                        + Arrays.toString(outShape) + ": dimension " + d + " is " + xShape[d] + " and " + outShape[d]
                        + " (must be equal, or 1 to sum over)");
            }
        }
        if (beta != 0f && beta != 1f) {
            throw new IllegalArgumentException("sumTo: beta must be 0 or 1, got " + beta);
        }
        require(backend, "sumTo", "x", x, Strides.count(xShape));
        require(backend, "sumTo", "out", out, Strides.count(outShape));
    }

    /** The operands of {@link Backend#softmax}. */
    public static void softmax(Backend backend, Buffer x, int outer, int n, int inner, Buffer y) {
        long total = alongChecked("softmax", outer, n, inner);
        require(backend, "softmax", "x", x, total);
        require(backend, "softmax", "y", y, total);
    }

    /** The operands of {@link Backend#softmaxBackward}. */
    public static void softmaxBackward(Backend backend, Buffer y, Buffer dy, int outer, int n, int inner, Buffer dx) {
        long total = alongChecked("softmaxBackward", outer, n, inner);
        require(backend, "softmaxBackward", "y", y, total);
        require(backend, "softmaxBackward", "dy", dy, total);
        require(backend, "softmaxBackward", "dx", dx, total);
    }

    /** The operands of {@link Backend#maxAlong}. */
    public static void maxAlong(Backend backend, Buffer x, int outer, int n, int inner, Buffer values, Buffer indices) {
        long total = alongChecked("maxAlong", outer, n, inner);
        long rows = (long) outer * inner;
        if (n == 0 && rows > 0) {
            throw new IllegalArgumentException("maxAlong: " + rows + " rows of 0 elements have no largest element");
        }
        require(backend, "maxAlong", "x", x, total);
        require(backend, "maxAlong", "values", values, rows);
        require(backend, "maxAlong", "indices", indices, rows);
    }

    /** The operands of {@link Backend#scatterAlong}. */
    public static void scatterAlong(Backend backend, Buffer dy, Buffer indices, int outer, int n, int inner, Buffer dx) {
        long total = alongChecked("scatterAlong", outer, n, inner);
        long rows = (long) outer * inner;
        require(backend, "scatterAlong", "dy", dy, rows);
        require(backend, "scatterAlong", "indices", indices, rows);
        require(backend, "scatterAlong", "dx", dx, total);
    }

    /** outer·n·inner after checking the counts; more than a long holds is an error (no buffer holds it). */
    private static long alongChecked(String op, int outer, int n, int inner) {
        counts(op, "outer, n, inner", outer, n, inner);
        long rows = (long) outer * inner;
        if (n != 0 && rows > Long.MAX_VALUE / n) {
            throw new IllegalArgumentException(op + ": (" + outer + ", " + n + ", " + inner + ") has more elements than a long counts");
        }
        return rows * n;
    }

    private static void shape(String op, String name, int[] shape) {
        if (shape == null || shape.length > Backend.MAX_RANK) {
            throw new IllegalArgumentException(op + ": " + name + " must have rank 0 to " + Backend.MAX_RANK + ", not "
                    + (shape == null ? "null" : Arrays.toString(shape)));
        }
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(op + ": negative dimension in " + name + " " + Arrays.toString(shape));
            }
        }
    }

    /** Elements an operand read with {@code strides} over {@code shape} spans: 1 + Σ (n_d − 1)·stride_d, 0 when empty. */
    private static long reach(String op, String name, long[] strides, int[] shape) {
        if (strides == null || strides.length != shape.length) {
            throw new IllegalArgumentException(op + ": " + name + " needs " + shape.length + " strides for shape "
                    + Arrays.toString(shape) + ", got " + (strides == null ? "null" : Arrays.toString(strides)));
        }
        long last = 0;
        for (int d = 0; d < shape.length; d++) {
            if (strides[d] < 0) {
                throw new IllegalArgumentException(op + ": " + name + "'s strides " + Arrays.toString(strides)
                        + " must not be negative");
            }
            if (shape[d] == 0) {
                return 0;
            }
            long step = Math.multiplyHigh(shape[d] - 1, strides[d]) == 0 ? (shape[d] - 1) * strides[d] : -1;
            last = step < 0 || last > Long.MAX_VALUE - step ? Long.MAX_VALUE : last + step;
        }
        return last == Long.MAX_VALUE ? last : last + 1;
    }

    // ---- convolution (Backend's section of the same name) -------------------------------------

    /** The operands of {@link Backend#conv2dForward}. */
    public static void conv2dForward(Backend backend, Buffer x, Buffer weight, Conv2dShape shape, Buffer y) {
        conv2d(backend, "conv2dForward", "x", x, "weight", weight, "y", y, shape);
    }

    /** The operands of {@link Backend#conv2dBackwardData}. */
    public static void conv2dBackwardData(Backend backend, Buffer dy, Buffer weight, Conv2dShape shape, Buffer dx) {
        conv2d(backend, "conv2dBackwardData", "dx", dx, "weight", weight, "dy", dy, shape);
    }

    /** The operands of {@link Backend#conv2dBackwardWeight}. */
    public static void conv2dBackwardWeight(Backend backend, Buffer dy, Buffer x, Conv2dShape shape, Buffer dw) {
        conv2d(backend, "conv2dBackwardWeight", "x", x, "dw", dw, "dy", dy, shape);
    }

    private static void conv2d(Backend backend, String op, String inName, Buffer in, String weightName, Buffer weight,
                               String outName, Buffer out, Conv2dShape shape) {
        notNull(op, shape);
        require(backend, op, inName, in, shape.inputSize());
        require(backend, op, weightName, weight, shape.weightSize());
        require(backend, op, outName, out, shape.outputSize());
    }

    /** The operands of {@link Backend#maxPool2dForward} (and, with indices null, {@link Backend#avgPool2dForward}). */
    public static void pool2dForward(Backend backend, String op, Buffer x, Pool2dShape shape, Buffer y, Buffer indices) {
        notNull(op, shape);
        require(backend, op, "x", x, shape.inputSize());
        require(backend, op, "y", y, shape.outputSize());
        if (op.startsWith("max")) {
            require(backend, op, "indices", indices, shape.outputSize());
        }
    }

    /** The operands of {@link Backend#maxPool2dBackward} (and, with indices null, {@link Backend#avgPool2dBackward}). */
    public static void pool2dBackward(Backend backend, String op, Buffer dy, Buffer indices, Pool2dShape shape, Buffer dx) {
        notNull(op, shape);
        require(backend, op, "dy", dy, shape.outputSize());
        if (op.startsWith("max")) {
            require(backend, op, "indices", indices, shape.outputSize());
        }
        require(backend, op, "dx", dx, shape.inputSize());
    }

    /** The operands of {@link Backend#batchNorm2dTraining} and {@link Backend#batchNorm2dInference} (running statistics required). */
    public static void batchNorm2d(Backend backend, String op, Buffer x, Buffer weight, Buffer bias, int n, int c, int hw,
                                   float eps, Buffer runningMean, Buffer runningVar, Buffer y, Buffer saveMean,
                                   Buffer saveRstd) {
        long total = batchNormCounts(op, n, c, hw);
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException(op + ": eps must be a positive finite number, got " + eps);
        }
        boolean training = op.endsWith("Training");
        if (training && (saveMean == null) != (saveRstd == null)) {
            throw new IllegalArgumentException(op + ": saveMean and saveRstd are saved together: give both or neither");
        }
        if (training && (runningMean == null) != (runningVar == null)) {
            throw new IllegalArgumentException(op + ": runningMean and runningVar are updated together: give both or neither");
        }
        if (training && runningVar != null && total == c && n > 0) {
            throw new IllegalArgumentException(op + ": one value per channel (n = " + n + ", hw = " + hw
                    + ") has no unbiased variance for the running statistics");
        }
        require(backend, op, "x", x, total);
        optional(backend, op, "weight", weight, c);
        optional(backend, op, "bias", bias, c);
        if (training) {
            optional(backend, op, "runningMean", runningMean, c);
            optional(backend, op, "runningVar", runningVar, c);
        } else {
            require(backend, op, "runningMean", runningMean, c);
            require(backend, op, "runningVar", runningVar, c);
        }
        require(backend, op, "y", y, total);
        optional(backend, op, "saveMean", saveMean, c);
        optional(backend, op, "saveRstd", saveRstd, c);
    }

    /** The operands of {@link Backend#batchNorm2dBackward}. */
    public static void batchNorm2dBackward(Backend backend, Buffer x, Buffer weight, Buffer mean, Buffer rstd, Buffer dy,
                                           int n, int c, int hw, Buffer dx, Buffer dWeight, Buffer dBias) {
        String op = "batchNorm2dBackward";
        long total = batchNormCounts(op, n, c, hw);
        require(backend, op, "x", x, total);
        optional(backend, op, "weight", weight, c);
        require(backend, op, "mean", mean, c);
        require(backend, op, "rstd", rstd, c);
        require(backend, op, "dy", dy, total);
        optional(backend, op, "dx", dx, total);
        optional(backend, op, "dWeight", dWeight, c);
        optional(backend, op, "dBias", dBias, c);
    }

    private static long batchNormCounts(String op, int n, int c, int hw) {
        counts(op, "n, c, hw", n, c, hw);
        return alongChecked(op, n, c, hw);
    }

    private static void notNull(String op, Record shape) {
        if (shape == null) {
            throw new IllegalArgumentException(op + ": shape is null");
        }
    }
}
