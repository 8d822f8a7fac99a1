package dev.jrocm.runtime.device;

/**
 * The geometry of one 2-d pooling over an NCHW batch, as PyTorch's {@code F.max_pool2d} and
 * {@code F.avg_pool2d} (dilation 1, {@code ceil_mode=False}): x (n, c, h, w), y (n, c,
 * {@link #outH()}, {@link #outW()}). The constructor checks it: n ≥ 0, the other sizes ≥ 1,
 * padding ≥ 0 and at most half the kernel (PyTorch's rule: every window then holds an element of
 * x), an output of at least 1×1; otherwise {@link IllegalArgumentException} saying which value
 * is wrong. What MIOpen's pooling descriptor holds, with the tensor's shape.
 */
public record Pool2dShape(int n, int c, int h, int w, int kh, int kw, int strideH, int strideW, int padH, int padW) {

    public Pool2dShape {
        if (n < 0) {
            throw new IllegalArgumentException("Pool2dShape: the batch size must not be negative, got " + n);
        }
        positive("channels", c);
        positive("height", h);
        positive("width", w);
        positive("kernel height", kh);
        positive("kernel width", kw);
        positive("stride", Math.min(strideH, strideW));
        if (padH < 0 || padW < 0 || 2 * padH > kh || 2 * padW > kw) {
            throw new IllegalArgumentException("Pool2dShape: padding " + padH + "×" + padW
                    + " must be between 0 and half the kernel " + kh + "×" + kw);
        }
        long oh = Conv2dShape.out(h, kh, strideH, padH, 1), ow = Conv2dShape.out(w, kw, strideW, padW, 1);
        if (oh < 1 || ow < 1) {
            throw new IllegalArgumentException("Pool2dShape: the kernel " + kh + "×" + kw + " over the input " + h + "×" + w
                    + " padded by " + padH + "×" + padW + " with stride " + strideH + "×" + strideW + " gives an output of "
                    + oh + "×" + ow + ", which is too small");
        }
    }

    private static void positive(String what, int value) {
        if (value < 1) {
            throw new IllegalArgumentException("Pool2dShape: " + what + " must be ≥ 1, got " + value);
        }
    }

    /** ⌊(h + 2·padH − kh) / strideH⌋ + 1. */
    public int outH() { return (int) Conv2dShape.out(h, kh, strideH, padH, 1); }

    /** ⌊(w + 2·padW − kw) / strideW⌋ + 1. */
    public int outW() { return (int) Conv2dShape.out(w, kw, strideW, padW, 1); }

    /** Elements of x: n·c·h·w. */
    public long inputSize() { return (long) n * c * h * w; }

    /** Elements of y (and of max pooling's indices): n·c·outH·outW. */
    public long outputSize() { return (long) n * c * outH() * outW(); }
}
