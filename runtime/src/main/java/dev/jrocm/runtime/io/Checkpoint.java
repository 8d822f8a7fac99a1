package dev.jrocm.runtime.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A training checkpoint: a directory holding {@code model.safetensors} (the state dict),
 * {@code optimizer.safetensors} (per-parameter state keyed {@code <parameter>.<state>}, its
 * scalars and type in {@code __metadata__}) and {@code checkpoint.json} (epoch, step, seed,
 * file names, jrocm version). Training resumed from one continues exactly as if it had not
 * stopped: the data order is a function of (seed, epoch) (see {@code DataLoader}), and model and
 * optimizer state are restored bit for bit.
 *
 * <p>Saving first removes {@code checkpoint.json}, then writes each file atomically, and writes
 * {@code checkpoint.json} last: a save that dies midway leaves a directory without it, which
 * {@link #load} refuses clearly instead of resuming from a mixture.
 */
public final class Checkpoint {
    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String INFO_FILE = "checkpoint.json";
    /** The value of {@code "format"} in checkpoint.json. */
    public static final String FORMAT = "jrocm-checkpoint-1";
    private static final String OPTIMIZER_KEY = "optimizer";

    /**
     * What checkpoint.json records.
     *
     * @param epoch     epochs completed: training resumes with this epoch
     * @param step      optimizer steps taken in all
     * @param seed      the seed the data order derives from
     * @param optimizer the optimizer's class name
     * @param jrocm     the jrocm version that saved it
     */
    public record Info(int epoch, long step, long seed, String optimizer, String jrocm) {}

    private Checkpoint() {}

    /** The jrocm version, from the module or jar descriptor, or {@code "unknown"} when running from classes. */
    public static String jrocmVersion() {
        var descriptor = Checkpoint.class.getModule().getDescriptor();
        if (descriptor != null && descriptor.rawVersion().isPresent()) {
            return descriptor.rawVersion().get();
        }
        String version = Checkpoint.class.getPackage().getImplementationVersion();
        return version != null ? version : "unknown";
    }

    /** Saves {@code model} and {@code optimizer} with the training position to {@code dir} (created if needed). */
    public static void save(Path dir, Module model, Optimizer optimizer, int epoch, long step, long seed) throws IOException {
        if (epoch < 0 || step < 0) {
            throw new IllegalArgumentException("epoch and step must be ≥ 0, got epoch " + epoch + ", step " + step);
        }
        Files.createDirectories(dir);
        AtomicFile.delete(dir.resolve(INFO_FILE));
        Safetensors.write(dir.resolve(MODEL_FILE), model.stateDict(), Map.of("format", "pt"));
        Map<String, String> metadata = new LinkedHashMap<>(optimizer.scalarState());
        metadata.put(OPTIMIZER_KEY, optimizer.getClass().getSimpleName());
        Safetensors.write(dir.resolve(OPTIMIZER_FILE), optimizer.stateDict(model.namedParameters()), metadata);
        ObjectNode json = Safetensors.JSON.createObjectNode()
                .put("format", FORMAT)
                .put("jrocm", jrocmVersion())
                .put("epoch", epoch)
                .put("step", step)
                .put("seed", seed)
                .put("model", MODEL_FILE)
                .put("optimizer", OPTIMIZER_FILE)
                .put("optimizer_type", optimizer.getClass().getSimpleName());
        AtomicFile.write(dir.resolve(INFO_FILE), (json.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** Reads checkpoint.json of {@code dir} and checks that the files it names are there. */
    public static Info read(Path dir) throws IOException {
        Path infoFile = dir.resolve(INFO_FILE);
        if (!Files.isRegularFile(infoFile)) {
            throw new CheckpointException(dir + " is not a complete checkpoint: " + INFO_FILE + " is missing"
                    + (Files.exists(dir.resolve(MODEL_FILE)) ? " (a save was interrupted before it finished?)" : ""));
        }
        JsonNode json;
        try {
            json = Safetensors.JSON.readTree(Files.readAllBytes(infoFile));
        } catch (JsonProcessingException e) {
            throw new CheckpointException(infoFile + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (json == null || !json.isObject() || !FORMAT.equals(json.path("format").asText(null))) {
            throw new CheckpointException(infoFile + " is not a jrocm checkpoint (\"format\" should be \"" + FORMAT + "\")");
        }
        for (String key : new String[] {"model", "optimizer"}) {
            String name = text(infoFile, json, key);
            Path home = dir.toAbsolutePath().normalize();
            Path file = home.resolve(name).normalize();
            if (!home.equals(file.getParent()) || !Files.isRegularFile(file)) {
                throw new CheckpointException(infoFile + " names " + key + " file '" + name + "', which is not in " + dir);
            }
        }
        return new Info(number(infoFile, json, "epoch", Integer.MAX_VALUE).intValue(),
                number(infoFile, json, "step", Long.MAX_VALUE), json.path("seed").asLong(),
                text(infoFile, json, "optimizer_type"), json.path("jrocm").asText("unknown"));
    }

    /**
     * Restores {@code model}'s parameters and {@code optimizer}'s state from {@code dir} and
     * returns where training stood. The model and optimizer must be built as the saved ones
     * were (same parameter names and shapes, same optimizer type); nothing is changed when the
     * checkpoint does not fit.
     */
    public static Info load(Path dir, Module model, Optimizer optimizer) throws IOException {
        Info info = read(dir);
        JsonNode json = Safetensors.JSON.readTree(Files.readAllBytes(dir.resolve(INFO_FILE)));
        Path modelFile = dir.resolve(json.get("model").asText());
        Path optimizerFile = dir.resolve(json.get("optimizer").asText());
        String type = optimizer.getClass().getSimpleName();
        if (!info.optimizer().equals(type)) {
            throw new CheckpointException(dir + " was saved with " + info.optimizer() + ", not " + type);
        }
        // The scope frees the tensors read from the files once they are copied in.
        Scope scope = Scope.open();
        try (SafetensorsFile optimizerState = SafetensorsFile.open(optimizerFile)) {
            Map<String, Tensor> weights = Safetensors.read(modelFile, model.parameters().getFirst().backend());
            Map<String, Tensor> state = Safetensors.read(optimizerFile, model.parameters().getFirst().backend());
            Map<String, String> scalars = new LinkedHashMap<>(optimizerState.metadata());
            String savedType = scalars.remove(OPTIMIZER_KEY);
            if (!type.equals(savedType)) {
                throw new CheckpointException(optimizerFile + " holds " + savedType + " state, not " + type);
            }
            try {
                check(model, weights);
                optimizer.loadStateDict(model.namedParameters(), state, scalars);
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(dir + " does not fit this model and optimizer: " + e.getMessage(), e);
            }
            model.loadStateDict(weights);
        } finally {
            scope.close();
        }
        return info;
    }

    // Module.loadStateDict's checks without its copy, so nothing changes when the model does not fit.
    private static void check(Module model, Map<String, Tensor> weights) {
        Map<String, Tensor> own = model.namedParameters();
        boolean namesAndShapesFit = weights.size() == own.size() && own.entrySet().stream().allMatch(e ->
                weights.containsKey(e.getKey()) && Arrays.equals(weights.get(e.getKey()).shape(), e.getValue().shape()));
        if (!namesAndShapesFit) {
            model.loadStateDict(weights); // checks everything before it copies: throws, listing every problem
        }
        for (var e : own.entrySet()) {
            Tensor given = weights.get(e.getKey());
            if (given.dtype() != e.getValue().dtype()) {
                throw new IllegalArgumentException(e.getKey() + " is " + given.describe() + " but the model's is "
                        + e.getValue().describe());
            }
        }
    }

    private static String text(Path file, JsonNode json, String key) throws CheckpointException {
        JsonNode v = json.get(key);
        if (v == null || !v.isTextual()) {
            throw new CheckpointException(file + ": \"" + key + "\" must be a string, not " + (v == null ? "missing" : v));
        }
        return v.textValue();
    }

    private static Long number(Path file, JsonNode json, String key, long max) throws CheckpointException {
        JsonNode v = json.get(key);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0 || v.longValue() > max) {
            throw new CheckpointException(file + ": \"" + key + "\" must be an integer in [0, " + max + "], not "
                    + (v == null ? "missing" : v));
        }
        return v.longValue();
    }
}
