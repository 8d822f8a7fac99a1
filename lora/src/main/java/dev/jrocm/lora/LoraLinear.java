package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A frozen {@link Linear} plus a low-rank update: {@code y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ} with
 * A (r, in) and B (out, r). Parameter names follow PEFT: the base's {@code weight} and
 * {@code bias}, and {@code lora_A.weight}, {@code lora_B.weight}.
 *
 * <p>The update is computed on activations, never as the out×in matrix B·A — except by
 * {@link #merge()}, which folds s·B·A into W once so the forward costs a plain Linear's.
 */
public final class LoraLinear extends LoraLayer {
    private final Linear base;

    /** Wraps {@code base} (whose weight and bias are frozen) with a fresh adapter. */
    LoraLinear(Linear base, LoraConfig config, long seed) {
        super(checkRank(base, config.rank()), base.weight(), base.bias(), new int[] {config.rank(), base.inFeatures()},
                new int[] {base.outFeatures(), config.rank()}, config, seed);
        this.base = base;
    }

    private static Linear checkRank(Linear base, int r) {
        int in = base.inFeatures(), out = base.outFeatures();
        if (r > Math.min(in, out)) {
            throw new IllegalArgumentException("LoRA rank " + r + " exceeds min(in, out) = " + Math.min(in, out)
                    + " of " + base);
        }
        return base;
    }

    @Override
    Tensor adapted(Tensor x, float p, long seed) {
        return Ops.loraLinear(x, base.weight(), base.bias(), loraA(), loraB(), scale(), p, seed);
    }

    /** The wrapped layer (its weight includes s·B·A while merged). */
    @Override
    public Linear base() { return base; }
}
