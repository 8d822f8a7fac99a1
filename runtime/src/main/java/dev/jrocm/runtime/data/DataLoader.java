package dev.jrocm.runtime.data;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Yields a {@link Dataset} in batches by gathering rows on its backend. With shuffling, each
 * epoch's order is a permutation derived from (seed, epoch) alone, so the same seed gives the
 * same order, and a run resumed at epoch e sees the order it would have seen without replaying
 * earlier epochs.
 *
 * <p>The loader owns its batches: each is created outside any {@link Scope} and is valid until
 * the loader hands out the next one (from any epoch), until its epoch's iterator says there are
 * no more ({@code hasNext()} false), or until the loader is closed — whichever comes first. A
 * training loop therefore needs no closing code of its own, and at most one batch is alive at a
 * time. Using a batch after that throws an {@link IllegalStateException} saying why it was
 * closed; {@link Batch#copy()} keeps one longer.
 *
 * <pre>{@code
 * try (DataLoader loader = new DataLoader(train, 64, true, false, seed)) {
 *     for (int epoch = 0; epoch < epochs; epoch++) {
 *         for (DataLoader.Batch batch : loader.epoch(epoch)) {
 *             try (Scope step = Scope.open()) { ... batch.x() ... batch.y() ... }
 *         }
 *     }
 * }
 * }</pre>
 */
public final class DataLoader implements AutoCloseable {
    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle, dropLast;
    private final long seed;
    private Batch current; // the batch handed out last, until it is closed
    private boolean closed;

    /**
     * One batch: images (n, features) f32 and labels (n) i32, n ≤ batch size; {@code index} counts
     * from 0 in the epoch. A batch from a loader lives as long as the loader says; {@link #copy()}
     * makes one that lives until its caller closes it.
     */
    public record Batch(int index, Tensor x, Tensor y) implements AutoCloseable {
        /** Rows in this batch. */
        public int size() { return x.dim(0); }

        /**
         * A copy of this batch that the loader does not own: it belongs to the current scope if one
         * is open, else the caller closes it.
         */
        public Batch copy() {
            Tensor xCopy = copyOf(x);
            try {
                return new Batch(index, xCopy, copyOf(y));
            } catch (RuntimeException e) {
                xCopy.close();
                throw e;
            }
        }

        private static Tensor copyOf(Tensor t) {
            Tensor copy = Tensor.empty(t.backend(), t.dtype(), t.shape());
            try {
                copy.copyFrom(t);
            } catch (RuntimeException e) {
                copy.close();
                throw e;
            }
            return copy;
        }

        @Override
        public void close() {
            x.close();
            y.close();
        }

        void close(String because) {
            x.close(because);
            y.close(because);
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

    /** The batches of {@code epoch}; each is valid until the next is taken (see the class comment). */
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
            private Batch last; // the batch this iterator handed out last

            @Override
            public boolean hasNext() {
                if (next < size()) {
                    return true;
                }
                if (last != null) {
                    release(last, "batch " + last.index() + " was closed when its epoch (" + epoch + ") ended;"
                            + " call Batch.copy() to keep it");
                    last = null;
                }
                return false;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException("epoch " + epoch + " has " + size() + " batches");
                }
                last = take(epoch, next++, order);
                return last;
            }
        };
    }

    /** Closes the batch handed out before, then gathers batch {@code index} of {@code order}, owned by this loader. */
    private Batch take(int epoch, int index, int[] order) {
        if (closed) {
            throw new IllegalStateException("the data loader is closed");
        }
        if (current != null) {
            release(current, "batch " + current.index() + " was closed when the next batch (" + index + " of epoch "
                    + epoch + ") was taken; call Batch.copy() to keep it");
        }
        int from = index * batchSize, count = Math.min(batchSize, order.length - from);
        int[] rows = new int[count];
        System.arraycopy(order, from, rows, 0, count);
        // Detached: the loader, not the caller's scope, decides when the batch goes.
        current = Scope.detached(() -> gather(rows, index));
        return current;
    }

    private Batch gather(int[] rows, int index) {
        Tensor x, y;
        try (Tensor indices = Tensor.ofInts(dataset.images().backend(), rows, rows.length)) {
            x = Ops.gatherRows(dataset.images(), indices);
            try {
                y = Ops.gatherRows(dataset.labels(), indices);
            } catch (RuntimeException e) {
                x.close();
                throw e;
            }
        }
        return new Batch(index, x, y);
    }

    private void release(Batch batch, String because) {
        batch.close(because);
        if (batch == current) {
            current = null;
        }
    }

    /** Closes the batch handed out last; taking another batch afterwards is an error. Idempotent. */
    @Override
    public void close() {
        if (current != null) {
            release(current, "batch " + current.index() + " was closed when its data loader was closed;"
                    + " call Batch.copy() to keep it");
        }
        closed = true;
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
