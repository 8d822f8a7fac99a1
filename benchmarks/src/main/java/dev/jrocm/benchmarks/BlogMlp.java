package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.Random;

/** The blog's MLP 3072 → 4096 → 2048 → 10, a fixed random batch, and one training step of it. */
final class BlogMlp {
    private static final CrossEntropyLoss LOSS = new CrossEntropyLoss();

    private BlogMlp() {}

    /** A batch: x (batch, 3072) standard normal, y (batch) labels in 0..9, seeded. */
    record Batch(Tensor x, Tensor y) implements AutoCloseable {
        @Override
        public void close() {
            x.close();
            y.close();
        }
    }

    static Sequential model(Backend backend) {
        return new Sequential("fc1", new Linear(backend, 3072, 4096, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, 4096, 2048, 2), "relu2", new ReLU(),
                "fc3", new Linear(backend, 2048, 10, 3));
    }

    static Batch batch(Backend backend, int size, long seed) {
        Random random = new Random(seed);
        float[] xs = new float[size * 3072];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) random.nextGaussian();
        }
        int[] ys = new int[size];
        for (int i = 0; i < size; i++) {
            ys[i] = random.nextInt(10);
        }
        return new Batch(Tensor.of(backend, xs, size, 3072), Tensor.ofInts(backend, ys, size));
    }

    /** Zero grad, forward, cross-entropy, backward, step; returns the loss (read back, as a training loop does). */
    static float step(Sequential model, Optimizer optimizer, Batch batch) {
        try (Scope s = Scope.open()) {
            optimizer.zeroGrad();
            Tensor loss = LOSS.forward(model.forward(batch.x()), batch.y());
            loss.backward();
            optimizer.step();
            return loss.item();
        }
    }
}
