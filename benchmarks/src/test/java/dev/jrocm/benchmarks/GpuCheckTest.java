package dev.jrocm.benchmarks;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The GPU check (what scripts/device/check.sh runs on a lent GPU) runs here, quick, through the
 * real CUDA code path against the runtime's test double of the CUDA driver, NVRTC and cuBLAS
 * ({@code runtime/src/test/c/fake_cuda.c}, whose device is the host running jrocm's kernels): so a
 * session that is lent a GPU finds a check that works, and every section of it is exercised on
 * every CI run. This JVM is the test's own, so the double is simply named by the
 * {@code jrocm.<lib>.library} properties before anything probes.
 */
class GpuCheckTest {
    @Test
    void theQuickCheckPassesEverySectionOnTheEmulatedCudaDevice(@TempDir Path dir) throws Exception {
        Path source = Path.of(System.getProperty("user.dir"), "..", "runtime", "src", "test", "c", "fake_cuda.c");
        Path library = dir.resolve("libfake_cuda.so");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", library.toString(), source.toString(), "-lm")
                    .redirectErrorStream(true).start();
            assumeTrue(new ProcessBuilder("g++", "--version").start().waitFor() == 0, "needs g++");
        } catch (IOException e) {
            assumeTrue(false, "needs gcc and g++ to build the CUDA test double: " + e.getMessage());
            return;
        }
        String log = new String(gcc.getInputStream().readAllBytes());
        assertTrue(gcc.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, gcc.exitValue(), log);
        for (String lib : new String[] {"cuda", "nvrtc", "cublas"}) {
            System.setProperty("jrocm." + lib + ".library", library.toString());
        }
        System.setProperty("jrocm.device", "cuda");
        Path out = dir.resolve("out");
        int failures = GpuCheck.run(out.toString(), "--quick");
        String summary = Files.readString(out.resolve("jrocm-summary.md"));
        assertEquals(0, failures, summary);
        assertTrue(summary.contains("gpu backend: cuda:0 Fake H200"), summary);
        for (String section : new String[] {"## 1. every op", "## 2. training", "## 3. timings", "## 4. where a step's time goes",
                "## 5. speed targets", "## all checks passed"}) {
            assertTrue(summary.contains(section), section + " is missing:\n" + summary);
        }
        assertTrue(summary.contains("| jr_adam_factored | 3.0 |"), "the profile counts three factored Adams a full step:\n" + summary);
        String results = Files.readString(out.resolve("jrocm-results.tsv"));
        assertTrue(results.contains("trajectory\tfull") && results.contains("timing\tlora\t8"), results);
    }
}
