package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** {@code 1/(1 + e⁻ˣ)} (PyTorch's {@code nn.Sigmoid()}), no parameters. */
public final class Sigmoid extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Ops.sigmoid(x);
    }

    @Override
    public String toString() { return "Sigmoid()"; }
}
