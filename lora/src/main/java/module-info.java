/**
 * Low-rank adapters (LoRA) over frozen base weights: {@code LoraConfig}, {@code LoraLinear},
 * {@code Lora} (apply, merge, save). Its package, {@code dev.jrocm.lora}, arrives with the LoRA
 * issue, on top of the runtime's nn layers.
 */
module dev.jrocm.lora {
    requires transitive dev.jrocm.runtime;
}
