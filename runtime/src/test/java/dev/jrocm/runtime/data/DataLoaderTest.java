package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.MemoryStats;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataLoaderTest {
    static Backend backend;
    static Dataset data; // row i: features [i, i + 0.5], label i % 3

    @BeforeAll
    static void open() {
        backend = new CpuBackend();
        int n = 10;
        float[] x = new float[n * 2];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            x[2 * i] = i;
            x[2 * i + 1] = i + 0.5f;
            y[i] = i % 3;
        }
        data = Dataset.of(backend, "toy", x, y, List.of("a", "b", "c"), 1, 1, 2);
    }

    @AfterAll
    static void close() {
        data.close();
        backend.close();
    }

    static List<Integer> rowsOf(DataLoader loader, int epoch) {
        List<Integer> rows = new ArrayList<>();
        for (DataLoader.Batch b : loader.epoch(epoch)) {
            float[] x = b.x().toArray();
            int[] y = b.y().toIntArray();
            for (int i = 0; i < b.size(); i++) {
                int row = (int) x[2 * i];
                assertEquals(row + 0.5f, x[2 * i + 1]);
                assertEquals(row % 3, y[i]);
                rows.add(row);
            }
        }
        return rows;
    }

    @Test
    void withoutShufflingBatchesFollowTheRowsAndTheLastMayBeShort() {
        DataLoader loader = new DataLoader(data, 4, false, false, 0);
        assertEquals(3, loader.size());
        assertEquals(IntStream.range(0, 10).boxed().toList(), rowsOf(loader, 0));
        List<Integer> sizes = new ArrayList<>();
        loader.epoch(0).forEach(b -> sizes.add(b.size()));
        assertEquals(List.of(4, 4, 2), sizes);
    }

    @Test
    void dropLastLeavesOutTheShortBatch() {
        DataLoader loader = new DataLoader(data, 4, true, true, 1);
        assertEquals(2, loader.size());
        assertEquals(8, rowsOf(loader, 0).size());
        assertEquals(2, new DataLoader(data, 5, false, true, 0).size()); // exact: nothing dropped
    }

    @Test
    void theSameSeedGivesTheSameOrderAndEpochsDiffer() {
        DataLoader a = new DataLoader(data, 3, true, false, 42);
        DataLoader b = new DataLoader(data, 3, true, false, 42);
        assertEquals(rowsOf(a, 0), rowsOf(b, 0));
        assertEquals(rowsOf(a, 5), rowsOf(b, 5)); // epoch 5 without replaying 0..4
        assertNotEquals(rowsOf(a, 0), rowsOf(a, 1));
        assertNotEquals(rowsOf(a, 0), rowsOf(new DataLoader(data, 3, true, false, 43), 0));
        List<Integer> sorted = new ArrayList<>(rowsOf(a, 3));
        sorted.sort(null);
        assertEquals(IntStream.range(0, 10).boxed().toList(), sorted); // a permutation
    }

    @Test
    void theShuffleIsAFixedFunctionOfSeedAndEpoch() {
        // Pinned (and computed independently in Python from the comment in DataLoader.order) so the
        // order a checkpoint resumes into never changes between versions.
        assertArrayEquals(new int[] {2, 6, 3, 4, 9, 8, 5, 7, 0, 1}, new DataLoader(data, 3, true, false, 42).order(0));
    }

    @Test
    void shufflesAreUniformEnoughThatEveryRowVisitsEveryPosition() {
        DataLoader loader = new DataLoader(data, 1, true, false, 7);
        int[][] seen = new int[10][10];
        for (int epoch = 0; epoch < 2000; epoch++) {
            int[] order = loader.order(epoch);
            for (int pos = 0; pos < 10; pos++) {
                seen[order[pos]][pos]++;
            }
        }
        for (int[] row : seen) {
            for (int count : row) {
                assertTrue(count > 120 && count < 280, Arrays.toString(row)); // expected 200 each
            }
        }
    }

    @Test
    void anEpochCanResumeMidway() {
        DataLoader loader = new DataLoader(data, 3, true, false, 9);
        List<Integer> all = rowsOf(loader, 2);
        List<Integer> tail = new ArrayList<>();
        for (DataLoader.Batch b : loader.epoch(2, 2)) {
            assertTrue(b.index() >= 2);
            for (float v : b.x().toArray()) {
                if (v == Math.floor(v)) {
                    tail.add((int) v);
                }
            }
        }
        assertEquals(all.subList(6, 10), tail);
    }

    @Test
    void aBatchUsedAfterTheNextWasTakenSaysWhyItIsClosed() {
        DataLoader loader = new DataLoader(data, 4, false, false, 0);
        Iterator<DataLoader.Batch> batches = loader.epoch(0).iterator();
        DataLoader.Batch first = batches.next();
        Tensor flat = first.x().view(8);
        DataLoader.Batch second = batches.next();
        String why = "batch 0 was closed when the next batch (1 of epoch 0) was taken; call Batch.copy() to keep it";
        assertEquals("tensor 4×2 is closed: " + why, assertThrows(IllegalStateException.class, () -> first.x().toArray()).getMessage());
        assertEquals("tensor 4 is closed: " + why, assertThrows(IllegalStateException.class, () -> first.y().toIntArray()).getMessage());
        assertEquals("tensor 8 is closed: " + why, assertThrows(IllegalStateException.class, flat::toArray).getMessage()); // a view says it too
        assertArrayEquals(new float[] {4, 4.5f, 5, 5.5f, 6, 6.5f, 7, 7.5f}, second.x().toArray());
        loader.close();
    }

    @Test
    void batchesOutliveTheCallersScopeUntilTheirEpochEnds() {
        DataLoader loader = new DataLoader(data, 4, false, false, 0);
        List<DataLoader.Batch> seen = new ArrayList<>();
        for (DataLoader.Batch b : loader.epoch(0)) {
            try (Scope step = Scope.open()) {
                seen.add(b);
            }
            assertFalse(b.x().isClosed(), "the step's scope closed the loader's batch");
            assertEquals(DType.I32, b.y().dtype());
        }
        assertEquals(3, seen.size());
        DataLoader.Batch last = seen.getLast();
        assertTrue(last.x().isClosed() && last.y().isClosed(), "the last batch outlived its epoch");
        assertEquals("tensor 2×2 is closed: batch 2 was closed when its epoch (0) ended; call Batch.copy() to keep it",
                assertThrows(IllegalStateException.class, () -> last.x().toArray()).getMessage());
        assertFalse(data.images().isClosed());
        assertFalse(data.labels().isClosed());
    }

    @Test
    void closingTheLoaderClosesItsBatchAndRefusesMore() {
        DataLoader loader = new DataLoader(data, 4, true, false, 5);
        DataLoader.Batch taken = loader.epoch(3).iterator().next();
        loader.close();
        assertEquals("tensor 4×2 is closed: batch 0 was closed when its data loader was closed; call Batch.copy() to keep it",
                assertThrows(IllegalStateException.class, () -> taken.x().toArray()).getMessage());
        assertTrue(taken.y().isClosed());
        Iterator<DataLoader.Batch> after = loader.epoch(0).iterator();
        assertEquals("the data loader is closed", assertThrows(IllegalStateException.class, after::next).getMessage());
        loader.close(); // idempotent
    }

    @Test
    void aCopyOfABatchOutlivesTheNextBatchAndTheLoader() {
        DataLoader.Batch copy;
        try (DataLoader loader = new DataLoader(data, 4, false, false, 0)) {
            Iterator<DataLoader.Batch> batches = loader.epoch(0).iterator();
            DataLoader.Batch first = batches.next();
            copy = first.copy();
            batches.next();
            assertTrue(first.x().isClosed());
        }
        assertEquals(0, copy.index());
        assertArrayEquals(new float[] {0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f}, copy.x().toArray());
        assertArrayEquals(new int[] {0, 1, 2, 0}, copy.y().toIntArray());
        copy.close();
        assertTrue(copy.x().isClosed() && copy.y().isClosed());
    }

    @Test
    void aCopyTakenInAScopeBelongsToIt() {
        try (DataLoader loader = new DataLoader(data, 4, false, false, 0)) {
            DataLoader.Batch copy;
            try (Scope step = Scope.open()) {
                copy = loader.epoch(0).iterator().next().copy();
            }
            assertTrue(copy.x().isClosed() && copy.y().isClosed());
        }
    }

    @Test
    void fiveEpochsOfTrainingLeaveMemoryAsTheFirstLeftIt() {
        try (Sequential model = new Sequential("fc1", new Linear(backend, 2, 8, 1), "relu", new ReLU(), "fc2", new Linear(backend, 8, 3, 2));
             Adam adam = new Adam(model.trainableParameters(), 1e-2f)) {
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            DataLoader loader = new DataLoader(data, 4, true, false, 11); // batches of 4, 4 and 2 rows
            List<MemoryStats> afterEpoch = new ArrayList<>();
            for (int epoch = 0; epoch < 5; epoch++) {
                for (DataLoader.Batch batch : loader.epoch(epoch)) {
                    try (Scope step = Scope.open()) {
                        adam.zeroGrad();
                        lossFn.forward(model.forward(batch.x()), batch.y()).backward();
                        adam.step();
                    }
                }
                afterEpoch.add(backend.memoryStats());
            }
            for (int epoch = 1; epoch < 5; epoch++) {
                assertEquals(afterEpoch.getFirst().bytesInUse(), afterEpoch.get(epoch).bytesInUse(),
                        "bytes in use after epoch " + epoch + " (all epochs: " + afterEpoch + ")");
            }
            // Epoch 1 is the first whose full batch follows a short one, so the pool is warm from then on.
            for (int epoch = 2; epoch < 5; epoch++) {
                assertEquals(afterEpoch.get(1), afterEpoch.get(epoch), "memory after epoch " + epoch + " (all epochs: " + afterEpoch + ")");
            }
        }
    }

    @Test
    void badArgumentsAreRefused() {
        assertEquals("batch size must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new DataLoader(data, 0, false, false, 0)).getMessage());
        DataLoader loader = new DataLoader(data, 4, false, false, 0);
        assertEquals("epoch must be ≥ 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> loader.epoch(-1)).getMessage());
        assertEquals("first batch 4 is outside 0..3 (an epoch has 3 batches)",
                assertThrows(IllegalArgumentException.class, () -> loader.epoch(0, 4)).getMessage());
        Iterator<DataLoader.Batch> done = loader.epoch(0, 3).iterator();
        assertFalse(done.hasNext());
        assertEquals("epoch 0 has 3 batches", assertThrows(NoSuchElementException.class, done::next).getMessage());
    }

    @Test
    void inMemoryDatasetsCheckTheirInput() {
        assertEquals("bad: 5 floats are not 2 images of 1×1×2", assertThrows(IllegalArgumentException.class,
                () -> Dataset.of(backend, "bad", new float[5], new int[2], List.of("a"), 1, 1, 2)).getMessage());
        assertEquals("bad: label 3 of row 1 is outside 0..1", assertThrows(IllegalArgumentException.class,
                () -> Dataset.of(backend, "bad", new float[4], new int[] {0, 3}, List.of("a", "b"), 1, 1, 2)).getMessage());
    }
}
