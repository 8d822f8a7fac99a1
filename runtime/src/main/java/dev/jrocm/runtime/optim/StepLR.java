package dev.jrocm.runtime.optim;

/**
 * PyTorch's {@code StepLR}: {@code lr(t) = base · gamma^⌊t / stepSize⌋}, the base lr decayed by
 * gamma every stepSize steps. PyTorch multiplies the current lr by gamma at each multiple of
 * stepSize; the closed form differs from that by rounding only (a few ulps after many decays; none
 * when gamma is a power of two).
 * Sets the lr for t = 0 (the base lr) at construction.
 */
public final class StepLR extends ClosedFormLr {
    private final int stepSize;
    private final double gamma;

    /** {@code StepLR(optimizer, stepSize, 0.1)}, PyTorch's default gamma. */
    public StepLR(Optimizer optimizer, int stepSize) {
        this(optimizer, stepSize, 0.1);
    }

    /**
     * @param stepSize steps between two decays, &gt; 0
     * @param gamma the factor of each decay, &gt; 0 and finite (above 1 the lr grows; a step whose
     *        lr would not fit a float throws {@link IllegalStateException})
     * @throws IllegalArgumentException naming the bad argument, when optimizer is null or an argument is out of range
     * @throws UnsupportedOperationException when the optimizer has no learning rate
     */
    public StepLR(Optimizer optimizer, int stepSize, double gamma) {
        super(optimizer);
        this.stepSize = positive("StepLR", "stepSize", stepSize);
        this.gamma = in("StepLR", "gamma", gamma, 0, false, Double.POSITIVE_INFINITY);
        start();
    }

    @Override
    double lrAt(int t) {
        return baseLr() * Math.pow(gamma, t / stepSize);
    }
}
