package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Backend.BinaryOp;
import dev.jrocm.runtime.device.Strides;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Arrays;

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

    /**
     * Adds {@code alpha·contribution} to {@code t}'s gradient, summed over the dimensions along
     * which {@code t} was broadcast to the contribution's shape; a same-shape contribution with
     * alpha 1 is {@link #accumulate}.
     */
    static void sumInto(Tensor t, float alpha, Tensor contribution) {
        if (alpha == 1f && Arrays.equals(t.shape(), contribution.shape())) {
            accumulate(t, contribution, false);
            return;
        }
        int[] shape = contribution.shape();
        Target target = target(t);
        t.backend().sumTo(alpha, contribution.buffer(), shape, target.beta(), target.grad().buffer(),
                Strides.padded(t.shape(), shape.length));
    }

    /**
     * {@link #sumInto} of {@code dy op other} ({@code other} broadcast to dy's shape): the
     * product or quotient is formed in a temporary released here.
     */
    static void sumProductInto(Tensor t, float alpha, Tensor dy, BinaryOp op, Tensor other) {
        int[] shape = dy.shape();
        Backend be = dy.backend();
        try (Tensor product = Tensor.empty(be, shape)) {
            be.binary(op, dy.buffer(), Strides.dense(shape), other.buffer(), Strides.broadcast(other.shape(), shape),
                    product.buffer(), shape);
            sumInto(t, alpha, product);
        }
    }
}
