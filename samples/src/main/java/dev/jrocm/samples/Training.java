package dev.jrocm.samples;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
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

    /**
     * One epoch's numbers.
     *
     * @param curve (batches done within the epoch, mean loss of the batches since the previous point)
     */
    record Epoch(int label, double seconds, double meanLoss, double samplesPerSecond, List<double[]> curve) {}

    /** The loss became NaN or infinite: the weights are garbage from here on, so training stops at once. */
    static final class Diverged extends ArithmeticException {
        @java.io.Serial
        private static final long serialVersionUID = 1L;

        Diverged(int epoch, int batch, int batches, float loss) {
            super(String.format(Locale.ROOT, "the loss became %s at epoch %d, batch %d of %d", loss, epoch, batch, batches));
        }
    }

    /**
     * Trains one epoch: zero grad, forward, cross-entropy, backward, step for every batch, each
     * in its own scope so activations and their gradients go back to the pool at once (the loader
     * closes each batch itself when the next is taken). Prints
     * {@code [epoch, batch] loss: x.xxx} every {@code logEvery} batches (the mean since the last
     * line), and a progress bar with samples/s and ETA when {@code bar} is set.
     *
     * @throws Diverged at the first batch whose loss is not finite
     */
    static Epoch epoch(Module model, Optimizer optimizer, DataLoader loader, int label, int loaderEpoch,
                       int logEvery, PrintStream out, boolean bar) {
        model.train();
        int batches = loader.size();
        long samples = 0;
        double sum = 0, windowSum = 0, curveSum = 0;
        int window = 0, curveCount = 0;
        int curveEvery = Math.max(1, batches / CURVE_POINTS);
        List<double[]> curve = new ArrayList<>();
        ProgressLine progress = bar ? new ProgressLine(out, "epoch " + label, batches) : null;
        long start = System.nanoTime();
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
            sum += loss;
            windowSum += loss;
            window++;
            curveSum += loss;
            curveCount++;
            int done = batch.index() + 1;
            if (done % logEvery == 0) {
                if (progress != null) {
                    progress.clear();
                }
                out.printf(Locale.ROOT, "[%d, %5d] loss: %.3f%n", label, done, windowSum / window);
                windowSum = 0;
                window = 0;
            }
            if (done % curveEvery == 0 || done == batches) {
                curve.add(new double[] {done, curveSum / curveCount});
                curveSum = 0;
                curveCount = 0;
            }
            if (progress != null) {
                progress.update(done, samples, System.nanoTime() - start);
            }
        }
        optimizer.zeroGrad();
        double seconds = (System.nanoTime() - start) / 1e9;
        if (progress != null) {
            progress.clear();
        }
        return new Epoch(label, seconds, sum / Math.max(1, batches), samples / seconds, curve);
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

    /** A one-line bar redrawn with {@code \r}: batches done, samples/s, ETA. */
    static final class ProgressLine {
        private static final int WIDTH = 24;
        private final PrintStream out;
        private final String label;
        private final int total;
        private long lastDraw;

        ProgressLine(PrintStream out, String label, int total) {
            this.out = out;
            this.label = label;
            this.total = total;
        }

        void update(int done, long samples, long elapsedNanos) {
            if (elapsedNanos - lastDraw < 100_000_000L && done < total) {
                return; // ten redraws a second are plenty
            }
            lastDraw = elapsedNanos;
            double seconds = elapsedNanos / 1e9;
            double rate = samples / Math.max(seconds, 1e-9);
            long eta = done == 0 ? 0 : Math.round(seconds * (total - done) / done);
            int filled = (int) ((long) WIDTH * done / Math.max(1, total));
            out.printf(Locale.ROOT, "\r%s [%s%s] %3d%%  %,.0f samples/s  ETA %d:%02d ", label, "#".repeat(filled),
                    " ".repeat(WIDTH - filled), 100L * done / Math.max(1, total), rate, eta / 60, eta % 60);
            out.flush();
        }

        void clear() {
            out.print("\r" + " ".repeat(label.length() + WIDTH + 50) + "\r");
            out.flush();
        }
    }
}
