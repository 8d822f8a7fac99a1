package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.GpuException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * hipRTC in a child JVM, for targets that the loaded hipRTC may not know.
 *
 * <p>Why: asked for a target it does not know (gfx942 or gfx1100 for ROCm 5.2's), Debian's HIP 5.2
 * hipRTC does not return an error — it aborts the whole process ({@code munmap_chunk(): invalid
 * pointer}), and the JVM with it. Newer ROCm knows those targets, so jrocm cannot refuse them by
 * name; and asking comgr which targets it knows would need bindings for comgr and a probe for the
 * very comgr file hipRTC uses. A child process is simpler and catches every such crash, not only
 * this one: it compiles with the same java, module or class path and {@code jrocm.*} properties, and
 * hands back the code object, a {@link GpuException} (a compile error, with the log), or — when it
 * died — a {@link GpuException} that names the target, the exit status and the child's last
 * words. It costs one JVM start per compile, and compiles are cached per process.
 *
 * <p>The device's own target never needs this: the runtime that sees the device knows it, so the
 * HIP driver compiles for it in-process. This path serves {@code JROCM_HIP_ARCH} and offline
 * compiles (tests, tools).
 */
public final class IsolatedHipRtc {
    /** How long a child may take (compiling the kernels for one target takes seconds). */
    static final long TIMEOUT_SECONDS = 300;
    private static final int EXIT_GPU_EXCEPTION = 3;
    private static final int EXIT_OTHER = 4;

    private IsolatedHipRtc() {}

    /** {@link HipRtc#compile} in a child JVM; the arguments and result are the same. */
    public static byte[] compile(String source, String fileName, String arch, List<String> options) {
        if (arch == null || arch.isBlank()) {
            throw new IllegalArgumentException("hipRTC needs a target architecture such as gfx90a, got '" + arch + "'");
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("jrocm-hiprtc-");
            Path src = dir.resolve("source.hip"), out = dir.resolve("code.o"), err = dir.resolve("error.txt");
            Files.writeString(src, source, StandardCharsets.UTF_8);
            List<String> command = new ArrayList<>(javaCommand());
            command.addAll(List.of(arch, fileName, src.toString(), out.toString(), err.toString()));
            command.addAll(options);
            Process child = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("output.txt").toFile()).start();
            if (!child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                child.destroyForcibly().waitFor();
                throw crashed(arch, fileName, -1, "timed out after " + TIMEOUT_SECONDS + " s", dir);
            }
            int exit = child.exitValue();
            if (exit == 0) {
                return Files.readAllBytes(out);
            }
            if (exit == EXIT_GPU_EXCEPTION && Files.exists(err)) {
                List<String> lines = Files.readAllLines(err, StandardCharsets.UTF_8);
                // function, code, code name, then the message (which holds the compiler's log)
                String detail = String.join("\n", lines.subList(3, lines.size()));
                throw new GpuException("hipRTC", lines.get(0), Integer.parseInt(lines.get(1)), lines.get(2), null,
                        detail.substring(detail.indexOf('\n') + 1));
            }
            throw crashed(arch, fileName, exit, describeExit(exit), dir);
        } catch (IOException e) {
            throw new UncheckedIOException("running hipRTC in a child process", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while hipRTC compiled in a child process", e);
        } finally {
            deleteQuietly(dir);
        }
    }

    private static GpuException crashed(String arch, String fileName, int exit, String how, Path dir) throws IOException {
        String output = Files.exists(dir.resolve("output.txt")) ? Files.readString(dir.resolve("output.txt")).strip() : "";
        if (output.length() > 4000) {
            output = "…" + output.substring(output.length() - 4000);
        }
        String hiprtc = HipRtcVersionHint.describe();
        return new GpuException("hipRTC", "hiprtcCompileProgram", exit, how,
                "the compiler's process died compiling " + fileName + " for " + arch,
                "hipRTC (" + hiprtc + ") most likely does not know the target " + arch
                        + ": old hipRTC (ROCm 5.2) aborts on unknown targets instead of failing; a newer ROCm may know it,"
                        + " or set JROCM_HIP_ARCH to a target this one knows.\nthe child process said:\n"
                        + (output.isEmpty() ? "(nothing)" : output));
    }

    static String describeExit(int exit) {
        return switch (exit) {
            case 134 -> "SIGABRT";
            case 139 -> "SIGSEGV";
            case 137 -> "SIGKILL";
            default -> exit > 128 ? "signal " + (exit - 128) : "exit status " + exit;
        };
    }

    /** The command that starts {@link #main} in a JVM like this one. */
    static List<String> javaCommand() {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-XX:+UseSerialGC");
        command.add("-Xshare:auto");
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("jrocm.")).sorted()
                .forEach(k -> command.add("-D" + k + "=" + System.getProperty(k)));
        Module module = IsolatedHipRtc.class.getModule();
        String modulePath = System.getProperty("jdk.module.path");
        if (module.isNamed() && modulePath != null && !modulePath.isBlank()) {
            command.add("--module-path");
            command.add(modulePath);
            command.add("--enable-native-access=dev.jrocm.bindings," + module.getName());
            command.add("--module");
            command.add(module.getName() + "/" + IsolatedHipRtc.class.getName());
        } else {
            command.add("--class-path");
            command.add(System.getProperty("java.class.path"));
            command.add("--enable-native-access=ALL-UNNAMED");
            command.add(IsolatedHipRtc.class.getName());
        }
        return command;
    }

    /** The child: {@code arch fileName source out error [options…]}; exit 0, or 3 with the error written. */
    public static void main(String[] argv) {
        if (argv.length < 5) {
            System.err.println("usage: IsolatedHipRtc arch fileName source.hip out.o error.txt [options…]");
            System.exit(2);
        }
        Path err = Path.of(argv[4]);
        try {
            String source = Files.readString(Path.of(argv[2]), StandardCharsets.UTF_8);
            byte[] code = HipRtc.compile(source, argv[1], argv[0], List.of(argv).subList(5, argv.length));
            Files.write(Path.of(argv[3]), code);
            System.exit(0);
        } catch (GpuException e) {
            try {
                Files.writeString(err, e.function() + "\n" + e.code() + "\n" + e.codeName() + "\n" + e.getMessage(),
                        StandardCharsets.UTF_8);
            } catch (IOException io) {
                e.printStackTrace();
            }
            System.exit(EXIT_GPU_EXCEPTION);
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(EXIT_OTHER);
        }
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // a temp folder left behind is harmless
        }
    }

    /** Which hipRTC a crash came from, without touching the bindings (the parent may not have loaded them). */
    private static final class HipRtcVersionHint {
        static String describe() {
            var probe = dev.jrocm.runtime.device.NativeLibrary.HIPRTC.probe();
            if (!probe.isLoaded()) {
                return "not loaded in this process";
            }
            try {
                return "version " + HipRtc.version() + ", " + probe.path();
            } catch (RuntimeException e) {
                return String.valueOf(probe.path());
            }
        }
    }
}
