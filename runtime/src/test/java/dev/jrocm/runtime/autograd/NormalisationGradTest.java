package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.jrocm.runtime.autograd.GradCheckTest.ce;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.crossEntropyRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layer norm and dropout against finite differences of a double forward (see {@link GradCheckTest}). */
class NormalisationGradTest {
    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    /** layer_norm over the last dimension of {@code cols}, in double; w and b may be null. */
    static double[] layerNormRef(double[] x, double[] w, double[] b, int cols) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / cols; r++) {
            double m = 0, v = 0;
            for (int c = 0; c < cols; c++) {
                m += x[r * cols + c] / cols;
            }
            for (int c = 0; c < cols; c++) {
                v += (x[r * cols + c] - m) * (x[r * cols + c] - m) / cols;
            }
            for (int c = 0; c < cols; c++) {
                y[r * cols + c] = (x[r * cols + c] - m) / Math.sqrt(v + 1e-5) * (w == null ? 1 : w[c]) + (b == null ? 0 : b[c]);
            }
        }
        return y;
    }

    @Test
    void layerNormGradientsReachTheInputTheWeightAndTheBias() {
        // x (2, 2, 3) normalised over its last dimension, then cross-entropy over the 4 rows.
        check(Map.of("x", random(51, 2, 2, 3), "w", random(52, 3), "b", random(53, 3)),
                t -> ce(Ops.layerNorm(t.get("x"), t.get("w"), t.get("b"), 1e-5f).view(4, 3)),
                v -> crossEntropyRef(layerNormRef(v.get("x"), v.get("w"), v.get("b"), 3), 3));
    }

    @Test
    void layerNormWithoutAffineParametersAndAnInputUsedTwice() {
        // y = layerNorm(x) + x: x gets both the normalisation's gradient and the identity's.
        check(Map.of("x", random(54, 4, 3)),
                t -> ce(Ops.add(Ops.layerNorm(t.get("x"), null, null, 1e-5f), t.get("x"))),
                v -> {
                    double[] x = v.get("x"), y = layerNormRef(x, null, null, 3);
                    for (int i = 0; i < y.length; i++) {
                        y[i] += x[i];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void dropoutGradientIsTheSameMaskScaledAsTheForward() {
        float p = 0.4f;
        long seed = 77;
        // The mask is part of the function: read it once from dropout of ones (kept → 1/(1−p)).
        float[] kept;
        try (Scope s = Scope.open()) {
            kept = Ops.dropout(Tensor.full(GradCheckTest.backend, 1f, 4, 3), p, seed).toArray();
        }
        for (float k : kept) {
            assertTrue(k == 0f || k == 1f / (1f - p), "mask value " + k);
        }
        check(Map.of("x", random(55, 4, 3)),
                t -> ce(Ops.dropout(t.get("x"), p, seed)),
                v -> {
                    double[] x = v.get("x"), y = new double[x.length];
                    for (int i = 0; i < y.length; i++) {
                        y[i] = x[i] * kept[i];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void badArgumentsAreRefusedNamingTheOperand() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(GradCheckTest.backend, 2, 3), w = Tensor.zeros(GradCheckTest.backend, 4);
            assertEquals("layerNorm: x is 2×3 but weight is f32 4 on cpu (it needs to be f32 of 3 elements, x's last dimension)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.layerNorm(x, w, null, 1e-5f)).getMessage());
            assertEquals("dropout: p must be in [0, 1], got 1.5",
                    assertThrows(IllegalArgumentException.class, () -> Ops.dropout(x, 1.5f, 1)).getMessage());
        }
    }
}
