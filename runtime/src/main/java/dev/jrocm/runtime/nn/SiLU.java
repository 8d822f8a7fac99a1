package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** {@code x·σ(x)} (PyTorch's {@code nn.SiLU()}), no parameters. */
public final class SiLU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Ops.silu(x);
    }

    @Override
    public String toString() { return "SiLU()"; }
}
