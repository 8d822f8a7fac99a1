package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The convolutional layers as modules: initialisation, names, state dicts, modes, shapes, errors. */
class ConvLayersTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * 2 + 1);
        }
        return x;
    }

    @Test
    void conv2dIsInitialisedAsPyTorchsKaimingUniformWithWeightAndBiasNames() {
        try (Conv2d conv = new Conv2d(backend, 3, 16, new int[] {3, 5}, new int[] {1, 1}, new int[] {0, 0},
                new int[] {1, 1}, true, 7)) {
            double bound = 1 / Math.sqrt(3 * 3 * 5); // fan_in = in·kh·kw
            assertEquals(List.of("weight", "bias"), List.copyOf(conv.stateDict().keySet()));
            assertArrayEquals(new int[] {16, 3, 3, 5}, conv.weight().shape());
            for (Tensor p : List.of(conv.weight(), conv.bias())) {
                float largest = 0;
                for (float v : p.toArray()) {
                    assertTrue(Math.abs(v) <= bound, v + " is outside ±" + bound);
                    largest = Math.max(largest, Math.abs(v));
                }
                assertTrue(largest > 0.8 * bound, "the values should fill U(±" + bound + "), largest " + largest);
            }
            assertEquals("Conv2d(3, 16, kernel_size=(3, 5), stride=(1, 1))", conv.toString());
        }
        try (Conv2d conv = new Conv2d(backend, 2, 4, 3, 2, 1, 2, false, 7)) {
            assertEquals(List.of("weight"), List.copyOf(conv.stateDict().keySet()));
            assertNull(conv.bias());
            assertEquals("Conv2d(2, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), bias=False)",
                    conv.toString());
            try (Scope s = Scope.open()) {
                assertArrayEquals(new int[] {5, 4, 3, 3}, conv.forward(Tensor.zeros(backend, 5, 2, 7, 8)).shape());
            }
        }
    }

    @Test
    void layersRejectSizesThatAreNotPairsOfPositiveNumbers() {
        assertEquals("Conv2d: stride must be a pair {h, w} of numbers ≥ 1, got [0, 1]", assertThrows(
                IllegalArgumentException.class, () -> new Conv2d(backend, 1, 1, new int[] {3, 3}, new int[] {0, 1},
                        new int[] {0, 0}, new int[] {1, 1}, true, 0)).getMessage());
        assertEquals("Conv2d needs in, out ≥ 1, got in=0, out=2", assertThrows(IllegalArgumentException.class,
                () -> new Conv2d(backend, 0, 2, 3, 0)).getMessage());
        assertEquals("MaxPool2d: padding must be a pair {h, w} of numbers ≥ 0, got [-1, -1]", assertThrows(
                IllegalArgumentException.class, () -> new MaxPool2d(2, 2, -1)).getMessage());
        assertEquals("AvgPool2d: kernel must be a pair {h, w} of numbers ≥ 1, got [2]", assertThrows(
                IllegalArgumentException.class, () -> new AvgPool2d(new int[] {2}, new int[] {1, 1}, new int[] {0, 0}))
                .getMessage());
    }

    @Test
    void poolsAndFlattenGiveTheShapesPyTorchGives() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(backend, 2, 3, 7, 6);
            assertArrayEquals(new int[] {2, 3, 3, 3}, new MaxPool2d(2).forward(x).shape());
            assertArrayEquals(new int[] {2, 3, 4, 3}, new AvgPool2d(3, 2, 1).forward(x).shape());
            assertEquals("MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))", new MaxPool2d(2).toString());
            assertArrayEquals(new int[] {2, 126}, new Flatten().forward(x).shape());
            assertArrayEquals(new int[] {252}, new Flatten(0, -1).forward(x).shape());
            assertArrayEquals(new int[] {2, 21, 6}, new Flatten(1, 2).forward(x).shape());
            assertArrayEquals(new int[] {2, 3, 7, 6}, new Flatten(-1, -1).forward(x).shape());
            assertEquals("Flatten: dims 1 to 4 are out of range for x of 2×3×7×6 (expected -4 to 3)", assertThrows(
                    IllegalArgumentException.class, () -> new Flatten(1, 4).forward(x)).getMessage());
            assertEquals("Flatten: startDim 2 comes after endDim 1 for x of 2×3×7×6", assertThrows(
                    IllegalArgumentException.class, () -> new Flatten(2, 1).forward(x)).getMessage());
        }
    }

    @Test
    void batchNormKeepsPyTorchsStateDictWithBuffersThatAreNoParameters() {
        try (BatchNorm2d bn = new BatchNorm2d(backend, 3)) {
            assertEquals(List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
                    List.copyOf(bn.stateDict().keySet()));
            assertEquals(List.of("running_mean", "running_var", "num_batches_tracked"), List.copyOf(bn.namedBuffers().keySet()));
            assertEquals(2, bn.parameters().size());
            assertEquals(6, bn.trainableParameterCount());
            assertArrayEquals(new float[] {1f, 1f, 1f}, bn.runningVar().toArray());
            assertArrayEquals(new int[] {0}, bn.stateDict().get("num_batches_tracked").toIntArray());
        }
        try (Sequential model = new Sequential("conv", new Conv2d(backend, 1, 2, 1, 0), "bn", new BatchNorm2d(backend, 2))) {
            assertEquals(List.of("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                    "bn.num_batches_tracked"), List.copyOf(model.stateDict().keySet()));
            assertEquals(List.of("conv.weight", "conv.bias", "bn.weight", "bn.bias"), List.copyOf(model.namedParameters().keySet()));
        }
        try (BatchNorm2d bare = new BatchNorm2d(backend, 3, 1e-5f, 0.1f, false, false)) {
            assertTrue(bare.stateDict().isEmpty());
        }
    }

    @Test
    void trainingUpdatesTheRunningStatisticsAndEvaluationNormalisesWithThem() {
        float[] data = random(2 * 3 * 4, 5);
        try (BatchNorm2d bn = new BatchNorm2d(backend, 3); Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, data, 2, 3, 2, 2);
            Tensor y = bn.forward(x);
            bn.forward(x);
            assertEquals(2, bn.numBatchesTracked());
            assertArrayEquals(new int[] {2}, bn.stateDict().get("num_batches_tracked").toIntArray());
            float[] mean = bn.runningMean().toArray(), var = bn.runningVar().toArray(), yt = y.toArray();
            for (int ch = 0; ch < 3; ch++) {
                double m = 0, v = 0;
                for (int e = 0; e < 8; e++) {
                    m += data[(e / 4 * 3 + ch) * 4 + e % 4] / 8;
                }
                for (int e = 0; e < 8; e++) {
                    v += Math.pow(data[(e / 4 * 3 + ch) * 4 + e % 4] - m, 2);
                }
                assertEquals((1 - 0.9 * 0.9) * m, mean[ch], 1e-5, "running mean after two batches");
                assertEquals(0.81 + (1 - 0.81) * v / 7, var[ch], 1e-5, "running var after two batches");
                // training normalises with the batch statistics (biased variance)
                assertEquals((data[ch * 4] - m) / Math.sqrt(v / 8 + 1e-5), yt[ch * 4], 1e-4, "training output");
            }
            bn.eval();
            float[] ye = bn.forward(x).toArray();
            for (int ch = 0; ch < 3; ch++) {
                assertEquals((data[ch * 4] - mean[ch]) / Math.sqrt(var[ch] + 1e-5), ye[ch * 4], 1e-4, "evaluation output");
            }
            assertEquals(2, bn.numBatchesTracked(), "evaluation tracks nothing");
            assertArrayEquals(mean, bn.runningMean().toArray(), "evaluation leaves the running mean");
        }
    }

    @Test
    void loadingAStateDictRestoresTheRunningStatisticsAndTheBatchCount() {
        try (BatchNorm2d a = new BatchNorm2d(backend, 2); BatchNorm2d b = new BatchNorm2d(backend, 2); Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, random(2 * 2 * 3, 6), 2, 2, 3, 1);
            for (int i = 0; i < 3; i++) {
                a.forward(x);
            }
            Map<String, Tensor> state = new LinkedHashMap<>(a.stateDict());
            b.loadStateDict(state);
            assertEquals(3, b.numBatchesTracked());
            assertArrayEquals(a.runningVar().toArray(), b.runningVar().toArray());
            b.forward(x);
            assertArrayEquals(new int[] {4}, b.stateDict().get("num_batches_tracked").toIntArray(), "counting goes on from 3");
            state.remove("running_var");
            assertEquals("loadStateDict into BatchNorm2d: missing running_var", assertThrows(IllegalArgumentException.class,
                    () -> b.loadStateDict(state)).getMessage());
        }
    }

    @Test
    void withoutRunningStatisticsEvaluationStillUsesTheBatchAndGradientsFlow() {
        float[] data = random(2 * 2 * 4, 8);
        try (BatchNorm2d bn = new BatchNorm2d(backend, 2, 1e-5f, 0.1f, true, false); Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, data, 2, 2, 2, 2).requiresGrad(true);
            float[] train = bn.forward(x).toArray();
            bn.eval();
            Tensor y = bn.forward(x);
            assertArrayEquals(train, y.toArray(), "the batch's statistics in both modes");
            dev.jrocm.runtime.autograd.Ops.sum(dev.jrocm.runtime.autograd.Ops.mul(y, y)).backward();
            assertArrayEquals(new int[] {2, 2, 2, 2}, x.grad().shape());
            assertArrayEquals(new int[] {2}, bn.weight().grad().shape());
        }
        try (BatchNorm2d bn = new BatchNorm2d(backend, 2); Scope s = Scope.open();
             Autograd.NoGrad none = Autograd.noGrad()) {
            assertEquals("BatchNorm2d(2): input is 2×3×1×1 but needs to be (n, 2, h, w)", assertThrows(
                    IllegalArgumentException.class, () -> bn.forward(Tensor.zeros(backend, 2, 3, 1, 1))).getMessage());
        }
    }
}
