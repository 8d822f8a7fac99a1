package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.List;

/**
 * Stochastic gradient descent with PyTorch's momentum ({@code buf ← μ·buf + g}, the first step
 * {@code buf ← g}; {@code p ← p − lr·buf}) and L2 weight decay ({@code g ← g + λ·p}). The
 * gradient buffer is left unchanged.
 */
public final class SGD extends Optimizer {
    private final float momentum, weightDecay;

    public SGD(List<Tensor> parameters, float lr) {
        this(parameters, lr, 0f, 0f);
    }

    public SGD(List<Tensor> parameters, float lr, float momentum, float weightDecay) {
        super(parameters, lr);
        this.momentum = check("momentum", momentum, 0f, Float.POSITIVE_INFINITY);
        this.weightDecay = check("weightDecay", weightDecay, 0f, Float.POSITIVE_INFINITY);
    }

    /** PyTorch's name for the momentum (or, without momentum, the decayed-gradient scratch) buffer. */
    @Override
    protected List<String> stateNames() {
        return List.of("momentum_buffer");
    }

    @Override
    protected void update() {
        float lr = (float) lr(); // read at every step: setLr and schedulers change it between steps
        for (Tensor p : parameters) {
            if (!p.requiresGrad() || !p.hasGrad()) {
                continue;
            }
            var be = p.backend();
            if (momentum == 0f && weightDecay == 0f) {
                be.axpy(-lr, p.grad().buffer(), p.buffer());
                continue;
            }
            // d = g + λ·p, in a buffer of ours so the gradient stays as backward left it.
            Tensor[] s = state.get(p);
            boolean first = s == null;
            if (first) {
                s = Scope.detached(() -> new Tensor[] {Tensor.empty(be, p.shape())});
                state.put(p, s);
            }
            Tensor buf = s[0];
            if (momentum == 0f || first) {
                be.copy(p.grad().buffer(), buf.buffer());
                if (weightDecay != 0f) {
                    be.axpy(weightDecay, p.buffer(), buf.buffer());
                }
            } else {
                be.scale(buf.buffer(), momentum);
                be.axpy(1f, p.grad().buffer(), buf.buffer());
                if (weightDecay != 0f) {
                    be.axpy(weightDecay, p.buffer(), buf.buffer());
                }
            }
            be.axpy(-lr, buf.buffer(), p.buffer());
        }
    }
}
