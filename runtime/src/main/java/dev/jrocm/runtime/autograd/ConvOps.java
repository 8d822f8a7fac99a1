package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Backend.BinaryOp;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.Strides;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The differentiable ops of a convolutional network, PyTorch's {@code torch.nn.functional} names
 * and semantics over NCHW tensors: {@link #conv2d}, {@link #maxPool2d}, {@link #avgPool2d},
 * {@link #batchNorm2d}. Each records its gradient rule next to its forward, as {@link Ops} does;
 * inputs that do not require grad get no gradient computed (a frozen convolution costs no
 * weight-gradient GEMM). Sizes given as one int apply to both axes, as pairs {@code {h, w}}.
 * Bad input throws {@link IllegalArgumentException} naming the op, the operand and what is wrong.
 */
public final class ConvOps {
    private ConvOps() {}

    // ---- convolution --------------------------------------------------------------------------

    /** {@link #conv2d(Tensor, Tensor, Tensor, int[], int[], int[])} with stride 1, no padding, dilation 1. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias) {
        return conv2d(x, weight, bias, 1, 0, 1);
    }

    /** {@link #conv2d(Tensor, Tensor, Tensor, int[], int[], int[])} with the same stride, padding and dilation on both axes. */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, int dilation) {
        return conv2d(x, weight, bias, new int[] {stride, stride}, new int[] {padding, padding}, new int[] {dilation, dilation});
    }

    /**
     * The 2-d convolution of PyTorch's {@code F.conv2d(x, weight, bias, stride, padding, dilation)}
     * (groups = 1; a cross-correlation, zero padding): x (n, c, h, w) or unbatched (c, h, w),
     * weight (k, c, kh, kw), bias (k) or null → y (n, k, outH, outW) (unbatched: (k, outH, outW)),
     * outH = ⌊(h + 2·padding − dilation·(kh − 1) − 1)/stride⌋ + 1, likewise outW. Gradients to x,
     * weight and bias.
     *
     * @param stride a pair {h, w}, each ≥ 1
     * @param padding a pair {h, w} of zero rows and columns added on each side, each ≥ 0
     * @param dilation a pair {h, w}, each ≥ 1: the spacing of the kernel's taps
     * @throws IllegalArgumentException for a non-f32 operand, shapes that do not fit ("conv2d: x has
     *     4 channels but weight expects 3"), a pair that is not two numbers, a stride or dilation
     *     below 1, negative padding, or an output smaller than 1×1
     */
    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int[] stride, int[] padding, int[] dilation) {
        String op = "conv2d";
        requireImages(op, x);
        requireFloat(op, "weight", weight);
        if (weight.rank() != 4) {
            throw new IllegalArgumentException(op + ": weight must be (out channels, in channels, kh, kw), not "
                    + weight.shapeString());
        }
        if (x.rank() == 3) {
            return unbatched(x, xb -> conv2d(xb, weight, bias, stride, padding, dilation));
        }
        if (x.dim(1) != weight.dim(1)) {
            throw new IllegalArgumentException(op + ": x has " + x.dim(1) + " channels but weight expects " + weight.dim(1)
                    + " (x is " + x.shapeString() + ", weight " + weight.shapeString() + ")");
        }
        int k = weight.dim(0);
        if (bias != null) {
            requireFloat(op, "bias", bias);
            if (bias.rank() != 1 || bias.dim(0) != k) {
                throw new IllegalArgumentException(op + ": bias is " + bias.shapeString() + " but weight has " + k
                        + " output channels (bias needs " + k + " elements)");
            }
        }
        int[] st = pair(op, "stride", stride), pad = pair(op, "padding", padding), dil = pair(op, "dilation", dilation);
        Conv2dShape s = shape(op, () -> new Conv2dShape(x.dim(0), x.dim(1), x.dim(2), x.dim(3), k, weight.dim(2),
                weight.dim(3), st[0], st[1], pad[0], pad[1], dil[0], dil[1]));
        Backend be = x.backend();
        int[] yShape = {s.n(), k, s.outH(), s.outW()};
        Tensor y = Tensor.empty(be, yShape);
        be.conv2dForward(x.buffer(), weight.buffer(), s, y.buffer());
        int[] perChannel = {1, k, 1, 1};
        if (bias != null) { // y += bias over (n, ·, outH, outW), in place: y's strides are its own dense ones
            be.binary(BinaryOp.ADD, y.buffer(), Strides.dense(yShape), bias.buffer(), Strides.broadcast(perChannel, yShape),
                    y.buffer(), yShape);
        }
        if (Autograd.records(x, weight, bias)) {
            Autograd.record(y, new Node(op, present(x, weight, bias), dy -> {
                if (x.requiresGrad()) {
                    Grads.Target dx = Grads.target(x);
                    be.conv2dBackwardData(dy.buffer(), weight.buffer(), s, dx.grad().buffer(), !dx.fresh());
                }
                if (weight.requiresGrad()) {
                    Grads.Target dw = Grads.target(weight);
                    be.conv2dBackwardWeight(dy.buffer(), x.buffer(), s, dw.grad().buffer(), !dw.fresh());
                }
                if (bias != null && bias.requiresGrad()) {
                    Grads.Target db = Grads.target(bias);
                    be.sumTo(1f, dy.buffer(), yShape, db.beta(), db.grad().buffer(), perChannel);
                }
            }));
        }
        return y;
    }

    /**
     * A LoRA convolution as PEFT's {@code lora.Conv2d} computes it without dropout:
     * {@code y = conv(x, W) + b + s·conv1×1(conv(x, A), B)} with A (r, c, kh, kw) taking the base's
     * stride, padding and dilation and B (out, r, 1, 1). The base kernel and A run as one
     * convolution of the stacked kernel [W; A] (out + r output channels), so x is unfolded once
     * forward and its gradient folded back once; a frozen W gets no kernel gradient (only A's r
     * rows are formed). Shapes and errors as {@link #conv2d}; bias may be null.
     *
     * @throws IllegalArgumentException when A is not (r, c, kh, kw) for W (out, c, kh, kw), or B not
     *     (out, r, 1, 1)
     */
    public static Tensor loraConv2d(Tensor x, Tensor weight, Tensor bias, Tensor loraA, Tensor loraB, float scale,
                                    int[] stride, int[] padding, int[] dilation) {
        String op = "loraConv2d";
        requireImages(op, x);
        for (Tensor t : new Tensor[] {weight, loraA, loraB}) {
            requireFloat(op, t == weight ? "weight" : t == loraA ? "lora_A" : "lora_B", t);
        }
        if (x.rank() == 3) {
            return unbatched(x, xb -> loraConv2d(xb, weight, bias, loraA, loraB, scale, stride, padding, dilation));
        }
        if (weight.rank() != 4 || loraA.rank() != 4 || loraB.rank() != 4) {
            throw new IllegalArgumentException(op + ": weight, lora_A and lora_B must be 4-d, not " + weight.shapeString()
                    + ", " + loraA.shapeString() + " and " + loraB.shapeString());
        }
        int out = weight.dim(0), r = loraA.dim(0);
        if (loraA.dim(1) != weight.dim(1) || loraA.dim(2) != weight.dim(2) || loraA.dim(3) != weight.dim(3)
                || loraB.dim(0) != out || loraB.dim(1) != r || loraB.dim(2) != 1 || loraB.dim(3) != 1) {
            throw new IllegalArgumentException(op + ": weight is " + weight.shapeString() + ", lora_A " + loraA.shapeString()
                    + " and lora_B " + loraB.shapeString() + " (they need to be (out, c, kh, kw), (r, c, kh, kw) and (out, r, 1, 1))");
        }
        Tensor stacked = stackedConv(x, weight, loraA, stride, padding, dilation);
        Tensor y = Ops.narrow(stacked, 1, 0, out);
        if (bias != null) {
            requireFloat(op, "bias", bias);
            if (bias.rank() != 1 || bias.dim(0) != out) {
                throw new IllegalArgumentException(op + ": bias is " + bias.shapeString() + " but weight has " + out
                        + " output channels (bias needs " + out + " elements)");
            }
            y = Ops.add(y, bias.view(1, out, 1, 1));
        }
        Tensor u = Ops.scale(Ops.narrow(stacked, 1, out, r), scale);
        return Ops.add(y, conv2d(u, loraB, null, 1, 0, 1));
    }

    /** conv(x, [W; A]) as one convolution: (n, out + r, outH, outW). Its rule forms dx once and only A's (and a trainable W's) kernel gradient. */
    private static Tensor stackedConv(Tensor x, Tensor weight, Tensor loraA, int[] stride, int[] padding, int[] dilation) {
        String op = "loraConv2d";
        if (x.dim(1) != weight.dim(1)) {
            throw new IllegalArgumentException(op + ": x has " + x.dim(1) + " channels but weight expects " + weight.dim(1)
                    + " (x is " + x.shapeString() + ", weight " + weight.shapeString() + ")");
        }
        int out = weight.dim(0), r = loraA.dim(0), k = out + r;
        int[] st = pair(op, "stride", stride), pad = pair(op, "padding", padding), dil = pair(op, "dilation", dilation);
        Conv2dShape s = shape(op, () -> new Conv2dShape(x.dim(0), x.dim(1), x.dim(2), x.dim(3), k, weight.dim(2),
                weight.dim(3), st[0], st[1], pad[0], pad[1], dil[0], dil[1]));
        Backend be = x.backend();
        Tensor kernel = Tensor.empty(be, k, weight.dim(1), weight.dim(2), weight.dim(3)); // [W; A], saved for backward
        be.copy(weight.buffer(), kernel.buffer().slice(0, weight.size()));
        be.copy(loraA.buffer(), kernel.buffer().slice(weight.size(), loraA.size()));
        int[] yShape = {s.n(), k, s.outH(), s.outW()};
        Tensor y = Tensor.empty(be, yShape);
        be.conv2dForward(x.buffer(), kernel.buffer(), s, y.buffer());
        if (Autograd.records(x, weight, loraA)) {
            Autograd.record(y, new Node(op, List.of(x, weight, loraA), dy -> {
                if (x.requiresGrad()) { // one fold of [dy_W; dy_A] through [W; A]
                    Grads.Target dx = Grads.target(x);
                    be.conv2dBackwardData(dy.buffer(), kernel.buffer(), s, dx.grad().buffer(), !dx.fresh());
                }
                if (loraA.requiresGrad()) {
                    kernelGradient(be, dy, x, s, out, r, Grads.target(loraA));
                }
                if (weight.requiresGrad()) {
                    kernelGradient(be, dy, x, s, 0, out, Grads.target(weight));
                }
            }));
        }
        return y;
    }

    /** The kernel gradient of output channels [from, from + count) of a stacked convolution. */
    private static void kernelGradient(Backend be, Tensor dy, Tensor x, Conv2dShape s, int from, int count, Grads.Target dw) {
        int hw = s.outH() * s.outW();
        int[] part = {s.n(), count, hw};
        try (Tensor rows = Tensor.empty(be, s.n(), count, s.outH(), s.outW())) { // dy's channels, contiguous
            be.copyStrided(dy.buffer().slice((long) from * hw, dy.size() - (long) from * hw),
                    new long[] {(long) s.k() * hw, hw, 1}, rows.buffer(), Strides.dense(part), part, false);
            Conv2dShape sub = new Conv2dShape(s.n(), s.c(), s.h(), s.w(), count, s.kh(), s.kw(), s.strideH(), s.strideW(),
                    s.padH(), s.padW(), s.dilH(), s.dilW());
            be.conv2dBackwardWeight(rows.buffer(), x.buffer(), sub, dw.grad().buffer(), !dw.fresh());
        }
    }

    // ---- pooling ------------------------------------------------------------------------------

    /** {@link #maxPool2d(Tensor, int[], int[], int[])} with stride = kernel (PyTorch's default) and no padding. */
    public static Tensor maxPool2d(Tensor x, int kernel) {
        return maxPool2d(x, kernel, kernel, 0);
    }

    /** {@link #maxPool2d(Tensor, int[], int[], int[])} with square windows. */
    public static Tensor maxPool2d(Tensor x, int kernel, int stride, int padding) {
        return maxPool2d(x, new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding});
    }

    /**
     * PyTorch's {@code F.max_pool2d(x, kernel, stride, padding)} (dilation 1, {@code ceil_mode=False}):
     * x (n, c, h, w) or (c, h, w) → the largest element of each window, padding counting as −∞, of
     * shape (n, c, outH, outW), outH = ⌊(h + 2·padding − kernel)/stride⌋ + 1. The gradient goes to
     * the first largest element of each window (overlapping windows add up).
     *
     * @throws IllegalArgumentException for a non-f32 or non-NCHW x, a pair that is not two numbers,
     *     padding above half the kernel, or an output smaller than 1×1
     */
    public static Tensor maxPool2d(Tensor x, int[] kernel, int[] stride, int[] padding) {
        return pool("maxPool2d", x, kernel, stride, padding);
    }

    /** {@link #avgPool2d(Tensor, int[], int[], int[])} with stride = kernel and no padding. */
    public static Tensor avgPool2d(Tensor x, int kernel) {
        return avgPool2d(x, kernel, kernel, 0);
    }

    /** {@link #avgPool2d(Tensor, int[], int[], int[])} with square windows. */
    public static Tensor avgPool2d(Tensor x, int kernel, int stride, int padding) {
        return avgPool2d(x, new int[] {kernel, kernel}, new int[] {stride, stride}, new int[] {padding, padding});
    }

    /**
     * PyTorch's {@code F.avg_pool2d(x, kernel, stride, padding)} with its defaults
     * ({@code count_include_pad=True}, {@code ceil_mode=False}): each window's mean, padding counting
     * as zeros in it; shapes and errors as {@link #maxPool2d(Tensor, int[], int[], int[])}. The
     * gradient spreads each dy evenly over its window.
     */
    public static Tensor avgPool2d(Tensor x, int[] kernel, int[] stride, int[] padding) {
        return pool("avgPool2d", x, kernel, stride, padding);
    }

    private static Tensor pool(String op, Tensor x, int[] kernel, int[] stride, int[] padding) {
        requireImages(op, x);
        if (x.rank() == 3) {
            return unbatched(x, xb -> pool(op, xb, kernel, stride, padding));
        }
        int[] k = pair(op, "kernel", kernel), st = pair(op, "stride", stride), pad = pair(op, "padding", padding);
        Pool2dShape s = shape(op, () -> new Pool2dShape(x.dim(0), x.dim(1), x.dim(2), x.dim(3), k[0], k[1], st[0], st[1],
                pad[0], pad[1]));
        Backend be = x.backend();
        Tensor y = Tensor.empty(be, s.n(), s.c(), s.outH(), s.outW());
        boolean max = op.equals("maxPool2d"), record = Autograd.records(x);
        Tensor indices = max ? Tensor.empty(be, DType.I32, y.shape()) : null;
        if (max) {
            be.maxPool2dForward(x.buffer(), s, y.buffer(), indices.buffer());
        } else {
            be.avgPool2dForward(x.buffer(), s, y.buffer());
        }
        if (record) {
            Autograd.record(y, new Node(op, List.of(x), dy -> {
                Grads.Target dx = Grads.target(x);
                if (max) {
                    be.maxPool2dBackward(dy.buffer(), indices.buffer(), s, dx.grad().buffer(), !dx.fresh());
                } else {
                    be.avgPool2dBackward(dy.buffer(), s, dx.grad().buffer(), !dx.fresh());
                }
            }));
        } else if (indices != null) {
            indices.close(); // nothing will read them
        }
        return y;
    }

    // ---- batch normalisation ------------------------------------------------------------------

    /**
     * PyTorch's {@code F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum,
     * eps)} over x (n, c, h, w): per channel, y = (x − μ)/√(σ² + eps)·weight + bias. In training μ
     * and σ² are the batch's mean and biased variance over (n, h, w), and running statistics given
     * are updated in place, r ← (1 − momentum)·r + momentum·s, with the unbiased variance for
     * runningVar; in evaluation the running statistics normalise. weight, bias (c) may each be null;
     * runningMean and runningVar (c) together may be null in training. Gradients to x, weight and
     * bias in both modes (in evaluation the op is an affine map of x).
     *
     * @throws IllegalArgumentException for a non-f32 or non-4-d x, a per-channel operand that is not
     *     f32 of c elements, one of the running statistics without the other, none in evaluation,
     *     one value per channel in training ("expected more than 1 value per channel"), momentum
     *     outside [0, 1], or eps not positive and finite
     */
    public static Tensor batchNorm2d(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                     boolean training, float momentum, float eps) {
        String op = "batchNorm2d";
        requireFloat(op, "x", x);
        if (x.rank() != 4) {
            throw new IllegalArgumentException(op + ": x must be (n, c, h, w), not " + x.shapeString());
        }
        int n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        String[] names = {"weight", "bias", "runningMean", "runningVar"};
        Tensor[] perChannel = {weight, bias, runningMean, runningVar};
        for (int i = 0; i < names.length; i++) {
            Tensor p = perChannel[i];
            if (p != null && (p.dtype() != DType.F32 || p.rank() != 1 || p.dim(0) != c)) {
                throw new IllegalArgumentException(op + ": x has " + c + " channels but " + names[i] + " is " + p.describe()
                        + " (it needs to be f32 of " + c + " elements)");
            }
        }
        if ((runningMean == null) != (runningVar == null)) {
            throw new IllegalArgumentException(op + ": runningMean and runningVar go together: give both or neither");
        }
        if (!training && runningMean == null) {
            throw new IllegalArgumentException(op + ": evaluation normalises with the running statistics, and none were given");
        }
        if (training && (long) n * hw <= 1) {
            throw new IllegalArgumentException(op + ": expected more than 1 value per channel when training, got x of "
                    + x.shapeString());
        }
        if (!(momentum >= 0f && momentum <= 1f)) {
            throw new IllegalArgumentException(op + ": momentum must be in [0, 1], got " + momentum);
        }
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException(op + ": eps must be a positive finite number, got " + eps);
        }
        Backend be = x.backend();
        boolean record = Autograd.records(x, weight, bias);
        Tensor y = Tensor.empty(be, x.shape());
        Tensor mean, rstd;
        if (training) {
            mean = record ? Tensor.empty(be, c) : null;
            rstd = record ? Tensor.empty(be, c) : null;
            be.batchNorm2dTraining(x.buffer(), buffer(weight), buffer(bias), n, c, hw, eps, momentum, buffer(runningMean),
                    buffer(runningVar), y.buffer(), buffer(mean), buffer(rstd));
        } else {
            be.batchNorm2dInference(x.buffer(), buffer(weight), buffer(bias), runningMean.buffer(), runningVar.buffer(),
                    n, c, hw, eps, y.buffer());
            mean = runningMean;
            rstd = record ? reciprocalSqrt(runningVar, eps) : null;
        }
        if (record) {
            Autograd.record(y, new Node(op, present(x, weight, bias), dy -> {
                Overwrite dx = Overwrite.of(x), dw = Overwrite.of(weight), db = Overwrite.of(bias);
                be.batchNorm2dBackward(x.buffer(), buffer(weight), mean.buffer(), rstd.buffer(), dy.buffer(), n, c, hw,
                        training, dx.buffer(), dw.buffer(), db.buffer());
                dx.finish();
                dw.finish();
                db.finish();
            }));
        }
        return y;
    }

    /** 1/√(v + eps), element-wise, in a new tensor: evaluation's rstd for the gradient. */
    private static Tensor reciprocalSqrt(Tensor v, float eps) {
        Backend be = v.backend();
        int[] shape = v.shape();
        Tensor out = Tensor.empty(be, shape);
        try (Tensor epsilon = Tensor.scalar(be, eps); Tensor one = Tensor.scalar(be, 1f)) {
            long[] dense = Strides.dense(shape), repeated = Strides.broadcast(new int[] {1}, shape);
            be.binary(BinaryOp.ADD, v.buffer(), dense, epsilon.buffer(), repeated, out.buffer(), shape);
            be.unary(Backend.UnaryOp.SQRT, out.buffer(), out.buffer());
            be.binary(BinaryOp.DIV, one.buffer(), repeated, out.buffer(), dense, out.buffer(), shape);
        }
        return out;
    }

    /**
     * Where a backend op that overwrites its outputs puts a gradient: straight into a fresh gradient,
     * else into a temporary added on at {@link #finish}. Null throughout for a tensor that needs none.
     */
    private record Overwrite(Tensor target, Tensor temporary) {
        static Overwrite of(Tensor t) {
            if (t == null || !t.requiresGrad()) {
                return new Overwrite(null, null);
            }
            Grads.Target g = Grads.target(t);
            return new Overwrite(g.grad(), g.fresh() ? null : Tensor.empty(t.backend(), t.shape()));
        }

        Buffer buffer() {
            return temporary != null ? temporary.buffer() : target == null ? null : target.buffer();
        }

        void finish() {
            if (temporary != null) {
                target.backend().axpy(1f, temporary.buffer(), target.buffer());
                temporary.close();
            }
        }
    }

    // ---- shapes and checks --------------------------------------------------------------------

    /** Runs a batched op on (c, h, w) viewed as (1, c, h, w) and views its result back: both views carry gradients. */
    private static Tensor unbatched(Tensor x, java.util.function.UnaryOperator<Tensor> batched) {
        Tensor y = batched.apply(x.view(1, x.dim(0), x.dim(1), x.dim(2)));
        return y.view(y.dim(1), y.dim(2), y.dim(3));
    }

    private static void requireImages(String op, Tensor x) {
        requireFloat(op, "x", x);
        if (x.rank() != 4 && x.rank() != 3) {
            throw new IllegalArgumentException(op + ": x must be (n, c, h, w) or unbatched (c, h, w), not " + x.shapeString());
        }
    }

    private static int[] pair(String op, String name, int[] values) {
        if (values == null || values.length != 2) {
            throw new IllegalArgumentException(op + ": " + name + " must be a pair {h, w}, got "
                    + (values == null ? "null" : Arrays.toString(values)));
        }
        return values.clone();
    }

    /** The shape record, its complaint (if any) told as this op's. */
    private static <S> S shape(String op, Supplier<S> make) {
        try {
            return make.get();
        } catch (IllegalArgumentException e) {
            String message = e.getMessage();
            throw new IllegalArgumentException(op + ": " + message.substring(message.indexOf(": ") + 2), e);
        }
    }

    private static void requireFloat(String op, String name, Tensor t) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + name + " must be f32, not " + t.describe());
        }
    }

    private static Buffer buffer(Tensor t) {
        return t == null ? null : t.buffer();
    }

    private static List<Tensor> present(Tensor... tensors) {
        return Stream.of(tensors).filter(Objects::nonNull).toList();
    }
}
