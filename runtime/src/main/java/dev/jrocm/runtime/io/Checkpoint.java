package dev.jrocm.runtime.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.optim.LrScheduler;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A training checkpoint: a directory holding {@code model.safetensors} (the state dict),
 * {@code optimizer.safetensors} (per-parameter state keyed {@code <parameter>.<state>}, its
 * scalars and type in {@code __metadata__}) and {@code checkpoint.json} (epoch, step, seed,
 * file names, jrocm version). Training resumed from one continues exactly as if it had not
 * stopped: the data order is a function of (seed, epoch) (see {@code DataLoader}), and model and
 * optimizer state are restored bit for bit.
 *
 * <p>A save replaces the directory as a whole: a process that dies at any moment of it leaves
 * either the previous checkpoint or the new one, never a mixture (see {@link #save}).
 */
public final class Checkpoint {
    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String INFO_FILE = "checkpoint.json";
    /** The value of {@code "format"} in checkpoint.json. */
    public static final String FORMAT = "jrocm-checkpoint-1";
    private static final String OPTIMIZER_KEY = "optimizer";
    private static final Set<String> CHECKPOINT_FILES = Set.of(MODEL_FILE, OPTIMIZER_FILE, INFO_FILE);
    private static final String PARTIAL = "partial";
    private static final String OLD = "old";
    private static final List<String> INFO_KEYS = List.of("format", "jrocm", "epoch", "step", "seed", "model",
            "optimizer", "optimizer_type", "scheduler", "scheduler_last_epoch"); // the last two only with a scheduler
    private static final long MAX_INFO_BYTES = 1 << 20;
    private static final ObjectMapper STRICT = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);

    /**
     * What checkpoint.json records.
     *
     * @param epoch     epochs completed: training resumes with this epoch
     * @param step      optimizer steps taken in all
     * @param seed      the seed the data order derives from
     * @param optimizer the optimizer's class name
     * @param jrocm     the jrocm version that saved it
     * @param scheduler the lr scheduler's class name, or null when it was saved without one
     * @param schedulerLastEpoch the scheduler's t ({@code lastEpoch()}) when saved; -1 without one
     */
    public record Info(int epoch, long step, long seed, String optimizer, String jrocm, String scheduler,
                       int schedulerLastEpoch) {
        /** A checkpoint saved without a scheduler. */
        public Info(int epoch, long step, long seed, String optimizer, String jrocm) {
            this(epoch, step, seed, optimizer, jrocm, null, -1);
        }
    }

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

    /**
     * Saves {@code model} and {@code optimizer} with the training position to {@code dir}
     * (created if needed, with its parents), replacing the checkpoint there if there is one.
     *
     * <p>Crash safety: the files are written and fsynced in a new sibling directory
     * {@code .NAME.TOKEN.partial} (TOKEN unique to this process); then an existing {@code dir} is
     * renamed to {@code .NAME.TOKEN.old}, the new directory is renamed to {@code dir}, and the old
     * one is deleted. A process killed at any moment therefore leaves {@code dir} holding the
     * previous checkpoint or the new one, whole — or, killed between the two renames, no
     * {@code dir} but the finished new one beside it, which {@link #read}, {@link #load} and the
     * next save put in place. A killed save can leave a hidden {@code .NAME.*.partial} or
     * {@code .NAME.*.old} sibling behind; nothing but the save's own files is ever deleted. An
     * exception leaves {@code dir} as it was.
     *
     * @throws CheckpointException when {@code dir} exists but is not empty and not a checkpoint
     *                             (it holds other files, or its checkpoint.json is not one): such
     *                             a directory is never replaced
     */
    public static void save(Path dir, Module model, Optimizer optimizer, int epoch, long step, long seed) throws IOException {
        save(dir, model, optimizer, null, epoch, step, seed);
    }

    /**
     * {@link #save(Path, Module, Optimizer, int, long, long)}, and the position of the lr
     * {@code scheduler} (its class and {@code lastEpoch()}) in checkpoint.json; the lr itself is
     * in the optimizer's state either way. {@link #load(Path, Module, Optimizer, LrScheduler)}
     * resumes the schedule there.
     *
     * @throws IllegalArgumentException when the scheduler sets another optimizer's lr
     */
    public static void save(Path dir, Module model, Optimizer optimizer, LrScheduler scheduler, int epoch, long step,
                            long seed) throws IOException {
        if (scheduler != null && scheduler.optimizer() != optimizer) {
            throw new IllegalArgumentException("Checkpoint.save: the " + scheduler.getClass().getSimpleName()
                    + " sets the lr of another optimizer than the one saved");
        }
        if (epoch < 0 || step < 0) {
            throw new IllegalArgumentException("epoch and step must be ≥ 0, got epoch " + epoch + ", step " + step);
        }
        Path target = location(dir);
        Path parent = target.getParent();
        Files.createDirectories(parent);
        recover(dir, target);
        boolean replacing = Files.exists(target, LinkOption.NOFOLLOW_LINKS);
        if (replacing) {
            requireReplaceable(dir, target);
        }
        String prefix = "." + target.getFileName() + "." + ProcessHandle.current().pid() + "-"
                + Integer.toHexString(ThreadLocalRandom.current().nextInt()) + ".";
        Path staging = parent.resolve(prefix + PARTIAL);
        AtomicFile.beforeStep.accept("create " + staging);
        Files.createDirectory(staging);
        try {
            writeFiles(staging, model, optimizer, scheduler, epoch, step, seed);
        } catch (IOException | RuntimeException e) {
            undo(e, () -> deleteCheckpoint(staging));
            throw e;
        }
        swap(target, staging, parent.resolve(prefix + OLD), replacing);
    }

    private static void writeFiles(Path staging, Module model, Optimizer optimizer, LrScheduler scheduler, int epoch,
                                   long step, long seed) throws IOException {
        Safetensors.write(staging.resolve(MODEL_FILE), model.stateDict(), Map.of("format", "pt"));
        Map<String, String> metadata = new LinkedHashMap<>(optimizer.scalarState());
        metadata.put(OPTIMIZER_KEY, optimizer.getClass().getSimpleName());
        Safetensors.write(staging.resolve(OPTIMIZER_FILE), optimizer.stateDict(model.namedParameters()), metadata);
        ObjectNode json = Safetensors.JSON.createObjectNode()
                .put("format", FORMAT)
                .put("jrocm", jrocmVersion())
                .put("epoch", epoch)
                .put("step", step)
                .put("seed", seed)
                .put("model", MODEL_FILE)
                .put("optimizer", OPTIMIZER_FILE)
                .put("optimizer_type", optimizer.getClass().getSimpleName());
        if (scheduler != null) {
            json.put("scheduler", scheduler.getClass().getSimpleName()).put("scheduler_last_epoch", scheduler.lastEpoch());
        }
        // Written last: a staging directory with checkpoint.json is complete (recover relies on it).
        AtomicFile.write(staging.resolve(INFO_FILE), (json.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8));
    }

    // The commit: two renames, each atomic, with the finished staging directory durable before the first.
    private static void swap(Path target, Path staging, Path old, boolean replacing) throws IOException {
        Path parent = target.getParent();
        if (replacing) {
            AtomicFile.beforeStep.accept("rename " + target + " to " + old);
            try {
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | RuntimeException e) {
                undo(e, () -> deleteCheckpoint(staging));
                throw e;
            }
        }
        AtomicFile.beforeStep.accept("rename " + staging + " to " + target);
        try {
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            undo(e, () -> {
                if (replacing) {
                    Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                }
                deleteCheckpoint(staging);
            });
            throw e;
        }
        AtomicFile.beforeStep.accept("fsync " + parent);
        AtomicFile.syncDirectory(parent);
        if (replacing) {
            try {
                deleteCheckpoint(old);
            } catch (IOException e) {
                throw new IOException(target + " was saved, but the previous checkpoint, moved aside to " + old
                        + ", could not be deleted: " + e.getMessage(), e);
            }
        }
    }

    private interface Step {
        void run() throws IOException;
    }

    // Runs the clean-up after a failed save; its own failure is added to the save's exception, which is what is thrown.
    private static void undo(Exception failure, Step cleanUp) {
        try {
            cleanUp.run();
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    // Deletes a checkpoint's own files and then its directory; a directory someone has put another
    // file into meanwhile is left, with that file.
    private static void deleteCheckpoint(Path home) throws IOException {
        for (String name : CHECKPOINT_FILES) {
            AtomicFile.delete(home.resolve(name));
        }
        AtomicFile.beforeStep.accept("delete " + home);
        try {
            Files.deleteIfExists(home);
        } catch (DirectoryNotEmptyException e) {
            return;
        }
        AtomicFile.syncDirectory(home.getParent());
    }

    // Where the checkpoint lives: dir itself, or the directory it links to.
    private static Path location(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath().normalize();
        Path target = Files.isSymbolicLink(absolute) ? absolute.toRealPath() : absolute;
        if (target.getParent() == null) {
            throw new CheckpointException("a checkpoint cannot replace the root directory " + dir);
        }
        return target;
    }

    // Only an empty directory or a jrocm checkpoint may be replaced (and its contents deleted).
    private static void requireReplaceable(Path dir, Path target) throws IOException {
        if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            throw new CheckpointException(dir + " exists and is not a directory: refusing to replace it with a checkpoint");
        }
        List<String> names;
        try (Stream<Path> entries = Files.list(target)) {
            names = entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
        if (names.isEmpty()) {
            return;
        }
        List<String> foreign = names.stream().filter(n -> !CHECKPOINT_FILES.contains(n)
                || !Files.isRegularFile(target.resolve(n), LinkOption.NOFOLLOW_LINKS)).toList();
        if (!foreign.isEmpty()) {
            throw new CheckpointException(dir + " is not a checkpoint: it holds " + String.join(", ", foreign)
                    + "; refusing to save over it (save to a new or empty directory)");
        }
        if (!names.contains(INFO_FILE)) {
            throw new CheckpointException(dir + " is not a checkpoint: it has no " + INFO_FILE
                    + "; refusing to save over it (save to a new or empty directory)");
        }
        try {
            readInfo(dir, target);
        } catch (CheckpointException e) {
            throw new CheckpointException("refusing to save over " + dir + ", which is not a usable checkpoint: "
                    + e.getMessage(), e);
        }
    }

    // A save killed between its two renames leaves no target, the previous checkpoint at
    // .NAME.TOKEN.old and the new one, finished, at .NAME.TOKEN.partial: put the new one in place.
    private static void recover(Path dir, Path target) throws IOException {
        Path parent = target.getParent();
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS) || !Files.isDirectory(parent)) {
            return;
        }
        String prefix = "." + target.getFileName() + ".";
        List<Path> finished = new ArrayList<>();
        try (Stream<Path> siblings = Files.list(parent)) {
            for (Path old : siblings.toList()) {
                String name = old.getFileName().toString();
                if (name.startsWith(prefix) && name.endsWith("." + OLD) && Files.isDirectory(old, LinkOption.NOFOLLOW_LINKS)) {
                    Path staged = parent.resolve(name.substring(0, name.length() - OLD.length()) + PARTIAL);
                    if (Files.isRegularFile(staged.resolve(INFO_FILE), LinkOption.NOFOLLOW_LINKS)) {
                        finished.add(staged);
                    }
                }
            }
        }
        if (finished.size() > 1) {
            throw new CheckpointException(dir + " is missing and several interrupted saves could replace it: "
                    + finished.stream().map(Path::toString).sorted().toList() + "; rename the one to resume from to " + dir);
        }
        if (finished.size() == 1) {
            AtomicFile.beforeStep.accept("rename " + finished.getFirst() + " to " + target);
            try {
                Files.move(finished.getFirst(), target, StandardCopyOption.ATOMIC_MOVE);
            } catch (NoSuchFileException e) {
                if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                    throw e;
                } // another process recovered it first
            }
            AtomicFile.syncDirectory(parent);
        }
    }

    /**
     * Reads checkpoint.json of {@code dir} and checks that the files it names are there. When
     * {@code dir} is missing because a {@link #save} was killed between its two renames, the
     * finished new checkpoint is first renamed into place.
     */
    public static Info read(Path dir) throws IOException {
        Path target = location(dir);
        recover(dir, target);
        return readInfo(dir, target).info();
    }

    // What checkpoint.json says, with the files it names (resolved in target).
    private record Contents(Info info, Path model, Path optimizer) {}

    private static Contents readInfo(Path dir, Path target) throws IOException {
        Path infoFile = dir.resolve(INFO_FILE);
        JsonNode json = parseInfo(dir, target.resolve(INFO_FILE), infoFile);
        if (!json.isObject() || !FORMAT.equals(json.path("format").textValue())) {
            throw new CheckpointException(infoFile + " is not a jrocm checkpoint (\"format\" should be \"" + FORMAT + "\")");
        }
        for (Iterator<String> it = json.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!INFO_KEYS.contains(key)) {
                throw new CheckpointException(infoFile + ": unknown key \"" + key + "\" (a " + FORMAT + " checkpoint.json has "
                        + String.join(", ", INFO_KEYS) + ")");
            }
        }
        Path[] files = new Path[2];
        String[] keys = {"model", "optimizer"};
        for (int i = 0; i < keys.length; i++) {
            String name = text(infoFile, json, keys[i]);
            Path file = target.resolve(name).normalize();
            if (!target.equals(file.getParent()) || !Files.isRegularFile(file)) {
                throw new CheckpointException(infoFile + " names " + keys[i] + " file '" + name + "', which is not in " + dir);
            }
            files[i] = file;
        }
        String scheduler = json.has("scheduler") || json.has("scheduler_last_epoch") ? text(infoFile, json, "scheduler") : null;
        int schedulerLastEpoch = scheduler == null ? -1
                : (int) integer(infoFile, json, "scheduler_last_epoch", 0, Integer.MAX_VALUE);
        Info info = new Info((int) integer(infoFile, json, "epoch", 0, Integer.MAX_VALUE),
                integer(infoFile, json, "step", 0, Long.MAX_VALUE), integer(infoFile, json, "seed", Long.MIN_VALUE, Long.MAX_VALUE),
                text(infoFile, json, "optimizer_type"), text(infoFile, json, "jrocm"), scheduler, schedulerLastEpoch);
        return new Contents(info, files[0], files[1]);
    }

    // checkpoint.json as JSON (any JSON: its form is checked by the caller); `shown` names it in messages.
    private static JsonNode parseInfo(Path dir, Path file, Path shown) throws IOException {
        if (!Files.isDirectory(file.getParent())) {
            throw new CheckpointException(dir + " is not a checkpoint: " + (Files.exists(file.getParent())
                    ? "it is not a directory" : "it does not exist"));
        }
        if (!Files.exists(file)) {
            throw new CheckpointException(dir + " is not a complete checkpoint: " + INFO_FILE + " is missing"
                    + (Files.exists(file.resolveSibling(MODEL_FILE)) ? " (a save was interrupted before it finished?)" : ""));
        }
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(shown + " is not a regular file");
        }
        long size = Files.size(file);
        if (size > MAX_INFO_BYTES) {
            throw new CheckpointException(shown + " is " + size + " bytes, over the " + MAX_INFO_BYTES
                    + "-byte limit of a checkpoint.json");
        }
        try {
            JsonNode json = STRICT.readTree(Files.readAllBytes(file));
            if (json == null || json.isMissingNode()) {
                throw new CheckpointException(shown + " is empty");
            }
            return json;
        } catch (JsonProcessingException e) {
            throw new CheckpointException(shown + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Restores {@code model}'s parameters and {@code optimizer}'s state from {@code dir} and
     * returns where training stood. The model and optimizer must be built as the saved ones
     * were (same parameter names and shapes, same optimizer type). All or nothing: both files
     * are read and everything is checked before the first value is copied, so a load that throws
     * leaves the model and the optimizer as they were. Recovers an interrupted save first, as
     * {@link #read} does.
     */
    public static Info load(Path dir, Module model, Optimizer optimizer) throws IOException {
        return load(dir, model, optimizer, null);
    }

    /**
     * {@link #load(Path, Module, Optimizer)}, then resumes {@code scheduler} at the saved position
     * ({@link LrScheduler#resume}), which sets the optimizer's lr as the saved run's next step
     * would have had it. The scheduler must be of the saved type, on {@code optimizer}; a
     * checkpoint saved without a scheduler cannot resume one. Null: no schedule to resume (the
     * saved lr is restored all the same).
     *
     * @throws CheckpointException when the checkpoint holds no scheduler position or another
     *     scheduler's, before anything changes
     */
    public static Info load(Path dir, Module model, Optimizer optimizer, LrScheduler scheduler) throws IOException {
        Path target = location(dir);
        recover(dir, target);
        Contents contents = readInfo(dir, target);
        String type = optimizer.getClass().getSimpleName();
        if (!contents.info().optimizer().equals(type)) {
            throw new CheckpointException(dir + " was saved with " + contents.info().optimizer() + ", not " + type);
        }
        if (scheduler != null) {
            String saved = contents.info().scheduler(), given = scheduler.getClass().getSimpleName();
            if (scheduler.optimizer() != optimizer) {
                throw new IllegalArgumentException("Checkpoint.load: the " + given + " sets the lr of another optimizer"
                        + " than the one loaded");
            }
            if (saved == null) {
                throw new CheckpointException(dir + " was saved without a scheduler, so it has no position for the "
                        + given + " to resume at");
            }
            if (!saved.equals(given)) {
                throw new CheckpointException(dir + " was saved with a " + saved + " scheduler, not a " + given);
            }
        }
        if (model.parameters().isEmpty()) {
            throw new CheckpointException("cannot load " + dir + " into " + model.getClass().getSimpleName() + ": it has no parameters");
        }
        Backend backend = model.parameters().getFirst().backend();
        // The scope frees the tensors read from the files once they are copied in.
        try (Scope ignored = Scope.open(); SafetensorsFile optimizerState = SafetensorsFile.open(contents.optimizer())) {
            Map<String, Tensor> weights = Safetensors.read(contents.model(), backend);
            Map<String, Tensor> state = Safetensors.read(contents.optimizer(), backend);
            Map<String, String> scalars = new LinkedHashMap<>(optimizerState.metadata());
            String savedType = scalars.remove(OPTIMIZER_KEY);
            if (!type.equals(savedType)) {
                throw new CheckpointException(contents.optimizer() + (savedType == null
                        ? " has no \"" + OPTIMIZER_KEY + "\" in its " + Safetensors.METADATA_KEY
                        : " holds " + savedType + " state, not " + type));
            }
            try {
                check(model, weights);
                // Checks all of the optimizer's state before it changes any; the model's copy below cannot fail after check.
                optimizer.loadStateDict(model.namedParameters(), state, scalars);
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(dir + " does not fit this model and optimizer: " + e.getMessage(), e);
            }
            model.loadStateDict(weights);
        }
        if (scheduler != null) {
            scheduler.resume(contents.info().schedulerLastEpoch());
        }
        return contents.info();
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
            throw new CheckpointException(file + ": \"" + key + "\" must be a string, not " + describe(v));
        }
        return v.textValue();
    }

    // Exactly a JSON integer: not a string of digits, not 3.0, not true.
    private static long integer(Path file, JsonNode json, String key, long min, long max) throws CheckpointException {
        JsonNode v = json.get(key);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
            throw new CheckpointException(file + ": \"" + key + "\" must be an integer in [" + min + ", " + max + "], not "
                    + describe(v));
        }
        return v.longValue();
    }

    private static String describe(JsonNode v) {
        if (v == null) {
            return "missing";
        }
        String text = v.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }
}
