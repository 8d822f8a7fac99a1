package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A frozen {@link Linear} plus a low-rank update: {@code y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ} with
 * A (r, in) and B (out, r). Parameter names follow PEFT: the base's {@code weight} and
 * {@code bias}, and {@code lora_A.weight}, {@code lora_B.weight}.
 *
 * <p>The update is computed on activations, never as the out×in matrix B·A — except by
 * {@link #merge()}, which folds s·B·A into W once so the forward costs a plain Linear's.
 */
public final class LoraLinear extends Module {
    private final Linear base;
    private final Factor loraA, loraB;
    private final float scale;
    private final float dropout;
    private boolean enabled = true;
    private boolean merged;
    private long dropoutCalls;
    private final long dropoutSeed;
    private String unloaded; // why this layer is no longer usable (LoraModel unloaded it), null while it is

    /** One LoRA factor as a module, so its parameter is named {@code lora_A.weight} like PEFT's. */
    static final class Factor extends Module {
        private final Tensor weight;

        Factor(Tensor weight) {
            this.weight = registerParameter("weight", weight);
        }

        Tensor weight() { return weight; }

        @Override
        public Tensor forward(Tensor input) {
            throw new UnsupportedOperationException("a LoRA factor is used by its LoraLinear, not called alone");
        }
    }

    /** Wraps {@code base} (whose weight and bias are frozen) with a fresh adapter. */
    LoraLinear(Linear base, LoraConfig config, long seed) {
        this.base = base;
        Backend be = base.weight().backend();
        int in = base.inFeatures(), out = base.outFeatures(), r = config.rank();
        if (r > Math.min(in, out)) {
            throw new IllegalArgumentException("LoRA rank " + r + " exceeds min(in, out) = " + Math.min(in, out)
                    + " of " + base);
        }
        registerParameter("weight", base.weight());
        if (base.bias() != null) {
            registerParameter("bias", base.bias());
        }
        base.weight().requiresGrad(false);
        if (base.bias() != null) {
            base.bias().requiresGrad(false);
        }
        Tensor a = Scope.detached(() -> Tensor.empty(be, r, in));
        switch (config.init()) {
            case GAUSSIAN -> be.normal(a.buffer(), 0f, 1f, seed);
            case KAIMING_UNIFORM -> {
                float bound = (float) (1 / Math.sqrt(in));
                be.uniform(a.buffer(), -bound, bound, seed);
            }
        }
        this.loraA = registerModule("lora_A", new Factor(a));
        this.loraB = registerModule("lora_B", new Factor(Scope.detached(() -> Tensor.zeros(be, out, r))));
        this.scale = config.scaling();
        this.dropout = config.dropout();
        this.dropoutSeed = seed ^ 0x5DEECE66DL;
    }

    @Override
    public Tensor forward(Tensor x) {
        checkLoaded();
        if (!enabled) {
            if (merged) {
                throw new IllegalStateException("a merged LoRA layer cannot be disabled: unmerge() first");
            }
            return base.forward(x);
        }
        if (merged) {
            return base.forward(x);
        }
        float p = isTraining() ? dropout : 0f;
        return Ops.loraLinear(x, base.weight(), base.bias(), loraA.weight(), loraB.weight(), scale, p,
                dropoutSeed + dropoutCalls++);
    }

    /** W ← W + s·B·A: the forward then costs what a plain Linear costs. */
    public void merge() {
        checkLoaded();
        if (merged) {
            throw new IllegalStateException("this LoRA layer is already merged");
        }
        addDelta(scale);
        merged = true;
    }

    /** W ← W − s·B·A: restores W to within float rounding. */
    public void unmerge() {
        checkLoaded();
        if (!merged) {
            throw new IllegalStateException("this LoRA layer is not merged");
        }
        addDelta(-scale);
        merged = false;
    }

    private void addDelta(float factor) {
        Tensor w = base.weight();
        w.backend().gemm(false, false, w.dim(0), w.dim(1), loraA.weight().dim(0), factor,
                loraB.weight().buffer(), loraA.weight().buffer(), 1f, w.buffer());
    }

    public void enable() {
        checkLoaded();
        enabled = true;
    }

    public void disable() {
        checkLoaded();
        if (merged) {
            throw new IllegalStateException("a merged LoRA layer cannot be disabled: unmerge() first");
        }
        enabled = false;
    }

    public boolean isEnabled() { return enabled; }

    public boolean isMerged() { return merged; }

    /** The wrapped layer (its weight includes s·B·A while merged). */
    public Linear base() { return base; }

    /** A (r, in). */
    public Tensor loraA() { return loraA.weight(); }

    /** B (out, r). */
    public Tensor loraB() { return loraB.weight(); }

    public float scale() { return scale; }

    public int rank() { return loraA.weight().dim(0); }

    /**
     * Takes this layer out of use once {@link LoraModel} has put its base back into the model:
     * frees A and B, and every later forward, merge, unmerge, enable or disable throws an
     * {@link IllegalStateException} ending in {@code because}. The base layer is left as it is.
     */
    void unload(String because) {
        unloaded = because;
        loraA.weight().close(because);
        loraB.weight().close(because);
    }

    private void checkLoaded() {
        if (unloaded != null) {
            throw new IllegalStateException("this LoRA layer is unloaded: " + unloaded);
        }
    }

    @Override
    public String toString() {
        return "LoraLinear(" + base + ", r=" + rank() + ", scale=" + scale + ")";
    }
}
