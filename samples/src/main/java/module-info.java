/** Command-line programs: device information, the blog's LoRA workflow. */
module dev.jrocm.samples {
    requires dev.jrocm.runtime;
    requires dev.jrocm.lora;

    exports dev.jrocm.samples;
}
