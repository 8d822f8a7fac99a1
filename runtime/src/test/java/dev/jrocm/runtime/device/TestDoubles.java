package dev.jrocm.runtime.device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Builds the C test doubles of vendor libraries in {@code src/test/c} (MIOpen, the CUDA driver
 * with NVRTC and cuBLAS) with gcc into a shared library; a test is skipped, saying why, where gcc
 * is missing.
 */
public final class TestDoubles {
    private TestDoubles() {}

    /** Compiles {@code src/test/c/<name>.c} into {@code dir/lib<name>.so} and returns its path. */
    public static Path build(String name, Path dir) throws IOException, InterruptedException {
        Path source = Path.of(System.getProperty("user.dir"), "src", "test", "c", name + ".c");
        Path library = dir.resolve("lib" + name + ".so");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O1", "-o", library.toString(), source.toString(), "-lm")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "needs gcc to build the test double " + name + " (Debian: gcc): " + e.getMessage());
            throw e;
        }
        String log = new String(gcc.getInputStream().readAllBytes());
        assertTrue(gcc.waitFor(120, TimeUnit.SECONDS), "gcc took more than 120 s");
        assertEquals(0, gcc.exitValue(), "gcc failed on " + source + ":\n" + log);
        assertTrue(Files.isRegularFile(library));
        return library;
    }

    /** {@link NativeLibrary#substitute}, for tests outside this package. */
    public static Runnable substitute(NativeLibrary library, Path file) {
        return library.substitute(file);
    }
}
