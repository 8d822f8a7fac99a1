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
 *
 * <p>Every {@value #FLUSH_INTERVAL}th step ({@link #flushesSubnormals()}) also sets m and v
 * values of magnitude at most 2⁻¹²⁶ (float's smallest normal, {@link #FLUSH_BELOW}) to 0 after
 * their update, on every backend alike; larger values are untouched. Without it the first moment
 * of a weight whose gradient stays 0 (a dead ReLU unit) decays as β1ᵗ into float's subnormal
 * range near step 700 and stays there (the lerp's rounding leaves the smallest subnormals
 * unchanged for ever): in the blog MLP a fifth of m from step 1000 on. Arithmetic on subnormals
 * is slower on x86 CPUs; on a 2-core AMD EPYC those steps took 8 % longer without the flush
 * (docs/PERFORMANCE.md, "A long run"). A subnormal moment moves its parameter by less than
 * lr·2⁻¹²⁶/ε ≈ 10⁻³³, so flushing changes nothing that can be seen. The flush is
 * branch-free — x·min(1, max(0, (|x| − 2⁻¹²⁶)·2¹⁴⁹)), a factor of exactly 0 or 1 — so the CPU's
 * loop stays vectorised; doing it every 16th step rather than every step keeps its cost out of
 * the other 15 while no value stays subnormal for more than 16 steps.
 */
public record AdamStep(float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled, int t) {

    /** Steps between flushes of subnormal optimizer state (class comment). */
    public static final int FLUSH_INTERVAL = 16;

    /** Float's smallest normal value, 2⁻¹²⁶: moments at most this large are flushed to 0. */
    public static final float FLUSH_BELOW = Float.MIN_NORMAL;

    /** Whether this step flushes subnormal m and v to 0 (every {@value #FLUSH_INTERVAL}th). */
    public boolean flushesSubnormals() { return t % FLUSH_INTERVAL == 0; }

    /** 1 − β1ᵗ, in double as PyTorch computes it. */
    public double biasCorrection1() { return 1 - Math.pow(beta1, t); }

    /** 1 − β2ᵗ. */
    public double biasCorrection2() { return 1 - Math.pow(beta2, t); }
}
