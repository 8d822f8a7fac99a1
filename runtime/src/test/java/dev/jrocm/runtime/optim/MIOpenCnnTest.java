package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.device.TestDoubles;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The small CNN of {@link CnnPyTorchAgreementTest} trained on the emulated AMD device with MIOpen's
 * test double doing its convolutions, pooling and batch norm ({@link MIOpenCnnScenarios}), in a JVM
 * of its own whose probes name the doubles (Debian's real libamdhip64, loaded by other tests,
 * defines the same symbols). What real MIOpen computes on a real GPU needs one.
 */
class MIOpenCnnTest {
    @Test
    void everyScenarioPassesOnTheEmulatedDeviceWithTheMIOpenDouble() throws Exception {
        String hip = TestDoubles.build("fake_hip").toString();
        String miopen = TestDoubles.build("fake_miopen").toString();
        TestDoubles.Run run = TestDoubles.isolated(MIOpenCnnScenarios.class, Map.of(
                "jrocm.hip.library", hip, "jrocm.hiprtc.library", hip, "jrocm.hipblas.library", hip,
                "jrocm.miopen.library", miopen));
        for (String scenario : MIOpenCnnScenarios.NAMES) {
            assertTrue(run.output().contains("PASS " + scenario + "\n"), "scenario '" + scenario + "':\n" + run.output());
        }
        assertEquals(0, run.exit(), run.output());
    }
}
