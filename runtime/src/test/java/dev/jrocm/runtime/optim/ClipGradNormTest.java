package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.autograd.Gradient;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.ContractBackends;
import dev.jrocm.runtime.device.TestBuffers;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Optimizer#clipGradNorm} on the CPU and GPU backends ({@link ContractBackends}): the norm
 * against one computed in double here, dense and factored gradients, as PyTorch's
 * {@code clip_grad_norm_} defines them.
 */
class ClipGradNormTest {
    static final long SEED = 14L;
    private final List<Tensor> open = new ArrayList<>();

    @AfterAll
    static void closeBackends() {
        ContractBackends.closeAll();
    }

    @org.junit.jupiter.api.AfterEach
    void closeTensors() {
        open.forEach(Tensor::close);
        open.clear();
    }

    private Tensor parameter(Backend be, float[] grad, int... shape) {
        Tensor p = Tensor.zeros(be, shape).requiresGrad(true);
        open.add(p);
        if (grad != null) {
            p.setGrad(Tensor.of(be, grad, shape));
        }
        return p;
    }

    private static float[] scaled(float[] g, float by) {
        float[] out = g.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] *= by;
        }
        return out;
    }

    private static double sumOfSquares(float[]... gradients) {
        double s = 0;
        for (float[] g : gradients) {
            for (float v : g) {
                s += (double) v * v;
            }
        }
        return s;
    }

    private static void assertClose(double[] want, float[] got, double rel, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            if (Math.abs(got[i] - want[i]) > rel * Math.abs(want[i]) + 1e-7) {
                fail(what + "[" + i + "]: got " + got[i] + ", want " + want[i] + " (seed " + SEED + ")");
            }
        }
    }

    private static double[] times(float[] g, double c) {
        double[] out = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            out[i] = g[i] * c;
        }
        return out;
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void denseGradientsAreScaledByMaxNormOverTheirTotalNorm(Backend be) {
        float[] g1 = scaled(TestBuffers.gaussian(12, SEED), 3f), g2 = TestBuffers.gaussian(5, SEED + 1);
        Tensor a = parameter(be, g1, 3, 4), b = parameter(be, g2, 5), none = parameter(be, null, 2);
        double norm = Math.sqrt(sumOfSquares(g1, g2)), maxNorm = 1.5;
        assertTrue(norm > 3 * maxNorm, "the case must clip: norm " + norm);

        double got = Optimizer.clipGradNorm(List.of(a, b, none), maxNorm);

        assertEquals(norm, got, 1e-6 * norm, be.describe());
        double c = maxNorm / (norm + 1e-6);
        assertClose(times(g1, c), a.grad().toArray(), 1e-6, be.describe() + " a.grad");
        assertClose(times(g2, c), b.grad().toArray(), 1e-6, be.describe() + " b.grad");
        assertFalse(none.hasGrad(), "a parameter without a gradient gets none");
        assertEquals(maxNorm, Math.sqrt(sumOfSquares(a.grad().toArray(), b.grad().toArray())), 1e-5, "norm after");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void gradientsWithinMaxNormAreLeftAsTheyAre(Backend be) {
        float[] g1 = TestBuffers.gaussian(7, SEED + 2), g2 = TestBuffers.gaussian(3, SEED + 3);
        Tensor a = parameter(be, g1, 7), b = parameter(be, g2, 3);
        double norm = Math.sqrt(sumOfSquares(g1, g2));

        double got = Optimizer.clipGradNorm(List.of(a, b), norm * 1.01);

        assertEquals(norm, got, 1e-6 * norm, be.describe());
        assertArrayEquals(g1, a.grad().toArray(), be.describe());
        assertArrayEquals(g2, b.grad().toArray(), be.describe());
        assertEquals(norm, Optimizer.clipGradNorm(List.of(a, b), Double.POSITIVE_INFINITY), 1e-6 * norm, "only measures");
        assertArrayEquals(g1, a.grad().toArray(), be.describe());
    }

    /**
     * Leaves dyᵀ·x as w's gradient the way the autograd does it, through a real backward pass of
     * sum(linear(x, w) ⊙ dy), and checks the autograd kept it factored.
     */
    static void backwardFactored(Tensor w, Tensor dy, Tensor x) {
        try (Scope s = Scope.open()) {
            Ops.sum(Ops.mul(Ops.linear(x, w, null), dy)).backward();
        }
        assertInstanceOf(Gradient.Factored.class, w.gradient(), "a batch of " + x.dim(0) + " leaves dW factored");
    }

    /**
     * A linear layer's weight gradient held as its factors (dy, x), two batches' rows stacked:
     * the norm is that of Σ dyᵀ·x (formed here in double), clipping keeps the factors and scales
     * the gradient they stand for.
     */
    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void factoredGradientsCountInTheNormAndStayFactoredWhenScaled(Backend be) {
        int out = 5, in = 6, batch1 = 3, batch2 = 2;
        float[] dy1 = TestBuffers.gaussian(batch1 * out, SEED + 4), x1 = TestBuffers.gaussian(batch1 * in, SEED + 5);
        float[] dy2 = TestBuffers.gaussian(batch2 * out, SEED + 6), x2 = TestBuffers.gaussian(batch2 * in, SEED + 7);
        float[] bias = TestBuffers.gaussian(out, SEED + 8);
        Tensor w = parameter(be, null, out, in), b = parameter(be, bias, out);
        int rows = batch1 + batch2;
        try (Tensor dy = Tensor.of(be, concat(dy1, dy2), rows, out); Tensor x = Tensor.of(be, concat(x1, x2), rows, in)) {
            backwardFactored(w, dy, x);
        }
        double[] g = new double[out * in]; // Σ dyᵀ·x in double
        for (float[][] pair : new float[][][] {{dy1, x1}, {dy2, x2}}) {
            for (int r = 0; r < pair[0].length / out; r++) {
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        g[o * in + i] += (double) pair[0][r * out + o] * pair[1][r * in + i];
                    }
                }
            }
        }
        double squares = sumOfSquares(bias);
        for (double v : g) {
            squares += v * v;
        }
        double norm = Math.sqrt(squares), maxNorm = norm / 4;

        double got = Optimizer.clipGradNorm(List.of(w, b), maxNorm);

        assertEquals(norm, got, 1e-6 * norm, be.describe());
        assertInstanceOf(Gradient.Factored.class, w.gradient(), "the weight's gradient is still held as its factors");
        double c = maxNorm / (norm + 1e-6);
        assertClose(times(bias, c), b.grad().toArray(), 1e-6, be.describe() + " bias");
        double[] want = Arrays.stream(g).map(v -> v * c).toArray();
        assertClose(want, w.grad().toArray(), 1e-5, be.describe() + " weight (formed from the scaled factors)");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void aNonFiniteNormThrowsAndScalesNothingUnlessAskedToGoOn(Backend be) {
        float[] finite = {1f, 2f}, withNaN = {3f, Float.NaN};
        Tensor a = parameter(be, finite, 2), b = parameter(be, withNaN, 2);

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Optimizer.clipGradNorm(List.of(a, b), 1.0));
        assertEquals("clipGradNorm: the total norm of the gradients of 2 parameters is not finite (NaN); nothing"
                + " was scaled. Pass errorIfNonfinite = false to scale by maxNorm / norm anyway, as PyTorch does by"
                + " default", e.getMessage());
        assertArrayEquals(finite, a.grad().toArray(), "nothing scaled");

        assertTrue(Double.isNaN(Optimizer.clipGradNorm(List.of(a, b), 1.0, false)));
        assertTrue(Float.isNaN(a.grad().toArray()[0]), "PyTorch's default: scaled by NaN");

        Tensor c = parameter(be, new float[] {Float.POSITIVE_INFINITY, 4f}, 2), d = parameter(be, new float[] {5f}, 1);
        assertThrows(IllegalStateException.class, () -> Optimizer.clipGradNorm(List.of(c, d), 1.0));
        assertEquals(Double.POSITIVE_INFINITY, Optimizer.clipGradNorm(List.of(c, d), 1.0, false));
        float[] cg = c.grad().toArray();
        assertTrue(Float.isNaN(cg[0]), "inf · 0 is NaN");
        assertEquals(0f, cg[1], "a finite element scaled by maxNorm / ∞ = 0");
        assertArrayEquals(new float[] {0f}, d.grad().toArray());
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void noGradientsGiveZeroAndATensorListedTwiceCountsOnce(Backend be) {
        Tensor a = parameter(be, null, 3);
        assertEquals(0.0, Optimizer.clipGradNorm(List.of(a), 1.0));
        assertEquals(0.0, Optimizer.clipGradNorm(List.of(), 1.0));
        Tensor b = parameter(be, new float[] {3f, 4f}, 2);
        assertEquals(5.0, Optimizer.clipGradNorm(List.of(b, a, b), 10.0), 1e-6);
        assertEquals(5.0, Optimizer.clipGradNorm(List.of(b, b), 1.0), 1e-6);
        assertClose(new double[] {3 / (5 + 1e-6), 4 / (5 + 1e-6)}, b.grad().toArray(), 1e-6, "scaled once");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.ContractBackends#all")
    void badArgumentsAreRefused(Backend be) {
        Tensor a = parameter(be, new float[] {1f}, 1);
        assertEquals("clipGradNorm: maxNorm must be ≥ 0 (or infinite, to only measure), got -1.0",
                assertThrows(IllegalArgumentException.class, () -> Optimizer.clipGradNorm(List.of(a), -1)).getMessage());
        assertEquals("clipGradNorm: maxNorm must be ≥ 0 (or infinite, to only measure), got NaN",
                assertThrows(IllegalArgumentException.class, () -> Optimizer.clipGradNorm(List.of(a), Double.NaN)).getMessage());
        assertEquals("clipGradNorm: parameters is null",
                assertThrows(IllegalArgumentException.class, () -> Optimizer.clipGradNorm(null, 1)).getMessage());
        assertEquals("clipGradNorm: parameter 1 is null",
                assertThrows(IllegalArgumentException.class, () -> Optimizer.clipGradNorm(Arrays.asList(a, null), 1)).getMessage());
        assertArrayEquals(new float[] {1f}, a.grad().toArray(), "nothing changed");
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
