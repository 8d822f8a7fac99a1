package dev.jrocm.lora;

import java.util.Locale;

/**
 * Parameter counts of a LoRA-adapted model, as the blog and PEFT's
 * {@code print_trainable_parameters} report them.
 *
 * @param total every parameter, base and LoRA
 * @param lora the LoRA factors' parameters
 * @param trainable the parameters that require grad
 */
public record ParameterReport(long total, long lora, long trainable) {

    /** The parameters of the model without LoRA. */
    public long base() { return total - lora; }

    /** LoRA's parameters as a percentage of the base model's (the blog's "increment"). */
    public double incrementPercent() { return 100.0 * lora / base(); }

    /** Trainable parameters as a percentage of all (PEFT's "trainable%"). */
    public double trainablePercent() { return 100.0 * trainable / total; }

    /** The blog's three lines. */
    public String blogLines() {
        return String.format(Locale.ROOT, "Number of parameters in the model with LoRA: %,d%nParameters added by LoRA: %,d%n"
                + "Parameters increment: %.3f%%", total, lora, incrementPercent());
    }

    /** PEFT's one line. */
    public String peftLine() {
        return String.format(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f",
                trainable, total, trainablePercent());
    }
}
