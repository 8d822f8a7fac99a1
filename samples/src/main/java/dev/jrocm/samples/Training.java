package dev.jrocm.samples;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.io.Progress;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The training and evaluation loops of the workflow, printing as the blog does. */
@SuppressWarnings("try")
final class Training {
    private Training() {}

    /** Points of the loss curve per epoch (the printed lines are fewer). */
    static final int CURVE_POINTS = 50;

    /** The blog prints the mean loss every 2000 batches of 8: as many samples per line at other batch sizes. */
    static final int BLOG_LOG_SAMPLES = 2000 * 8;

    private static final Progress.Unit SAMPLES = new Progress.Unit("samples");

    /**
     * One epoch's numbers.
     *
     * @param meanLoss               the mean of the batches' losses
     * @param warmUpBatches          the first batches, left out of {@code steadySamplesPerSecond}
     * @param steadySamplesPerSecond samples per second after the warm-up batches (JIT compilation,
     *                               first allocations), so a first epoch compares with later ones
     * @param curve                  (batches done within the epoch, mean loss of the batches since the previous point)
     */
    record Epoch(int label, double seconds, double meanLoss, double samplesPerSecond, int warmUpBatches,
                 double steadySamplesPerSecond, List<double[]> curve) {}

    /** The loss became NaN or infinite: the weights are garbage from here on, so training stops at once. */
    static final class Diverged extends ArithmeticException {
        @java.io.Serial
        private static final long serialVersionUID = 1L;

        Diverged(int epoch, int batch, int batches, float loss) {
            super(String.format(Locale.ROOT, "the loss became %s at epoch %d, batch %d of %d", loss, epoch, batch, batches));
        }
    }

    /**
     * How many batches between two printed loss lines by default: the blog's interval (2000
     * batches of 8, the same number of samples at other batch sizes) when an epoch holds at least
     * three of them, as the blog's recipe and the quick one do on full datasets; otherwise (a short
     * run) the largest round number (1, 2 or 5 times a power of ten) that still gives three lines
     * per epoch, and 1 for an epoch of fewer than six batches.
     */
    static int logEvery(int batchesPerEpoch, int batchSize) {
        int blog = Math.max(1, BLOG_LOG_SAMPLES / batchSize);
        return batchesPerEpoch >= 3 * blog ? blog : Axis.floor125(batchesPerEpoch / 3.0);
    }

    /** The first batches of an epoch of {@code batches} counted as warm-up: a tenth, none when there is one batch. */
    static int warmUpBatches(int batches) {
        return batches < 2 ? 0 : Math.max(1, batches / 10);
    }

    /**
     * Trains one epoch: zero grad, forward, cross-entropy, backward, step for every batch, each
     * in its own scope so activations and their gradients go back to the pool at once (the loader
     * closes each batch itself when the next is taken). Prints
     * {@code [epoch, batch] loss: x.xxx} every {@code logEvery} batches (the mean since the last
     * line), and a progress bar with samples/s, ETA and the epoch's running loss when {@code bar}
     * is set.
     *
     * @throws Diverged at the first batch whose loss is not finite
     */
    static Epoch epoch(Module model, Optimizer optimizer, DataLoader loader, int label, int loaderEpoch,
                       int logEvery, PrintStream out, boolean bar) {
        model.train();
        int batches = loader.size();
        int warmUp = warmUpBatches(batches);
        long samples = 0, warmUpSamples = 0;
        double sum = 0, windowSum = 0;
        int window = 0;
        Curve curve = new Curve(batches);
        long totalSamples = Math.min(loader.dataset().size(), (long) batches * loader.batchSize());
        Progress progress = bar ? new Progress("epoch " + label, totalSamples, SAMPLES, out, true, System::nanoTime) : null;
        long start = System.nanoTime(), warmUpEnd = start;
        for (DataLoader.Batch batch : loader.epoch(loaderEpoch)) {
            float loss;
            try (Scope step = Scope.open()) {
                optimizer.zeroGrad();
                Tensor l = Ops.crossEntropy(model.forward(batch.x()), batch.y());
                l.backward();
                optimizer.step();
                loss = l.item();
                samples += batch.size();
            }
            if (!Float.isFinite(loss)) {
                throw new Diverged(label, batch.index() + 1, batches, loss);
            }
            int done = batch.index() + 1;
            if (done == warmUp) {
                warmUpEnd = System.nanoTime();
                warmUpSamples = samples;
            }
            sum += loss;
            windowSum += loss;
            window++;
            curve.add(loss);
            if (done % logEvery == 0) {
                String line = String.format(Locale.ROOT, "[%d, %5d] loss: %.3f", label, done, windowSum / window);
                if (progress != null) {
                    progress.println(line);
                } else {
                    out.println(line);
                }
                windowSum = 0;
                window = 0;
            }
            if (progress != null) {
                progress.note(String.format(Locale.ROOT, "loss %.3f", sum / done));
                progress.advance(batch.size());
            }
        }
        optimizer.zeroGrad();
        long end = System.nanoTime();
        double seconds = (end - start) / 1e9;
        if (progress != null) {
            progress.erase();
        }
        double steady = warmUp == 0 ? samples / seconds : (samples - warmUpSamples) / ((end - warmUpEnd) / 1e9);
        return new Epoch(label, seconds, sum / Math.max(1, batches), samples / seconds, warmUp, steady, curve.points());
    }

    /**
     * The loss curve of one epoch: a point every {@code batches / }{@link #CURVE_POINTS} batches,
     * the mean loss of the batches since the point before. A last window shorter than half the
     * others joins the point before it (which then moves to the epoch's end), so no point rests on
     * a batch or two and the curve shows no spike of noise at the end of an epoch.
     */
    static final class Curve {
        private final int every;
        private final List<double[]> points = new ArrayList<>(); // (batches done, sum of losses, batches in the window)
        private int done;
        private double windowSum;
        private int window;

        Curve(int batches) {
            every = Math.max(1, batches / CURVE_POINTS);
        }

        /** Records the loss of the next batch. */
        void add(double loss) {
            done++;
            windowSum += loss;
            window++;
            if (window == every) {
                points.add(new double[] {done, windowSum, window});
                windowSum = 0;
                window = 0;
            }
        }

        /** (batches done, mean loss of the window ending there) for every window so far, the last partial one included. */
        List<double[]> points() {
            List<double[]> all = new ArrayList<>(points);
            if (window > 0) {
                if (2 * window < every && !all.isEmpty()) {
                    double[] before = all.removeLast();
                    all.add(new double[] {done, before[1] + windowSum, before[2] + window});
                } else {
                    all.add(new double[] {done, windowSum, window});
                }
            }
            return all.stream().map(p -> new double[] {p[0], p[1] / p[2]}).toList();
        }
    }

    /** Fraction of {@code dataset} the model classifies correctly (evaluation mode, no graph). */
    static double accuracy(Module model, Dataset dataset, int batchSize) {
        model.eval();
        long correct = 0;
        try (DataLoader loader = new DataLoader(dataset, batchSize, false, false, 0); Autograd.NoGrad ng = Autograd.noGrad()) {
            for (DataLoader.Batch batch : loader.epoch(0)) {
                try (Scope s = Scope.open()) {
                    correct += (long) Ops.crossEntropyWithAccuracy(model.forward(batch.x()), batch.y()).correct().item();
                }
            }
        }
        model.train();
        return correct / (double) dataset.size();
    }

    /** The model's class for each row of {@code x}. */
    static int[] predict(Module model, Tensor x) {
        model.eval();
        try (Autograd.NoGrad ng = Autograd.noGrad(); Scope s = Scope.open()) {
            return Ops.argmax(model.forward(x)).toIntArray();
        } finally {
            model.train();
        }
    }

    /** {@code 32 %} as the blog prints it (floor), with two decimals after it. */
    static String percent(double fraction) {
        return String.format(Locale.ROOT, "%d %% (%.2f %%)", (long) Math.floor(100 * fraction + 1e-9), 100 * fraction);
    }
}
