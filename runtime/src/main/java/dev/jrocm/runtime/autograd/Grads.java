package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/** Where gradient rules put their results: into {@link Tensor#grad()}, created on first use. */
final class Grads {
    private Grads() {}

    /** A tensor's gradient buffer and whether it was just created (then rules overwrite, else add). */
    record Target(Tensor grad, boolean fresh) {
        /** GEMM beta: 0 overwrites a fresh gradient, 1 accumulates into an existing one. */
        float beta() { return fresh ? 0f : 1f; }
    }

    /**
     * The gradient of {@code t}, allocated when it has none. A leaf's gradient outlives the step
     * (the optimizer reads it after backward and {@code zeroGrad} drops it); an intermediate's
     * lives in the current scope and is released as soon as its node has run.
     */
    static Target target(Tensor t) {
        Tensor g = t.grad();
        if (g != null) {
            return new Target(g, false);
        }
        g = t.node() == null
                ? Scope.detached(() -> Tensor.empty(t.backend(), t.shape()))
                : Tensor.empty(t.backend(), t.shape());
        t.setGrad(g);
        return new Target(g, true);
    }

    /**
     * Adds {@code contribution} to {@code t}'s gradient. When {@code t} has none yet and is an
     * intermediate, the contribution itself becomes the gradient (no copy) if {@code adopt} says
     * the caller gives it up.
     */
    static void accumulate(Tensor t, Tensor contribution, boolean adopt) {
        if (t.grad() == null && adopt && t.node() != null) {
            t.setGrad(contribution);
            return;
        }
        Target target = target(t);
        if (target.fresh()) {
            t.backend().copy(contribution.buffer(), target.grad().buffer());
        } else {
            t.backend().axpy(1f, contribution.buffer(), target.grad().buffer());
        }
    }
}
