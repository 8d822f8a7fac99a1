package dev.jrocm.runtime.optim;

/**
 * What the closed-form schedules share: the base lr, t, and setting {@code lrAt(t)} on the
 * optimizer. A step whose lr is refused throws and leaves t, the last lr and the optimizer as they
 * were.
 */
abstract sealed class ClosedFormLr implements LrScheduler permits StepLR, CosineAnnealingLR, LinearLR, LambdaLR {
    private final Optimizer optimizer;
    private double baseLr = Double.NaN; // PyTorch's base_lrs[0]: the optimizer's initial_lr
    private int epoch;
    private double lastLr;

    ClosedFormLr(Optimizer optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": optimizer is null");
        }
        this.optimizer = optimizer;
    }

    /** The lr for t, from {@link #baseLr()}. */
    abstract double lrAt(int t);

    /** Called by each constructor once its arguments are checked: takes the base lr and sets the lr for t = 0. */
    final void start() {
        baseLr = optimizer.initialLr();
        apply(0);
    }

    /** t ← 0 and its lr (what PyTorch's SequentialLR does at a milestone: {@code scheduler._update_lr(0)}). */
    final void restart() {
        apply(0);
    }

    @Override
    public final void step() {
        apply(Math.addExact(epoch, 1));
    }

    /**
     * A closed form: the lr at t is computed directly, from the optimizer's base lr as it is now
     * (a checkpoint's load restores it).
     */
    @Override
    public final void resume(int lastEpoch) {
        SequentialLR.nonNegative(getClass().getSimpleName(), lastEpoch);
        rebase();
        apply(lastEpoch);
    }

    /** Takes the optimizer's base lr again. */
    final void rebase() {
        baseLr = optimizer.initialLr();
    }

    private void apply(int t) {
        double lr = lrAt(t);
        if (!(lr >= 0 && (float) lr < Float.POSITIVE_INFINITY)) {
            throw new IllegalStateException(getClass().getSimpleName() + ": the lr at t = " + t + " is " + lr
                    + ", which is not a learning rate (>= 0 and finite as a float)");
        }
        optimizer.setLr(lr);
        epoch = t;
        lastLr = lr;
    }

    /** The lr every t starts from (PyTorch's {@code base_lrs[0]}). */
    final double baseLr() {
        return baseLr;
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

    static int positive(String owner, String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(owner + ": " + name + " must be > 0, got " + value);
        }
        return value;
    }

    /** {@code min < value ≤ max} (or {@code min ≤ value} when {@code minIncluded}) and finite. */
    static double in(String owner, String name, double value, double min, boolean minIncluded, double max) {
        boolean ok = (minIncluded ? value >= min : value > min)
                && (max == Double.POSITIVE_INFINITY ? value < max : value <= max);
        if (!ok) {
            String range = max == Double.POSITIVE_INFINITY ? (minIncluded ? ">= " : "> ") + min + " and finite"
                    : "in " + (minIncluded ? "[" : "(") + min + ", " + max + "]";
            throw new IllegalArgumentException(owner + ": " + name + " must be " + range + ", got " + value);
        }
        return value;
    }
}
