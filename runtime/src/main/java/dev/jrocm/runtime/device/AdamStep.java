package dev.jrocm.runtime.device;

/**
 * The scalars of one Adam step, as PyTorch computes it (t counts from 1):
 * <pre>
 *   g ← g + λ·p                        (L2 weight decay, Adam)      or  p ← p·(1 − lr·λ)  (AdamW)
 *   m ← β1·m + (1−β1)·g
 *   v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
 * </pre>
 * The gradient buffer is left unchanged.
 */
public record AdamStep(float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled, int t) {

    /** 1 − β1ᵗ, in double as PyTorch computes it. */
    public double biasCorrection1() { return 1 - Math.pow(beta1, t); }

    /** 1 − β2ᵗ. */
    public double biasCorrection2() { return 1 - Math.pow(beta2, t); }
}
