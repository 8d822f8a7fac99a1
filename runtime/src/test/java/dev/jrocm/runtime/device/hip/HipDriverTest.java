package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.TestDoubles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The HIP driver against Debian's real libamdhip64 on a machine with no AMD GPU. */
class HipDriverTest {
    @BeforeAll
    static void needsHipWithoutAGpu() {
        NativeLibrary.Probe hip = NativeLibrary.HIP.probe();
        assumeTrue(hip.isLoaded(), "needs the HIP runtime (Debian: libamdhip64-5): " + hip.problem());
        assumeTrue(!Files.exists(Path.of("/dev/kfd")), "this machine has an AMD GPU (/dev/kfd)");
    }

    /**
     * HipDriver.open requires hipBLAS before it asks for a device, and Debian 12 (CI) has none: a
     * stub with hipBLAS's key symbol ({@code src/test/c/stub_hipblas.c}) stands in for it, so the
     * device count reaches the real HIP runtime.
     */
    @Test
    void openingWithoutADeviceFailsWithHipsOwnError() throws Exception {
        assumeTrue(NativeLibrary.HIPRTC.probe().isLoaded(), "HipDriver.open first needs hipRTC");
        Runnable restore = TestDoubles.substitute(NativeLibrary.HIPBLAS, TestDoubles.build("stub_hipblas"));
        try {
            GpuException e = assertThrows(GpuException.class, () -> HipDriver.open(0));
            assertEquals("hipGetDeviceCount", e.function());
            assertEquals("hipErrorNoDevice", e.codeName());
        } finally {
            restore.run();
        }
    }

    @Test
    void openingWithoutHipBlasSaysWhatIsMissing() {
        assumeTrue(!NativeLibrary.HIPBLAS.probe().isLoaded(), "hipBLAS is installed here");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> HipDriver.open(0));
        assertTrue(e.getMessage().contains("hipBLAS"), e.getMessage());
    }

    @Test
    void askingDevicesForHipFallsBackToAClearNoDevice() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Devices.open(DeviceSpec.parse("hip")));
        assertTrue(e.getMessage().startsWith("device hip:0 was asked for but cannot be used: no device"), e.getMessage());
        assertEquals(false, Devices.status(DeviceKind.HIP).available());
    }

    @Test
    void theArchOverrideComesFromThePropertyFirst() {
        String old = System.getProperty(HipDriver.ARCH_PROPERTY);
        try {
            System.setProperty(HipDriver.ARCH_PROPERTY, " gfx1030 ");
            assertEquals("gfx1030", HipDriver.archOverride());
        } finally {
            if (old == null) {
                System.clearProperty(HipDriver.ARCH_PROPERTY);
            } else {
                System.setProperty(HipDriver.ARCH_PROPERTY, old);
            }
        }
    }
}
