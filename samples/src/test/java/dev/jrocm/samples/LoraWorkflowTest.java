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
        Path dir = Files.createDirectories(data.resolve("fashion-mnist"));
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
        CommandLine cli = new CommandLine(new LoraWorkflow()).setCaseInsensitiveEnumValuesAllowed(true);
        cli.setErr(new PrintWriter(err));
        return cli.execute(args);
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
    void theShutdownHookRemovesTemporariesOfInterruptedWritesOnly(@TempDir Path out) throws IOException {
        Path keep = Files.writeString(out.resolve("report.json"), "{}");
        Path half = Files.writeString(out.resolve(".model.safetensors.5f3a.tmp"), "half");
        Path nested = Files.writeString(Files.createDirectories(out.resolve("adapter")).resolve(".adapter_config.json.1.tmp"), "{");
        LoraWorkflow.removeTemporaries(out);
        assertTrue(Files.exists(keep));
        assertFalse(Files.exists(half));
        assertFalse(Files.exists(nested));
    }

    /**
     * An end-to-end smoke check: a run stopped as Ctrl-C stops it (SIGTERM, the same shutdown path)
     * at several moments leaves no temporary file, and every file it wrote is whole. Whether a stop
     * lands inside a write is up to timing, so the hook itself is tested above.
     */
    @Test
    void anInterruptedRunLeavesNoHalfWrittenFile(@TempDir Path out) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        String java = ProcessHandle.current().info().command().orElseThrow();
        int whole = 0;
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
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    String name = f.getFileName().toString();
                    assertFalse(name.endsWith(".tmp"), "left behind: " + f);
                    if (name.endsWith(".png")) {
                        assertTrue(ImageIO.read(f.toFile()) != null, "damaged picture " + f);
                    } else if (name.endsWith(".json")) {
                        new ObjectMapper().readTree(f.toFile()); // throws on a truncated file
                    } else if (name.endsWith(".safetensors")) {
                        dev.jrocm.runtime.io.SafetensorsFile.open(f).close(); // validates header and sizes
                    }
                    whole++;
                }
            }
        }
        assertTrue(whole > 0, "no run got as far as writing a file; the delays are too short to test anything");
    }

    /**
     * The main job on the AMD code path: HipDriver, hipRTC, hipBLAS and MIOpen over the runtime's
     * C test doubles (runtime/src/test/c; their device is the host running jrocm's kernels), in a
     * JVM of its own whose probes name them. It must train as the CPU does: same report, an
     * accuracy within one test image in twenty of the CPU run's.
     */
    @Test
    void theWholeWorkflowRunsOnTheEmulatedAmdGpuWithMIOpen(@TempDir Path out) throws Exception {
        String modulePath = System.getProperty("jdk.module.path");
        org.junit.jupiter.api.Assumptions.assumeTrue(modulePath != null, "needs the module path of the test JVM");
        Path c = Path.of(System.getProperty("user.dir"), "..", "runtime", "src", "test", "c");
        Path hip = out.resolve("libfake_hip.so"), miopen = out.resolve("libfake_miopen.so");
        try {
            for (Path[] build : new Path[][] {{c.resolve("fake_hip.c"), hip}, {c.resolve("fake_miopen.c"), miopen}}) {
                Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", build[1].toString(), build[0].toString(), "-lm")
                        .redirectErrorStream(true).start();
                String log = new String(gcc.getInputStream().readAllBytes());
                assertEquals(0, gcc.waitFor(), log);
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("g++", "--version").start().waitFor() == 0, "needs g++");
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "needs gcc and g++ for the HIP test doubles: " + e.getMessage());
        }
        String[] args = {"--dataset", "fashion-mnist", "--data-dir", data.toString(), "--batch-size", "32", "--epochs", "1",
                "--lora-epochs", "1", "--lr", "0.002", "--no-progress"};
        List<String> command = new java.util.ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=dev.jrocm.bindings,dev.jrocm.runtime", "--add-modules", "jdk.incubator.vector",
                "-Djrocm.hip.library=" + hip, "-Djrocm.hiprtc.library=" + hip, "-Djrocm.hipblas.library=" + hip,
                "-Djrocm.miopen.library=" + miopen, "-p", modulePath, "-m", "dev.jrocm.samples/dev.jrocm.samples.LoraWorkflow",
                "--device", "hip", "--out", out.resolve("hip").toString()));
        command.addAll(List.of(args));
        Path log = out.resolve("hip.log");
        Process run = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(run.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "the HIP run took more than 300 s");
        assertEquals(0, run.exitValue(), Files.readString(log));
        assertTrue(Files.readString(log).contains("device: hip (asked for hip:0)"), Files.readString(log));

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
        CommandLine cli = new CommandLine(new LoraWorkflow()).setCaseInsensitiveEnumValuesAllowed(true);
        cli.setErr(new PrintWriter(err));
        ByteArrayOutputStream ignored = new ByteArrayOutputStream();
        int code = cli.execute("--dataset", "cifar10", "--data-dir", empty.toString(), "--device", "cpu",
                "--out", empty.resolve("out").toString());
        assertEquals(1, code);
        assertTrue(err.toString().contains("CIFAR-10 not found"), err.toString());
        assertTrue(err.toString().contains(empty.resolve("cifar-10-batches-bin").toString()), err.toString());
        assertEquals(0, ignored.size());
    }
}
