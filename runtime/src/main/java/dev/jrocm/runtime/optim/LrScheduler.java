package dev.jrocm.runtime.optim;

/**
 * A learning-rate schedule with PyTorch's semantics ({@code torch.optim.lr_scheduler}): it sets
 * its optimizer's lr (through {@link Optimizer#setLr}) at construction, for t = 0, and again at
 * each {@link #step()}, for t = 1, 2, … Call {@code step()} once after each
 * {@code optimizer.step()}, or once per epoch: the schedule counts whatever the caller counts.
 *
 * <pre>{@code
 * var opt = new Adam(model.parameters(), 6e-4f);
 * var sched = new LinearWarmup(opt, 100, new CosineAnnealingLR(opt, 900, 0.0)); // GPT-2's schedule
 * for (...) { loss.backward(); opt.step(); opt.zeroGrad(); sched.step(); }
 * }</pre>
 *
 * <p>Every schedule starts from the same base lr: the optimizer's lr when the first scheduler
 * was attached to it (PyTorch's {@code initial_lr}), so a second scheduler on the same
 * optimizer does not compound the first one's factor. The schedules are closed forms of
 * (base, t): two standalone schedulers stepped together do not multiply as PyTorch's recursive
 * ones do; the one stepped last sets the lr. Chain schedules with {@link SequentialLR}.
 *
 * <p>The interface is sealed: a custom schedule is a {@link LambdaLR}. A scheduler and its
 * optimizer belong to one thread at a time.
 */
public sealed interface LrScheduler permits ClosedFormLr, SequentialLR {

    /** Advances the schedule by one (t ← t + 1) and sets the optimizer's lr for t (PyTorch's {@code scheduler.step()}). */
    void step();

    /**
     * The lr this scheduler last set (PyTorch's {@code get_last_lr()[0]}), in double; the
     * optimizer holds it rounded to a float, so {@code optimizer.lr() == (float) lastLr()} until
     * something else sets the lr.
     */
    double lastLr();

    /** t: the number of {@link #step()} calls since construction, or since its {@link SequentialLR} restarted it (PyTorch's {@code last_epoch}). */
    int lastEpoch();

    /**
     * Puts the schedule at t = {@code lastEpoch}, where {@code lastEpoch} {@link #step()} calls
     * after construction would have put it, and sets the optimizer's lr for that t: how a
     * checkpoint resumes a schedule ({@code Checkpoint.load} with a scheduler). A schedule whose lr
     * at some t up to there is refused throws as {@code step()} would.
     *
     * @throws IllegalArgumentException when {@code lastEpoch} is negative
     */
    void resume(int lastEpoch);

    /** The optimizer whose lr this scheduler sets. */
    Optimizer optimizer();
}
