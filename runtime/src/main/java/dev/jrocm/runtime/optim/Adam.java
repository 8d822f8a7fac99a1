package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.device.AdamStep;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.autograd.Gradient;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * Adam with PyTorch's semantics (bias correction, ε after the square root of the corrected
 * second moment, weight decay as L2 added to the gradient), or AdamW (decoupled decay:
 * {@code p ← p·(1 − lr·λ)}). One fused pass over p, g, m, v per parameter; the moments live on
 * the parameter's backend.
 */
public final class Adam extends Optimizer {
    private final float beta1, beta2, eps, weightDecay;
    private final boolean decoupled;
    private int t;

    /** PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay. */
    public Adam(List<Tensor> parameters, float lr) {
        this(parameters, lr, 0.9f, 0.999f, 1e-8f, 0f, false);
    }

    /** @param decoupled true for AdamW, false for Adam's L2 weight decay */
    public Adam(List<Tensor> parameters, float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled) {
        super(parameters, lr);
        this.beta1 = check("beta1", beta1, 0f, 1f);
        this.beta2 = check("beta2", beta2, 0f, 1f);
        this.eps = check("eps", eps, 0f, Float.POSITIVE_INFINITY);
        this.weightDecay = check("weightDecay", weightDecay, 0f, Float.POSITIVE_INFINITY);
        this.decoupled = decoupled;
    }

    /** AdamW with PyTorch's defaults (betas (0.9, 0.999), eps 1e-8) and the given decay. */
    public static Adam adamW(List<Tensor> parameters, float lr, float weightDecay) {
        return new Adam(parameters, lr, 0.9f, 0.999f, 1e-8f, weightDecay, true);
    }

    /** Steps taken so far. */
    public int steps() { return t; }

    /** PyTorch's names for the first and second moments. */
    @Override
    protected List<String> stateNames() {
        return List.of("exp_avg", "exp_avg_sq");
    }

    /** {@code {"step": t}}: the bias corrections of the next step depend on it. */
    @Override
    protected Map<String, String> ownScalarState() {
        return Map.of("step", Integer.toString(t));
    }

    @Override
    protected void loadScalarState(Map<String, String> scalars) {
        String step = scalars.get("step");
        if (step == null || scalars.size() != 1) {
            throw new IllegalArgumentException("Adam state needs exactly one scalar, step; got " + scalars.keySet());
        }
        int value;
        try {
            value = Integer.parseInt(step);
        } catch (NumberFormatException e) {
            value = -1;
        }
        if (value < 0) {
            throw new IllegalArgumentException("Adam step must be a non-negative integer, got '" + step + "'");
        }
        t = value;
    }

    @Override
    protected void update() {
        t++;
        AdamStep scalars = new AdamStep((float) lr(), beta1, beta2, eps, weightDecay, decoupled, t);
        for (Tensor p : parameters) {
            if (!p.requiresGrad() || !p.hasGrad()) {
                continue;
            }
            Tensor[] mv = state.computeIfAbsent(p, k -> Scope.detached(() -> new Tensor[] {
                    Tensor.zeros(p.backend(), p.shape()), Tensor.zeros(p.backend(), p.shape())}));
            switch (p.gradient()) { // a factored weight gradient is read as its factors, never formed
                case Gradient.Factored(Tensor dy, Tensor x) -> p.backend().adamFactored(p.buffer(), mv[0].buffer(),
                        mv[1].buffer(), dy.buffer(), x.buffer(), dy.dim(0), p.dim(0), p.dim(1), scalars);
                case Gradient.Dense(Tensor g) -> p.backend().adam(p.buffer(), g.buffer(), mv[0].buffer(), mv[1].buffer(),
                        scalars);
            }
        }
    }
}
