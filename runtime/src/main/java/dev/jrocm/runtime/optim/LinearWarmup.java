package dev.jrocm.runtime.optim;

import java.util.List;

/**
 * Linear warm-up, then another schedule: exactly
 * {@code new SequentialLR(optimizer, List.of(new LinearLR(optimizer, 1.0 / warmupSteps, 1.0, warmupSteps), then),
 * new int[] {warmupSteps})}, so the lr is {@code base · (1 + t·(warmupSteps − 1)/warmupSteps) / warmupSteps}
 * for t &lt; warmupSteps (base/warmupSteps at t = 0; it never reaches the base lr itself) and
 * {@code then}'s lr for t − warmupSteps from t = warmupSteps on. GPT-2's schedule is
 * {@code new LinearWarmup(opt, 100, new CosineAnnealingLR(opt, 900, 0.0))}: 100 steps of
 * warm-up, then the cosine, down to lr 0 at t = 1000.
 */
public final class LinearWarmup extends SequentialLR {

    /**
     * @param warmupSteps &gt; 0
     * @param then the schedule after the warm-up, on {@code optimizer}
     * @throws IllegalArgumentException when warmupSteps ≤ 0, optimizer or then is null, or then is
     *         on another optimizer
     */
    public LinearWarmup(Optimizer optimizer, int warmupSteps, LrScheduler then) {
        super(optimizer, phases(optimizer, warmupSteps, then), new int[] {warmupSteps});
    }

    private static List<LrScheduler> phases(Optimizer optimizer, int warmupSteps, LrScheduler then) {
        ClosedFormLr.positive("LinearWarmup", "warmupSteps", warmupSteps);
        if (optimizer == null || then == null) {
            throw new IllegalArgumentException("LinearWarmup: " + (optimizer == null ? "optimizer" : "then") + " is null");
        }
        return List.of(new LinearLR(optimizer, 1.0 / warmupSteps, 1.0, warmupSteps), then);
    }
}
