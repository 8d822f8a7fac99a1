/**
 * Small programs to start from: train an MLP, LoRA-fine-tune it and save the adapter in PEFT's
 * layout, load an adapter into a base model. They use jrocm as a project would, through
 * {@code dev.jrocm.lora} alone (it brings {@code dev.jrocm.runtime} with it).
 */
module dev.jrocm.examples {
    requires dev.jrocm.lora;
}
