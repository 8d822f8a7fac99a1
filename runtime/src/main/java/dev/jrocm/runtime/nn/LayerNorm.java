package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * Layer normalisation over the last dimension, as PyTorch's {@code nn.LayerNorm(features)}: eps
 * 1e-5 and an affine {@code weight} (ones) and {@code bias} (zeros) of {@code features} elements
 * by default. Input (…, features) → output of the same shape.
 */
public final class LayerNorm extends Module {
    /** PyTorch's default. */
    public static final float DEFAULT_EPS = 1e-5f;

    private final int features;
    private final float eps;
    private final Tensor weight; // (features) or null
    private final Tensor bias;   // (features) or null

    public LayerNorm(Backend backend, int features) {
        this(backend, features, DEFAULT_EPS, true);
    }

    /** With {@code affine} false there are no parameters ({@code elementwise_affine=False}). */
    public LayerNorm(Backend backend, int features, float eps, boolean affine) {
        if (features < 1) {
            throw new IllegalArgumentException("LayerNorm needs features ≥ 1, got " + features);
        }
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("LayerNorm: eps must be a positive finite number, got " + eps);
        }
        this.features = features;
        this.eps = eps;
        if (affine) {
            this.weight = registerParameter("weight", Scope.detached(() -> Tensor.full(backend, 1f, features)));
            this.bias = registerParameter("bias", Scope.detached(() -> Tensor.zeros(backend, features)));
        } else {
            this.weight = null;
            this.bias = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.dim(x.rank() - 1) != features) {
            throw new IllegalArgumentException("LayerNorm(" + features + "): input is " + x.shapeString()
                    + " but its last dimension needs to be " + features);
        }
        return Ops.layerNorm(x, weight, bias, eps);
    }

    /** The scale, or null without affine parameters. */
    public Tensor weight() { return weight; }

    /** The shift, or null without affine parameters. */
    public Tensor bias() { return bias; }

    @Override
    public String toString() {
        return "LayerNorm(" + features + ", eps=" + eps + (weight == null ? ", elementwise_affine=False" : "") + ")";
    }
}
