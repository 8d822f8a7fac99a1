package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * {@code y = x·Wᵀ + b}, W (out, in), b (out): PyTorch's layout and its default initialisation,
 * kaiming-uniform with a = √5 for W, which is U(−1/√in, 1/√in), and the same bound for b.
 */
public final class Linear extends Module {
    private final int in, out;
    private final Tensor weight; // (out, in)
    private final Tensor bias;   // (out)

    /** A layer initialised from {@code seed} (the weight uses seed, the bias seed + 1). */
    public Linear(Backend backend, int in, int out, long seed) {
        this(backend, in, out, true, seed);
    }

    public Linear(Backend backend, int in, int out, boolean withBias, long seed) {
        if (in < 1 || out < 1) {
            throw new IllegalArgumentException("Linear needs in, out ≥ 1, got in=" + in + ", out=" + out);
        }
        this.in = in;
        this.out = out;
        float bound = (float) (1 / Math.sqrt(in));
        // Parameters outlive any step, whatever scope the model is built in.
        this.weight = registerParameter("weight", Scope.detached(() -> Tensor.empty(backend, out, in)));
        backend.uniform(weight.buffer(), -bound, bound, seed);
        if (withBias) {
            this.bias = registerParameter("bias", Scope.detached(() -> Tensor.empty(backend, out)));
            backend.uniform(bias.buffer(), -bound, bound, seed + 1);
        } else {
            this.bias = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        return Ops.linear(x, weight, bias);
    }

    public Tensor weight() { return weight; }

    /** The bias, or null for a layer without one. */
    public Tensor bias() { return bias; }

    public int inFeatures() { return in; }

    public int outFeatures() { return out; }

    @Override
    public String toString() {
        return "Linear(" + in + ", " + out + (bias == null ? ", bias=false" : "") + ")";
    }
}
