package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.ContractBackends;
import dev.jrocm.runtime.device.TestBuffers;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The form of a weight gradient ({@link Gradient}) is the autograd's choice, made in one place
 * with one threshold for every backend, and each form holds the same gradient.
 */
class GradientFormTest {
    private static final int OUT = 3, IN = 5;

    @AfterAll
    static void close() {
        ContractBackends.closeAll();
    }

    /** dyᵀ·x in double, for dy (rows, OUT) and x (rows, IN). */
    private static double[] outer(float[] dy, float[] x, int rows) {
        double[] g = new double[OUT * IN];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < OUT; o++) {
                for (int i = 0; i < IN; i++) {
                    g[o * IN + i] += (double) dy[r * OUT + o] * x[r * IN + i];
                }
            }
        }
        return g;
    }

    /** w's gradient after backward of sum(linear(x, w) ⊙ dy): dyᵀ·x. */
    private static Gradient backwardThroughLinear(Backend be, Tensor w, float[] dy, float[] x, int rows) {
        try (Scope s = Scope.open()) {
            Ops.sum(Ops.mul(Ops.linear(Tensor.of(be, x, rows, IN), w, null), Tensor.of(be, dy, rows, OUT))).backward();
        }
        return w.gradient();
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void upToTheThresholdTheGradientStaysFactoredAndPastItIsFormed(Backend be) {
        for (int rows : new int[] {1, Gradient.FACTORED_MAX_ROWS, Gradient.FACTORED_MAX_ROWS + 1}) {
            float[] dy = TestBuffers.gaussian(rows * OUT, 11 + rows), x = TestBuffers.gaussian(rows * IN, 31 + rows);
            try (Tensor w = Tensor.of(be, TestBuffers.gaussian(OUT * IN, 7), OUT, IN).requiresGrad(true)) {
                Gradient g = backwardThroughLinear(be, w, dy, x, rows);
                String where = be.describe() + ", " + rows + " rows";
                if (rows <= Gradient.FACTORED_MAX_ROWS) {
                    Gradient.Factored f = assertInstanceOf(Gradient.Factored.class, g, where);
                    assertEquals(rows, f.rows(), where);
                } else {
                    assertInstanceOf(Gradient.Dense.class, g, where);
                }
                double[] want = outer(dy, x, rows);
                float[] got = w.grad().toArray();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), where + " [" + i + "]");
                }
                assertInstanceOf(Gradient.Dense.class, w.gradient(), "grad() leaves the formed gradient in place");
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void aWeightUsedTwiceSumsBothContributionsIntoAFormedGradient(Backend be) {
        int rows = 2;
        float[] dy1 = TestBuffers.gaussian(rows * OUT, 1), x1 = TestBuffers.gaussian(rows * IN, 2);
        float[] dy2 = TestBuffers.gaussian(rows * OUT, 3), x2 = TestBuffers.gaussian(rows * IN, 4);
        try (Tensor w = Tensor.of(be, TestBuffers.gaussian(OUT * IN, 5), OUT, IN).requiresGrad(true);
             Scope s = Scope.open()) {
            Tensor a = Ops.mul(Ops.linear(Tensor.of(be, x1, rows, IN), w, null), Tensor.of(be, dy1, rows, OUT));
            Tensor b = Ops.mul(Ops.linear(Tensor.of(be, x2, rows, IN), w, null), Tensor.of(be, dy2, rows, OUT));
            Ops.add(Ops.sum(a), Ops.sum(b)).backward();
            double[] want = outer(dy1, x1, rows), second = outer(dy2, x2, rows);
            float[] got = w.grad().toArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i] + second[i], got[i], 1e-5, be.describe() + " [" + i + "]");
            }
        }
    }

    @Test
    void theSeedOfOnesIsNeverKeptAsAFactor() {
        Backend be = ContractBackends.all().getFirst();
        // linear's output is the loss itself: its dy is the backward pass's seed, which is released with the pass.
        try (Tensor w = Tensor.of(be, new float[] {0.5f, -1f}, 1, 2).requiresGrad(true); Scope s = Scope.open()) {
            Ops.linear(Tensor.of(be, new float[] {3f, 4f}, 1, 2), w, null).backward();
            assertInstanceOf(Gradient.Dense.class, w.gradient());
            assertEquals(List.of(3f, 4f), List.of(w.grad().toArray()[0], w.grad().toArray()[1]));
        }
    }

    @Test
    void setGradMakesTheTensorOwnTheGradientAndClosesTheOneItReplaces() {
        Backend be = ContractBackends.all().getFirst();
        try (Tensor p = Tensor.zeros(be, 2).requiresGrad(true)) {
            Tensor g1 = Tensor.of(be, new float[] {1f, 2f}, 2), g2 = Tensor.of(be, new float[] {3f, 4f}, 2);
            p.setGrad(g1);
            assertSame(g1, p.grad());
            p.setGrad(g1); // the same tensor again: kept, not closed
            assertTrue(!g1.isClosed());
            p.setGrad(g2);
            assertTrue(g1.isClosed(), "the replaced gradient is closed");
            assertSame(g2, ((Gradient.Dense) p.gradient()).value());
            p.setGrad(null);
            assertNull(p.gradient());
            assertTrue(g2.isClosed());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> p.setGrad(Tensor.zeros(be, 3)));
            assertTrue(e.getMessage().contains("does not match"), e.getMessage());
        }
    }

    @Test
    void recordRefusesWhatCannotJoinTheGraph() {
        Backend be = ContractBackends.all().getFirst();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(be, 2).requiresGrad(true);
            Tensor y = Ops.scale(x, 2f);
            Node node = new Node("mine", List.of(x), dy -> {});
            IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> Autograd.record(y, node));
            assertTrue(twice.getMessage().contains("already produced by 'scale'"), twice.getMessage());
            Tensor labels = Tensor.ofInts(be, new int[] {1, 0}, 2);
            assertEquals(DType.I32, labels.dtype());
            IllegalArgumentException ints = assertThrows(IllegalArgumentException.class, () -> Autograd.record(labels, node));
            assertTrue(ints.getMessage().contains("only float tensors"), ints.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Autograd.record(null, node));
            Tensor z = Tensor.zeros(be, 2);
            Autograd.record(z, node);
            assertSame(node, z.node());
            assertTrue(z.requiresGrad());
        }
    }

    @Test
    void aFactoredGradientNeedsMatchingFactors() {
        Backend be = ContractBackends.all().getFirst();
        try (Tensor dy = Tensor.zeros(be, 2, 3); Tensor x = Tensor.zeros(be, 3, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Gradient.Factored(dy, x));
            assertTrue(e.getMessage().contains("dy (rows, out) and x (rows, in)"), e.getMessage());
        }
    }
}
