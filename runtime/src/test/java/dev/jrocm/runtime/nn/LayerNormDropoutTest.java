package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayerNormDropoutTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (5 + 3 * r.nextGaussian());
        }
        return v;
    }

    @Test
    void layerNormStartsAsPyTorchsAndNormalisesEachRowOfTheLastDimension() {
        try (LayerNorm ln = new LayerNorm(backend, 16); Scope s = Scope.open()) {
            assertEquals(List.of("weight", "bias"), List.copyOf(ln.stateDict().keySet()));
            float[] ones = new float[16];
            java.util.Arrays.fill(ones, 1f);
            assertArrayEquals(ones, ln.weight().toArray());
            assertArrayEquals(new float[16], ln.bias().toArray());
            Tensor y = ln.forward(Tensor.of(backend, gaussian(2 * 3 * 16, 1), 2, 3, 16));
            assertArrayEquals(new int[] {2, 3, 16}, y.shape());
            float[] v = y.toArray();
            for (int r = 0; r < 6; r++) {
                double m = 0, sq = 0;
                for (int c = 0; c < 16; c++) {
                    m += v[r * 16 + c] / 16.0;
                    sq += (double) v[r * 16 + c] * v[r * 16 + c] / 16.0;
                }
                assertEquals(0, m, 1e-5, "row " + r + " mean");
                assertEquals(1, sq - m * m, 1e-3, "row " + r + " variance (1 less the eps's share)");
            }
            assertEquals("LayerNorm(16, eps=1.0E-5)", ln.toString());
        }
    }

    @Test
    void layerNormWithoutAffineHasNoParametersAndAWrongWidthIsRefused() {
        try (LayerNorm ln = new LayerNorm(backend, 4, 1e-5f, false); Scope s = Scope.open()) {
            assertEquals(0, ln.parameterCount());
            assertEquals("LayerNorm(4): input is 2×3 but its last dimension needs to be 4",
                    assertThrows(IllegalArgumentException.class, () -> ln.forward(Tensor.zeros(backend, 2, 3))).getMessage());
        }
        assertEquals("LayerNorm needs features ≥ 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new LayerNorm(backend, 0)).getMessage());
    }

    @Test
    void dropoutZeroesAboutPAndScalesTheRestInTrainingAndPassesThroughInEval() {
        try (Dropout drop = new Dropout(0.25f, 3); Scope s = Scope.open()) {
            Tensor x = Tensor.full(backend, 2f, 100, 100);
            float[] first = drop.forward(x).toArray(), second = drop.forward(x).toArray();
            int zeros = 0;
            for (float v : first) {
                assertTrue(v == 0f || v == 2f / 0.75f, "element " + v);
                zeros += v == 0f ? 1 : 0;
            }
            assertEquals(2500, zeros, 200); // binomial(10 000, 0.25): std 43
            assertNotEquals(java.util.Arrays.toString(first), java.util.Arrays.toString(second), "each call draws a new mask");
            drop.eval();
            assertSame(x, drop.forward(x));
            assertEquals("Dropout(p=0.25)", drop.toString());
        }
        try (Dropout all = new Dropout(1f, 0); Scope s = Scope.open()) {
            assertArrayEquals(new float[6], all.forward(Tensor.full(backend, 2f, 2, 3)).toArray());
        }
        assertEquals("Dropout: p must be in [0, 1], got -0.1",
                assertThrows(IllegalArgumentException.class, () -> new Dropout(-0.1f, 0)).getMessage());
    }
}
