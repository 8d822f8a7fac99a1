package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.hip.hip_h;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The real HIP runtime, on a machine without an AMD GPU (Debian's libamdhip64-5 in CI). */
class HipTest {
    @BeforeAll
    static void needsHip() {
        NativeLibrary.Probe hip = NativeLibrary.HIP.probe();
        assumeTrue(hip.isLoaded(), "needs the HIP runtime (Debian: libamdhip64-5): " + hip.problem());
    }

    static void assumeNoAmdGpu() {
        assumeTrue(!Files.exists(Path.of("/dev/kfd")), "this machine has an AMD GPU (/dev/kfd)");
    }

    @Test
    void deviceCountWithoutAGpuIsHipErrorNoDevice() {
        assumeNoAmdGpu();
        GpuException e = assertThrows(GpuException.class, Hip::deviceCount);
        assertEquals("hipGetDeviceCount", e.function());
        assertEquals(hip_h.hipErrorNoDevice(), e.code());
        assertEquals("hipErrorNoDevice", e.codeName());
        assertEquals(Hip.errorString(e.code()), e.libraryMessage());
        assertTrue(e.getMessage().startsWith("hipGetDeviceCount failed: hipErrorNoDevice (100)"), e.getMessage());
    }

    @Test
    void theHipBackendSaysItHasNoDeviceAndWhy() {
        assumeNoAmdGpu();
        BackendStatus hip = Devices.status(DeviceKind.HIP);
        assertFalse(hip.available());
        assertTrue(hip.reason().startsWith("no device: HIP "), hip.reason());
        assertTrue(hip.reason().contains("hipErrorNoDevice"), hip.reason());
    }

    @Test
    void checkCarriesHipsOwnNameAndMessage() {
        int oom = hip_h.hipErrorOutOfMemory();
        GpuException e = assertThrows(GpuException.class, () -> Hip.check(oom, "hipMalloc"));
        assertEquals("HIP", e.library());
        assertEquals("hipErrorOutOfMemory", e.codeName());
        assertFalse(e.libraryMessage().isBlank());
        assertTrue(e.getMessage().startsWith("hipMalloc failed: hipErrorOutOfMemory (" + oom + ")"), e.getMessage());
    }

    @Test
    void checkLetsSuccessThrough() {
        assertDoesNotThrow(() -> Hip.check(hip_h.hipSuccess(), "hipFree"));
    }

    @Test
    void runtimeVersionAnswersWithoutADevice() {
        String version = Hip.formatVersion(Hip.runtimeVersion());
        assertTrue(version.matches("\\d+\\.\\d+\\.\\d+"), version);
    }

    @Test
    void versionsFormatAsHipWritesThem() {
        assertEquals("5.2.21153", Hip.formatVersion(50221153));
        assertEquals("6.3.42131", Hip.formatVersion(60342131));
    }
}
