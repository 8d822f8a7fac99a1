package dev.jrocm.examples;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * What the three examples share: synthetic data (points of the plane around a few centres,
 * labelled by their centre), the model (a small MLP), and the training and evaluation loops.
 * For real data, replace {@link #dataset} by another {@link Dataset} ({@code FashionMnist.load},
 * {@code Cifar10.load}, or {@code Dataset.of} over your own arrays) and give {@link #mlp} its
 * numbers of features and classes; the loops stay as they are.
 */
@SuppressWarnings("try") // the Scope and NoGrad resources are opened for their effect, never named
final class Clusters {
    /** Number of classes: the centres lie at 0°, 90°, 180°, 270° on a circle (before any turn). */
    static final int CLASSES = 4;
    /** Two features per point: x and y. */
    static final int FEATURES = 2;
    static final int BATCH_SIZE = 32;
    /** The shifted task {@link LoraFineTune} adapts to: every centre turned by 60°. */
    static final double SHIFTED_DEGREES = 60;
    private static final double RADIUS = 2.0, NOISE = 0.5;

    private Clusters() {}

    /** The 2,000 training points of the task with every centre turned by {@code turnDegrees} (0: as is). */
    static Dataset trainingSet(Backend backend, double turnDegrees) {
        return dataset(backend, "clusters turned " + turnDegrees + "° (train)", 2000, turnDegrees, 1);
    }

    /** 1,000 other points of the same task, to test on. */
    static Dataset testSet(Backend backend, double turnDegrees) {
        return dataset(backend, "clusters turned " + turnDegrees + "° (test)", 1000, turnDegrees, 2);
    }

    /**
     * {@code points} points, each drawn around a random class's centre with Gaussian noise; every
     * centre is first turned by {@code turnDegrees}. The same seed gives the same points.
     */
    static Dataset dataset(Backend backend, String name, int points, double turnDegrees, long seed) {
        Random random = new Random(seed);
        float[] xy = new float[points * FEATURES];
        int[] labels = new int[points];
        for (int i = 0; i < points; i++) {
            labels[i] = random.nextInt(CLASSES);
            double angle = 2 * Math.PI * labels[i] / CLASSES + Math.toRadians(turnDegrees);
            xy[i * FEATURES] = (float) (RADIUS * Math.cos(angle) + NOISE * random.nextGaussian());
            xy[i * FEATURES + 1] = (float) (RADIUS * Math.sin(angle) + NOISE * random.nextGaussian());
        }
        return Dataset.of(backend, name, xy, labels, List.of("east", "north", "west", "south"), 1, 1, FEATURES);
    }

    /** 2 → 32 → 32 → 4, layers named as PyTorch's state dict would name them. */
    static Sequential mlp(Backend backend, long seed) {
        return new Sequential(
                "fc1", new Linear(backend, FEATURES, 32, seed), "relu1", new ReLU(),
                "fc2", new Linear(backend, 32, 32, seed + 2), "relu2", new ReLU(),
                "fc3", new Linear(backend, 32, CLASSES, seed + 4));
    }

    /**
     * Trains {@code model} for {@code epochs} epochs with {@code optimizer}, printing each epoch's
     * mean loss to {@code out}; returns those losses.
     */
    static List<Double> train(Module model, Optimizer optimizer, Dataset data, int epochs, long seed, PrintStream out) {
        List<Double> meanLosses = new ArrayList<>();
        try (DataLoader loader = new DataLoader(data, BATCH_SIZE, true, false, seed)) {
            for (int epoch = 0; epoch < epochs; epoch++) {
                double sum = 0;
                int batches = 0;
                for (DataLoader.Batch batch : loader.epoch(epoch)) {
                    try (Scope step = Scope.open()) { // the step's activations and gradients are freed here
                        optimizer.zeroGrad();
                        Tensor loss = Ops.crossEntropy(model.forward(batch.x()), batch.y());
                        loss.backward();
                        optimizer.step();
                        sum += loss.item();
                        batches++;
                    }
                }
                meanLosses.add(sum / batches);
                out.printf(Locale.ROOT, "epoch %d: loss %.4f%n", epoch + 1, sum / batches);
            }
        }
        return meanLosses;
    }

    /** The fraction of {@code data} that {@code model} classifies correctly (evaluation mode, no graph recorded). */
    static double accuracy(Module model, Dataset data) {
        model.eval();
        long correct = 0;
        try (DataLoader loader = new DataLoader(data, 256, false, false, 0); Autograd.NoGrad none = Autograd.noGrad()) {
            for (DataLoader.Batch batch : loader.epoch(0)) {
                try (Scope step = Scope.open()) {
                    correct += (long) Ops.crossEntropyWithAccuracy(model.forward(batch.x()), batch.y()).correct().item();
                }
            }
        } finally {
            model.train();
        }
        return correct / (double) data.size();
    }

    /** {@code 98.40 %}. */
    static String percent(double fraction) {
        return String.format(Locale.ROOT, "%.2f %%", 100 * fraction);
    }

    /**
     * The number of epochs in {@code args[index]}, or {@code defaultEpochs} when there are fewer
     * arguments; anything but a positive integer is an {@link IllegalArgumentException} with
     * {@code usage} in it.
     */
    static int epochs(String[] args, int index, int defaultEpochs, String usage) {
        if (args.length <= index) {
            return defaultEpochs;
        }
        try {
            int epochs = Integer.parseInt(args[index]);
            if (epochs > 0) {
                return epochs;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("epochs must be a positive integer, got '" + args[index] + "'\nusage: " + usage);
    }
}
