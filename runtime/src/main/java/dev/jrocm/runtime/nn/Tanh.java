package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** Hyperbolic tangent (PyTorch's {@code nn.Tanh()}), no parameters. */
public final class Tanh extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Ops.tanh(x);
    }

    @Override
    public String toString() { return "Tanh()"; }
}
