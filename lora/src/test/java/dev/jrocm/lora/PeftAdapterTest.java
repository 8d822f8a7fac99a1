package dev.jrocm.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PeftAdapterTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Sequential mlp(long seed) {
        return new Sequential("fc1", new Linear(backend, 20, 16, seed), "relu1", new ReLU(),
                "fc2", new Linear(backend, 16, 12, seed + 1), "relu2", new ReLU(), "fc3", new Linear(backend, 12, 4, seed + 2));
    }

    static LoraModel trainedAdapter(Sequential model) {
        LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"), 9);
        lora.layers().values().forEach(l -> backend.normal(l.loraB().buffer(), 0f, 0.2f, 33));
        return lora;
    }

    /** Trains an adapter on a fresh model, saves it to {@code dir} and returns that model's outputs on X. */
    static float[] saveTrainedAdapter(Path dir) throws IOException {
        try (Sequential model = mlp(1)) {
            LoraModel lora = trainedAdapter(model);
            float[] want = outputs(model, X);
            lora.save(dir);
            return want;
        }
    }

    static float[] outputs(Sequential model, float[] x) {
        try (Scope s = Scope.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            return model.forward(Tensor.of(backend, x, x.length / 20, 20)).toArray();
        }
    }

    static final float[] X = LoraTest.randomInput(6, 20, 4);

    @Test
    void savesPeftsKeyNamesAndConfigFields(@TempDir Path dir) throws IOException {
        try (Sequential model = mlp(1)) {
            trainedAdapter(model).save(dir);
            try (SafetensorsFile file = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
                assertEquals(List.of("base_model.model.fc1.lora_A.weight", "base_model.model.fc1.lora_B.weight",
                        "base_model.model.fc3.lora_A.weight", "base_model.model.fc3.lora_B.weight"), file.names());
                assertArrayEquals(new long[] {2, 20}, file.entry("base_model.model.fc1.lora_A.weight").shape());
                assertArrayEquals(new long[] {4, 2}, file.entry("base_model.model.fc3.lora_B.weight").shape());
            }
            JsonNode config = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
            assertEquals("LORA", config.get("peft_type").asText());
            assertEquals(2, config.get("r").asInt());
            assertEquals(4.0, config.get("lora_alpha").asDouble());
            assertEquals("[\"fc1\",\"fc3\"]", config.get("target_modules").toString());
            assertEquals(0.0, config.get("lora_dropout").asDouble());
            assertEquals(false, config.get("use_rslora").asBoolean());
        }
    }

    @Test
    void anAdapterLoadedOntoTheSameBaseGivesTheSameOutputs(@TempDir Path dir) throws IOException {
        float[] want = saveTrainedAdapter(dir);
        try (Sequential fresh = mlp(1)) {
            LoraModel loaded = PeftAdapter.load(fresh, dir);
            assertEquals(2, loaded.layers().size());
            assertEquals(4f, loaded.config().alpha());
            assertArrayEquals(want, outputs(fresh, X));
        }
    }

    @Test
    void numpyRecomputesTheAdaptedOutputsFromTheFilesAlone(@TempDir Path dir) throws Exception {
        Path script = Path.of(System.getProperty("user.dir"), "src", "test", "python", "peft_forward_numpy.py");
        assumeTrue(new ProcessBuilder("/usr/bin/python3", "-c", "import numpy").start().waitFor() == 0,
                "needs /usr/bin/python3 with numpy (Debian: python3-numpy)");
        try (Sequential model = mlp(3)) {
            // the base state dict as PyTorch names it, written before LoRA is applied
            Safetensors.write(dir.resolve("base.safetensors"), model.stateDict(), Map.of());
            LoraModel lora = trainedAdapter(model);
            lora.save(dir.resolve("adapter"));
            try (Scope s = Scope.open()) {
                Safetensors.write(dir.resolve("x.safetensors"), Map.of("x", Tensor.of(backend, X, 6, 20)), Map.of());
                Safetensors.write(dir.resolve("y.safetensors"), Map.of("y", Tensor.of(backend, outputs(model, X), 6, 4)), Map.of());
            }
        }
        Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), dir.resolve("base.safetensors").toString(),
                dir.resolve("adapter").toString(), dir.resolve("x.safetensors").toString(), dir.resolve("y.safetensors").toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.startsWith("ok: 6x4 outputs agree"), out);
    }

    @Test
    void anAdapterForAnotherShapeNamesTheLayerAndChangesNothing(@TempDir Path dir) throws IOException {
        try (Sequential model = mlp(1)) {
            trainedAdapter(model).save(dir);
        }
        try (Sequential other = new Sequential("fc1", new Linear(backend, 20, 16, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, 16, 12, 2), "relu2", new ReLU(), "fc3", new Linear(backend, 12, 5, 3))) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(other, dir));
            assertTrue(e.getMessage().contains("layer fc3: base_model.model.fc3.lora_B.weight is [4, 2] but the model needs [5, 2]"),
                    e.getMessage());
            assertTrue(other.children().get("fc1") instanceof Linear, "the model was changed by a failed load");
        }
    }

    @Test
    void anAdapterForMissingLayersSaysWhich(@TempDir Path dir) throws IOException {
        try (Sequential model = mlp(1)) {
            trainedAdapter(model).save(dir);
        }
        try (Sequential small = new Sequential("fc1", new Linear(backend, 20, 16, 1))) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(small, dir));
            assertTrue(e.getMessage().contains("tensor base_model.model.fc3.lora_A.weight names no targeted Linear or Conv2d layer"),
                    e.getMessage());
        }
    }

    @Test
    void aConfigThatIsNotLoraOrIsMissingIsRefused(@TempDir Path dir) throws IOException {
        try (Sequential model = mlp(1)) {
            IOException missing = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(missing.getMessage().contains("adapter_config.json"), missing.getMessage());
            Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"IA3\", \"r\": 1}");
            IOException ia3 = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(ia3.getMessage().endsWith("peft_type is 'IA3', jrocm loads only LORA adapters"), ia3.getMessage());
            Files.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": 0, \"lora_alpha\": 1, \"target_modules\": [\"fc1\"]}");
            IOException rank = assertThrows(IOException.class, () -> PeftAdapter.load(model, dir));
            assertTrue(rank.getMessage().endsWith("adapter_config.json: \"r\" must be a positive integer, got 0"), rank.getMessage());
        }
    }

    /** Each PEFT option that plain LoRA would apply differently, as PEFT 0.21 writes it: refused by name. */
    @Test
    void peftOptionsThatWouldChangeTheOutputsAreRefusedByName(@TempDir Path dir) throws IOException {
        String base = "\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"fc2\", \"fc1\"], "
                + "\"bias\": \"none\", \"use_dora\": false, \"rank_pattern\": {}, \"alpha_pattern\": {}, "
                + "\"layers_to_transform\": null, \"init_lora_weights\": true, \"modules_to_save\": null";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("\"use_dora\": true", "use_dora is true");
        cases.put("\"lora_bias\": true", "lora_bias is true");
        cases.put("\"bias\": \"all\"", "bias is 'all'");
        cases.put("\"alpha_pattern\": {\"fc2\": 8}", "alpha_pattern is {\"fc2\":8}");
        cases.put("\"rank_pattern\": {\"fc1\": 4}", "rank_pattern is {\"fc1\":4}");
        cases.put("\"layers_to_transform\": [0]", "layers_to_transform is [0]");
        cases.put("\"init_lora_weights\": \"pissa_niter_4\"", "init_lora_weights is 'pissa_niter_4'");
        cases.put("\"init_lora_weights\": \"olora\"", "which rewrites the base weights");
        cases.put("\"fan_in_fan_out\": true", "fan_in_fan_out is true");
        cases.put("\"target_modules\": \"fc[12]\"", "target_modules is the regular expression 'fc[12]'");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            // the later duplicate key wins in Jackson, as in Python's json
            Files.writeString(dir.resolve("adapter_config.json"), "{" + base + ", " + c.getKey() + "}");
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.readConfig(dir), c.getKey());
            assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + " → " + e.getMessage());
        }
        Files.writeString(dir.resolve("adapter_config.json"), "{" + base + ", \"init_lora_weights\": \"gaussian\"}");
        LoraConfig plain = PeftAdapter.readConfig(dir);
        assertEquals(List.of("fc2", "fc1"), plain.targets());
        assertEquals(4f, plain.alpha());
    }

    @Test
    void weightsLoadIntoAnExistingAdapter(@TempDir Path dir) throws IOException {
        float[] want = saveTrainedAdapter(dir);
        try (Sequential fresh = mlp(1)) {
            LoraModel lora = Lora.apply(fresh, LoraConfig.of(2, 4, "fc1", "fc3"), 123);
            PeftAdapter.loadWeights(lora, dir);
            assertArrayEquals(want, outputs(fresh, X));
            LoraModel wrongRank;
            try (Sequential other = mlp(1)) {
                wrongRank = Lora.apply(other, LoraConfig.of(1, 4, "fc1", "fc3"));
                IOException e = assertThrows(IOException.class, () -> PeftAdapter.loadWeights(wrongRank, dir));
                assertTrue(e.getMessage().contains("layer fc1: base_model.model.fc1.lora_A.weight is [2, 20] but the model needs [1, 20]"),
                        e.getMessage());
            }
        }
    }
}
