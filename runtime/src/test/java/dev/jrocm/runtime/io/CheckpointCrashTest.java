package dev.jrocm.runtime.io;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
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
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Kills a child JVM ({@link KilledSaver}) just before each file-system step of a save that
 * replaces an existing checkpoint, one step per run, and checks that the directory then loads as
 * exactly the old checkpoint or exactly the new one (weights, optimizer state and position), and
 * that a later save over it works.
 */
class CheckpointCrashTest {
    /** The two checkpoints: a version seeds the weights, sets the Adam steps taken and the position saved. */
    static final int OLD = 1, NEW = 2;
    static Backend backend;
    @TempDir
    Path root;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Sequential model(Backend backend, int version) {
        return new Sequential("fc1", new Linear(backend, 4, 8, 10L * version), "relu", new ReLU(),
                "fc2", new Linear(backend, 8, 3, 10L * version + 1));
    }

    /** Takes {@code version} Adam steps on a fixed batch and saves at epoch {@code version}, step {@code 10 × version}. */
    static void save(Path dir, Sequential m, Adam o, int version) throws IOException {
        train(m, o, version);
        Checkpoint.save(dir, m, o, version, 10L * version, 100 + version);
    }

    /** Takes {@code steps} Adam steps on a fixed batch. */
    static void train(Sequential m, Adam o, int steps) {
        Backend backend = m.parameters().getFirst().backend();
        for (int i = 0; i < steps; i++) {
            try (Scope ignored = Scope.open()) {
                Tensor x = Tensor.of(backend, new float[] {1, -2, 3, 0.5f, -1, 0, 2, 1}, 2, 4);
                o.zeroGrad();
                new CrossEntropyLoss().forward(m.forward(x), Tensor.ofInts(backend, new int[] {2, 0}, 2)).backward();
                o.step();
            }
        }
    }

    /** Everything a load restores, as text that is equal exactly when the values are equal bit for bit. */
    static String fingerprint(Checkpoint.Info info, Sequential m, Adam o) {
        // Not info.jrocm(): the child runs from the class path, where the version is "unknown".
        StringBuilder b = new StringBuilder("epoch " + info.epoch() + " step " + info.step() + " seed " + info.seed()
                + " " + info.optimizer() + " adam steps " + o.steps());
        m.namedParameters().forEach((name, p) -> {
            b.append("\n").append(name).append(Arrays.toString(p.toArray()));
            Tensor[] state = o.stateOf(p);
            for (Tensor t : state == null ? new Tensor[0] : state) {
                b.append(" state ").append(Arrays.toString(t.toArray()));
            }
        });
        return b.toString();
    }

    static String expected(int version) throws IOException {
        Path dir = Files.createTempDirectory("jrocm-expected");
        try (Sequential m = model(backend, version); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            save(dir, m, o, version);
            return fingerprint(Checkpoint.read(dir), m, o);
        } finally {
            for (String f : List.of(Checkpoint.MODEL_FILE, Checkpoint.OPTIMIZER_FILE, Checkpoint.INFO_FILE)) {
                Files.deleteIfExists(dir.resolve(f));
            }
            Files.delete(dir);
        }
    }

    static String loaded(Path dir) throws IOException {
        try (Sequential m = model(backend, 99); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            return fingerprint(Checkpoint.load(dir, m, o), m, o);
        }
    }

    static void saveHere(Path dir, int version) throws IOException {
        try (Sequential m = model(backend, version); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            save(dir, m, o, version);
        }
    }

    /** The file-system steps of a save that replaces a checkpoint, counted in this JVM. */
    static List<String> stepsOfAReplacingSave(Path dir) throws IOException {
        saveHere(dir, OLD);
        List<String> steps = new ArrayList<>();
        Consumer<String> before = AtomicFile.beforeStep;
        AtomicFile.beforeStep = steps::add;
        try {
            saveHere(dir, NEW);
        } finally {
            AtomicFile.beforeStep = before;
        }
        return steps;
    }

    @Test
    void aSaveKilledBeforeAnyOfItsStepsLeavesTheOldOrTheNewCheckpoint() throws Exception {
        String old = expected(OLD), fresh = expected(NEW);
        assertNotEquals(old, fresh);
        Path counted = Files.createDirectories(root.resolve("count")).resolve("ckpt");
        List<String> steps = stepsOfAReplacingSave(counted);
        assertTrue(steps.size() >= 10, "a replacing save should have at least 10 steps: " + steps);
        // Killed up to the step that moves the old checkpoint aside, the old one stays; from then on
        // the new one is finished and is what a load finds (after the first rename, by recovering it).
        int moveAside = 1 + indexOfPrefix(steps, "rename " + counted + " to ");
        assertTrue(moveAside > 1, "no step moves the old checkpoint aside: " + steps);
        List<String> outcomes = new ArrayList<>();
        for (int k = 1; k <= steps.size() + 1; k++) {
            Path dir = Files.createDirectories(root.resolve("run" + k)).resolve("ckpt");
            saveHere(dir, OLD);
            Process child = new ProcessBuilder(KilledWriter.javaCommand(KilledSaver.class, dir.toString(), String.valueOf(k)))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String haltedBefore = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            int rc = child.waitFor();
            String what = "killed before step " + k + (k <= steps.size() ? " (" + steps.get(k - 1) + ")" : " (none: finished)");
            assertEquals(k <= steps.size() ? KilledSaver.HALTED : 0, rc, what + ", child printed: " + haltedBefore);
            String outcome;
            try {
                outcome = loaded(dir);
            } catch (IOException e) {
                fail(what + ": the checkpoint does not load: " + e.getMessage() + "\nearlier outcomes: " + outcomes, e);
                return;
            }
            assertTrue(outcome.equals(old) || outcome.equals(fresh), what + ": loaded neither the old nor the new checkpoint: "
                    + outcome);
            outcomes.add(k + (outcome.equals(old) ? ":old" : ":new"));
            assertEquals(k <= moveAside ? old : fresh, outcome, what + ": the wrong one of the two; outcomes: " + outcomes);
            assertEquals(outcome, loaded(dir), what + ": a second load differs");
            saveHere(dir, NEW); // a later save over what the killed one left works
            assertEquals(fresh, loaded(dir), what + ": the save after it");
        }
    }

    private static int indexOfPrefix(List<String> steps, String prefix) {
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }
}
