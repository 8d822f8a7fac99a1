package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
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
        try (Scope ignored = Scope.open()) {
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
        }
        return rows;
    }

    @Test
    void withoutShufflingBatchesFollowTheRowsAndTheLastMayBeShort() {
        DataLoader loader = new DataLoader(data, 4, false, false, 0);
        assertEquals(3, loader.size());
        assertEquals(IntStream.range(0, 10).boxed().toList(), rowsOf(loader, 0));
        List<Integer> sizes = new ArrayList<>();
        try (Scope ignored = Scope.open()) {
            loader.epoch(0).forEach(b -> sizes.add(b.size()));
        }
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
        try (Scope ignored = Scope.open()) {
            for (DataLoader.Batch b : loader.epoch(2, 2)) {
                assertTrue(b.index() >= 2);
                for (float v : b.x().toArray()) {
                    if (v == Math.floor(v)) {
                        tail.add((int) v);
                    }
                }
            }
        }
        assertEquals(all.subList(6, 10), tail);
    }

    @Test
    void batchesBelongToTheCallersScope() {
        DataLoader.Batch kept;
        try (Scope ignored = Scope.open()) {
            kept = new DataLoader(data, 4, false, false, 0).epoch(0).iterator().next();
            assertEquals(DType.I32, kept.y().dtype());
            assertFalse(kept.x().isClosed());
        }
        assertTrue(kept.x().isClosed());
        assertTrue(kept.y().isClosed());
        assertFalse(data.images().isClosed());
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
