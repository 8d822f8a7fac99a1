package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;

import static dev.jrocm.runtime.autograd.GradCheckTest.ce;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.crossEntropyRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The element-wise functions and mseLoss against finite differences of a double forward (see {@link GradCheckTest}). */
class UnaryOpsGradTest {
    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    /** ce(f(x) + x) for x (4, 3): the input reaches the loss through f and directly, so both gradients add. */
    static void checkUnary(long seed, boolean positive, UnaryOperator<Tensor> op, DoubleUnaryOperator ref) {
        GradCheckTest.Leaf leaf = random(seed, 4, 3);
        if (positive) {
            for (int i = 0; i < leaf.values().length; i++) {
                leaf.values()[i] = Math.abs(leaf.values()[i]) + 0.5;
            }
        }
        check(Map.of("x", leaf),
                t -> ce(Ops.add(op.apply(t.get("x")), t.get("x"))),
                v -> {
                    double[] x = v.get("x"), y = new double[x.length];
                    for (int i = 0; i < x.length; i++) {
                        y[i] = ref.applyAsDouble(x[i]) + x[i];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void exp() { checkUnary(61, false, Ops::exp, Math::exp); }

    @Test
    void log() { checkUnary(62, true, Ops::log, Math::log); }

    @Test
    void sqrt() { checkUnary(63, true, Ops::sqrt, Math::sqrt); }

    @Test
    void tanh() { checkUnary(64, false, Ops::tanh, Math::tanh); }

    @Test
    void sigmoid() { checkUnary(65, false, Ops::sigmoid, x -> 1 / (1 + Math.exp(-x))); }

    @Test
    void gelu() {
        checkUnary(66, false, Ops::gelu, x -> x * (x < -3 ? 0.5 * dev.jrocm.runtime.device.UnaryContractTest.erfcLarge(-x / Math.sqrt(2))
                : 0.5 * (1 + dev.jrocm.runtime.device.UnaryContractTest.erf(x / Math.sqrt(2)))));
    }

    @Test
    void silu() { checkUnary(67, false, Ops::silu, x -> x / (1 + Math.exp(-x))); }

    @Test
    void mseLossGradientsReachBothInputs() {
        // mse(p, t) on (2, 3), scaled into a (4, 3) cross-entropy through a broadcast add.
        check(Map.of("p", random(68, 2, 3), "t", random(69, 2, 3), "z", random(70, 4, 3)),
                t -> ce(Ops.add(t.get("z"), Ops.mseLoss(t.get("p"), t.get("t")))),
                v -> {
                    double[] p = v.get("p"), q = v.get("t"), z = v.get("z"), y = new double[z.length];
                    double mse = 0;
                    for (int i = 0; i < p.length; i++) {
                        mse += (p[i] - q[i]) * (p[i] - q[i]) / p.length;
                    }
                    for (int i = 0; i < z.length; i++) {
                        y[i] = z[i] + mse;
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void mseLossIsTheMeanOfSquaresAndRefusesShapesThatDiffer() {
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.of(GradCheckTest.backend, new float[] {1, 2, 3, 4}, 2, 2);
            Tensor t = Tensor.of(GradCheckTest.backend, new float[] {1, 0, 0, 8}, 2, 2);
            assertEquals((0 + 4 + 9 + 16) / 4f, Ops.mseLoss(p, t).item());
            assertEquals("mseLoss: pred is 2×2 but target is 4 (they need the same shape)",
                    assertThrows(IllegalArgumentException.class,
                            () -> Ops.mseLoss(p, Tensor.zeros(GradCheckTest.backend, 4))).getMessage());
            assertEquals("gelu: x must be f32, not i32 2 on cpu",
                    assertThrows(IllegalArgumentException.class,
                            () -> Ops.gelu(Tensor.ofInts(GradCheckTest.backend, new int[] {1, 2}, 2))).getMessage());
        }
    }
}
