package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.SelfCheck;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link SelfCheck} ({@code scripts/jrocm-info.sh --check}) passes a correct backend and names what
 * a wrong one gets wrong, without throwing. (CudaDriverTest runs it on the emulated CUDA device.)
 */
class SelfCheckTest {
    @Test
    void theCpuBackendPassesEveryOp() {
        try (CpuBackend cpu = new CpuBackend()) {
            List<SelfCheck.Result> results = SelfCheck.run(cpu);
            assertEquals(16, results.size());
            assertTrue(results.stream().allMatch(SelfCheck.Result::ok), results.toString());
        }
    }

    @Test
    void aBackendWhoseKernelsDoNothingFailsTheOpsThatNeedThem() {
        // FakeDriver copies and multiplies but runs no kernel: copies and the GEMM pass, the rest fail
        try (GpuBackend broken = new GpuBackend(new FakeDriver("fake-" + UUID.randomUUID()))) {
            List<SelfCheck.Result> results = SelfCheck.run(broken);
            assertTrue(results.getFirst().ok(), results.getFirst().toString());
            SelfCheck.Result fill = results.stream().filter(r -> r.op().equals("fill")).findFirst().orElseThrow();
            assertFalse(fill.ok());
            assertTrue(fill.toString().contains("fill") && fill.toString().contains("FAILED: error"), fill.toString());
        }
    }

    @Test
    void anOpThatThrowsIsAFailedResultThatSaysWhy() {
        FakeDriver driver = new FakeDriver("fake-" + UUID.randomUUID());
        driver.capacity = 0; // every allocation is out of memory
        try (GpuBackend full = new GpuBackend(driver)) {
            List<SelfCheck.Result> results = SelfCheck.run(full);
            assertTrue(results.stream().noneMatch(SelfCheck.Result::ok));
            assertTrue(results.getFirst().problem().startsWith("GpuException: "), results.getFirst().toString());
            assertTrue(results.getFirst().problem().contains("out of device memory"), results.getFirst().toString());
        }
    }
}
