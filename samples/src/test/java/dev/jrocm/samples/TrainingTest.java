package dev.jrocm.samples;

import dev.jrocm.runtime.data.DataLoader;
import dev.jrocm.runtime.data.Dataset;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TrainingTest {

    @Test
    void epochsAndEvaluationsLeaveNoBatchBehind() {
        try (Backend backend = new CpuBackend();
             Dataset data = randomDataset(backend, 50, 6, 4);
             Sequential model = new Sequential("fc1", new Linear(backend, 6, 16, 1), "relu", new ReLU(), "fc2", new Linear(backend, 16, 3, 2));
             Adam adam = new Adam(model.trainableParameters(), 1e-2f);
             DataLoader loader = new DataLoader(data, 8, true, false, 3)) { // 6 batches of 8 and one of 2
            PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
            Training.epoch(model, adam, loader, 1, 0, 1000, quiet, false);
            long inUse = backend.memoryStats().bytesInUse();
            for (int epoch = 1; epoch < 5; epoch++) {
                Training.epoch(model, adam, loader, epoch + 1, epoch, 1000, quiet, false);
                assertEquals(inUse, backend.memoryStats().bytesInUse(), "bytes in use after epoch " + epoch);
            }
            Training.accuracy(model, data, 16);
            assertEquals(inUse, backend.memoryStats().bytesInUse(), "bytes in use after an evaluation");
        }
    }

    /** {@code n} rows of three classes; class c's rows are Gaussian noise plus 2 at feature c. */
    static Dataset randomDataset(Backend backend, int n, int features, long seed) {
        Random random = new Random(seed);
        float[] x = new float[n * features];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = random.nextInt(3);
            for (int f = 0; f < features; f++) {
                x[i * features + f] = (float) random.nextGaussian() + (f == y[i] ? 2 : 0);
            }
        }
        return Dataset.of(backend, "random", x, y, List.of("a", "b", "c"), 1, 1, features);
    }
}
