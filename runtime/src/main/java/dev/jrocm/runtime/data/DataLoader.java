package dev.jrocm.runtime.data;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Yields a {@link Dataset} in batches by gathering rows on its backend. With shuffling, each
 * epoch's order is a permutation derived from (seed, epoch) alone, so the same seed gives the
 * same order, and a run resumed at epoch e sees the order it would have seen without replaying
 * earlier epochs. Batches are created in the caller's current scope: a training loop's step
 * scope frees them.
 *
 * <pre>{@code
 * DataLoader loader = new DataLoader(train, 64, true, false, seed);
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     for (DataLoader.Batch batch : loader.epoch(epoch)) {
 *         try (Scope step = Scope.open()) { ... batch.x() ... batch.y() ... }
 *     }
 * }
 * }</pre>
 * (Open the step scope before taking the batch, or close the batch, so it is freed.)
 */
public final class DataLoader {
    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle, dropLast;
    private final long seed;

    /** One batch: images (n, features) f32 and labels (n) i32, n ≤ batch size; {@code index} counts from 0 in the epoch. */
    public record Batch(int index, Tensor x, Tensor y) implements AutoCloseable {
        /** Rows in this batch. */
        public int size() { return x.dim(0); }

        @Override
        public void close() {
            x.close();
            y.close();
        }
    }

    /**
     * @param dropLast leave out a last batch smaller than {@code batchSize}
     * @param seed     the shuffle seed (ignored without shuffling)
     */
    public DataLoader(Dataset dataset, int batchSize, boolean shuffle, boolean dropLast, long seed) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        this.dataset = dataset;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.seed = seed;
    }

    public Dataset dataset() { return dataset; }

    public int batchSize() { return batchSize; }

    public long seed() { return seed; }

    /** Batches per epoch. */
    public int size() {
        int n = dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** The batches of {@code epoch}. */
    public Iterable<Batch> epoch(int epoch) {
        return epoch(epoch, 0);
    }

    /** The batches of {@code epoch} from batch {@code firstBatch} on (to resume mid-epoch). */
    public Iterable<Batch> epoch(int epoch, int firstBatch) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be ≥ 0, got " + epoch);
        }
        if (firstBatch < 0 || firstBatch > size()) {
            throw new IllegalArgumentException("first batch " + firstBatch + " is outside 0.." + size()
                    + " (an epoch has " + size() + " batches)");
        }
        return () -> new Iterator<>() {
            private final int[] order = order(epoch);
            private int next = firstBatch;

            @Override
            public boolean hasNext() {
                return next < size();
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException("epoch " + epoch + " has " + size() + " batches");
                }
                int from = next * batchSize, count = Math.min(batchSize, order.length - from);
                int[] rows = new int[count];
                System.arraycopy(order, from, rows, 0, count);
                Tensor x, y;
                try (Tensor indices = Tensor.ofInts(dataset.images().backend(), rows, count)) {
                    x = Ops.gatherRows(dataset.images(), indices);
                    try {
                        y = Ops.gatherRows(dataset.labels(), indices);
                    } catch (RuntimeException e) {
                        x.close();
                        throw e;
                    }
                }
                return new Batch(next++, x, y);
            }
        };
    }

    /**
     * The order in which {@code epoch} visits the rows: 0..n−1 without shuffling; with it, a
     * Fisher–Yates shuffle of 0..n−1 driven by SplitMix64, fixed here so it never depends on a
     * JDK's {@code Random} (64-bit wrapping arithmetic, {@code mix} = SplitMix64's finaliser):
     * {@code s = mix(seed ^ mix(epoch + 0x632BE59BD9B4E019))}; for i = n−1 down to 1:
     * {@code s += 0x9E3779B97F4A7C15; j = ((mix(s) >>> 32) · (i + 1)) >>> 32}; swap order[i], order[j].
     */
    public int[] order(int epoch) {
        int n = dataset.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            // Fisher–Yates driven by SplitMix64, specified here so the order never depends on a JDK's Random.
            long state = mix(seed ^ mix(epoch + 0x632BE59BD9B4E019L));
            for (int i = n - 1; i > 0; i--) {
                state += 0x9E3779B97F4A7C15L;
                int j = (int) (((mix(state) >>> 32) * (i + 1)) >>> 32);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
