package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.TestDoubles;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HipDriver, hipRTC, hipBLAS and MIOpen through the real bindings against C test doubles of those
 * APIs ({@code src/test/c/fake_hip.c}, {@code fake_miopen.c}): host memory for device memory, a
 * reference SGEMM, jrocm's kernel source built for the host and run from kernelParams, hipBLAS's own operation
 * codes and HIP's memcpy kinds enforced. The scenarios ({@link HipDriverScenarios}) run in a JVM of
 * their own whose probes name the doubles, because Debian's real libamdhip64 (loaded by the other
 * HIP tests) defines the same symbols. What an AMD GPU computes needs one.
 */
class HipDriverCallsTest {
    @Test
    void everyScenarioPassesAgainstTheTestDoubles() throws Exception {
        String hip = TestDoubles.build("fake_hip").toString();
        String miopen = TestDoubles.build("fake_miopen").toString();
        TestDoubles.Run run = TestDoubles.isolated(HipDriverScenarios.class, Map.of(
                "jrocm.hip.library", hip, "jrocm.hiprtc.library", hip, "jrocm.hipblas.library", hip,
                "jrocm.miopen.library", miopen));
        for (String scenario : HipDriverScenarios.NAMES) {
            assertTrue(run.output().contains("PASS " + scenario + "\n"), "scenario '" + scenario + "':\n" + run.output());
        }
        assertEquals(0, run.exit(), run.output());
    }
}
