package dev.jrocm.samples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole workflow, end to end, on a tiny generated Fashion-MNIST-format dataset. */
class LoraWorkflowTest {
    @TempDir
    static Path data;

    /** 10 classes of 28×28 images: class c is a bright horizontal band at row 2c, plus noise. */
    @BeforeAll
    static void writeTinyDataset() throws IOException {
        writeTinyFashionMnist(data);
    }

    /** The tiny dataset in {@code root}/fashion-mnist: 320 training and 80 test images. */
    static void writeTinyFashionMnist(Path root) throws IOException {
        Path dir = Files.createDirectories(root.resolve("fashion-mnist"));
        writeIdx(dir, "train", 320, 1);
        writeIdx(dir, "t10k", 80, 2);
    }

    static void writeIdx(Path dir, String prefix, int n, long seed) throws IOException {
        Random r = new Random(seed);
        ByteBuffer images = ByteBuffer.allocate(16 + n * 784).putInt(0x803).putInt(n).putInt(28).putInt(28);
        ByteBuffer labels = ByteBuffer.allocate(8 + n).putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) {
            int c = r.nextInt(10);
            labels.put((byte) c);
            for (int p = 0; p < 784; p++) {
                int row = p / 28;
                int v = (row == 2 * c + 4 ? 220 : 0) + r.nextInt(30);
                images.put((byte) v);
            }
        }
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte"), images.array());
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte"), labels.array());
    }

    static int run(StringWriter err, String... args) {
        return run(new ByteArrayOutputStream(), Map.of(), err, null, args);
    }

    /** The workflow in-process with its standard output, environment and output fault under the test's control. */
    static int run(ByteArrayOutputStream stdout, Map<String, String> env, StringWriter err, OutputSet.Fault fault, String... args) {
        LoraWorkflow app = new LoraWorkflow(new java.io.PrintStream(stdout, true, java.nio.charset.StandardCharsets.UTF_8), env);
        if (fault != null) {
            app.fault = fault;
        }
        CommandLine cli = LoraWorkflow.commandLine(app);
        cli.setErr(new PrintWriter(err));
        return cli.execute(args);
    }

    /** Tiny run options: 64 training and 32 test images, one epoch of each phase. */
    static String[] tiny(Path out, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("--dataset", "fashion-mnist", "--data-dir", data.toString(), "--device", "cpu",
                "--batch-size", "32", "--epochs", "1", "--lora-epochs", "1", "--limit-train", "64", "--limit-test", "32",
                "--out", out.toString(), "--no-progress"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static void assertNoTrace(String err) {
        assertFalse(err.contains("\tat ") || err.contains("Exception in"), "a stack trace was printed:\n" + err);
    }

    @Test
    void theWholeWorkflowWritesItsReportAndPictures(@TempDir Path out) throws IOException {
        StringWriter err = new StringWriter();
        int code = run(err, "--dataset", "fashion-mnist", "--data-dir", data.toString(), "--device", "cpu",
                "--batch-size", "32", "--epochs", "1", "--lora-epochs", "1", "--lr", "0.002", "--out", out.toString(), "--no-progress");
        assertEquals(0, code, err.toString());

        JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals("Fashion-MNIST", report.get("dataset").asText());
        assertEquals("cpu", report.get("device").asText());
        assertEquals(32, report.get("batchSize").asInt());
        assertEquals(320, report.get("trainSamples").asInt());
        assertEquals(80, report.get("testSamples").asInt());
        assertEquals("[784,4096,2048,10]", report.get("model").get("layers").toString());
        assertEquals(784L * 4096 + 4096 + 4096L * 2048 + 2048 + 2048L * 10 + 10, report.get("model").get("parameters").asLong());
        JsonNode full = report.get("full"), lora = report.get("lora");
        assertEquals(1, full.get("epochs").size());
        assertTrue(full.get("epochs").get(0).get("seconds").asDouble() > 0);
        double accuracy = full.get("testAccuracy").asDouble();
        assertTrue(accuracy > 0.3 && accuracy <= 1, "the full model learnt nothing: " + accuracy);
        assertEquals(lora.get("accuracyBeforeTraining").get("enabled").asDouble(),
                lora.get("accuracyBeforeTraining").get("disabled").asDouble(), "a fresh adapter changed the accuracy");
        assertEquals(accuracy, lora.get("testAccuracyDisabled").asDouble(), "LoRA disabled must be exactly the full model");
        assertEquals((784 + 4096) + (4096 + 2048) + (2048 + 10), lora.get("loraParameters").asInt());
        assertEquals(1, lora.get("epochs").size());
        assertTrue(report.get("loraToFullEpochTimeRatio").asDouble() > 0);
        assertTrue(report.get("loraToFullSteadyTimeRatio").asDouble() > 0);
        JsonNode first = full.get("epochs").get(0);
        assertEquals(1, first.get("warmUpBatches").asInt()); // 320 images in batches of 32: 10 batches
        assertTrue(first.get("steadySamplesPerSecond").asDouble() > 0);

        BufferedImage samples = ImageIO.read(out.resolve("samples.png").toFile());
        assertEquals(8 * (120 + 10) + 10, samples.getWidth());
        assertTrue(samples.getHeight() > 112, "samples.png is " + samples.getHeight() + " high");
        BufferedImage loss = ImageIO.read(out.resolve("loss.png").toFile());
        assertEquals(900, loss.getWidth());
        assertEquals(480, loss.getHeight());
        assertTrue(Files.size(out.resolve("model.safetensors")) > 4L * 11_000_000);
        assertTrue(Files.exists(out.resolve("adapter/adapter_model.safetensors")));
        assertTrue(Files.exists(out.resolve("adapter/adapter_config.json")));
        try (Stream<Path> files = Files.walk(out)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().endsWith(".tmp")), "temporary files were left behind");
        }
    }

    @Test
    void aRunLeavesFilesItDidNotCreateAlone(@TempDir Path out) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        Path foreign = Files.writeString(out.resolve(".notes.tmp"), "mine");
        Path nested = Files.writeString(Files.createDirectories(out.resolve("project")).resolve(".draft.tmp"), "mine too");
        List<String> command = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime", "--add-modules", "jdk.incubator.vector",
                "-p", modulePath, "-m", "dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow"));
        command.addAll(List.of(tiny(out)));
        Process run = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(run.getInputStream().readAllBytes());
        assertEquals(0, run.waitFor(), log);
        assertTrue(Files.exists(foreign), "the exit hook deleted " + foreign);
        assertTrue(Files.exists(nested), "the exit hook deleted " + nested);
        try (Stream<Path> files = Files.list(out)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().startsWith(".jrocm-run-")), "the staging folder was left");
        }
    }

    @Test
    void usageErrorsExitTwoWithOneLineAndTheHint() {
        for (String[] args : new String[][] {{"--device", "foo"}, {"--batch-size", "abc"}, {"--frobnicate"}, {"--out", ""},
                {"--rank", "x"}}) {
            StringWriter err = new StringWriter();
            assertEquals(2, run(err, args), String.join(" ", args) + ": " + err);
            assertNoTrace(err.toString());
            assertTrue(err.toString().lines().count() <= 3, String.join(" ", args) + " printed:\n" + err);
        }
        StringWriter err = new StringWriter();
        assertEquals(2, run(err, "--device", "foo"));
        assertTrue(err.toString().contains("device 'foo' is not one of auto, hip[:N], cuda[:N], cpu"), err.toString());
        assertTrue(err.toString().contains("--help"), err.toString());
    }

    @Test
    void anUnusableOutIsFoundBeforeAnythingIsLoadedAndNamed(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(1, run(stdout, Map.of(), err, null, tiny(file.resolve("sub"))));
        assertTrue(err.toString().contains(file.toString()), err.toString());
        assertTrue(err.toString().contains("choose a folder you can write to"), err.toString());
        assertNoTrace(err.toString());
        assertFalse(stdout.toString().contains("dataset:"), "the dataset was loaded before --out was checked:\n" + stdout);
    }

    @Test
    void debugAndTheVariableShowTheTrace(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        StringWriter err = new StringWriter();
        assertEquals(1, run(new ByteArrayOutputStream(), Map.of(), err, null, tiny(file.resolve("sub"), "--debug")));
        assertTrue(err.toString().contains("\tat "), err.toString());
        err = new StringWriter();
        assertEquals(1, run(new ByteArrayOutputStream(), Map.of("JROCM_DEBUG", "1"), err, null, tiny(file.resolve("sub"))));
        assertTrue(err.toString().contains("\tat "), err.toString());
    }

    @Test
    void aRankTooLargeForTheLastLayerStopsBeforeTraining(@TempDir Path out) {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(2, run(stdout, Map.of(), err, null, tiny(out, "--rank", "20", "--log-every", "1"))); // a step taken would print a loss line
        assertTrue(err.toString().contains("--rank 20 is too large for layer fc3"), err.toString());
        assertFalse(stdout.toString().contains("loss:") || stdout.toString().contains("One epoch"), stdout.toString());
        assertNoTrace(err.toString());
    }

    @Test
    void theDeviceVariableAndPropertyAreHonouredAndDeviceWins(@TempDir Path out) throws IOException {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.jrocm.runtime.device.Devices.status(
                dev.jrocm.runtime.device.DeviceKind.CUDA).available(), "needs a machine without CUDA");
        List<String> noDevice = new java.util.ArrayList<>(List.of(tiny(out)));
        int at = noDevice.indexOf("--device");
        noDevice.remove(at);
        noDevice.remove(at);
        StringWriter err = new StringWriter();
        assertEquals(1, run(new ByteArrayOutputStream(), Map.of("JROCM_DEVICE", "cuda"), err, null, noDevice.toArray(String[]::new)));
        assertTrue(err.toString().contains("device cuda:0 was asked for but cannot be used here"), err.toString());
        assertNoTrace(err.toString());
        withProperty("jrocm.device", "cuda", () -> {
            StringWriter e = new StringWriter();
            assertEquals(1, run(new ByteArrayOutputStream(), Map.of(), e, null, noDevice.toArray(String[]::new)));
            assertTrue(e.toString().contains("device cuda:0"), e.toString());
        });
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        err = new StringWriter();
        assertEquals(0, run(stdout, Map.of("JROCM_DEVICE", "cuda"), err, null, tiny(out)), err.toString());
        assertTrue(stdout.toString().contains("device: cpu"), stdout.toString());
    }

    @Test
    void anAutoRunWithoutAnAmdGpuNeverLoadsTheHipRuntimeAndPrintsAShortDeviceLine(@TempDir Path out) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of("/dev/kfd")) || Files.exists(Path.of("/dev/dxg")),
                "this machine has an AMD GPU driver");
        // The HIP runtime is on this machine (the test JVM can load it), so the run would load it if it probed.
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.jrocm.runtime.device.NativeLibrary.HIP.probe().isLoaded(),
                "needs a HIP runtime on this machine");
        List<String> args = new java.util.ArrayList<>(List.of(tiny(out)));
        int at = args.indexOf("--device");
        args.remove(at);
        args.remove(at);
        List<String> command = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-Xlog:library=info", "--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime", "--add-modules",
                "jdk.incubator.vector", "-p", modulePath, "-m", "dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow"));
        command.addAll(args);
        Process run = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(run.getInputStream().readAllBytes());
        assertEquals(0, run.waitFor(), log);
        assertFalse(log.contains("libamdhip64"), "the HIP runtime was loaded:\n" + log);
        String device = log.lines().filter(l -> l.startsWith("device: ")).findFirst().orElseThrow(() -> new AssertionError(log));
        assertTrue(device.startsWith("device: cpu (hip: no device; cuda: "), device);
        assertTrue(device.length() <= LoraWorkflow.DEVICE_LINE_WIDTH, device.length() + " characters: " + device);
    }

    @Test
    void aLongLineIsCutAtAWordAndSaysSo() {
        assertEquals("device: cpu — 2 cores", LoraWorkflow.fit("device: cpu — 2 cores", 21));
        assertEquals("device: cpu — 2 …", LoraWorkflow.fit("device: cpu — 2 cores", 20));
        assertEquals("abcdefgh …", LoraWorkflow.fit("abcdefghijklmnop", 10));
    }

    @Test
    void debugListsEveryBackendWithItsWholeReason(@TempDir Path out) {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(0, run(stdout, Map.of(), err, null, tiny(out, "--debug")), err.toString());
        String printed = stdout.toString(java.nio.charset.StandardCharsets.UTF_8);
        for (dev.jrocm.runtime.device.BackendStatus status : dev.jrocm.runtime.device.Devices.describe()) {
            assertTrue(printed.contains("  " + status.summary() + "\n"), status.summary() + " is missing from:\n" + printed);
        }
    }

    @Test
    void theEpochLinesCarryTheMeanLossAndTheTimeLineSaysWhatItCompares(@TempDir Path out) {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(0, run(stdout, Map.of(), err, null, tiny(out)), err.toString());
        List<String> lines = stdout.toString(java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        // 64 images in batches of 32: two batches an epoch, a loss line after each
        assertEquals(List.of("[0,     1]", "[0,     2]", "[1,     1]", "[1,     2]"),
                lines.stream().filter(l -> l.contains("] loss: ")).map(l -> l.substring(0, l.indexOf(']') + 1)).toList());
        List<String> epochs = lines.stream().filter(l -> l.startsWith("One epoch takes ")).toList();
        assertEquals(2, epochs.size(), lines.toString());
        epochs.forEach(l -> assertTrue(l.matches("One epoch takes \\d+\\.\\d{3} seconds \\([\\d,]+ samples/s\\), mean loss \\d+\\.\\d{3}"), l));
        int time = lines.indexOf(lines.stream().filter(l -> l.startsWith("LoRA epoch / full epoch time: ")).findFirst().orElseThrow());
        assertTrue(lines.get(time).matches("LoRA epoch / full epoch time: \\d+\\.\\d\\d after warm-up \\([\\d,]+ vs [\\d,]+ samples/s "
                + "past batch 1; the blog measured 0\\.53\\)"), lines.get(time));
        assertTrue(lines.get(time + 1).matches("  whole epochs: \\d+\\.\\d\\d \\(\\d+\\.\\d{3} s / \\d+\\.\\d{3} s; "
                + "the full epoch includes the JIT warm-up\\)"), lines.get(time + 1));
    }

    /** Runs {@code body} with a system property set, then puts back what was there. */
    static void withProperty(String key, String value, org.junit.jupiter.api.function.Executable body) throws IOException {
        String before = System.getProperty(key);
        System.setProperty(key, value);
        try {
            body.execute();
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        } finally {
            if (before == null) {
                System.clearProperty(key);
            } else {
                System.setProperty(key, before);
            }
        }
    }

    @Test
    void aNamedDataDirIsTheOnlyOneReadAndTheDatasetLineNamesIt(@TempDir Path tmp) throws IOException {
        Path broken = Files.createDirectories(tmp.resolve("broken/fashion-mnist"));
        writeIdx(broken, "t10k", 40, 3); // no training files
        withProperty("jrocm.data", data.toString(), () -> { // a good copy the old code fell back to
            StringWriter err = new StringWriter();
            List<String> args = new java.util.ArrayList<>(List.of(tiny(tmp.resolve("out"))));
            args.set(args.indexOf("--data-dir") + 1, tmp.resolve("broken").toString());
            assertEquals(1, run(new ByteArrayOutputStream(), Map.of(), err, null, args.toArray(String[]::new)), err.toString());
            assertTrue(err.toString().contains(broken.toString()), err.toString());
            assertTrue(err.toString().contains("train-images-idx3-ubyte"), err.toString());
        });
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(0, run(stdout, Map.of(), err, null, tiny(tmp.resolve("out"))), err.toString());
        assertTrue(stdout.toString().contains("dataset: Fashion-MNIST from " + data.resolve("fashion-mnist")), stdout.toString());
    }

    @Test
    void aNonFiniteLossStopsTheRunNamingTheStepAndWritesNothing(@TempDir Path out) throws IOException {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        assertEquals(1, run(stdout, Map.of(), err, null, tiny(out, "--lr", "1e30")));
        assertTrue(err.toString().contains("training stopped: the loss became"), err.toString());
        assertTrue(err.toString().contains("at epoch 0, batch"), err.toString());
        assertTrue(err.toString().contains("lower --lr"), err.toString());
        assertNoTrace(err.toString());
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of(), files.toList(), "a diverged run left files");
        }
    }

    @Test
    void aFailureMidSetChangesNothingInOutAndSaysSo(@TempDir Path out) throws IOException {
        Path oldModel = Files.writeString(out.resolve("model.safetensors"), "previous model");
        Path oldReport = Files.writeString(out.resolve("report.json"), "{\"previous\": true}");
        StringWriter err = new StringWriter();
        OutputSet.Fault diskFull = step -> {
            if (step.equals("staged model.safetensors")) {
                throw new IOException("No space left on device");
            }
        };
        assertEquals(1, run(new ByteArrayOutputStream(), Map.of(), err, diskFull, tiny(out)));
        assertTrue(err.toString().contains("No space left on device"), err.toString());
        assertNoTrace(err.toString());
        assertEquals("previous model", Files.readString(oldModel));
        assertEquals("{\"previous\": true}", Files.readString(oldReport));
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(2, files.count(), "files were added or a staging folder left in " + out);
        }
    }

    @Test
    void aFailureWhileLandingSaysWhatLandedAndKeepsTheRestWhole(@TempDir Path out) throws IOException {
        StringWriter err = new StringWriter();
        OutputSet.Fault crash = step -> {
            if (step.equals("landed adapter/adapter_config.json")) {
                throw new IOException("simulated failure");
            }
        };
        assertEquals(1, run(new ByteArrayOutputStream(), Map.of(), err, crash, tiny(out)));
        assertTrue(err.toString().contains("landed: adapter/adapter_config.json"), err.toString());
        assertTrue(err.toString().contains("is kept, whole, in"), err.toString());
        assertFalse(Files.exists(out.resolve("report.json")), "the report landed before the rest of its set");
    }

    @Test
    void theReportNamesTheFilesOfItsSet(@TempDir Path out) throws Exception {
        StringWriter err = new StringWriter();
        assertEquals(0, run(err, tiny(out)), err.toString());
        JsonNode files = new ObjectMapper().readTree(out.resolve("report.json").toFile()).get("outputs");
        for (String name : List.of("model.safetensors", "adapter/adapter_model.safetensors", "adapter/adapter_config.json",
                "samples.png", "loss.png")) {
            assertEquals(Files.size(out.resolve(name)), files.get(name).get("bytes").asLong(), name);
            String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Files.readAllBytes(out.resolve(name))));
            assertEquals(sha, files.get(name).get("sha256").asText(), name);
        }
    }

    /**
     * An end-to-end smoke check: a run stopped as Ctrl-C stops it (SIGTERM, the same shutdown path)
     * at several moments leaves no staging folder and no temporary file in --out, and whatever
     * landed is a whole set (every file the report names, with its size and hash).
     */
    @Test
    void anInterruptedRunLeavesNoHalfWrittenFile(@TempDir Path out) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        String java = ProcessHandle.current().info().command().orElseThrow();
        int started = 0;
        for (long delay : new long[] {400, 900, 1400, 1900, 2400, 2900}) {
            Path dir = out.resolve("stopped-after-" + delay + "ms");
            Process run = new ProcessBuilder(java, "--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime",
                    "--add-modules", "jdk.incubator.vector", "-p", modulePath, "-m", "dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow",
                    "--dataset", "fashion-mnist", "--data-dir", data.toString(), "--device", "cpu", "--batch-size", "32",
                    "--epochs", "1", "--lora-epochs", "1", "--out", dir.toString(), "--no-progress")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Thread.sleep(delay);
            run.destroy(); // SIGTERM
            run.waitFor();
            if (!Files.isDirectory(dir)) {
                continue;
            }
            started++; // the run had made --out and its staging folder in it
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.filter(p -> !p.equals(dir)).toList()) {
                    String name = f.getFileName().toString();
                    assertFalse(name.endsWith(".tmp") || name.endsWith(".partial"), "left behind: " + f);
                }
            }
            Path report = dir.resolve("report.json");
            if (Files.exists(report)) {
                JsonNode files = new ObjectMapper().readTree(report.toFile()).get("outputs");
                for (var e : (Iterable<java.util.Map.Entry<String, JsonNode>>) files::fields) {
                    assertEquals(e.getValue().get("bytes").asLong(), Files.size(dir.resolve(e.getKey())), e.getKey());
                }
            }
        }
        assertTrue(started > 0, "no run got as far as creating --out; the delays are too short to test anything");
    }

    /**
     * Runs the main job with {@code args} on the emulated AMD device (the runtime's C test doubles
     * of HIP, hipRTC, hipBLAS and MIOpen, built here with gcc), in a JVM of its own, into
     * {@code out}/hip; skips the test when gcc or g++ is missing.
     */
    static void runOnEmulatedAmdGpu(Path out, String... args) throws Exception {
        runOnEmulatedGpu(out, "hip", args);
    }

    /**
     * Runs the main job with {@code args} on an emulated device — {@code hip} (the C test doubles
     * of HIP, hipRTC, hipBLAS and MIOpen) or {@code cuda} (of the CUDA driver, NVRTC and cuBLAS),
     * built here with gcc — in a JVM of its own, into {@code out}/{@code kind}; skips the test when
     * gcc or g++ is missing.
     */
    static void runOnEmulatedGpu(Path out, String kind, String... args) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        Path c = Path.of(System.getProperty("user.dir"), "..", "runtime", "src", "test", "c");
        boolean hipKind = kind.equals("hip");
        Path device = out.resolve(hipKind ? "libfake_hip.so" : "libfake_cuda.so"), miopen = out.resolve("libfake_miopen.so");
        Path[][] builds = hipKind ? new Path[][] {{c.resolve("fake_hip.c"), device}, {c.resolve("fake_miopen.c"), miopen}}
                : new Path[][] {{c.resolve("fake_cuda.c"), device}};
        try {
            for (Path[] build : builds) {
                Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", build[1].toString(), build[0].toString(), "-lm")
                        .redirectErrorStream(true).start();
                String log = new String(gcc.getInputStream().readAllBytes());
                assertEquals(0, gcc.waitFor(), log);
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("g++", "--version").start().waitFor() == 0, "needs g++");
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "needs gcc and g++ for the " + kind + " test doubles: " + e.getMessage());
        }
        List<String> command = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime", "--add-modules", "jdk.incubator.vector"));
        List<String> libraries = hipKind ? List.of("hip", "hiprtc", "hipblas") : List.of("cuda", "nvrtc", "cublas");
        for (String lib : libraries) {
            command.add("-Djrocm." + lib + ".library=" + device);
        }
        if (hipKind) {
            command.add("-Djrocm.miopen.library=" + miopen);
        }
        command.addAll(List.of("-p", modulePath, "-m", "dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow",
                "--device", kind, "--out", out.resolve(kind).toString()));
        command.addAll(List.of(args));
        Path log = out.resolve(kind + ".log");
        Process run = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(run.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "the " + kind + " run took more than 300 s");
        assertEquals(0, run.exitValue(), Files.readString(log));
        assertTrue(Files.readString(log).contains("device: " + kind + " (asked for " + kind + ":0)"), Files.readString(log));
    }

    /**
     * The main job on the AMD code path: HipDriver, hipRTC, hipBLAS and MIOpen over the runtime's
     * C test doubles (runtime/src/test/c; their device is the host running jrocm's kernels), in a
     * JVM of its own whose probes name them. It must train as the CPU does: same report, an
     * accuracy within one test image in twenty of the CPU run's.
     */
    @Test
    void theWholeWorkflowRunsOnTheEmulatedAmdGpuWithMIOpen(@TempDir Path out) throws Exception {
        String[] args = {"--dataset", "fashion-mnist", "--data-dir", data.toString(), "--batch-size", "32", "--epochs", "1",
                "--lora-epochs", "1", "--lr", "0.002", "--no-progress"};
        runOnEmulatedAmdGpu(out, args);

        List<String> cpuArgs = new java.util.ArrayList<>(List.of("--device", "cpu", "--out", out.resolve("cpu").toString()));
        cpuArgs.addAll(List.of(args));
        StringWriter err = new StringWriter();
        assertEquals(0, run(err, cpuArgs.toArray(String[]::new)), err.toString());

        JsonNode gpu = new ObjectMapper().readTree(out.resolve("hip/report.json").toFile());
        JsonNode cpu = new ObjectMapper().readTree(out.resolve("cpu/report.json").toFile());
        assertEquals("hip", gpu.get("device").asText());
        assertTrue(gpu.get("deviceDescription").asText().contains("MIOpen"), gpu.get("deviceDescription").asText());
        for (String[] at : new String[][] {{"full", "testAccuracy"}, {"lora", "testAccuracyEnabled"}}) {
            double g = gpu.get(at[0]).get(at[1]).asDouble(), k = cpu.get(at[0]).get(at[1]).asDouble();
            assertTrue(Math.abs(g - k) <= 0.05, at[0] + ": accuracy " + g + " on the emulated GPU, " + k + " on the CPU");
        }
        assertEquals(gpu.get("full").get("testAccuracy").asDouble(), gpu.get("lora").get("testAccuracyDisabled").asDouble(),
                "LoRA disabled must be exactly the full model");
        assertTrue(Files.exists(out.resolve("hip/adapter/adapter_model.safetensors")));
    }

    @Test
    void aBadOptionNamesItselfAndTheAllowedValues() {
        StringWriter err = new StringWriter();
        assertEquals(2, run(err, "--dataset", "mnist"));
        assertTrue(err.toString().contains("'mnist' is not one of auto, cifar10, fashion-mnist"), err.toString());
        err = new StringWriter();
        assertEquals(2, run(err, "--batch-size", "0"));
        assertTrue(err.toString().contains("--batch-size must be at least 1, got 0"), err.toString());
        err = new StringWriter();
        assertEquals(2, run(err, "--preset", "fast"));
        assertTrue(err.toString().contains("Invalid value for option '--preset'"), err.toString());
    }

    @Test
    void helpListsTheOptions() {
        CommandLine cli = new CommandLine(new LoraWorkflow());
        StringWriter out = new StringWriter();
        cli.setOut(new PrintWriter(out));
        assertEquals(0, cli.execute("--help"));
        for (String option : new String[] {"--dataset", "--data-dir", "--device", "--preset", "--batch-size", "--epochs",
                "--lora-epochs", "--lr", "--rank", "--alpha", "--seed", "--limit-train", "--limit-test", "--log-every", "--out"}) {
            assertTrue(out.toString().contains(option), option + " missing from --help");
        }
    }

    @Test
    void aMissingDatasetSaysWhereItLookedAndWhatToDo(@TempDir Path empty) {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        int code = run(stdout, Map.of(), err, null, "--dataset", "cifar10", "--data-dir", empty.toString(), "--device", "cpu",
                "--out", empty.resolve("out").toString());
        assertEquals(1, code);
        assertNoTrace(err.toString());
        assertTrue(err.toString().contains("CIFAR-10 not found"), err.toString());
        assertTrue(err.toString().contains(empty.resolve("cifar-10-batches-bin").toString()), err.toString());
        assertTrue(stdout.toString().contains("device: cpu"), "the run printed nothing before failing:\n" + stdout);
        assertFalse(stdout.toString().contains("dataset:"), "no dataset line without a dataset:\n" + stdout);
    }
}
