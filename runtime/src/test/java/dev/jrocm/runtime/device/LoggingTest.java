package dev.jrocm.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime says what it chose through {@link System.Logger} at DEBUG: quiet by default, and
 * with java.util.logging at FINE for {@code dev.jrocm} it names the device and why, the CPU GEMM
 * path and each native library loaded. Run in a child JVM on the class path, as an application is.
 */
class LoggingTest {
    @Test
    void atFineTheDeviceTheGemmPathAndEachLibraryLoadedAreLogged(@TempDir Path dir) throws Exception {
        assumeTrue(NativeLibrary.CBLAS.probe().isLoaded(), "needs a CBLAS library on this machine");
        Path config = Files.writeString(dir.resolve("logging.properties"), """
                handlers = java.util.logging.ConsoleHandler
                java.util.logging.ConsoleHandler.level = FINE
                dev.jrocm.level = FINE
                """);
        String log = run(List.of("-Djava.util.logging.config.file=" + config));
        assertTrue(log.contains("device: cpu"), "no device line:\n" + log);
        assertTrue(log.contains("CPU GEMM: "), "no GEMM path:\n" + log);
        assertTrue(log.contains("CBLAS: loaded " + NativeLibrary.CBLAS.probe().path()), "no library line:\n" + log);
    }

    @Test
    void byDefaultNothingIsLogged() throws Exception {
        String log = run(List.of());
        assertFalse(log.contains("device: ") || log.contains("CPU GEMM") || log.contains(": loaded "),
                "the default log level printed:\n" + log);
    }

    private static String run(List<String> jvmOptions) throws IOException, InterruptedException {
        Process child = new ProcessBuilder(ChildJvm.command(jvmOptions, OpenCpu.class)).redirectErrorStream(true).start();
        String log = new String(child.getInputStream().readAllBytes());
        assertEquals(0, child.waitFor(), log);
        assertTrue(log.contains(OpenCpu.DONE), "the child did not finish:\n" + log);
        return log;
    }

    /** The child: opens the CPU backend, as {@code --device cpu} does, and closes it. */
    static final class OpenCpu {
        static final String DONE = "opened and closed";

        public static void main(String[] args) {
            Devices.open(DeviceSpec.parse("cpu")).close();
            System.out.println(DONE);
        }
    }
}
