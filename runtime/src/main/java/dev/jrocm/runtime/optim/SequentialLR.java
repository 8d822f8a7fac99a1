package dev.jrocm.runtime.optim;

import java.util.Arrays;
import java.util.List;

/**
 * PyTorch 2.x's {@code SequentialLR}: schedulers one after another, the i-th from milestone
 * i − 1 on. Scheduler 0 runs from t = 0; at milestone m the next one is restarted at its own
 * t = 0 (PyTorch's {@code scheduler._update_lr(0)}: its closed form from the base lr), and from
 * then on it steps, so at t ≥ m it gives its lr for t − m. Construction restarts scheduler 0,
 * which sets the lr for t = 0. For example {@code SequentialLR(opt, [LinearLR(opt, 0.1, 1, 10),
 * CosineAnnealingLR(opt, 90, 0)], [10])} gives base·(0.1 + 0.09·t) for t &lt; 10 (never quite
 * the base: 0.91·base at t = 9), then the cosine from the base lr at t = 10.
 *
 * <p>The SequentialLR owns its schedulers: step only it. A SequentialLR can itself be one of the
 * later schedulers of another (its restart restarts its first); PyTorch raises there.
 */
public sealed class SequentialLR implements LrScheduler permits LinearWarmup {
    private final Optimizer optimizer;
    private final List<LrScheduler> schedulers;
    private final int[] milestones;
    private int epoch;
    private double lastLr;

    /**
     * @param schedulers at least one, each on {@code optimizer}
     * @param milestones the t at which each scheduler after the first takes over: one fewer than
     *        schedulers, &gt; 0 and strictly increasing
     * @throws IllegalArgumentException naming the class and the bad value: optimizer, schedulers
     *         or one of them null, no scheduler, a scheduler on another optimizer, the wrong number
     *         of milestones, or milestones not positive and increasing
     */
    public SequentialLR(Optimizer optimizer, List<? extends LrScheduler> schedulers, int[] milestones) {
        String self = getClass().getSimpleName();
        if (optimizer == null || schedulers == null || milestones == null) {
            throw new IllegalArgumentException(self + ": " + (optimizer == null ? "optimizer" : schedulers == null
                    ? "schedulers" : "milestones") + " is null");
        }
        if (schedulers.isEmpty()) {
            throw new IllegalArgumentException(self + ": needs at least one scheduler, got none");
        }
        for (int i = 0; i < schedulers.size(); i++) {
            LrScheduler s = schedulers.get(i);
            if (s == null) {
                throw new IllegalArgumentException(self + ": scheduler " + i + " is null");
            }
            if (s.optimizer() != optimizer) {
                throw new IllegalArgumentException(self + ": scheduler " + i + " (" + s.getClass().getSimpleName()
                        + ") sets the lr of another optimizer (a " + s.optimizer().getClass().getSimpleName()
                        + ") than the " + self + "'s (a " + optimizer.getClass().getSimpleName() + ")");
            }
        }
        if (milestones.length != schedulers.size() - 1) {
            throw new IllegalArgumentException(self + ": " + schedulers.size() + " schedulers need "
                    + (schedulers.size() - 1) + " milestones, got " + milestones.length + ": " + Arrays.toString(milestones));
        }
        for (int i = 0; i < milestones.length; i++) {
            if (milestones[i] <= (i == 0 ? 0 : milestones[i - 1])) {
                throw new IllegalArgumentException(self + ": milestones must be > 0 and strictly increasing, got "
                        + Arrays.toString(milestones));
            }
        }
        this.optimizer = optimizer;
        this.schedulers = List.copyOf(schedulers);
        this.milestones = milestones.clone();
        restart();
    }

    @Override
    public final void step() {
        int t = Math.addExact(epoch, 1);
        int i = active(t);
        LrScheduler s = schedulers.get(i);
        if (i > 0 && milestones[i - 1] == t) {
            restart(s);
        } else {
            s.step();
        }
        epoch = t;
        lastLr = s.lastLr();
    }

    /**
     * Restarts and steps {@code lastEpoch} times: each later scheduler restarts at its milestone
     * as in the run that saved the position.
     */
    @Override
    public final void resume(int lastEpoch) {
        nonNegative(getClass().getSimpleName(), lastEpoch);
        rebase(this);
        restart();
        for (int t = 0; t < lastEpoch; t++) {
            step();
        }
    }

    /** Every schedule under {@code s} takes the optimizer's base lr again (a load may have restored it). */
    private static void rebase(LrScheduler s) {
        switch (s) {
            case ClosedFormLr c -> c.rebase();
            case SequentialLR q -> q.schedulers.forEach(SequentialLR::rebase);
        }
    }

    static int nonNegative(String owner, int lastEpoch) {
        if (lastEpoch < 0) {
            throw new IllegalArgumentException(owner + ".resume: lastEpoch must be >= 0, got " + lastEpoch);
        }
        return lastEpoch;
    }

    /** t ← 0: restarts the first scheduler (what the constructor does). */
    final void restart() {
        LrScheduler first = schedulers.getFirst();
        restart(first);
        epoch = 0;
        lastLr = first.lastLr();
    }

    static void restart(LrScheduler s) {
        switch (s) {
            case ClosedFormLr c -> c.restart();
            case SequentialLR q -> q.restart();
        }
    }

    /** The index of the scheduler that gives the lr at t (PyTorch's {@code bisect_right(milestones, t)}). */
    private int active(int t) {
        int i = 0;
        while (i < milestones.length && milestones[i] <= t) {
            i++;
        }
        return i;
    }

    /** The schedulers, in order. */
    public final List<LrScheduler> schedulers() {
        return schedulers;
    }

    /** The milestones (a copy). */
    public final int[] milestones() {
        return milestones.clone();
    }

    @Override
    public final double lastLr() {
        return lastLr;
    }

    @Override
    public final int lastEpoch() {
        return epoch;
    }

    @Override
    public final Optimizer optimizer() {
        return optimizer;
    }
}
