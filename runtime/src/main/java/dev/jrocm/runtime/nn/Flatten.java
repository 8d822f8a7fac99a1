package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.tensor.Tensor;

/**
 * Flattens dimensions {@code startDim} to {@code endDim} (inclusive; negative counts from the end)
 * into one, as PyTorch's {@code nn.Flatten} (default 1 to −1: (n, c, h, w) → (n, c·h·w)). A view,
 * so no copy; the gradient flows back through it.
 */
public final class Flatten extends Module {
    private final int startDim, endDim;

    /** Dimensions 1 to −1: everything but the batch. */
    public Flatten() {
        this(1, -1);
    }

    public Flatten(int startDim, int endDim) {
        this.startDim = startDim;
        this.endDim = endDim;
    }

    /** @throws IllegalArgumentException when a dim is out of range for x or startDim comes after endDim */
    @Override
    public Tensor forward(Tensor x) {
        int rank = Math.max(1, x.rank());
        int start = startDim < 0 ? startDim + rank : startDim, end = endDim < 0 ? endDim + rank : endDim;
        if (start < 0 || start >= rank || end < 0 || end >= rank) {
            throw new IllegalArgumentException("Flatten: dims " + startDim + " to " + endDim + " are out of range for x of "
                    + x.shapeString() + " (expected -" + rank + " to " + (rank - 1) + ")");
        }
        if (start > end) {
            throw new IllegalArgumentException("Flatten: startDim " + startDim + " comes after endDim " + endDim
                    + " for x of " + x.shapeString());
        }
        int[] shape = x.shape();
        if (shape.length == 0) {
            return x.view(1);
        }
        int[] flat = new int[shape.length - (end - start)];
        int at = 0;
        for (int d = 0; d < shape.length; d++) {
            if (d <= start || d > end) {
                flat[at++] = shape[d];
            } else {
                flat[at - 1] *= shape[d];
            }
        }
        return x.view(flat);
    }

    @Override
    public String toString() { return "Flatten(start_dim=" + startDim + ", end_dim=" + endDim + ")"; }
}
