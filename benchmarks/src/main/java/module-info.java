/** JMH benchmarks. Run from the shaded {@code benchmarks/target/benchmarks.jar} (class path). */
module dev.jrocm.benchmarks {
    requires dev.jrocm.runtime;
    requires dev.jrocm.lora;
    requires jmh.core;
    requires com.fasterxml.jackson.databind; // BenchInfo, GemmPlot
    requires java.desktop;                   // GemmPlot (Java2D, ImageIO)
    requires java.management;                // StepBreakdown (thread CPU time)

    opens dev.jrocm.benchmarks;
    exports dev.jrocm.benchmarks.jmh_generated;
}
