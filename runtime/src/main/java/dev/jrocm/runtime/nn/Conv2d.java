package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.ConvOps;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A 2-d convolution layer, as PyTorch's {@code nn.Conv2d(in, out, kernel, stride, padding,
 * dilation, bias=…)} with groups = 1: weight (out, in, kh, kw), bias (out), input (n, in, h, w) or
 * (in, h, w). PyTorch's default initialisation: kaiming-uniform with a = √5 for the weight, which
 * is U(−1/√fan_in, 1/√fan_in) with fan_in = in·kh·kw, and the same bound for the bias.
 */
public final class Conv2d extends Module {
    private final int in, out;
    private final int[] kernel, stride, padding, dilation;
    private final Tensor weight; // (out, in, kh, kw)
    private final Tensor bias;   // (out) or null

    /** A square {@code kernel}, stride 1, no padding, dilation 1, with a bias. */
    public Conv2d(Backend backend, int in, int out, int kernel, long seed) {
        this(backend, in, out, kernel, 1, 0, 1, true, seed);
    }

    /** Square kernel, stride, padding and dilation. */
    public Conv2d(Backend backend, int in, int out, int kernel, int stride, int padding, int dilation, boolean bias,
                  long seed) {
        this(backend, in, out, Pool2d.square(kernel), Pool2d.square(stride), Pool2d.square(padding),
                Pool2d.square(dilation), bias, seed);
    }

    /**
     * A layer initialised from {@code seed} (the weight uses seed, the bias seed + 1); kernel,
     * stride, padding and dilation are pairs {h, w}.
     *
     * @throws IllegalArgumentException for in or out below 1, or a pair that is not two numbers with
     *     kernel, stride and dilation ≥ 1 and padding ≥ 0
     */
    public Conv2d(Backend backend, int in, int out, int[] kernel, int[] stride, int[] padding, int[] dilation,
                  boolean bias, long seed) {
        if (in < 1 || out < 1) {
            throw new IllegalArgumentException("Conv2d needs in, out ≥ 1, got in=" + in + ", out=" + out);
        }
        this.kernel = Pool2d.pair("Conv2d", "kernel", kernel, 1);
        this.stride = Pool2d.pair("Conv2d", "stride", stride, 1);
        this.padding = Pool2d.pair("Conv2d", "padding", padding, 0);
        this.dilation = Pool2d.pair("Conv2d", "dilation", dilation, 1);
        this.in = in;
        this.out = out;
        float bound = (float) (1 / Math.sqrt((double) in * this.kernel[0] * this.kernel[1]));
        this.weight = registerParameter("weight",
                Scope.detached(() -> Tensor.empty(backend, out, in, this.kernel[0], this.kernel[1])));
        backend.uniform(weight.buffer(), -bound, bound, seed);
        if (bias) {
            this.bias = registerParameter("bias", Scope.detached(() -> Tensor.empty(backend, out)));
            backend.uniform(this.bias.buffer(), -bound, bound, seed + 1);
        } else {
            this.bias = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        return ConvOps.conv2d(x, weight, bias, stride, padding, dilation);
    }

    public Tensor weight() { return weight; }

    /** The bias, or null for a layer without one. */
    public Tensor bias() { return bias; }

    public int inChannels() { return in; }

    public int outChannels() { return out; }

    public int[] kernelSize() { return kernel.clone(); }

    public int[] stride() { return stride.clone(); }

    public int[] padding() { return padding.clone(); }

    public int[] dilation() { return dilation.clone(); }

    @Override
    public String toString() {
        return "Conv2d(" + in + ", " + out + ", kernel_size=" + Pool2d.tuple(kernel) + ", stride=" + Pool2d.tuple(stride)
                + (padding[0] != 0 || padding[1] != 0 ? ", padding=" + Pool2d.tuple(padding) : "")
                + (dilation[0] != 1 || dilation[1] != 1 ? ", dilation=" + Pool2d.tuple(dilation) : "")
                + (bias == null ? ", bias=False" : "") + ")";
    }
}
