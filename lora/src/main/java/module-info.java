/**
 * Low-rank adapters (LoRA) over frozen base weights: {@code LoraConfig}, {@code LoraLinear}, {@code LoraConv2d},
 * {@code Lora} (apply), {@code LoraModel} (enable, disable, merge, freeze, count, save, load).
 */
module dev.jrocm.lora {
    requires transitive dev.jrocm.runtime;
    requires com.fasterxml.jackson.databind; // adapter_config.json

    exports dev.jrocm.lora;
}
