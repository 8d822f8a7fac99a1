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

    private static final java.util.Map<String, Path> BUILT = new java.util.HashMap<>();

    /**
     * Compiles {@code src/test/c/<name>.c} into {@code lib<name>.so} once per JVM and returns its
     * path: always the same file, because two copies of a library loaded in one JVM would leave
     * each symbol to whichever the lookup meets first (one copy's cuInit, the other's
     * cuEventCreate). The GPU runtime doubles ({@code fake_cuda}, {@code fake_hip}) also need g++
     * when they run: their runtime compilers build jrocm's kernels for the host
     * ({@code fake_device.h}).
     */
    /** Whether {@code library} is one of the doubles this JVM built (a test pointed a probe at it). */
    public static synchronized boolean isDouble(Path library) {
        return library != null && BUILT.containsValue(library);
    }

    public static synchronized Path build(String name) throws IOException, InterruptedException {
        Path done = BUILT.get(name);
        if (done != null) {
            return done;
        }
        Path dir = Files.createTempDirectory("jrocm-test-double-");
        dir.toFile().deleteOnExit();
        if (name.equals("fake_cuda") || name.equals("fake_hip")) {
            boolean gxx;
            try {
                gxx = new ProcessBuilder("g++", "--version").redirectErrorStream(true).start().waitFor() == 0;
            } catch (IOException e) {
                gxx = false;
            }
            assumeTrue(gxx, "needs g++ for the test double " + name + " (Debian: g++)");
        }
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
        library.toFile().deleteOnExit();
        BUILT.put(name, library);
        return library;
    }

    /** What a child JVM did: its exit status and everything it printed. */
    public record Run(int exit, String output) {}

    /**
     * Runs {@code main} in a JVM of its own, with {@code properties} as system properties, on a
     * class path of this JVM's module path, class path and test classes (so the child needs no
     * module setup). For test doubles that must not meet the real library in one JVM.
     */
    public static Run isolated(Class<?> main, java.util.Map<String, String> properties)
            throws IOException, InterruptedException {
        java.util.Set<String> path = new java.util.LinkedHashSet<>();
        try {
            path.add(Path.of(main.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
        for (String property : java.util.List.of("jdk.module.path", "java.class.path")) {
            String value = System.getProperty(property);
            if (value != null) {
                for (String entry : value.split(java.io.File.pathSeparator)) {
                    if (!entry.isBlank()) {
                        path.add(entry);
                    }
                }
            }
        }
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED"));
        properties.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.addAll(java.util.List.of("--class-path", String.join(java.io.File.pathSeparator, path), main.getName()));
        Path log = Files.createTempFile("jrocm-child-", ".log");
        try {
            Process child = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!child.waitFor(120, TimeUnit.SECONDS)) {
                child.destroyForcibly().waitFor();
                throw new AssertionError("the child JVM took more than 120 s:\n" + Files.readString(log));
            }
            return new Run(child.exitValue(), Files.readString(log));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** {@link NativeLibrary#substitute}, for tests outside this package. */
    public static Runnable substitute(NativeLibrary library, Path file) {
        return library.substitute(file);
    }
}
