package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** GELU, exact: {@code x·Φ(x)} (PyTorch's {@code nn.GELU()}, approximate='none'), no parameters. */
public final class GELU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return Ops.gelu(x);
    }

    @Override
    public String toString() { return "GELU()"; }
}
