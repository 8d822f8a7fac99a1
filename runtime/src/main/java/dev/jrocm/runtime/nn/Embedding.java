package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Arrays;

/**
 * A lookup table: int32 indices of any shape (…) → their rows of {@code weight}, (…, dim), as
 * PyTorch's {@code nn.Embedding}: weight (num, dim) initialised N(0, 1), named {@code weight}.
 * The gradient of a row looked up several times is the sum of its uses; rows not looked up get
 * 0. An index outside [0, num) throws naming it and its position.
 */
public final class Embedding extends Module {
    private final int num, dim;
    private final Tensor weight; // (num, dim)

    /** A table initialised from {@code seed}. */
    public Embedding(Backend backend, int num, int dim, long seed) {
        if (num < 1 || dim < 1) {
            throw new IllegalArgumentException("Embedding needs num, dim ≥ 1, got num=" + num + ", dim=" + dim);
        }
        this.num = num;
        this.dim = dim;
        // Parameters outlive any step, whatever scope the model is built in.
        this.weight = registerParameter("weight", Scope.detached(() -> Tensor.empty(backend, num, dim)));
        backend.normal(weight.buffer(), 0f, 1f, seed);
    }

    /** The rows of {@code indices} (int32 of any shape (…)): (…, dim). */
    @Override
    public Tensor forward(Tensor indices) {
        if (indices.dtype() != DType.I32) {
            throw new IllegalArgumentException("Embedding: indices must be i32, not " + indices.describe());
        }
        int[] shape = indices.shape();
        Tensor flat = indices.rank() == 1 ? indices : indices.view((int) indices.size());
        Tensor rows = Ops.gatherRows(weight, flat); // (n, dim)
        if (indices.rank() == 1) {
            return rows;
        }
        int[] out = Arrays.copyOf(shape, shape.length + 1);
        out[shape.length] = dim;
        return rows.view(out);
    }

    public Tensor weight() { return weight; }

    public int numEmbeddings() { return num; }

    public int embeddingDim() { return dim; }

    @Override
    public String toString() {
        return "Embedding(" + num + ", " + dim + ")";
    }
}
