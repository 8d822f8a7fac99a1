package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Backend.BinaryOp;
import dev.jrocm.runtime.device.Strides;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import dev.jrocm.runtime.tensor.internal.Internals;

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
        Internals.slots().setGradient(t, new Gradient.Dense(g));
        return new Target(g, true);
    }

    /**
     * Adds {@code contribution} to {@code t}'s gradient. When {@code t} has none yet and is an
     * intermediate, the contribution itself becomes the gradient (no copy) if {@code adopt} says
     * the caller gives it up.
     */
    static void accumulate(Tensor t, Tensor contribution, boolean adopt) {
        if (t.grad() == null && adopt && t.node() != null) {
            Internals.slots().setGradient(t, new Gradient.Dense(contribution));
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
     * Adds {@code dyᵀ·x} (dy (rows, out), x (rows, in)) to the gradient of the (out, in) weight
     * {@code w}. The one place the autograd chooses a gradient's form: a leaf weight with no
     * gradient yet, at most {@link Gradient#FACTORED_MAX_ROWS} rows and a dy that is not the
     * seed of ones keeps the product {@link Gradient.Factored factored} (copies of dy and x,
     * which outlive the step); otherwise a GEMM forms or accumulates it.
     */
    static void addOuterProduct(Tensor w, Tensor dy, Tensor x) {
        int rows = dy.dim(0);
        if (rows <= Gradient.FACTORED_MAX_ROWS && !w.hasGrad() && w.node() == null && !Autograd.isSeedOfOne(dy)) {
            Tensor[] copies = Scope.detached(() -> new Tensor[] {copyOf(dy), copyOf(x)});
            Internals.slots().setGradient(w, new Gradient.Factored(copies[0], copies[1]));
            return;
        }
        Target dw = target(w);
        w.backend().gemm(true, false, w.dim(0), w.dim(1), rows, 1f, dy.buffer(), x.buffer(), dw.beta(), dw.grad().buffer());
    }

    private static Tensor copyOf(Tensor t) {
        Tensor c = Tensor.empty(t.backend(), t.dtype(), t.shape());
        t.backend().copy(t.buffer(), c.buffer());
        return c;
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
