package dev.jrocm.runtime.device.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** The one helper for parallel loops on the CPU backend: ranges split over the common pool. */
final class Parallel {
    private Parallel() {}

    /** A body over the half-open range [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(long from, long to);
    }

    /**
     * Runs {@code body} over [0, n) in chunks of at least {@code grain}, one per core at most.
     * Below {@code 2·grain} it runs on the calling thread: a fork costs more than small work.
     */
    public static void forRange(long n, long grain, Range body) {
        int threads = ForkJoinPool.getCommonPoolParallelism() + 1;
        long chunks = Math.min(threads, n / Math.max(1, grain));
        if (chunks < 2) {
            if (n > 0) {
                body.run(0, n);
            }
            return;
        }
        long step = (n + chunks - 1) / chunks;
        ForkJoinPool.commonPool().invoke(new Chunk(body, 0, n, step));
    }

    private static final class Chunk extends RecursiveAction {
        private static final long serialVersionUID = 1L;
        private final transient Range body;
        private final long from, to, step;

        Chunk(Range body, long from, long to, long step) {
            this.body = body;
            this.from = from;
            this.to = to;
            this.step = step;
        }

        @Override
        protected void compute() {
            if (to - from <= step) {
                body.run(from, to);
                return;
            }
            long mid = from + step;
            Chunk rest = new Chunk(body, mid, to, step);
            rest.fork();
            body.run(from, mid);
            rest.join();
        }
    }
}
