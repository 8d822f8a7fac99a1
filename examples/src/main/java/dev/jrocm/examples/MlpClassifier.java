package dev.jrocm.examples;

import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;

import java.io.PrintStream;
import java.util.List;

/**
 * Trains a small MLP (Linear, ReLU, Adam, cross-entropy) to tell which of four clusters a point
 * of the plane belongs to, printing each epoch's loss as it goes down and then the accuracy on
 * points it has not seen. Runs on {@link Devices#best()}: a GPU when there is one, else the CPU;
 * {@code -Djrocm.device=cpu|hip|cuda} chooses.
 *
 * <pre>{@code java … -m dev.jrocm.examples/dev.jrocm.examples.MlpClassifier [epochs]}</pre>
 */
public final class MlpClassifier {
    static final String USAGE = "MlpClassifier [epochs, default 10]";

    /** What a run did: the mean training loss of each epoch, and the accuracy on the test points. */
    record Result(List<Double> epochLosses, double testAccuracy) {}

    private MlpClassifier() {}

    public static void main(String[] args) {
        run(args, System.out);
    }

    /** Trains and evaluates as {@link #main} does, printing to {@code out}. */
    static Result run(String[] args, PrintStream out) {
        int epochs = Clusters.epochs(args, 0, 10, USAGE);
        try (Backend backend = Devices.best();
             Dataset train = Clusters.trainingSet(backend, 0);
             Dataset test = Clusters.testSet(backend, 0);
             Sequential model = Clusters.mlp(backend, 10);
             Adam adam = new Adam(model.trainableParameters(), 2e-3f)) {
            out.println(Devices.explain(Devices.requested()));
            out.println(model);
            out.println("accuracy before training: " + Clusters.percent(Clusters.accuracy(model, test)));
            List<Double> losses = Clusters.train(model, adam, train, epochs, 3, out);
            double accuracy = Clusters.accuracy(model, test);
            out.println("accuracy on " + test.size() + " test points: " + Clusters.percent(accuracy));
            return new Result(losses, accuracy);
        }
    }
}
