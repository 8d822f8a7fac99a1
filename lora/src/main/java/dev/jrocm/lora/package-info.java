/**
 * Low-rank adapters (LoRA) over a model's frozen base weights: what to adapt
 * ({@link dev.jrocm.lora.LoraConfig}), applying it ({@link dev.jrocm.lora.Lora#apply}), the adapted
 * layers ({@link dev.jrocm.lora.LoraLinear}, {@link dev.jrocm.lora.LoraConv2d}), switching, merging and counting adapters
 * ({@link dev.jrocm.lora.LoraModel}), and saving and loading them in Hugging Face PEFT's layout
 * ({@link dev.jrocm.lora.PeftAdapter}).
 */
package dev.jrocm.lora;
