package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.ConvOps;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * Average pooling, as PyTorch's {@code nn.AvgPool2d(kernel, stride, padding)} (count_include_pad=True,
 * {@code ceil_mode=False}): input (n, c, h, w) or (c, h, w); see {@link ConvOps#avgPool2d}.
 * No parameters. Sizes are checked here (pairs of numbers ≥ 1, padding ≥ 0) and against the
 * input's shape when it comes (padding at most half the kernel, an output of at least 1×1).
 */
public final class AvgPool2d extends Pool2d {
    /** Stride = kernel (PyTorch's default), no padding. */
    public AvgPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    public AvgPool2d(int kernel, int stride, int padding) {
        this(square(kernel), square(stride), square(padding));
    }

    /** Pairs {h, w}. */
    public AvgPool2d(int[] kernel, int[] stride, int[] padding) {
        super(kernel, stride, padding);
    }

    @Override
    public Tensor forward(Tensor x) {
        return ConvOps.avgPool2d(x, kernel, stride, padding);
    }
}
