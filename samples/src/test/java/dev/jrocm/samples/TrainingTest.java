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

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void aShortLastWindowJoinsThePointBeforeInsteadOfMakingASpike() {
        // 938 batches (60,000 images in batches of 64): windows of 18, and 2 batches left at the end
        Training.Curve curve = new Training.Curve(938);
        for (int i = 0; i < 938; i++) {
            curve.add(i < 936 ? 0.33 : 0.9); // the last two batches are unlucky ones
        }
        List<double[]> points = curve.points();
        assertEquals(52, points.size());
        assertEquals(18, points.getFirst()[0]);
        assertEquals(0.33, points.getFirst()[1], 1e-12);
        assertEquals(918, points.get(50)[0]);
        double[] last = points.getLast();
        assertEquals(938, last[0], "the curve still ends at the epoch's end");
        assertEquals((18 * 0.33 + 2 * 0.9) / 20, last[1], 1e-12, "the mean of the 20 batches since the point before");
    }

    @Test
    void aLastWindowOfHalfAWindowOrMoreIsAPointOfItsOwn() {
        Training.Curve curve = new Training.Curve(215); // windows of 4, then 3
        for (int i = 0; i < 215; i++) {
            curve.add(i < 212 ? 1.0 : 2.0 + (i - 212));
        }
        List<double[]> points = curve.points();
        assertEquals(54, points.size());
        assertEquals(212, points.get(52)[0]);
        assertEquals(1.0, points.get(52)[1], 1e-12);
        assertEquals(215, points.getLast()[0]);
        assertEquals(3.0, points.getLast()[1], 1e-12); // (2 + 3 + 4) / 3
    }

    @Test
    void anEpochOfFewBatchesHasAPointPerBatch() {
        Training.Curve curve = new Training.Curve(5);
        for (int i = 0; i < 5; i++) {
            curve.add(i);
        }
        assertEquals(List.of("1:0.0", "2:1.0", "3:2.0", "4:3.0", "5:4.0"),
                curve.points().stream().map(p -> (int) p[0] + ":" + p[1]).toList());
    }

    @Test
    void theLogIntervalIsTheBlogsWhereAnEpochHoldsThreeElseARoundNumberGivingThree() {
        assertEquals(2000, Training.logEvery(6250, 8), "the blog's recipe on CIFAR-10");
        assertEquals(2000, Training.logEvery(7500, 8), "the blog's recipe on Fashion-MNIST");
        assertEquals(250, Training.logEvery(938, 64), "the quick recipe on Fashion-MNIST");
        assertEquals(50, Training.logEvery(188, 64), "12,000 images");
        assertEquals(5, Training.logEvery(16, 64), "1,000 images");
        assertEquals(1, Training.logEvery(5, 64));
        assertEquals(1, Training.logEvery(1, 64));
        assertEquals(1, Training.logEvery(100, 100_000), "a batch larger than the blog's interval");
    }

    @Test
    void aTenthOfTheBatchesIsWarmUpAndASingleBatchHasNone() {
        assertEquals(0, Training.warmUpBatches(1));
        assertEquals(1, Training.warmUpBatches(2));
        assertEquals(1, Training.warmUpBatches(19));
        assertEquals(93, Training.warmUpBatches(938));
    }

    @Test
    void anEpochReportsItsMeanLossWarmUpAndCurve() {
        try (Backend backend = new CpuBackend();
             Dataset data = randomDataset(backend, 50, 6, 4);
             Sequential model = new Sequential("fc1", new Linear(backend, 6, 16, 1), "relu", new ReLU(), "fc2", new Linear(backend, 16, 3, 2));
             Adam adam = new Adam(model.trainableParameters(), 1e-2f);
             DataLoader loader = new DataLoader(data, 8, true, false, 3)) { // 6 batches of 8 and one of 2
            ByteArrayOutputStream printed = new ByteArrayOutputStream();
            Training.Epoch epoch = Training.epoch(model, adam, loader, 1, 0, 3, new PrintStream(printed, true, StandardCharsets.UTF_8), false);
            List<String> lines = printed.toString(StandardCharsets.UTF_8).lines().toList();
            assertEquals(2, lines.size(), lines.toString());
            assertTrue(lines.get(0).startsWith("[1,     3] loss: ") && lines.get(1).startsWith("[1,     6] loss: "), lines.toString());
            assertEquals(7, epoch.curve().size());
            double mean = epoch.curve().stream().mapToDouble(p -> p[1]).average().orElseThrow();
            assertEquals(mean, epoch.meanLoss(), 1e-9, "one point per batch here: their mean is the epoch's");
            assertEquals(1, epoch.warmUpBatches());
            assertTrue(epoch.steadySamplesPerSecond() > 0);
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
