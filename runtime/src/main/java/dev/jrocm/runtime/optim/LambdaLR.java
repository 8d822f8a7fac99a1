package dev.jrocm.runtime.optim;

import java.util.function.IntToDoubleFunction;

/**
 * PyTorch's {@code LambdaLR}: {@code lr(t) = base · factor(t)}, for any schedule a function of t
 * can say. Sets the lr for t = 0 at construction, so factor is called with 0 there.
 */
public final class LambdaLR extends ClosedFormLr {
    private final IntToDoubleFunction factor;

    /**
     * @param factor t ↦ the factor of the base lr at t; it must return a value ≥ 0 and finite,
     *        else that construction or {@link #step()} throws {@link IllegalArgumentException}
     *        naming t and the value, and changes nothing
     * @throws IllegalArgumentException when optimizer or factor is null, or factor(0) is refused
     * @throws UnsupportedOperationException when the optimizer has no learning rate
     */
    public LambdaLR(Optimizer optimizer, IntToDoubleFunction factor) {
        super(optimizer);
        if (factor == null) {
            throw new IllegalArgumentException("LambdaLR: factor is null");
        }
        this.factor = factor;
        start();
    }

    @Override
    double lrAt(int t) {
        double f = factor.applyAsDouble(t);
        if (!(f >= 0 && f < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("LambdaLR: factor(" + t + ") must be >= 0 and finite, got " + f);
        }
        return baseLr() * f;
    }
}
