package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.ContractBackends;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link Optimizer#setLr}: the next step uses the new rate, on the dense and the factored Adam paths, CPU and GPU. */
class SetLrTest {

    @AfterAll
    static void closeBackends() {
        ContractBackends.closeAll();
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void sgdStepsWithTheRateSetLast(Backend be) {
        try (Tensor p = Tensor.of(be, new float[] {1f, -2f}, 2).requiresGrad(true); SGD sgd = new SGD(List.of(p), 0.1f)) {
            p.setGrad(Tensor.of(be, new float[] {0.5f, 1f}, 2));
            sgd.step();
            sgd.setLr(0.25);
            assertEquals(0.25, sgd.lr());
            sgd.step();
            float[] got = p.toArray();
            assertEquals(1 - 0.1 * 0.5 - 0.25 * 0.5, got[0], 1e-6, be.describe());
            assertEquals(-2 - 0.1 - 0.25, got[1], 1e-6, be.describe());
        }
    }

    /** Adam's first step moves each weight by lr·sign(g) (bias-corrected m/√v = ±1); the second by lr₂·m̂/(√v̂ + ε). */
    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void adamStepsWithTheRateSetLastOnTheDenseAndTheFactoredPath(Backend be) {
        double lr1 = 0.1, lr2 = 0.03, b1 = 0.9, b2 = 0.999;
        for (boolean factored : new boolean[] {false, true}) {
            try (Tensor w = Tensor.zeros(be, 1, 2).requiresGrad(true); Adam adam = new Adam(List.of(w), (float) lr1)) {
                float[][] grads = {{1f, -2f}, {3f, 0.5f}};
                double[] want = new double[2], m = new double[2], v = new double[2];
                for (int s = 0; s < 2; s++) {
                    if (factored) { // g = dyᵀ·x with dy = 1 (1×1) and x = the gradient row
                        try (Tensor dy = Tensor.of(be, new float[] {1f}, 1, 1); Tensor x = Tensor.of(be, grads[s], 1, 2)) {
                            ClipGradNormTest.backwardFactored(w, dy, x);
                        }
                    } else {
                        w.setGrad(Tensor.of(be, grads[s], 1, 2));
                    }
                    if (s == 1) {
                        adam.setLr(lr2);
                    }
                    adam.step();
                    w.zeroGrad();
                    double lr = s == 0 ? lr1 : lr2;
                    for (int i = 0; i < 2; i++) {
                        m[i] = b1 * m[i] + (1 - b1) * grads[s][i];
                        v[i] = b2 * v[i] + (1 - b2) * grads[s][i] * grads[s][i];
                        double mHat = m[i] / (1 - Math.pow(b1, s + 1)), vHat = v[i] / (1 - Math.pow(b2, s + 1));
                        want[i] -= lr * mHat / (Math.sqrt(vHat) + 1e-8);
                    }
                }
                float[] got = w.toArray();
                for (int i = 0; i < 2; i++) {
                    assertEquals(want[i], got[i], 1e-6, be.describe() + (factored ? " factored" : " dense") + " [" + i + "]");
                }
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void aBadRateIsRefusedAndTheOldOneKept(Backend be) {
        try (Tensor p = Tensor.zeros(be, 2).requiresGrad(true); Adam adam = new Adam(List.of(p), 0.1f)) {
            assertEquals("Adam.setLr: lr must be in [0.0, Infinity), got -0.5",
                    assertThrows(IllegalArgumentException.class, () -> adam.setLr(-0.5)).getMessage());
            assertEquals("Adam.setLr: lr must be in [0.0, Infinity), got NaN",
                    assertThrows(IllegalArgumentException.class, () -> adam.setLr(Double.NaN)).getMessage());
            assertEquals("Adam.setLr: lr must be in [0.0, Infinity), got 1.0E300 (more than float32 holds)",
                    assertThrows(IllegalArgumentException.class, () -> adam.setLr(1e300)).getMessage());
            assertEquals(0.1f, (float) adam.lr());
        }
    }
}
