package dev.jrocm.runtime.io;

import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.optim.SGD;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {
    static final long DATA_SEED = 1234;
    static Backend backend;
    static Dataset data;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        backend = new CpuBackend();
        Random random = new Random(5);
        int n = 60, features = 6;
        float[] x = new float[n * features];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            double score = 0;
            for (int j = 0; j < features; j++) {
                x[i * features + j] = (float) random.nextGaussian();
                score += x[i * features + j] * (j - 2.5);
            }
            y[i] = score > 1 ? 2 : score < -1 ? 0 : 1;
        }
        data = Dataset.of(backend, "toy", x, y, List.of("low", "mid", "high"), 1, 1, features);
    }

    @AfterAll
    static void close() {
        data.close();
        backend.close();
    }

    static Sequential model(long seed) {
        return new Sequential("fc1", new Linear(backend, 6, 16, seed), "relu", new ReLU(), "fc2", new Linear(backend, 16, 3, seed + 2));
    }

    /** One epoch; returns the number of steps. Batch 7 over 60 rows: a short last batch too. */
    static int trainEpoch(Module model, Optimizer optimizer, int epoch) {
        DataLoader loader = new DataLoader(data, 7, true, false, DATA_SEED);
        CrossEntropyLoss loss = new CrossEntropyLoss();
        int steps = 0;
        for (DataLoader.Batch batch : loader.epoch(epoch)) {
            try (batch; Scope ignored = Scope.open()) {
                optimizer.zeroGrad();
                loss.forward(model.forward(batch.x()), batch.y()).backward();
                optimizer.step();
                steps++;
            }
        }
        return steps;
    }

    static Map<String, float[]> weights(Module model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.namedParameters().forEach((k, v) -> out.put(k, v.toArray()));
        return out;
    }

    static void assertSameWeights(Map<String, float[]> expected, Map<String, float[]> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((k, v) -> assertArrayEquals(v, actual.get(k), k)); // bit for bit
    }

    void resumeIsExact(Function<Module, Optimizer> optimizerFor) throws IOException {
        Map<String, float[]> straight;
        try (Sequential m = model(1); Optimizer o = optimizerFor.apply(m)) {
            trainEpoch(m, o, 0);
            trainEpoch(m, o, 1);
            straight = weights(m);
        }
        long steps;
        try (Sequential m = model(1); Optimizer o = optimizerFor.apply(m)) {
            steps = trainEpoch(m, o, 0);
            Checkpoint.save(dir, m, o, 1, steps, DATA_SEED);
        }
        Map<String, float[]> resumed;
        try (Sequential m = model(99); Optimizer o = optimizerFor.apply(m)) { // other weights: the load must replace them
            Checkpoint.Info info = Checkpoint.load(dir, m, o);
            assertEquals(new Checkpoint.Info(1, steps, DATA_SEED, o.getClass().getSimpleName(), Checkpoint.jrocmVersion()), info);
            trainEpoch(m, o, info.epoch());
            resumed = weights(m);
        }
        assertSameWeights(straight, resumed);
    }

    @Test
    void twoEpochsStraightEqualOneEpochThenResumeThenOneBitForBitWithAdam() throws IOException {
        resumeIsExact(m -> new Adam(m.trainableParameters(), 0.01f));
    }

    @Test
    void resumeIsExactWithAdamWAndWithSgdMomentum() throws IOException {
        resumeIsExact(m -> Adam.adamW(m.trainableParameters(), 0.01f, 0.1f));
        resumeIsExact(m -> new SGD(m.trainableParameters(), 0.05f, 0.9f, 1e-3f));
    }

    @Test
    void withoutTheOptimizerStateAResumeWouldDiffer() throws IOException {
        // The control for the test above: Adam's moments and step count matter.
        Map<String, float[]> straight, fresh;
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            trainEpoch(m, o, 1);
            straight = weights(m);
        }
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            try (Adam restarted = new Adam(m.trainableParameters(), 0.01f)) {
                trainEpoch(m, restarted, 1);
            }
            fresh = weights(m);
        }
        assertNotEquals(straight.get("fc1.weight")[0], fresh.get("fc1.weight")[0]);
    }

    @Test
    void theDirectoryHoldsTheDocumentedFiles() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(dir, m, o, 1, 9, 77);
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of("checkpoint.json", "model.safetensors", "optimizer.safetensors"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        try (SafetensorsFile model = SafetensorsFile.open(dir.resolve("model.safetensors"));
             SafetensorsFile optimizer = SafetensorsFile.open(dir.resolve("optimizer.safetensors"))) {
            assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), model.names());
            assertEquals(List.of("fc1.weight.exp_avg", "fc1.weight.exp_avg_sq", "fc1.bias.exp_avg", "fc1.bias.exp_avg_sq",
                    "fc2.weight.exp_avg", "fc2.weight.exp_avg_sq", "fc2.bias.exp_avg", "fc2.bias.exp_avg_sq"), optimizer.names());
            assertEquals(Map.of("optimizer", "Adam", "lr", "0.01", "step", "9"), optimizer.metadata());
        }
        String json = Files.readString(dir.resolve("checkpoint.json"));
        assertTrue(json.contains("\"format\" : \"jrocm-checkpoint-1\""), json);
        assertTrue(json.contains("\"epoch\" : 1"), json);
        assertTrue(json.contains("\"seed\" : 77"), json);
        assertEquals(new Checkpoint.Info(1, 9, 77, "Adam", Checkpoint.jrocmVersion()), Checkpoint.read(dir));
    }

    @Test
    void aCheckpointWithoutItsJsonIsRefusedAsIncomplete() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            Checkpoint.save(dir, m, o, 0, 0, 1);
            Files.delete(dir.resolve("checkpoint.json")); // as a save that died before its last file leaves it
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, o));
            assertEquals(dir + " is not a complete checkpoint: checkpoint.json is missing (a save was interrupted before it"
                    + " finished?)", e.getMessage());
        }
        assertEquals(dir.resolve("absent") + " is not a checkpoint: it does not exist",
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir.resolve("absent"))).getMessage());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertEquals(empty + " is not a complete checkpoint: checkpoint.json is missing",
                assertThrows(CheckpointException.class, () -> Checkpoint.read(empty)).getMessage());
    }

    @Test
    void aJsonNamingAnAbsentFileIsRefused() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            Checkpoint.save(dir, m, o, 0, 0, 1);
        }
        Files.delete(dir.resolve("optimizer.safetensors"));
        assertEquals(dir.resolve("checkpoint.json") + " names optimizer file 'optimizer.safetensors', which is not in " + dir,
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage());
        String json = Files.readString(dir.resolve("checkpoint.json"));
        Files.writeString(dir.resolve("checkpoint.json"), json.replace("\"model.safetensors\"", "\"../model.safetensors\""));
        assertEquals(dir.resolve("checkpoint.json") + " names model file '../model.safetensors', which is not in " + dir,
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage());
    }

    @Test
    void aBrokenJsonIsRefused() throws IOException {
        Path info = Files.createDirectories(dir).resolve("checkpoint.json");
        Files.writeString(info, "{\"format\": ");
        assertTrue(assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage()
                .startsWith(info + " is not valid JSON: Unexpected end-of-input"));
        Files.writeString(info, "{\"format\": \"other\"}");
        assertEquals(info + " is not a jrocm checkpoint (\"format\" should be \"jrocm-checkpoint-1\")",
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage());
        Files.writeString(dir.resolve("m"), "");
        Files.writeString(info, "{\"format\": \"jrocm-checkpoint-1\", \"model\": \"m\", \"optimizer\": \"m\", \"epoch\": -1}");
        assertEquals(info + ": \"epoch\" must be an integer in [0, 2147483647], not -1",
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage());
        Files.writeString(info, "{\"format\": \"jrocm-checkpoint-1\", \"model\": 3, \"optimizer\": \"m\"}");
        assertEquals(info + ": \"model\" must be a string, not 3",
                assertThrows(CheckpointException.class, () -> Checkpoint.read(dir)).getMessage());
    }

    @Test
    void anotherOptimizerTypeOrModelShapeIsRefusedAndChangesNothing() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(dir, m, o, 1, 9, 1);
        }
        try (Sequential m = model(3); SGD sgd = new SGD(m.trainableParameters(), 0.1f)) {
            assertEquals(dir + " was saved with Adam, not SGD",
                    assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, sgd)).getMessage());
        }
        try (Sequential wider = new Sequential("fc1", new Linear(backend, 6, 8, 1), "relu", new ReLU(),
                "fc2", new Linear(backend, 8, 3, 2));
             Adam o = new Adam(wider.trainableParameters(), 0.01f)) {
            Map<String, float[]> before = weights(wider);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, wider, o));
            assertEquals(dir + " does not fit this model and optimizer: loadStateDict into Sequential: fc1.weight is 16×6"
                    + " in the state dict but 8×6 in the model; fc1.bias is 16 in the state dict but 8 in the model;"
                    + " fc2.weight is 3×16 in the state dict but 3×8 in the model", e.getMessage());
            assertSameWeights(before, weights(wider));
            assertEquals(0, o.stateCount());
            assertEquals(0, o.steps());
        }
    }

    @Test
    void optimizerStateRoundTripsByParameterNameAndIsChecked() {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f); Scope ignored = Scope.open()) {
            trainEpoch(m, o, 0);
            Map<String, Tensor> state = o.stateDict(m.namedParameters());
            assertEquals(8, state.size());
            assertEquals(Map.of("lr", "0.01", "step", "9"), o.scalarState());
            try (Adam other = new Adam(m.trainableParameters(), 0.01f)) {
                other.loadStateDict(m.namedParameters(), state, o.scalarState());
                assertEquals(9, other.steps());
                assertArrayEquals(state.get("fc2.bias.exp_avg_sq").toArray(),
                        other.stateOf(m.namedParameters().get("fc2.bias"))[1].toArray());

                Map<String, Tensor> partial = new LinkedHashMap<>(state);
                partial.remove("fc1.bias.exp_avg_sq");
                partial.put("fc3.weight.exp_avg", state.get("fc2.bias.exp_avg"));
                partial.put("fc2.bias.exp_avg", state.get("fc1.bias.exp_avg"));
                assertEquals("loadStateDict into Adam: fc1.bias has exp_avg but not exp_avg_sq; fc2.bias.exp_avg is f32 16 on cpu"
                        + " but the parameter is f32 3 on cpu; unexpected fc3.weight.exp_avg", assertThrows(
                        IllegalArgumentException.class, () -> other.loadStateDict(m.namedParameters(), partial, Map.of("step", "1")))
                        .getMessage());
                assertEquals(9, other.steps()); // unchanged
                assertEquals("Adam state needs exactly one scalar, step; got []", assertThrows(IllegalArgumentException.class,
                        () -> other.loadStateDict(m.namedParameters(), state, Map.of())).getMessage());
                assertEquals("Adam step must be a non-negative integer, got 'x'", assertThrows(IllegalArgumentException.class,
                        () -> other.loadStateDict(m.namedParameters(), state, Map.of("step", "x"))).getMessage());
                // No entries at all: the state is dropped, as for a fresh optimizer.
                other.loadStateDict(m.namedParameters(), Map.of(), Map.of("step", "0"));
                assertEquals(0, other.stateCount());
            }
            try (SGD sgd = new SGD(m.trainableParameters(), 0.1f)) {
                assertEquals("SGD has no scalar state, got [step]", assertThrows(IllegalArgumentException.class,
                        () -> sgd.loadStateDict(m.namedParameters(), Map.of(), Map.of("step", "1"))).getMessage());
            }
            Map<String, Tensor> unnamed = Map.of("fc1.weight", m.namedParameters().get("fc1.weight"));
            assertEquals("Adam parameter 1 (f32 16 on cpu) has no name among the named parameters given",
                    assertThrows(IllegalArgumentException.class, () -> o.stateDict(unnamed)).getMessage());
        }
    }

    static List<String> namesIn(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aSaveRefusesToReplaceWhatIsNotACheckpointAndDeletesNothing() throws IOException {
        Path notes = Files.createDirectories(dir.resolve("notes"));
        Files.writeString(notes.resolve("todo.txt"), "keep me");
        Files.writeString(notes.resolve("model.safetensors"), "someone else's");
        Path file = Files.writeString(dir.resolve("file"), "a file");
        Path stale = Files.createDirectories(dir.resolve("stale"));
        Files.writeString(stale.resolve("model.safetensors"), "no checkpoint.json beside it");
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            assertEquals(notes + " is not a checkpoint: it holds todo.txt; refusing to save over it (save to a new or empty"
                    + " directory)", assertThrows(CheckpointException.class, () -> Checkpoint.save(notes, m, o, 0, 0, 1)).getMessage());
            assertEquals(file + " exists and is not a directory: refusing to replace it with a checkpoint",
                    assertThrows(CheckpointException.class, () -> Checkpoint.save(file, m, o, 0, 0, 1)).getMessage());
            assertEquals(stale + " is not a checkpoint: it has no checkpoint.json; refusing to save over it (save to a new or"
                    + " empty directory)", assertThrows(CheckpointException.class, () -> Checkpoint.save(stale, m, o, 0, 0, 1))
                    .getMessage());
        }
        assertEquals(List.of("model.safetensors", "todo.txt"), namesIn(notes));
        assertEquals("keep me", Files.readString(notes.resolve("todo.txt")));
        assertEquals("a file", Files.readString(file));
        assertEquals(List.of("model.safetensors"), namesIn(stale));
        assertEquals(List.of("file", "notes", "stale"), namesIn(dir)); // no staging directory left behind
    }

    @Test
    void aSaveThatFailsLeavesThePreviousCheckpointAndNothingElse() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f);
             Sequential other = model(2); Adam foreign = new Adam(other.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(ckpt, m, o, 1, 9, 1);
            Map<String, float[]> saved = weights(m);
            trainEpoch(m, o, 1);
            // The optimizer's parameters are not the model's: its state cannot be named, after model.safetensors is written.
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(ckpt, m, foreign, 2, 18, 1));
            assertEquals(List.of("ckpt"), namesIn(dir));
            try (Sequential back = model(3); Adam o2 = new Adam(back.trainableParameters(), 0.01f)) {
                assertEquals(9, Checkpoint.load(ckpt, back, o2).step());
                assertSameWeights(saved, weights(back));
            }
        }
    }

    @Test
    void aSaveKilledBetweenItsRenamesIsCompletedByTheNextLoad() throws IOException {
        Path ckpt = dir.resolve("ckpt");
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            Checkpoint.save(ckpt, m, o, 1, 9, 1);
            Checkpoint.save(dir.resolve("next"), m, o, 2, 18, 1);
        }
        // As the save of "next" over "ckpt" leaves it when killed after its first rename.
        Files.move(ckpt, dir.resolve(".ckpt.77-1.old"));
        Files.move(dir.resolve("next"), dir.resolve(".ckpt.77-1.partial"));
        assertEquals(18, Checkpoint.read(ckpt).step());
        assertEquals(List.of(".ckpt.77-1.old", "ckpt"), namesIn(dir)); // the old one is kept: the load did not make it
        Files.move(ckpt, dir.resolve(".ckpt.78-2.partial"));
        Files.createDirectory(dir.resolve(".ckpt.78-2.old"));
        Files.move(dir.resolve(".ckpt.77-1.old"), dir.resolve(".ckpt.77-1.partial"));
        Files.createDirectory(dir.resolve(".ckpt.77-1.old"));
        assertEquals(ckpt + " is missing and several interrupted saves could replace it: [" + dir.resolve(".ckpt.77-1.partial")
                + ", " + dir.resolve(".ckpt.78-2.partial") + "]; rename the one to resume from to " + ckpt,
                assertThrows(CheckpointException.class, () -> Checkpoint.read(ckpt)).getMessage());
    }

    @Test
    void checkpointJsonIsReadStrictlyAndAFailedLoadChangesNothing() throws IOException {
        Path info = dir.resolve("checkpoint.json");
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(dir, m, o, 1, 9, 77);
        }
        String valid = Files.readString(info);
        String longMax = "9223372036854775807", longMin = "-9223372036854775808";
        String[][] cases = { // key, the value it gets (null: dropped), the message after the file name
                {"step", "\"3\"", ": \"step\" must be an integer in [0, " + longMax + "], not \"3\""},
                {"step", "2.9", ": \"step\" must be an integer in [0, " + longMax + "], not 2.9"},
                {"step", "1e2", ": \"step\" must be an integer in [0, " + longMax + "], not 100.0"},
                {"step", "18446744073709551616", ": \"step\" must be an integer in [0, " + longMax + "], not 18446744073709551616"},
                {"epoch", "true", ": \"epoch\" must be an integer in [0, 2147483647], not true"},
                {"epoch", "3.0", ": \"epoch\" must be an integer in [0, 2147483647], not 3.0"},
                {"epoch", "2147483648", ": \"epoch\" must be an integer in [0, 2147483647], not 2147483648"},
                {"seed", "\"abc\"", ": \"seed\" must be an integer in [" + longMin + ", " + longMax + "], not \"abc\""},
                {"seed", null, ": \"seed\" must be an integer in [" + longMin + ", " + longMax + "], not missing"},
                {"seed", "null", ": \"seed\" must be an integer in [" + longMin + ", " + longMax + "], not null"},
                {"jrocm", "1", ": \"jrocm\" must be a string, not 1"},
                {"optimizer_type", "[\"Adam\"]", ": \"optimizer_type\" must be a string, not [\"Adam\"]"},
                {"optimizer", null, ": \"optimizer\" must be a string, not missing"},
                {"scheduler", "\"StepLR\"", ": \"scheduler_last_epoch\" must be an integer in [0, 2147483647], not missing"},
                {"scheduler_last_epoch", "3", ": \"scheduler\" must be a string, not missing"},
                {"extra", "1", ": unknown key \"extra\" (a jrocm-checkpoint-1 checkpoint.json has format, jrocm, epoch, step,"
                        + " seed, model, optimizer, optimizer_type, scheduler, scheduler_last_epoch)"},
        };
        try (Sequential m = model(3); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            Map<String, float[]> before = weights(m);
            for (String[] c : cases) {
                var json = (com.fasterxml.jackson.databind.node.ObjectNode) Safetensors.JSON.readTree(valid);
                if (c[1] == null) {
                    json.remove(c[0]);
                } else {
                    json.set(c[0], Safetensors.JSON.readTree(c[1]));
                }
                Files.writeString(info, json.toString());
                String message = assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, o), c[0]).getMessage();
                assertEquals(info + c[2], message, c[0] + " = " + c[1]);
                assertSameWeights(before, weights(m));
                assertEquals(0, o.steps());
                assertEquals(0, o.stateCount());
            }
            String[][] texts = {
                    {valid.replace("\"step\" : 9,", "\"step\" : 9, \"step\" : 10,"), " is not valid JSON: Duplicate field 'step'"},
                    {"", " is empty"},
                    {"null", " is not a jrocm checkpoint (\"format\" should be \"jrocm-checkpoint-1\")"},
                    {"[".repeat(5000), " is not valid JSON: Document nesting depth (1001) exceeds the maximum allowed (1000,"
                            + " from `StreamReadConstraints.getMaxNestingDepth()`)"},
            };
            for (String[] c : texts) {
                Files.writeString(info, c[0]);
                String message = assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, o)).getMessage();
                assertTrue(message.startsWith(info + c[1]), message);
                assertSameWeights(before, weights(m));
            }
            Files.delete(info);
            Files.createDirectory(info);
            assertEquals(info + " is not a regular file",
                    assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, o)).getMessage());
        }
    }

    @Test
    void aLoadWhoseOptimizerStateDoesNotFitChangesNeitherModelNorOptimizer() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(dir, m, o, 1, 9, 77);
        }
        Path state = dir.resolve("optimizer.safetensors");
        try (SafetensorsFile st = SafetensorsFile.open(state)) {
            List<Safetensors.Source> sources = new java.util.ArrayList<>();
            for (String name : st.names()) {
                sources.add(Safetensors.Source.ofFloats(name, st.floats(name), st.entry(name).shape()));
            }
            Safetensors.write(dir.resolve("o2"), sources, Map.of("optimizer", "Adam", "step", "-4"));
        }
        Files.move(dir.resolve("o2"), state, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (Sequential m = model(3); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Map<String, float[]> before = weights(m);
            float[] moment = o.stateOf(m.namedParameters().get("fc1.weight"))[0].toArray();
            assertEquals(dir + " does not fit this model and optimizer: Adam step must be a non-negative integer, got '-4'",
                    assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, m, o)).getMessage());
            assertSameWeights(before, weights(m));
            assertEquals(9, o.steps());
            assertArrayEquals(moment, o.stateOf(m.namedParameters().get("fc1.weight"))[0].toArray());
        }
        try (Sequential empty = new Sequential("relu", new ReLU()); Sequential other = model(4);
             SGD sgd = new SGD(other.trainableParameters(), 0.1f)) {
            Files.writeString(dir.resolve("checkpoint.json"), Files.readString(dir.resolve("checkpoint.json"))
                    .replace("\"Adam\"", "\"SGD\""));
            assertEquals("cannot load " + dir + " into Sequential: it has no parameters",
                    assertThrows(CheckpointException.class, () -> Checkpoint.load(dir, empty, sgd)).getMessage());
        }
    }

    @Test
    void negativePositionsAreRefused() {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            assertEquals("epoch and step must be ≥ 0, got epoch -1, step 0", assertThrows(IllegalArgumentException.class,
                    () -> Checkpoint.save(dir, m, o, -1, 0, 0)).getMessage());
        }
    }
}
