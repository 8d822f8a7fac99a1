package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.ConvOps;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * Max pooling, as PyTorch's {@code nn.MaxPool2d(kernel, stride, padding)} (dilation 1,
 * {@code ceil_mode=False}): input (n, c, h, w) or (c, h, w); see {@link ConvOps#maxPool2d}.
 * No parameters. Sizes are checked here (pairs of numbers ≥ 1, padding ≥ 0) and against the
 * input's shape when it comes (padding at most half the kernel, an output of at least 1×1).
 */
public final class MaxPool2d extends Pool2d {
    /** Stride = kernel (PyTorch's default), no padding. */
    public MaxPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    public MaxPool2d(int kernel, int stride, int padding) {
        this(square(kernel), square(stride), square(padding));
    }

    /** Pairs {h, w}. */
    public MaxPool2d(int[] kernel, int[] stride, int[] padding) {
        super(kernel, stride, padding);
    }

    @Override
    public Tensor forward(Tensor x) {
        return ConvOps.maxPool2d(x, kernel, stride, padding);
    }
}
