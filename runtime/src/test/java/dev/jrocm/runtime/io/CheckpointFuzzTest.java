package dev.jrocm.runtime.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Mutates a valid checkpoint (bytes flipped, overwritten, inserted or cut off in its safetensors
 * files and its checkpoint.json; JSON values given another type; keys dropped or added; files
 * removed) and checks that each load either succeeds and restores exactly what the files now
 * hold, or throws an {@link IOException} with a message (a {@link CheckpointException} or
 * {@link SafetensorsFormatException} mostly) and leaves the model and optimizer exactly as they
 * were. Anything else (another exception, an error, a partial change) fails, naming the seed.
 * Without checksums a flipped data byte loads: the check is that the load is faithful to the files.
 */
class CheckpointFuzzTest {
    static final long SEED = 20261202L;
    static final int TRIES = Integer.getInteger("jrocm.checkpoint.fuzz.tries", 300);
    static final List<String> FILES = List.of(Checkpoint.MODEL_FILE, Checkpoint.OPTIMIZER_FILE, Checkpoint.INFO_FILE);
    static final String[] VALUES = {"\"3\"", "2.9", "true", "false", "null", "[]", "{}", "-1", "0", "\"abc\"", "\"\"",
            "18446744073709551616", "1e308", "\"model.safetensors\"", "\"optimizer.safetensors\"", "\"../x\"", "\"Adam\"", "\"SGD\""};
    static Backend backend;
    static Path valid;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() throws IOException {
        backend = new CpuBackend();
        valid = Files.createTempDirectory("jrocm-checkpoint-fuzz").resolve("valid");
        try (Sequential m = CheckpointCrashTest.model(backend, 1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            CheckpointCrashTest.save(valid, m, o, 2);
        }
    }

    @AfterAll
    static void close() throws IOException {
        backend.close();
        for (String f : FILES) {
            Files.deleteIfExists(valid.resolve(f));
        }
        Files.delete(valid);
        Files.delete(valid.getParent());
    }

    @Test
    void everyMutatedCheckpointLoadsFaithfullyOrFailsCleanlyChangingNothing() throws IOException {
        Random seeds = new Random(SEED);
        int loaded = 0;
        for (int i = 0; i < TRIES; i++) {
            long seed = seeds.nextLong();
            Random random = new Random(seed);
            Path ckpt = dir.resolve("try" + i);
            Files.createDirectory(ckpt);
            for (String f : FILES) {
                Files.copy(valid.resolve(f), ckpt.resolve(f));
            }
            List<String> done = new ArrayList<>();
            for (int m = 1 + random.nextInt(3); m > 0; m--) {
                done.add(mutate(ckpt, random));
            }
            loaded += checkOutcome(ckpt, "try " + i + " (seed " + seed + "L, " + done + ")") ? 1 : 0;
        }
        // Both outcomes must occur, or the mutations are too tame (or too wild) to test anything.
        System.out.println(loaded + " of " + TRIES + " mutated checkpoints loaded");
        assertTrue(loaded > TRIES / 50 && loaded < TRIES / 2, loaded + " of " + TRIES + " mutated checkpoints loaded");
    }

    @Test
    void theUnmutatedCheckpointLoads() throws IOException {
        assertTrue(checkOutcome(valid, "the valid checkpoint"));
    }

    /** True for a faithful load, false for a clean error that changed nothing; fails the test otherwise. */
    static boolean checkOutcome(Path ckpt, String what) throws IOException {
        try (Sequential m = CheckpointCrashTest.model(backend, 99); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            CheckpointCrashTest.train(m, o, 1); // state a failed load must keep
            Checkpoint.Info before = new Checkpoint.Info(0, 0, 0, "Adam", "");
            String untouched = CheckpointCrashTest.fingerprint(before, m, o);
            Checkpoint.Info info;
            try {
                info = Checkpoint.load(ckpt, m, o);
            } catch (IOException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), what + ": an exception without a message: " + e);
                assertEquals(untouched, CheckpointCrashTest.fingerprint(before, m, o), what + ": the failed load (" + e
                        + ") changed the model or optimizer");
                return false;
            } catch (Throwable e) {
                fail(what + ": neither a load nor a clean error: " + e, e);
                return false;
            }
            assertEquals(fromFiles(ckpt, m), CheckpointCrashTest.fingerprint(info, m, o), what + ": the load is not what the files hold");
            return true;
        }
    }

    /** What a load of {@code ckpt} must give, read from its files without {@link Checkpoint}, in fingerprint's form. */
    static String fromFiles(Path ckpt, Sequential m) throws IOException {
        JsonNode json = Safetensors.JSON.readTree(ckpt.resolve(Checkpoint.INFO_FILE).toFile());
        try (SafetensorsFile weights = SafetensorsFile.open(ckpt.resolve(json.get("model").textValue()));
             SafetensorsFile state = SafetensorsFile.open(ckpt.resolve(json.get("optimizer").textValue()))) {
            StringBuilder b = new StringBuilder("epoch " + json.get("epoch") + " step " + json.get("step") + " seed "
                    + json.get("seed") + " " + json.get("optimizer_type").textValue() + " adam steps "
                    + Integer.parseInt(state.metadata().get("step")));
            for (String name : m.namedParameters().keySet()) {
                b.append("\n").append(name).append(Arrays.toString(weights.floats(name)));
                if (state.names().contains(name + ".exp_avg")) {
                    b.append(" state ").append(Arrays.toString(state.floats(name + ".exp_avg")));
                    b.append(" state ").append(Arrays.toString(state.floats(name + ".exp_avg_sq")));
                }
            }
            return b.toString();
        }
    }

    /** One random change to a file of {@code ckpt}; returns what it did. */
    static String mutate(Path ckpt, Random random) throws IOException {
        String name = FILES.get(random.nextInt(FILES.size()));
        Path file = ckpt.resolve(name);
        if (!Files.exists(file)) {
            return name + " already gone";
        }
        int kind = random.nextInt(10);
        if (kind == 0) {
            Files.delete(file);
            return "deleted " + name;
        }
        if (name.equals(Checkpoint.INFO_FILE) && kind <= 4) {
            return mutateJson(file, random, kind);
        }
        byte[] bytes = Files.readAllBytes(file);
        if (name.equals(Checkpoint.INFO_FILE)) {
            byte[] b = bytes.clone();
            int at = random.nextInt(Math.max(1, b.length));
            switch (random.nextInt(3)) {
                case 0 -> b = Arrays.copyOf(b, random.nextInt(b.length + 1));
                case 1 -> { if (b.length > 0) b[at] = "\"{}[],:-.e0123456789 ".getBytes(StandardCharsets.US_ASCII)[random.nextInt(21)]; }
                default -> { if (b.length > 0) b[at] ^= (byte) (1 << random.nextInt(8)); }
            }
            Files.write(file, b);
            return "bytes of " + name;
        }
        Files.write(file, SafetensorsFuzzTest.mutate(bytes, random, 1));
        return "bytes of " + name;
    }

    private static String mutateJson(Path file, Random random, int kind) throws IOException {
        JsonNode parsed;
        try {
            parsed = Safetensors.JSON.readTree(file.toFile());
        } catch (IOException e) {
            return "json already broken";
        }
        if (!(parsed instanceof ObjectNode json) || json.isEmpty()) {
            return "json not an object";
        }
        List<String> keys = new ArrayList<>();
        json.fieldNames().forEachRemaining(keys::add);
        String key = keys.get(random.nextInt(keys.size()));
        String change;
        switch (kind) {
            case 1 -> {
                json.remove(key);
                change = "dropped " + key;
            }
            case 2 -> {
                json.put("extra" + random.nextInt(3), 1);
                change = "added a key";
            }
            default -> {
                String value = VALUES[random.nextInt(VALUES.length)];
                json.set(key, Safetensors.JSON.readTree(value));
                change = key + " = " + value;
            }
        }
        Files.writeString(file, json.toPrettyString());
        return change;
    }
}
