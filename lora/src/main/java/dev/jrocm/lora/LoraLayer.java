package dev.jrocm.lora;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A frozen base layer plus a low-rank update s·B·A, as PEFT's {@code LoraLayer}: a
 * {@link LoraLinear} or a {@link LoraConv2d}. Parameter names follow PEFT: the base's
 * {@code weight} and {@code bias}, then {@code lora_A.weight} and {@code lora_B.weight}.
 *
 * <p>Both kinds merge the same way: the base weight viewed as (out, fanIn) — (out, in) for a
 * Linear, (out, in·kh·kw) for a Conv2d — takes W ← W + s·B·A with A viewed as (r, fanIn) and B as
 * (out, r), which is PEFT's {@code get_delta_weight} for both.
 */
public abstract sealed class LoraLayer extends Module permits LoraLinear, LoraConv2d {
    private final Module base;
    private final Tensor baseWeight; // (out, …): the base's weight, which merge() changes
    private final Factor loraA, loraB;
    private final float scale;
    private final float dropout;
    private final long dropoutSeed;
    private long dropoutCalls;
    private boolean enabled = true;
    private boolean merged;
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
            throw new UnsupportedOperationException("a LoRA factor is used by its LoRA layer, not called alone");
        }
    }

    /**
     * Registers {@code weight} and {@code bias} of {@code base} (freezing them) and fresh factors:
     * A of {@code aShape} initialised from {@code seed} as {@code config.init()} says (Kaiming
     * bound 1/√fanIn, fanIn = A's elements per row), B of {@code bShape} at zero.
     */
    LoraLayer(Module base, Tensor weight, Tensor bias, int[] aShape, int[] bShape, LoraConfig config, long seed) {
        this.base = base;
        this.baseWeight = weight;
        Backend be = weight.backend();
        registerParameter("weight", weight);
        if (bias != null) {
            registerParameter("bias", bias);
        }
        weight.requiresGrad(false);
        if (bias != null) {
            bias.requiresGrad(false);
        }
        Tensor a = Scope.detached(() -> Tensor.empty(be, aShape));
        switch (config.init()) {
            case GAUSSIAN -> be.normal(a.buffer(), 0f, 1f, seed);
            case KAIMING_UNIFORM -> {
                float bound = (float) (1 / Math.sqrt(a.size() / aShape[0]));
                be.uniform(a.buffer(), -bound, bound, seed);
            }
        }
        this.loraA = registerModule("lora_A", new Factor(a));
        this.loraB = registerModule("lora_B", new Factor(Scope.detached(() -> Tensor.zeros(be, bShape))));
        this.scale = config.scaling();
        this.dropout = config.dropout();
        this.dropoutSeed = seed ^ 0x5DEECE66DL;
    }

    /**
     * base(x) + s·(the low-rank path on x), with LoRA dropout of p on its input in training; the
     * base alone while disabled or merged.
     */
    @Override
    public final Tensor forward(Tensor x) {
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
        return adapted(x, p, dropoutSeed + dropoutCalls++);
    }

    /** base(x) + s·B(A(dropout(x, p))), the dropout mask drawn from {@code seed}. */
    abstract Tensor adapted(Tensor x, float p, long seed);

    /** W ← W + s·B·A: the forward then costs what the base layer's costs. */
    public final void merge() {
        checkLoaded();
        if (merged) {
            throw new IllegalStateException("this LoRA layer is already merged");
        }
        addDelta(scale);
        merged = true;
    }

    /** W ← W − s·B·A: restores W to within float rounding. */
    public final void unmerge() {
        checkLoaded();
        if (!merged) {
            throw new IllegalStateException("this LoRA layer is not merged");
        }
        addDelta(-scale);
        merged = false;
    }

    // One GEMM on W viewed as (out, fanIn): A (r, fanIn) and B (out, r) are dense whatever their rank.
    private void addDelta(float factor) {
        Tensor a = loraA.weight();
        int out = baseWeight.dim(0), fanIn = (int) (baseWeight.size() / out);
        baseWeight.backend().gemm(false, false, out, fanIn, a.dim(0), factor, loraB.weight().buffer(), a.buffer(), 1f,
                baseWeight.buffer());
    }

    public final void enable() {
        checkLoaded();
        enabled = true;
    }

    public final void disable() {
        checkLoaded();
        if (merged) {
            throw new IllegalStateException("a merged LoRA layer cannot be disabled: unmerge() first");
        }
        enabled = false;
    }

    public final boolean isEnabled() { return enabled; }

    public final boolean isMerged() { return merged; }

    /** The wrapped layer (its weight includes s·B·A while merged). */
    public Module base() { return base; }

    /** A: (r, in) for a Linear, (r, in, kh, kw) for a Conv2d. */
    public final Tensor loraA() { return loraA.weight(); }

    /** B: (out, r) for a Linear, (out, r, 1, 1) for a Conv2d. */
    public final Tensor loraB() { return loraB.weight(); }

    public final float scale() { return scale; }

    public final int rank() { return loraA.weight().dim(0); }

    /**
     * Takes this layer out of use once {@link LoraModel} has put its base back into the model:
     * frees A and B, and every later forward, merge, unmerge, enable or disable throws an
     * {@link IllegalStateException} ending in {@code because}. The base layer is left as it is.
     */
    final void unload(String because) {
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
        return getClass().getSimpleName() + "(" + base + ", r=" + rank() + ", scale=" + scale + ")";
    }
}
