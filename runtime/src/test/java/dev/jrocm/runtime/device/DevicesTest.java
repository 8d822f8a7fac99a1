package dev.jrocm.runtime.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class DevicesTest {
    @Test
    void describeListsEveryBackendInOrderOfPreference() {
        List<BackendStatus> all = Devices.describe();
        assertEquals(List.of(DeviceKind.HIP, DeviceKind.CUDA, DeviceKind.CPU), all.stream().map(BackendStatus::kind).toList());
        for (BackendStatus status : all) {
            assertTrue(!status.reason().isBlank(), status.kind() + " gives no reason");
            assertTrue(!status.reason().contains("\n"), status.kind() + " reason is not one line: " + status.reason());
        }
    }

    @Test
    void theCpuIsAlwaysAvailableAndSaysWhichGemmItUses() {
        BackendStatus cpu = Devices.status(DeviceKind.CPU);
        assertTrue(cpu.available());
        assertTrue(cpu.reason().contains("GEMM: " + dev.jrocm.runtime.device.cpu.CpuGemm.describe(
                dev.jrocm.runtime.device.cpu.CpuGemm.defaultPath())), cpu.reason());
        assertTrue(cpu.reason().contains("OpenBLAS") || cpu.reason().contains("pure Java"), cpu.reason());
    }

    @Test
    void autoFallsBackToTheCpuAndExplainsWhyNotTheGpus() {
        assumeTrue(!Devices.status(DeviceKind.HIP).available() && !Devices.status(DeviceKind.CUDA).available(),
                "this machine has a GPU backend");
        assertEquals(DeviceKind.CPU, Devices.select(DeviceSpec.AUTO).kind());
        String line = Devices.explain(DeviceSpec.AUTO);
        assertTrue(line.startsWith("device: cpu (hip: "), line);
        assertTrue(line.contains("; cuda: "), line);
    }

    @Test
    void askingForAnUnavailableBackendSaysWhyItCannotRun() {
        BackendStatus cuda = Devices.status(DeviceKind.CUDA);
        assumeTrue(!cuda.available(), "this machine has CUDA");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Devices.select(DeviceSpec.parse("cuda:0")));
        assertEquals("device cuda:0 was asked for but cannot be used: " + cuda.reason(), e.getMessage());
    }

    @Test
    void specsParse() {
        assertEquals(DeviceSpec.AUTO, DeviceSpec.parse(null));
        assertEquals(DeviceSpec.AUTO, DeviceSpec.parse(" Auto "));
        assertEquals(new DeviceSpec(DeviceKind.CPU, 0), DeviceSpec.parse("cpu"));
        assertEquals(new DeviceSpec(DeviceKind.HIP, 1), DeviceSpec.parse("hip:1"));
        assertEquals(new DeviceSpec(DeviceKind.CUDA, 0), DeviceSpec.parse("CUDA"));
        assertEquals("cuda:2", DeviceSpec.parse("cuda:2").toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpu", "hip:", "hip:-1", "hip:x", "cpu:0", "cuda:0:1"})
    void badSpecsNameThemselvesAndTheChoices(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceSpec.parse(text));
        assertEquals("device '" + text + "' is not one of auto, hip[:N], cuda[:N], cpu", e.getMessage());
    }
}
