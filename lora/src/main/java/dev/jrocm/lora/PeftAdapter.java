package dev.jrocm.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.io.AtomicFile;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * An adapter on disk in Hugging Face PEFT's layout, so it moves between jrocm and PEFT:
 * {@code adapter_model.safetensors} with keys {@code base_model.model.<layer>.lora_A.weight} /
 * {@code .lora_B.weight}, and {@code adapter_config.json} with PEFT's field names
 * ({@code peft_type}, {@code r}, {@code lora_alpha}, {@code target_modules}, {@code lora_dropout},
 * {@code use_rslora}, …). Only the adapter is saved, never the base model.
 */
public final class PeftAdapter {
    public static final String WEIGHTS = "adapter_model.safetensors";
    public static final String CONFIG = "adapter_config.json";
    private static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeftAdapter() {}

    /** The safetensors key of a layer's factor: {@code base_model.model.fc1.lora_A.weight}. */
    public static String key(String layer, String factor) {
        return PREFIX + layer + "." + factor + ".weight";
    }

    /** Writes the adapter of {@code lora} into {@code dir} (created if needed); each file atomically. */
    public static void save(LoraModel lora, Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        lora.layers().forEach((path, layer) -> {
            tensors.put(key(path, "lora_A"), layer.loraA());
            tensors.put(key(path, "lora_B"), layer.loraB());
        });
        Safetensors.write(dir.resolve(WEIGHTS), tensors, Map.of("format", "pt"));
        AtomicFile.write(dir.resolve(CONFIG), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config(lora)));
    }

    private static ObjectNode config(LoraModel lora) {
        LoraConfig c = lora.config();
        ObjectNode n = JSON.createObjectNode();
        n.put("peft_type", "LORA");
        n.putNull("task_type");
        n.putNull("base_model_name_or_path");
        n.put("r", c.rank());
        n.put("lora_alpha", c.alpha());
        n.put("lora_dropout", c.dropout());
        ArrayNode targets = n.putArray("target_modules");
        new TreeSet<>(lora.layers().keySet().stream().map(p -> p.substring(p.lastIndexOf('.') + 1)).toList())
                .forEach(targets::add);
        n.put("use_rslora", c.rsLora());
        if (c.init() == LoraConfig.Init.GAUSSIAN) {
            n.put("init_lora_weights", "gaussian");
        } else {
            n.put("init_lora_weights", true);
        }
        n.put("bias", "none");
        n.put("fan_in_fan_out", false);
        n.put("inference_mode", true);
        n.putNull("modules_to_save");
        n.put("use_dora", false);
        return n;
    }

    /** Reads {@code adapter_config.json} of {@code dir} into a {@link LoraConfig}. */
    public static LoraConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "no LoRA adapter here: " + CONFIG + " is missing");
        } catch (IOException e) {
            throw new IOException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new IOException(file + " does not hold a JSON object");
        }
        String type = n.path("peft_type").asText("");
        if (!type.equals("LORA")) {
            throw new IOException(file + ": peft_type is '" + type + "', jrocm loads only LORA adapters");
        }
        for (String field : List.of("r", "lora_alpha", "target_modules")) {
            if (!n.has(field)) {
                throw new IOException(file + ": the field '" + field + "' is missing");
            }
        }
        List<String> targets = new ArrayList<>();
        JsonNode t = n.get("target_modules");
        if (t.isTextual()) {
            // PEFT reads a lone string as a regular expression over module names
            if (!t.asText().matches("[A-Za-z0-9_.]+")) {
                throw new IOException(file + ": target_modules is the regular expression '" + t.asText()
                        + "'; jrocm loads adapters whose target_modules names the layers");
            }
            targets.add(t.asText());
        } else {
            t.forEach(x -> targets.add(x.asText()));
        }
        List<String> unsupported = unsupported(n);
        if (!unsupported.isEmpty()) {
            throw new IOException(file + ": jrocm cannot apply this adapter as PEFT would: " + String.join("; ", unsupported));
        }
        JsonNode init = n.path("init_lora_weights");
        LoraConfig.Init how = init.isTextual() && init.asText().equals("gaussian")
                ? LoraConfig.Init.GAUSSIAN : LoraConfig.Init.KAIMING_UNIFORM;
        try {
            return new LoraConfig(n.get("r").asInt(), (float) n.get("lora_alpha").asDouble(),
                    (float) n.path("lora_dropout").asDouble(0), targets, how, n.path("use_rslora").asBoolean(false));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** Init methods that rewrite the base weights when PEFT makes the adapter: it then fits only that rewritten base. */
    private static final List<String> BASE_REWRITING_INITS = List.of("pissa", "olora", "corda", "loftq", "lora_ga");

    /**
     * The PEFT options of a LoRA config that jrocm's plain LoRA (one rank and alpha, y += s·x·Aᵀ·Bᵀ
     * on the named Linear layers) would silently apply differently, each named with its value.
     */
    static List<String> unsupported(JsonNode n) {
        List<String> found = new ArrayList<>();
        for (String flag : List.of("use_dora", "lora_bias", "fan_in_fan_out", "use_qalora")) {
            if (n.path(flag).asBoolean(false)) {
                found.add(flag + " is true");
            }
        }
        String bias = n.path("bias").asText("none");
        if (!bias.equals("none")) {
            found.add("bias is '" + bias + "' (the adapter trains biases)");
        }
        for (String pattern : List.of("rank_pattern", "alpha_pattern")) {
            if (n.path(pattern).size() > 0) {
                found.add(pattern + " is " + n.get(pattern) + " (a rank or alpha per layer)");
            }
        }
        for (String field : List.of("layers_to_transform", "layers_pattern", "exclude_modules", "layer_replication",
                "target_parameters", "modules_to_save", "trainable_token_indices")) {
            JsonNode v = n.path(field);
            if (!v.isMissingNode() && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
                found.add(field + " is " + v);
            }
        }
        JsonNode init = n.path("init_lora_weights");
        if (init.isTextual() && BASE_REWRITING_INITS.stream().anyMatch(init.asText().toLowerCase(Locale.ROOT)::startsWith)) {
            found.add("init_lora_weights is '" + init.asText() + "', which rewrites the base weights");
        }
        return found;
    }

    /**
     * Applies the adapter saved in {@code dir} to {@code model}: LoRA layers as its config says,
     * then its weights. A layer the model lacks, a shape that differs, or a missing or extra
     * tensor is an {@link IOException} naming the layer; the model is not changed then.
     */
    public static LoraModel load(Module model, Path dir) throws IOException {
        LoraConfig config = readConfig(dir);
        Path weights = dir.resolve(WEIGHTS);
        try (SafetensorsFile file = SafetensorsFile.open(weights)) {
            Map<String, long[]> shapes = new LinkedHashMap<>();
            file.entries().forEach((name, e) -> shapes.put(name, e.shape()));
            checkAgainst(model, config, shapes, weights);
            LoraModel lora;
            try {
                lora = Lora.apply(model, config);
            } catch (IllegalArgumentException e) {
                throw new IOException("adapter " + dir + " does not fit the model: " + e.getMessage(), e);
            }
            for (Map.Entry<String, LoraLinear> e : lora.layers().entrySet()) {
                copyInto(file, key(e.getKey(), "lora_A"), e.getValue().loraA());
                copyInto(file, key(e.getKey(), "lora_B"), e.getValue().loraB());
            }
            return lora;
        }
    }

    /** Loads the weights in {@code dir} into an existing adapter whose layers match. */
    public static void loadWeights(LoraModel lora, Path dir) throws IOException {
        Path weights = dir.resolve(WEIGHTS);
        try (SafetensorsFile file = SafetensorsFile.open(weights)) {
            List<String> problems = new ArrayList<>();
            Set<String> expected = new TreeSet<>();
            lora.layers().forEach((path, layer) -> {
                check(file, key(path, "lora_A"), layer.loraA().shape(), path, problems);
                check(file, key(path, "lora_B"), layer.loraB().shape(), path, problems);
                expected.add(key(path, "lora_A"));
                expected.add(key(path, "lora_B"));
            });
            for (String name : file.names()) {
                if (!expected.contains(name)) {
                    problems.add("unexpected tensor " + name);
                }
            }
            if (!problems.isEmpty()) {
                throw new IOException(weights + " does not match the adapter: " + String.join("; ", problems));
            }
            for (Map.Entry<String, LoraLinear> e : lora.layers().entrySet()) {
                copyInto(file, key(e.getKey(), "lora_A"), e.getValue().loraA());
                copyInto(file, key(e.getKey(), "lora_B"), e.getValue().loraB());
            }
        }
    }

    /** Checks, before anything changes, that every targeted layer exists with the saved shapes. */
    private static void checkAgainst(Module model, LoraConfig config, Map<String, long[]> shapes, Path weights)
            throws IOException {
        List<String> problems = new ArrayList<>();
        Set<String> expected = new TreeSet<>();
        collectLinears(model, "").forEach((path, shape) -> {
            String layer = path.substring(path.lastIndexOf('.') + 1);
            if (!config.targets(layer)) {
                return;
            }
            int out = shape[0], in = shape[1];
            String a = key(path, "lora_A"), b = key(path, "lora_B");
            expected.add(a);
            expected.add(b);
            checkShape(shapes.get(a), new long[] {config.rank(), in}, a, path, problems);
            checkShape(shapes.get(b), new long[] {out, config.rank()}, b, path, problems);
        });
        for (String name : shapes.keySet()) {
            if (!expected.contains(name)) {
                problems.add("tensor " + name + " names no targeted Linear layer of the model");
            }
        }
        if (!problems.isEmpty()) {
            throw new IOException(weights + " does not fit the model: " + String.join("; ", problems));
        }
    }

    private static Map<String, int[]> collectLinears(Module module, String prefix) {
        Map<String, int[]> out = new LinkedHashMap<>();
        module.children().forEach((name, child) -> {
            if (child instanceof dev.jrocm.runtime.nn.Linear linear) {
                out.put(prefix + name, new int[] {linear.outFeatures(), linear.inFeatures()});
            } else {
                out.putAll(collectLinears(child, prefix + name + "."));
            }
        });
        return out;
    }

    private static void check(SafetensorsFile file, String name, int[] shape, String layer, List<String> problems) {
        long[] want = Arrays.stream(shape).asLongStream().toArray();
        long[] got = file.entries().containsKey(name) ? file.entries().get(name).shape() : null;
        checkShape(got, want, name, layer, problems);
    }

    private static void checkShape(long[] got, long[] want, String name, String layer, List<String> problems) {
        if (got == null) {
            problems.add("layer " + layer + ": " + name + " is missing");
        } else if (!Arrays.equals(got, want)) {
            problems.add("layer " + layer + ": " + name + " is " + Arrays.toString(got) + " but the model needs "
                    + Arrays.toString(want));
        }
    }

    private static void copyInto(SafetensorsFile file, String name, Tensor target) throws IOException {
        try (Scope s = Scope.open()) {
            target.copyFrom(file.tensor(name, target.backend()).view(target.shape()));
        }
    }
}
