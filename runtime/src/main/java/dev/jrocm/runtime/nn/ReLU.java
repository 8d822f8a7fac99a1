package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** {@code max(x, 0)}, no parameters. */
public final class ReLU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Ops.relu(x);
    }

    @Override
    public String toString() { return "ReLU()"; }
}
