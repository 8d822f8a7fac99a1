package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * Inverted dropout, as PyTorch's {@code nn.Dropout(p)}: in training mode each element is zeroed
 * with probability p and the rest scaled by 1/(1−p); in evaluation mode ({@link #eval()}) the
 * input passes through unchanged. Each training call draws a new mask: the seed given here is
 * advanced per call, so a run is reproducible from it.
 */
public final class Dropout extends Module {
    private final float p;
    private long seed;

    /** p = 0.5 (PyTorch's default), seed 0. */
    public Dropout() {
        this(0.5f, 0L);
    }

    public Dropout(float p, long seed) {
        if (!(p >= 0f && p <= 1f)) {
            throw new IllegalArgumentException("Dropout: p must be in [0, 1], got " + p);
        }
        this.p = p;
        this.seed = seed;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (!isTraining() || p == 0f) {
            return x;
        }
        return Ops.dropout(x, p, seed++);
    }

    public float p() { return p; }

    @Override
    public String toString() { return "Dropout(p=" + p + ")"; }
}
