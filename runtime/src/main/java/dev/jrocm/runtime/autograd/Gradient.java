package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * The gradient a backward pass left on a tensor ({@link Tensor#gradient()}), in one of two forms
 * the autograd chooses: {@link Dense}, the gradient itself, or {@link Factored}, a linear layer's
 * weight gradient {@code dyᵀ·x} kept as its two factors. An optimizer pattern-matches it to use
 * the factors directly ({@code Adam}'s fused step reads p, m, v once and never writes an out×in
 * gradient); anything else asks {@link Tensor#grad()}, which forms a factored gradient once.
 *
 * <p>Gradients belong to the tensor that holds them: the tensor closes them when it drops its
 * gradient ({@link Tensor#zeroGrad}) or is closed.
 */
public sealed interface Gradient permits Gradient.Dense, Gradient.Factored {
    /**
     * Up to this many rows of dy and x a weight gradient is kept {@link Factored} instead of
     * formed by a GEMM ({@code -Djrocm.factoredWeightGrad.maxBatch}, 0 turns it off). For small
     * batches forming the out×in gradient and reading it again in the optimizer moves more memory
     * than the optimizer's fused pass spends recomputing each element from the batch's rows
     * (measured on the CPU: docs/PERFORMANCE.md). One threshold for every backend.
     */
    int FACTORED_MAX_ROWS = Integer.getInteger("jrocm.factoredWeightGrad.maxBatch", 16);

    /** The gradient's shape: the shape of the tensor it belongs to. */
    int[] shape();

    /** Releases the memory this gradient holds. */
    void close();

    /** The gradient as a tensor of its own shape. */
    record Dense(Tensor value) implements Gradient {
        public Dense {
            if (value == null) {
                throw new IllegalArgumentException("a dense gradient needs a tensor, not null");
            }
        }

        @Override
        public int[] shape() { return value.shape(); }

        @Override
        public void close() { value.close(); }
    }

    /**
     * g = dyᵀ·x for dy (rows, out) and x (rows, in): an (out, in) weight gradient not yet formed.
     * dy and x are the gradient's own copies.
     */
    record Factored(Tensor dy, Tensor x) implements Gradient {
        public Factored {
            if (dy == null || x == null || dy.rank() != 2 || x.rank() != 2 || dy.dim(0) != x.dim(0)
                    || dy.backend() != x.backend()) {
                throw new IllegalArgumentException("a factored gradient needs dy (rows, out) and x (rows, in) on one"
                        + " backend, not " + (dy == null ? "null" : dy.describe()) + " and " + (x == null ? "null" : x.describe()));
            }
        }

        /** The rows of dy and x: the batch the gradient sums over. */
        public int rows() { return dy.dim(0); }

        @Override
        public int[] shape() { return new int[] {dy.dim(1), x.dim(1)}; }

        /**
         * Writes g = dyᵀ·x into {@code out} ((out, in) elements), or adds it when {@code accumulate}.
         */
        public void formInto(Tensor out, boolean accumulate) {
            Backend be = dy.backend();
            be.gemm(true, false, dy.dim(1), x.dim(1), rows(), 1f, dy.buffer(), x.buffer(), accumulate ? 1f : 0f, out.buffer());
        }

        /** g as a new tensor that outlives the current scope; this keeps its factors. */
        public Tensor form() {
            Tensor g = Scope.detached(() -> Tensor.empty(dy.backend(), shape()));
            formInto(g, false);
            return g;
        }

        @Override
        public void close() {
            dy.close();
            x.close();
        }
    }
}
