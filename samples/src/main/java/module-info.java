/** Command-line programs: device information, the blog's LoRA workflow. */
module dev.jrocm.samples {
    requires dev.jrocm.runtime;
    requires dev.jrocm.lora;
    requires info.picocli;
    requires java.desktop;                   // ImageIO and Java2D for the PNGs
    requires com.fasterxml.jackson.databind; // report.json

    exports dev.jrocm.samples;
    opens dev.jrocm.samples to info.picocli, com.fasterxml.jackson.databind;
}
