package dev.jrocm.lora;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.io.AtomicFile;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.io.SafetensorsFile;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * An adapter on disk in Hugging Face PEFT's layout, so it moves between jrocm and PEFT:
 * {@code adapter_model.safetensors} with keys {@code base_model.model.<layer>.lora_A.weight} /
 * {@code .lora_B.weight}, and {@code adapter_config.json} with PEFT's field names
 * ({@code peft_type}, {@code r}, {@code lora_alpha}, {@code target_modules}, {@code lora_dropout},
 * {@code use_rslora}, …). A Linear's factors are lora_A (r, in) and lora_B (out, r); a Conv2d's
 * are PEFT's conv kernels lora_A (r, in, kh, kw) and lora_B (out, r, 1, 1). Only the adapter is
 * saved, never the base model. jrocm saves F32
 * factors and loads F32, F16, BF16 or F64 ones; loading checks everything before it changes a model.
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
        // The adapted layers' full dotted names: under PEFT's rule (equal, or a suffix after a dot)
        // they match exactly these layers again, whatever targets made them.
        new TreeSet<>(lora.layers().keySet()).forEach(targets::add);
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

    /**
     * Reads {@code adapter_config.json} of {@code dir} into a {@link LoraConfig}, strictly: {@code r}
     * must be a positive JSON integer, {@code lora_alpha} a positive number, {@code lora_dropout}
     * (if given) a number in [0, 1), {@code use_rslora} and PEFT's other flags booleans,
     * {@code target_modules} a layer name or a non-empty list of them, and a PEFT option that plain
     * LoRA would apply differently (DoRA, trained biases, per-layer ranks, …) is refused by name.
     * Anything else is an {@link IOException} naming the file, the key and the value, e.g.
     * {@code …/adapter_config.json: "r" must be a positive integer, got "2"}.
     */
    public static LoraConfig readConfig(Path dir) throws IOException {
        return AdapterConfig.read(dir.resolve(CONFIG));
    }

    /**
     * Applies the adapter saved in {@code dir} to {@code model}: LoRA layers as its config says,
     * then its weights, converted to f32 if they were saved as F16, BF16 or F64 (as PEFT often
     * saves them). All or nothing: the config and every tensor's name, dtype and shape are checked
     * and every value read before the model changes. A bad config, a layer the model lacks, a rank
     * too large for a layer, a missing or extra tensor, a shape that differs, a dtype that is not a
     * float or a file that is not valid safetensors is an {@link IOException} naming the file and
     * the layer or tensor; the model is then exactly as it was (same modules, same parameters).
     */
    public static LoraModel load(Module model, Path dir) throws IOException {
        LoraConfig config = readConfig(dir);
        Map<String, Factor> wanted = new LinkedHashMap<>();
        collectLayers(model, "").forEach((path, layer) -> {
            if (config.targets(path)) {
                wanted.put(key(path, "lora_A"), new Factor(path, factorA(layer, config.rank())));
                wanted.put(key(path, "lora_B"), new Factor(path, factorB(layer, config.rank())));
            }
        });
        Map<String, float[]> values = read(dir.resolve(WEIGHTS), wanted, Lora.validate(model, config));
        return Lora.apply(model, config, 0L, (path, layer) -> copyInto(values, path, layer));
    }

    /**
     * Loads the weights in {@code dir} into an existing adapter whose layers match, converted to
     * f32 as {@link #load} does. Every tensor is checked and read before any factor changes: a
     * problem is an {@link IOException} and the adapter keeps its weights. A merged layer is an
     * {@link IllegalStateException} (its base weight holds the old s·B·A).
     */
    public static void loadWeights(LoraModel lora, Path dir) throws IOException {
        Map<String, Factor> wanted = new LinkedHashMap<>();
        lora.layers().forEach((path, layer) -> {
            if (layer.isMerged()) {
                throw new IllegalStateException("LoRA layer " + path + " is merged: unmerge() before loading weights");
            }
            wanted.put(key(path, "lora_A"), new Factor(path, longs(layer.loraA().shape())));
            wanted.put(key(path, "lora_B"), new Factor(path, longs(layer.loraB().shape())));
        });
        Map<String, float[]> values = read(dir.resolve(WEIGHTS), wanted, List.of());
        lora.layers().forEach((path, layer) -> copyInto(values, path, layer));
    }

    /** A LoRA factor the model needs: the layer it belongs to and its shape. */
    private record Factor(String layer, long[] shape) {}

    /**
     * The values of every wanted factor, as f32, after checking that the file holds exactly the
     * wanted tensors with their shapes and a float dtype; every problem, those {@code found}
     * before included, is listed at once.
     */
    private static Map<String, float[]> read(Path weights, Map<String, Factor> wanted, List<String> found)
            throws IOException {
        try (SafetensorsFile file = SafetensorsFile.open(weights)) {
            List<String> problems = new ArrayList<>(found);
            wanted.forEach((name, factor) -> {
                SafetensorsFile.Entry entry = file.entries().get(name);
                if (entry == null) {
                    problems.add("layer " + factor.layer() + ": " + name + " is missing");
                } else if (!Arrays.equals(entry.shape(), factor.shape())) {
                    problems.add("layer " + factor.layer() + ": " + name + " is " + Arrays.toString(entry.shape())
                            + " but the model needs " + Arrays.toString(factor.shape()));
                } else if (AdapterTensors.unreadable(entry) != null) {
                    problems.add("layer " + factor.layer() + ": " + AdapterTensors.unreadable(entry));
                }
            });
            for (String name : file.names()) {
                if (!wanted.containsKey(name)) {
                    problems.add("tensor " + name + " names no targeted Linear or Conv2d layer of the model");
                }
            }
            if (!problems.isEmpty()) {
                throw new IOException(weights + " does not fit the model: " + String.join("; ", problems));
            }
            Map<String, float[]> values = new LinkedHashMap<>();
            for (String name : wanted.keySet()) {
                values.put(name, AdapterTensors.floats(file, name));
            }
            return values;
        }
    }

    // The Linear and Conv2d layers LoRA could adapt, by path (a layer already adapted is Lora.validate's to report).
    private static Map<String, Module> collectLayers(Module module, String prefix) {
        Map<String, Module> out = new LinkedHashMap<>();
        module.children().forEach((name, child) -> {
            if (child instanceof Linear || child instanceof Conv2d) {
                out.put(prefix + name, child);
            } else if (!(child instanceof LoraLayer)) {
                out.putAll(collectLayers(child, prefix + name + "."));
            }
        });
        return out;
    }

    /** lora_A's shape for {@code layer}: (r, in), or (r, in, kh, kw) for a Conv2d. */
    private static long[] factorA(Module layer, int r) {
        if (layer instanceof Conv2d conv) {
            int[] k = conv.kernelSize();
            return new long[] {r, conv.inChannels(), k[0], k[1]};
        }
        return new long[] {r, ((Linear) layer).inFeatures()};
    }

    /** lora_B's shape for {@code layer}: (out, r), or (out, r, 1, 1) for a Conv2d. */
    private static long[] factorB(Module layer, int r) {
        return layer instanceof Conv2d conv ? new long[] {conv.outChannels(), r, 1, 1}
                : new long[] {((Linear) layer).outFeatures(), r};
    }

    private static long[] longs(int[] shape) {
        return Arrays.stream(shape).asLongStream().toArray();
    }

    private static void copyInto(Map<String, float[]> values, String path, LoraLayer layer) {
        layer.loraA().copyFrom(values.get(key(path, "lora_A")));
        layer.loraB().copyFrom(values.get(key(path, "lora_B")));
    }
}
