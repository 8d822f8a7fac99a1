package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.gpu.GpuKernels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static dev.jrocm.runtime.device.hip.HipRtcTest.contains;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * jrocm's kernel source compiles with hipRTC for AMD targets, offline (Debian's HIP 5.2 hipRTC,
 * comgr and device libraries in CI), with the options the HIP driver uses; and a target the
 * loaded hipRTC does not know never takes this JVM down.
 */
class HipKernelsTest {
    @BeforeAll
    static void needsHipRtc() {
        NativeLibrary.Probe hiprtc = NativeLibrary.HIPRTC.probe();
        assumeTrue(hiprtc.isLoaded(), "needs hipRTC (Debian: libamdhip64-5): " + hiprtc.problem());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gfx90a", "gfx1030"})
    void everyKernelCompilesForTheTargetInAChildProcess(String arch) {
        byte[] code = IsolatedHipRtc.compile(GpuKernels.source(), GpuKernels.FILE_NAME, arch, HipDriver.OPTIONS);
        assertTrue(contains(code, arch), "the code object does not name its target " + arch);
        for (String kernel : GpuKernels.names()) {
            assertTrue(contains(code, kernel), "kernel " + kernel + " is not in the code object for " + arch);
        }
    }

    @Test
    void everyKernelCompilesInProcessForATargetHipRtcKnows() {
        byte[] code = HipRtc.compile(GpuKernels.source(), GpuKernels.FILE_NAME, "gfx90a", HipDriver.OPTIONS);
        for (String kernel : GpuKernels.names()) {
            assertTrue(contains(code, kernel), "kernel " + kernel + " is not in the code object");
        }
    }

    @Test
    void theSourceHasEveryKernelTheBackendLaunches() {
        assertEquals(48, GpuKernels.names().size(), GpuKernels.names().toString());
        assertTrue(GpuKernels.names().stream().allMatch(n -> n.startsWith("jr_")), GpuKernels.names().toString());
    }

    /**
     * Debian's hipRTC 5.2 aborts its process on targets it does not know (gfx942, gfx1100). Through
     * the child process that is a GpuException naming the target, and this JVM goes on. A hipRTC
     * that knows the target simply compiles.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gfx942", "gfx1100"})
    void aTargetTheLoadedHipRtcMayNotKnowNeverReachesItInProcess(String arch) {
        byte[] code;
        try {
            code = IsolatedHipRtc.compile(GpuKernels.source(), GpuKernels.FILE_NAME, arch, HipDriver.OPTIONS);
        } catch (GpuException e) {
            assertEquals("hipRTC", e.library());
            assertTrue(e.getMessage().contains("compiling " + GpuKernels.FILE_NAME + " for " + arch), e.getMessage());
            assertTrue(e.getMessage().contains("does not know the target " + arch), e.getMessage());
            System.out.println("as expected of an old hipRTC, " + arch + " failed in the child: " + e.getMessage().lines().findFirst().orElse(""));
            return;
        }
        assertTrue(contains(code, "jr_adam"), "compiled for " + arch + " but jr_adam is missing");
    }

    @Test
    void aCompileErrorInTheChildComesBackWithTheLog() {
        String broken = "extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_name; }";
        GpuException e = assertThrows(GpuException.class,
                () -> IsolatedHipRtc.compile(broken, "broken.hip", "gfx90a", List.of()));
        assertEquals("hiprtcCompileProgram", e.function());
        assertEquals("HIPRTC_ERROR_COMPILATION", e.codeName());
        assertTrue(e.getMessage().contains("compiling broken.hip for gfx90a"), e.getMessage());
        assertTrue(e.getMessage().contains("undeclared_name"), e.getMessage());
    }

    @Test
    void theChildIsRefusedAnEmptyTarget() {
        assertThrows(IllegalArgumentException.class, () -> IsolatedHipRtc.compile("", "x.hip", "", List.of()));
    }

    @Test
    void exitStatusesReadAsSignals() {
        assertEquals("SIGABRT", IsolatedHipRtc.describeExit(134));
        assertEquals("SIGSEGV", IsolatedHipRtc.describeExit(139));
        assertEquals("signal 15", IsolatedHipRtc.describeExit(143));
        assertEquals("exit status 4", IsolatedHipRtc.describeExit(4));
    }
}
