package dev.jrocm.runtime.io;

import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.optim.CosineAnnealingLR;
import dev.jrocm.runtime.optim.LinearWarmup;
import dev.jrocm.runtime.optim.LrScheduler;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.optim.SGD;
import dev.jrocm.runtime.optim.StepLR;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jrocm.runtime.io.CheckpointTest.assertSameWeights;
import static dev.jrocm.runtime.io.CheckpointTest.model;
import static dev.jrocm.runtime.io.CheckpointTest.trainEpoch;
import static dev.jrocm.runtime.io.CheckpointTest.weights;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A checkpoint keeps the learning rate and the scheduler's position: a resumed schedule goes on where it stopped. */
class CheckpointScheduleTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        CheckpointTest.open();
    }

    @AfterAll
    static void close() {
        CheckpointTest.close();
    }

    /** Warmup over 2 epochs, then a cosine over 3: each epoch runs at another lr. */
    private static LrScheduler schedule(Optimizer o) {
        return new LinearWarmup(o, 2, new CosineAnnealingLR(o, 3, 1e-4));
    }

    @Test
    void aResumedScheduleGivesTheSameRatesAndWeightsAsARunThatNeverStopped() throws IOException {
        int epochs = 5, stopAfter = 3;
        List<Double> straightLrs = new ArrayList<>();
        Map<String, float[]> straight;
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.02f)) {
            LrScheduler s = schedule(o);
            for (int e = 0; e < epochs; e++) {
                straightLrs.add(o.lr());
                trainEpoch(m, o, e);
                s.step();
            }
            straight = weights(m);
        }
        List<Double> resumedLrs = new ArrayList<>();
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.02f)) {
            LrScheduler s = schedule(o);
            for (int e = 0; e < stopAfter; e++) {
                resumedLrs.add(o.lr());
                trainEpoch(m, o, e);
                s.step();
            }
            Checkpoint.save(dir, m, o, s, stopAfter, 0, CheckpointTest.DATA_SEED);
        }
        try (Sequential m = model(99); Adam o = new Adam(m.trainableParameters(), 0.5f)) { // other weights and lr
            LrScheduler s = schedule(o);
            Checkpoint.Info info = Checkpoint.load(dir, m, o, s);
            assertEquals("LinearWarmup", info.scheduler());
            assertEquals(stopAfter, info.schedulerLastEpoch());
            assertEquals(stopAfter, s.lastEpoch());
            for (int e = stopAfter; e < epochs; e++) {
                resumedLrs.add(o.lr());
                trainEpoch(m, o, e);
                s.step();
            }
            assertEquals(straightLrs, resumedLrs, "the lr of each epoch");
            assertSameWeights(straight, weights(m));
        }
    }

    @Test
    void theLrSetByHandComesBackWithoutAScheduler() throws IOException {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            o.setLr(0.003);
            Checkpoint.save(dir, m, o, 1, 9, 1);
            assertEquals(null, Checkpoint.read(dir).scheduler());
            assertEquals(-1, Checkpoint.read(dir).schedulerLastEpoch());
        }
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            Checkpoint.load(dir, m, o);
            assertEquals(0.003f, (float) o.lr());
        }
    }

    @Test
    void aSchedulerThatCannotResumeIsRefusedBeforeAnythingChanges() throws IOException {
        Path plain = dir.resolve("plain"), stepped = dir.resolve("stepped");
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f)) {
            trainEpoch(m, o, 0);
            Checkpoint.save(plain, m, o, 1, 9, 1);
            StepLR s = new StepLR(o, 1, 0.5);
            s.step();
            Checkpoint.save(stepped, m, o, s, 1, 9, 1);
        }
        try (Sequential m = model(7); Adam o = new Adam(m.trainableParameters(), 0.04f)) {
            Map<String, float[]> before = weights(m);
            CosineAnnealingLR cosine = new CosineAnnealingLR(o, 4, 0);
            CheckpointException none = assertThrows(CheckpointException.class, () -> Checkpoint.load(plain, m, o, cosine));
            assertTrue(none.getMessage().contains("was saved without a scheduler"), none.getMessage());
            CheckpointException other = assertThrows(CheckpointException.class, () -> Checkpoint.load(stepped, m, o, cosine));
            assertTrue(other.getMessage().contains("saved with a StepLR scheduler, not a CosineAnnealingLR"), other.getMessage());
            assertSameWeights(before, weights(m));
            assertEquals(0.04f, (float) o.lr(), "the refused loads left the lr");
            assertEquals(0, o.steps());
            try (Adam foreign = new Adam(m.trainableParameters(), 0.01f)) {
                StepLR elsewhere = new StepLR(foreign, 1, 0.5);
                assertThrows(IllegalArgumentException.class, () -> Checkpoint.load(stepped, m, o, elsewhere));
                assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(dir.resolve("x"), m, o, elsewhere, 0, 0, 1));
            }
            StepLR again = new StepLR(o, 1, 0.5);
            Checkpoint.load(stepped, m, o, again);
            assertEquals(1, again.lastEpoch());
            assertEquals(0.005f, (float) o.lr(), "0.01 halved once");
        }
    }

    @Test
    void theSavedLrIsCheckedAndAnOldStateWithoutOneKeepsTheRate() {
        try (Sequential m = model(1); Adam o = new Adam(m.trainableParameters(), 0.01f); Scope ignored = Scope.open()) {
            trainEpoch(m, o, 0);
            Map<String, Tensor> state = o.stateDict(m.namedParameters());
            try (Adam other = new Adam(m.trainableParameters(), 0.07f)) {
                Map<String, String> bad = new LinkedHashMap<>(o.scalarState());
                bad.put("lr", "fast");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> other.loadStateDict(m.namedParameters(), state, bad));
                assertTrue(e.getMessage().contains("lr must be a number >= 0 and finite, got 'fast'"), e.getMessage());
                assertEquals(0, other.steps(), "nothing changed");
                other.loadStateDict(m.namedParameters(), state, Map.of("step", "9")); // saved before lrs were
                assertEquals(0.07f, (float) other.lr());
                assertEquals(9, other.steps());
            }
            try (SGD sgd = new SGD(m.trainableParameters(), 0.1f)) {
                sgd.setLr(0.25);
                assertEquals(Map.of("lr", "0.25"), sgd.scalarState());
            }
        }
    }
}
