package dev.jrocm.lora;

import java.util.List;
import java.util.Locale;

/**
 * How to adapt a model: rank r, scaling alpha, dropout on the low-rank path, the layers to
 * adapt (Linear or Conv2d layers, by name, as PEFT's {@code target_modules}; empty = every Linear
 * and Conv2d), how A is initialised,
 * and whether the scale is alpha/r or (rsLoRA) alpha/√r.
 */
public record LoraConfig(int rank, float alpha, float dropout, List<String> targets, Init init, boolean rsLora) {

    /** How lora_A starts (lora_B always starts at zero, so a fresh adapter changes nothing). */
    public enum Init {
        /** N(0, 1), as the blog does. */
        GAUSSIAN,
        /** Kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in) (fan_in = in, or in·kh·kw for a Conv2d), as PEFT does. */
        KAIMING_UNIFORM;

        /** {@code "gaussian"} or {@code "kaiming_uniform"}. */
        public String id() { return name().toLowerCase(Locale.ROOT); }
    }

    public LoraConfig {
        if (rank < 1) {
            throw new IllegalArgumentException("LoRA rank must be ≥ 1, got " + rank);
        }
        if (!Float.isFinite(alpha) || alpha <= 0f) {
            throw new IllegalArgumentException("LoRA alpha must be a positive number, got " + alpha);
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
        }
        targets = List.copyOf(targets);
        for (String t : targets) {
            if (t.isBlank() || t.startsWith(".") || t.endsWith(".") || t.contains("..")) {
                throw new IllegalArgumentException("LoRA target '" + t
                        + "' must be a layer name such as fc1, or a dotted path such as h0.attn.q");
            }
        }
        if (init == null) {
            throw new IllegalArgumentException("LoRA init must be given (GAUSSIAN or KAIMING_UNIFORM)");
        }
    }

    /** The blog's setting: rank r, alpha, on the given layers, Gaussian A, no dropout. */
    public static LoraConfig of(int rank, float alpha, String... targets) {
        return new LoraConfig(rank, alpha, 0f, List.of(targets), Init.GAUSSIAN, false);
    }

    /** The factor of the low-rank path: alpha/r, or alpha/√r with rsLoRA. */
    public float scaling() {
        return rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    }

    public LoraConfig withDropout(float p) {
        return new LoraConfig(rank, alpha, p, targets, init, rsLora);
    }

    public LoraConfig withInit(Init i) {
        return new LoraConfig(rank, alpha, dropout, targets, i, rsLora);
    }

    public LoraConfig withRsLora(boolean on) {
        return new LoraConfig(rank, alpha, dropout, targets, init, on);
    }

    /** Whether the layer of dotted name {@code name} is adapted (every Linear and Conv2d when no targets are named). */
    public boolean targets(String name) {
        return targets.isEmpty() || targets.stream().anyMatch(t -> matches(name, t));
    }

    /**
     * PEFT's rule for a {@code target_modules} list entry: a layer's dotted name equals the target
     * or ends with "." + target ({@code "q"} matches {@code h0.attn.q}, not {@code h0.attn.qk}).
     */
    static boolean matches(String name, String target) {
        return name.equals(target) || name.endsWith("." + target);
    }
}
