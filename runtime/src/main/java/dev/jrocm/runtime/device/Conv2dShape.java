package dev.jrocm.runtime.device;

/**
 * The geometry of one 2-d convolution over an NCHW batch, as PyTorch's {@code F.conv2d} with
 * groups = 1: x (n, c, h, w), weight (k, c, kh, kw), y (n, k, {@link #outH()}, {@link #outW()}),
 * with per-axis stride, zero padding and dilation. The constructor checks it: n ≥ 0, the other
 * sizes ≥ 1, padding ≥ 0, and an output of at least 1×1 (PyTorch's "output size is too small");
 * otherwise {@link IllegalArgumentException} saying which value is wrong. What MIOpen's tensor
 * and convolution descriptors hold, in one value.
 *
 * @param n images in the batch
 * @param c input channels
 * @param k output channels (filters)
 */
public record Conv2dShape(int n, int c, int h, int w, int k, int kh, int kw, int strideH, int strideW,
                          int padH, int padW, int dilH, int dilW) {

    public Conv2dShape {
        if (n < 0) {
            throw new IllegalArgumentException("Conv2dShape: the batch size must not be negative, got " + n);
        }
        positive("input channels", c);
        positive("output channels", k);
        positive("height", h);
        positive("width", w);
        positive("kernel height", kh);
        positive("kernel width", kw);
        positive("stride", strideH, strideW);
        positive("dilation", dilH, dilW);
        if (padH < 0 || padW < 0) {
            throw new IllegalArgumentException("Conv2dShape: padding must not be negative, got " + padH + "×" + padW);
        }
        long oh = out(h, kh, strideH, padH, dilH), ow = out(w, kw, strideW, padW, dilW);
        if (oh < 1 || ow < 1) {
            throw new IllegalArgumentException("Conv2dShape: the kernel " + kh + "×" + kw + " (dilation " + dilH + "×" + dilW
                    + ") over the input " + h + "×" + w + " padded by " + padH + "×" + padW + " with stride " + strideH + "×"
                    + strideW + " gives an output of " + oh + "×" + ow + ", which is too small");
        }
        if ((long) c * kh * kw * oh * ow > Integer.MAX_VALUE) { // one image's im2col matrix is a GEMM operand
            throw new IllegalArgumentException("Conv2dShape: c·kh·kw·outH·outW = " + c + "·" + kh + "·" + kw + "·" + oh + "·" + ow
                    + " is more than a GEMM takes (" + Integer.MAX_VALUE + ")");
        }
    }

    /** PyTorch's output height: ⌊(h + 2·padH − dilH·(kh − 1) − 1) / strideH⌋ + 1. */
    public int outH() { return (int) out(h, kh, strideH, padH, dilH); }

    /** PyTorch's output width: ⌊(w + 2·padW − dilW·(kw − 1) − 1) / strideW⌋ + 1. */
    public int outW() { return (int) out(w, kw, strideW, padW, dilW); }

    /** Elements of x: n·c·h·w. */
    public long inputSize() { return (long) n * c * h * w; }

    /** Elements of the weight: k·c·kh·kw. */
    public long weightSize() { return (long) k * c * kh * kw; }

    /** Elements of y: n·k·outH·outW. */
    public long outputSize() { return (long) n * k * outH() * outW(); }

    static long out(int size, int kernel, int stride, int pad, int dilation) {
        long span = (long) dilation * (kernel - 1) + 1;
        return Math.floorDiv(size + 2L * pad - span, stride) + 1;
    }

    private static void positive(String what, int... values) {
        for (int v : values) {
            if (v < 1) {
                throw new IllegalArgumentException("Conv2dShape: " + what + " must be ≥ 1, got "
                        + (values.length == 1 ? String.valueOf(v) : values[0] + "×" + values[1]));
            }
        }
    }
}
