package dev.jrocm.runtime.optim;

/**
 * PyTorch's {@code LinearLR}: the base lr times a factor that goes linearly from startFactor
 * at t = 0 to endFactor at t = totalIters and stays there,
 * {@code lr(t) = base · (startFactor + (endFactor − startFactor)·min(t, totalIters) / totalIters)}
 * (PyTorch's closed form; its {@code step()} gets there recursively, which differs by rounding
 * only: relative 2.5e-16 over 300 steps of LinearLR(0.1, 1, 20)). Sets the lr for t = 0 at construction.
 */
public final class LinearLR extends ClosedFormLr {
    private final double startFactor, endFactor;
    private final int totalIters;

    /**
     * @param startFactor the factor at t = 0, in (0, 1]
     * @param endFactor the factor from t = totalIters on, in [0, 1]
     * @param totalIters the steps the factor takes from start to end, &gt; 0
     * @throws IllegalArgumentException naming the bad argument, when optimizer is null or an argument is out of range
     * @throws UnsupportedOperationException when the optimizer has no learning rate
     */
    public LinearLR(Optimizer optimizer, double startFactor, double endFactor, int totalIters) {
        super(optimizer);
        this.startFactor = in("LinearLR", "startFactor", startFactor, 0, false, 1);
        this.endFactor = in("LinearLR", "endFactor", endFactor, 0, true, 1);
        this.totalIters = positive("LinearLR", "totalIters", totalIters);
        start();
    }

    @Override
    double lrAt(int t) {
        return baseLr() * (startFactor + (endFactor - startFactor) * Math.min(totalIters, t) / totalIters);
    }
}
