package dev.jrocm.samples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --model cnn}: issue #15's small CNN in the main job, on a tiny generated Fashion-MNIST-format dataset. */
class CnnWorkflowTest {
    @TempDir
    static Path data;

    @BeforeAll
    static void writeTinyDataset() throws IOException {
        LoraWorkflowTest.writeTinyFashionMnist(data);
    }

    /** A CNN run with the model's own recipe (batch 64, 1 + 1 epochs) on the first {@code train} training images. */
    static List<String> cnnArgs(Path out, int train, String... more) {
        List<String> a = new ArrayList<>(List.of("--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", data.toString(),
                "--device", "cpu", "--limit-train", String.valueOf(train), "--out", out.toString(), "--no-progress"));
        a.addAll(List.of(more));
        return a;
    }

    /** The tensor names in a safetensors file's header (read here, not by the runtime's reader). */
    static List<String> tensorNames(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode header = new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>();
        header.fieldNames().forEachRemaining(k -> { if (!k.equals("__metadata__")) names.add(k); });
        return names.stream().sorted().toList();
    }

    @Test
    void aCnnRunTrainsAndWritesItsReportPicturesAndAdapterSayingWhichModelRan(@TempDir Path out) throws IOException {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        int code = LoraWorkflowTest.run(stdout, Map.of(), err, null, cnnArgs(out, 320, "--lr", "0.003").toArray(String[]::new));
        assertEquals(0, code, err.toString());
        String log = stdout.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("recipe: the CNN recipe (batch 64, 1 + 1 epochs, lr 0.003)"), log);
        assertTrue(log.contains("model: CNN conv 1→32 3×3 pad 1, ReLU, max-pool 2, conv 32→64 3×3 pad 1, ReLU, max-pool 2, "
                + "flatten (3136), Linear → 128, ReLU, Linear → 10"), log);

        JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        JsonNode model = report.get("model");
        assertEquals("cnn", model.get("name").asText());
        assertTrue(model.get("architecture").asText().startsWith("CNN conv 1→32"), model.toString());
        assertEquals("conv1: Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))", model.get("layers").get(1).asText());
        // conv1 1·32·9 + 32, conv2 32·64·9 + 64, fc1 3136·128 + 128, fc2 128·10 + 10
        assertEquals(320 + 18_496 + 401_536 + 1_290, model.get("parameters").asLong());
        assertEquals(64, report.get("batchSize").asInt());
        assertEquals(0, report.get("seed").asInt());
        assertEquals(320, report.get("trainSamples").asInt());
        JsonNode full = report.get("full"), lora = report.get("lora");
        assertEquals(1, full.get("epochs").size());
        assertEquals(1, lora.get("epochs").size());
        double accuracy = full.get("testAccuracy").asDouble();
        assertTrue(accuracy > 0.2, "the CNN learnt nothing: " + accuracy);
        assertEquals(lora.get("accuracyBeforeTraining").get("enabled").asDouble(),
                lora.get("accuracyBeforeTraining").get("disabled").asDouble(), "a fresh adapter changed the accuracy");
        assertEquals(accuracy, lora.get("testAccuracyDisabled").asDouble(), "LoRA disabled must be exactly the full model");
        assertEquals(4, lora.get("rank").asInt());
        assertEquals(4.0, lora.get("alpha").asDouble());
        assertEquals("kaiming_uniform", lora.get("init").asText());
        assertEquals("[\"conv1\",\"conv2\",\"fc1\",\"fc2\"]", lora.get("targets").toString());
        // conv A (4, in, 3, 3), B (out, 4, 1, 1); Linear A (4, in), B (out, 4)
        assertEquals(4 * 9 + 32 * 4 + 4 * 32 * 9 + 64 * 4 + 4 * (3136 + 128) + 4 * (128 + 10), lora.get("loraParameters").asInt());

        assertEquals(List.of("conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight", "fc2.bias",
                "fc2.weight"), tensorNames(out.resolve("model.safetensors")), "PyTorch's state-dict names");
        assertNotNull(ImageIO.read(out.resolve("samples.png").toFile()));
        assertNotNull(ImageIO.read(out.resolve("loss.png").toFile()));
        JsonNode adapter = new ObjectMapper().readTree(out.resolve("adapter/adapter_config.json").toFile());
        assertEquals(4, adapter.get("r").asInt(), adapter.toString());
        List<String> adapterTensors = tensorNames(out.resolve("adapter/adapter_model.safetensors"));
        for (String layer : List.of("conv1", "conv2", "fc1", "fc2")) {
            assertTrue(adapterTensors.stream().anyMatch(n -> n.contains(layer + ".lora_A")), "no " + layer + " adapter in " + adapterTensors);
        }
    }

    /** The CNN on the AMD code path (the C test doubles of HIP, hipBLAS, MIOpen): it trains as on the CPU. */
    @Test
    void theCnnJobRunsOnTheEmulatedAmdGpuAsOnTheCpu(@TempDir Path out) throws Exception {
        trainsAsOnTheCpu(out, "hip");
    }

    /** The CNN on the NVIDIA code path (the C test doubles of the CUDA driver, NVRTC, cuBLAS): it trains as on the CPU. */
    @Test
    void theCnnJobRunsOnTheEmulatedCudaGpuAsOnTheCpu(@TempDir Path out) throws Exception {
        trainsAsOnTheCpu(out, "cuda");
    }

    private static void trainsAsOnTheCpu(Path out, String kind) throws Exception {
        String[] args = {"--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", data.toString(), "--limit-train", "128",
                "--limit-test", "40", "--lr", "0.003", "--no-progress"};
        LoraWorkflowTest.runOnEmulatedGpu(out, kind, args);
        List<String> cpuArgs = new ArrayList<>(List.of("--device", "cpu", "--out", out.resolve("cpu").toString()));
        cpuArgs.addAll(List.of(args));
        StringWriter err = new StringWriter();
        assertEquals(0, LoraWorkflowTest.run(err, cpuArgs.toArray(String[]::new)), err.toString());

        JsonNode gpu = new ObjectMapper().readTree(out.resolve(kind + "/report.json").toFile());
        JsonNode cpu = new ObjectMapper().readTree(out.resolve("cpu/report.json").toFile());
        assertEquals(kind, gpu.get("device").asText());
        assertEquals("cnn", gpu.get("model").get("name").asText());
        for (String[] at : new String[][] {{"full", "testAccuracy"}, {"lora", "testAccuracyEnabled"}}) {
            double g = gpu.get(at[0]).get(at[1]).asDouble(), k = cpu.get(at[0]).get(at[1]).asDouble();
            assertTrue(Math.abs(g - k) <= 0.05, at[0] + ": accuracy " + g + " on the emulated GPU, " + k + " on the CPU");
        }
        double g = gpu.get("full").get("epochs").get(0).get("meanLoss").asDouble();
        double k = cpu.get("full").get("epochs").get(0).get("meanLoss").asDouble();
        assertEquals(k, g, 1e-3 * k, "mean loss of the full epoch on the emulated GPU and on the CPU");
        assertEquals(gpu.get("full").get("testAccuracy").asDouble(), gpu.get("lora").get("testAccuracyDisabled").asDouble(),
                "LoRA disabled must be exactly the full model");
        assertTrue(Files.exists(out.resolve(kind + "/adapter/adapter_model.safetensors")));
    }

    @Test
    void theMlpStaysTheDefaultAndItsReportSaysSo(@TempDir Path out) throws IOException {
        StringWriter err = new StringWriter();
        List<String> args = cnnArgs(out, 64, "--batch-size", "32", "--limit-test", "32");
        args.subList(0, 2).clear(); // no --model
        assertEquals(0, LoraWorkflowTest.run(err, args.toArray(String[]::new)), err.toString());
        JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals("mlp", report.get("model").get("name").asText());
        assertEquals("MLP 784 → 4096 → 2048 → 10", report.get("model").get("architecture").asText());
        assertEquals(1, report.get("lora").get("rank").asInt());
        assertEquals("gaussian", report.get("lora").get("init").asText());
        assertEquals("[\"fc1\",\"fc2\",\"fc3\"]", report.get("lora").get("targets").toString());
    }

    @Test
    void aBadModelIsAUsageErrorOfOneLineNamingTheOptionAndTheAllowedValues() {
        StringWriter err = new StringWriter();
        assertEquals(2, LoraWorkflowTest.run(err, "--model", "resnet"));
        String first = err.toString().lines().findFirst().orElseThrow();
        assertTrue(first.contains("--model") && first.contains("'resnet' is not one of mlp, cnn"), err.toString());
        LoraWorkflowTest.assertNoTrace(err.toString());
    }

    @Test
    void aPresetWithTheCnnIsAUsageErrorSayingHowToChangeItsRecipe() {
        StringWriter err = new StringWriter();
        assertEquals(2, LoraWorkflowTest.run(err, "--model", "cnn", "--preset", "blog", "--device", "cpu"));
        assertTrue(err.toString().contains("--preset blog is the MLP's; --model cnn has one recipe (batch 64, 1 + 1 epochs)"),
                err.toString());
    }

    @Test
    void theCnnHasItsOwnDefaultsOnEveryDeviceAndOptionsOverrideThem() {
        LoraWorkflow cnn = parsed("--model", "CNN");
        assertEquals(Model.cnn, cnn.model);
        assertEquals(4, cnn.rank());
        assertEquals(4f, cnn.alpha());
        for (DeviceKind kind : DeviceKind.values()) {
            LoraWorkflow.Recipe r = cnn.recipe(kind);
            assertEquals(List.of(64, 1, 1), List.of(r.batchSize(), r.epochs(), r.loraEpochs()), kind + ": " + r);
            assertEquals(0.001f, r.lr());
        }
        LoraWorkflow adjusted = parsed("--model", "cnn", "--rank", "2", "--alpha", "8", "--batch-size", "16", "--lora-epochs", "3");
        assertEquals(2, adjusted.rank());
        assertEquals(8f, adjusted.alpha());
        LoraWorkflow.Recipe r = adjusted.recipe(DeviceKind.CPU);
        assertEquals(List.of(16, 1, 3), List.of(r.batchSize(), r.epochs(), r.loraEpochs()));
        assertTrue(r.name().endsWith("adjusted by options"), r.name());
        LoraWorkflow mlp = parsed();
        assertEquals(Model.mlp, mlp.model);
        assertEquals(1, mlp.rank());
        assertEquals(1f, mlp.alpha());
        assertEquals(8, mlp.recipe(DeviceKind.HIP).batchSize(), "the MLP's blog recipe on a GPU");
    }

    private static LoraWorkflow parsed(String... args) {
        LoraWorkflow app = new LoraWorkflow(System.out, Map.of());
        LoraWorkflow.commandLine(app).parseArgs(args);
        return app;
    }

    @Test
    void aRankTooLargeForTheFirstConvolutionStopsBeforeTraining(@TempDir Path out) {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        assertEquals(2, LoraWorkflowTest.run(stdout, Map.of(), err, null,
                cnnArgs(out, 64, "--rank", "10", "--log-every", "1").toArray(String[]::new)));
        assertTrue(err.toString().contains("--rank 10 is too large for layer conv1 (1·3·3 = 9 → 32 channels): at most 9"),
                err.toString());
        assertTrue(!stdout.toString().contains("loss:"), stdout.toString());
    }

    @Test
    void theCnnTakesCifarShapedRowsAndGivesTenLogitsPerImage() {
        try (Backend backend = new CpuBackend(); Sequential net = Model.cnn.build(backend, 3, 32, 32, 10, 0);
             Autograd.NoGrad ng = Autograd.noGrad(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, new float[2 * 3 * 32 * 32], 2, 3 * 32 * 32);
            assertArrayEquals(new int[] {2, 10}, net.forward(x).shape());
            assertEquals(64 * 8 * 8, Model.flatFeatures(32, 32));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> net.forward(Tensor.of(backend, new float[2 * 784], 2, 784)));
            assertEquals("Unflatten: x of 2×784 is not n×3072 (n images of 3×32×32)", e.getMessage());
        }
        try (Backend backend = new CpuBackend()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Model.cnn.build(backend, 1, 3, 28, 10, 0));
            assertEquals("the CNN needs images of at least 4×4 (two 2×2 poolings), got 3×28", e.getMessage());
        }
    }
}
