package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Random;

import static dev.jrocm.runtime.autograd.GradCheckTest.backend;
import static dev.jrocm.runtime.autograd.GradCheckTest.ce;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.crossEntropyRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.linearRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static dev.jrocm.runtime.autograd.GradCheckTest.reluRef;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link ConvOps}' gradients against central finite differences of a forward computed here in
 * double (see {@link GradCheckTest}). Most losses are Σ y·r for a fixed random r, so that every
 * output's gradient is a different number.
 */
class ConvGradTest {
    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    // ---- the double reference -----------------------------------------------------------------

    static double[] conv2dRef(double[] x, double[] w, double[] b, Conv2dShape s) {
        double[] y = new double[(int) s.outputSize()];
        for (int n = 0; n < s.n(); n++) {
            for (int o = 0; o < s.k(); o++) {
                for (int i = 0; i < s.outH(); i++) {
                    for (int j = 0; j < s.outW(); j++) {
                        double sum = b == null ? 0 : b[o];
                        for (int c = 0; c < s.c(); c++) {
                            for (int p = 0; p < s.kh(); p++) {
                                for (int q = 0; q < s.kw(); q++) {
                                    int ih = i * s.strideH() - s.padH() + p * s.dilH();
                                    int iw = j * s.strideW() - s.padW() + q * s.dilW();
                                    if (ih >= 0 && ih < s.h() && iw >= 0 && iw < s.w()) {
                                        sum += x[((n * s.c() + c) * s.h() + ih) * s.w() + iw]
                                                * w[((o * s.c() + c) * s.kh() + p) * s.kw() + q];
                                    }
                                }
                            }
                        }
                        y[((n * s.k() + o) * s.outH() + i) * s.outW() + j] = sum;
                    }
                }
            }
        }
        return y;
    }

    /** Max (or, with {@code max} false, count_include_pad average) pooling in double. */
    static double[] poolRef(double[] x, Pool2dShape s, boolean max) {
        double[] y = new double[(int) s.outputSize()];
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            for (int i = 0; i < s.outH(); i++) {
                for (int j = 0; j < s.outW(); j++) {
                    double acc = max ? Double.NEGATIVE_INFINITY : 0;
                    int padded = 0;
                    for (int p = 0; p < s.kh(); p++) {
                        for (int q = 0; q < s.kw(); q++) {
                            int ih = i * s.strideH() - s.padH() + p, iw = j * s.strideW() - s.padW() + q;
                            padded += ih < s.h() + s.padH() && iw < s.w() + s.padW() ? 1 : 0;
                            if (ih >= 0 && ih < s.h() && iw >= 0 && iw < s.w()) {
                                double v = x[(plane * s.h() + ih) * s.w() + iw];
                                acc = max ? Math.max(acc, v) : acc + v;
                            }
                        }
                    }
                    y[(plane * s.outH() + i) * s.outW() + j] = max ? acc : acc / padded;
                }
            }
        }
        return y;
    }

    /** Batch norm over (n, c, hw) with the batch's statistics, or with the given running ones. */
    static double[] batchNormRef(double[] x, double[] w, double[] b, int n, int c, int hw, double[] runningMean,
                                 double[] runningVar) {
        double[] y = new double[x.length];
        for (int ch = 0; ch < c; ch++) {
            double m = 0, v = 0;
            for (int e = 0; e < n * hw; e++) {
                m += x[(e / hw * c + ch) * hw + e % hw] / (n * hw);
            }
            for (int e = 0; e < n * hw; e++) {
                double d = x[(e / hw * c + ch) * hw + e % hw] - m;
                v += d * d / (n * hw);
            }
            if (runningMean != null) {
                m = runningMean[ch];
                v = runningVar[ch];
            }
            for (int e = 0; e < n * hw; e++) {
                int at = (e / hw * c + ch) * hw + e % hw;
                y[at] = (x[at] - m) / Math.sqrt(v + 1e-5) * (w == null ? 1 : w[ch]) + (b == null ? 0 : b[ch]);
            }
        }
        return y;
    }

    static double[] add(double[] a, double[] b) {
        double[] out = a.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += b[i];
        }
        return out;
    }

    // ---- the loss Σ y·r -----------------------------------------------------------------------

    static double[] weights(int n, long seed) {
        Random r = new Random(seed);
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            w[i] = r.nextGaussian();
        }
        return w;
    }

    static Tensor weighted(Tensor y, long seed) {
        Tensor r = Tensor.of(backend, GradCheckTest.toFloat(weights((int) y.size(), seed)), y.shape());
        return Ops.sum(Ops.mul(y, r));
    }

    static double weightedRef(double[] y, long seed) {
        double[] r = weights(y.length, seed);
        double sum = 0;
        for (int i = 0; i < y.length; i++) {
            sum += y[i] * r[i];
        }
        return sum;
    }

    // ---- convolution --------------------------------------------------------------------------

    @Test
    void conv2dGradientsWithStridePaddingDilationAndABias() {
        // x (2, 2, 5, 6), weight (3, 2, 2, 3): stride 2×1, padding 1×2, dilation 2×1 → y (2, 3, 3, 8)
        Conv2dShape s = new Conv2dShape(2, 2, 5, 6, 3, 2, 3, 2, 1, 1, 2, 2, 1);
        check(Map.of("x", random(61, 2, 2, 5, 6), "w", random(62, 3, 2, 2, 3), "b", random(63, 3)),
                t -> {
                    Tensor y = ConvOps.conv2d(t.get("x"), t.get("w"), t.get("b"), new int[] {2, 1}, new int[] {1, 2},
                            new int[] {2, 1});
                    assertArrayEquals(new int[] {2, 3, 3, 8}, y.shape());
                    return weighted(y, 64);
                },
                v -> weightedRef(conv2dRef(v.get("x"), v.get("w"), v.get("b"), s), 64));
    }

    @Test
    void conv2dWithoutBiasOnAnUnbatchedInput() {
        // x (2, 4, 5) is one image: y (2, 4, 5) through padding 1 of a 3×3 kernel
        Conv2dShape s = new Conv2dShape(1, 2, 4, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1);
        check(Map.of("x", random(65, 2, 4, 5), "w", random(66, 2, 2, 3, 3)),
                t -> {
                    Tensor y = ConvOps.conv2d(t.get("x"), t.get("w"), null, 1, 1, 1);
                    assertArrayEquals(new int[] {2, 4, 5}, y.shape());
                    return weighted(y, 67);
                },
                v -> weightedRef(conv2dRef(v.get("x"), v.get("w"), null, s), 67));
    }

    @Test
    void anInputAWeightAndABiasEachUsedTwiceAddUpTheirGradients() {
        // conv(x, w1, b) + conv(x, w2, b) + conv(x2, w1, b): every leaf gets two contributions (x2 one).
        Conv2dShape s = new Conv2dShape(2, 3, 4, 4, 2, 2, 2, 2, 2, 0, 0, 1, 1);
        check(Map.of("x", random(71, 2, 3, 4, 4), "x2", random(72, 2, 3, 4, 4), "w1", random(73, 2, 3, 2, 2),
                        "w2", random(74, 2, 3, 2, 2), "b", random(75, 2)),
                t -> {
                    Tensor a = ConvOps.conv2d(t.get("x"), t.get("w1"), t.get("b"), 2, 0, 1);
                    Tensor b = ConvOps.conv2d(t.get("x"), t.get("w2"), t.get("b"), 2, 0, 1);
                    Tensor c = ConvOps.conv2d(t.get("x2"), t.get("w1"), t.get("b"), 2, 0, 1);
                    return weighted(Ops.add(Ops.add(a, b), c), 76);
                },
                v -> weightedRef(add(add(conv2dRef(v.get("x"), v.get("w1"), v.get("b"), s),
                        conv2dRef(v.get("x"), v.get("w2"), v.get("b"), s)),
                        conv2dRef(v.get("x2"), v.get("w1"), v.get("b"), s)), 76));
    }

    @Test
    void aFrozenWeightGetsNoGradientAndCostsNone() {
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.of(backend, GradCheckTest.toFloat(random(77, 1, 2, 4, 4).values()), 1, 2, 4, 4).requiresGrad(true);
            Tensor w = Tensor.of(backend, GradCheckTest.toFloat(random(78, 2, 2, 3, 3).values()), 2, 2, 3, 3);
            weighted(ConvOps.conv2d(x, w, null), 79).backward();
            assertNull(w.grad());
            assertArrayEquals(new int[] {1, 2, 4, 4}, x.grad().shape());
        }
    }

    // ---- pooling ------------------------------------------------------------------------------

    @Test
    void maxAndAveragePoolingGradientsThroughOverlappingPaddedWindowsAddUp() {
        // kernel 3×2, stride 2×1, padding 1×1 over x (2, 2, 5, 4): windows overlap along h; x feeds both pools.
        Pool2dShape s = new Pool2dShape(2, 2, 5, 4, 3, 2, 2, 1, 1, 1);
        check(Map.of("x", random(81, 2, 2, 5, 4)),
                t -> {
                    int[] k = {3, 2}, st = {2, 1}, pad = {1, 1};
                    Tensor max = ConvOps.maxPool2d(t.get("x"), k, st, pad), avg = ConvOps.avgPool2d(t.get("x"), k, st, pad);
                    assertArrayEquals(new int[] {2, 2, 3, 5}, max.shape());
                    return Ops.add(weighted(max, 82), weighted(avg, 83));
                },
                v -> weightedRef(poolRef(v.get("x"), s, true), 82) + weightedRef(poolRef(v.get("x"), s, false), 83));
    }

    @Test
    void squareDefaultPoolsOnAnUnbatchedInput() {
        // maxPool2d(x, 2) has stride 2; avgPool2d(x, 3, 1, 1) keeps 4×6: both on x (3, 4, 6)
        Pool2dShape two = new Pool2dShape(1, 3, 4, 6, 2, 2, 2, 2, 0, 0), three = new Pool2dShape(1, 3, 4, 6, 3, 3, 1, 1, 1, 1);
        check(Map.of("x", random(84, 3, 4, 6)),
                t -> {
                    Tensor max = ConvOps.maxPool2d(t.get("x"), 2), avg = ConvOps.avgPool2d(t.get("x"), 3, 1, 1);
                    assertArrayEquals(new int[] {3, 2, 3}, max.shape());
                    assertArrayEquals(new int[] {3, 4, 6}, avg.shape());
                    return Ops.add(weighted(max, 85), weighted(avg, 86));
                },
                v -> weightedRef(poolRef(v.get("x"), two, true), 85) + weightedRef(poolRef(v.get("x"), three, false), 86));
    }

    // ---- batch normalisation ------------------------------------------------------------------

    @Test
    void batchNormInTrainingHasGradientsForTheInputTheWeightAndTheBias() {
        check(Map.of("x", random(91, 3, 2, 2, 3), "w", random(92, 2), "b", random(93, 2)),
                t -> {
                    Tensor rm = Tensor.zeros(backend, 2), rv = Tensor.full(backend, 1f, 2);
                    return weighted(ConvOps.batchNorm2d(t.get("x"), rm, rv, t.get("w"), t.get("b"), true, 0.1f, 1e-5f), 94);
                },
                v -> weightedRef(batchNormRef(v.get("x"), v.get("w"), v.get("b"), 3, 2, 6, null, null), 94));
    }

    @Test
    void batchNormInTrainingWithoutAffineParametersOrRunningStatistics() {
        // y = bn(x) + x: x gets the normalisation's gradient (through the batch statistics) and the identity's
        check(Map.of("x", random(95, 2, 3, 2, 2)),
                t -> weighted(Ops.add(ConvOps.batchNorm2d(t.get("x"), null, null, null, null, true, 0.1f, 1e-5f),
                        t.get("x")), 96),
                v -> weightedRef(add(batchNormRef(v.get("x"), null, null, 2, 3, 4, null, null), v.get("x")), 96));
    }

    @Test
    void batchNormInEvaluationIsAnAffineMapWithGradientsToo() {
        double[] rm = {0.3, -0.2}, rv = {0.5, 2.0};
        check(Map.of("x", random(97, 2, 2, 3, 2), "w", random(98, 2), "b", random(99, 2)),
                t -> {
                    Tensor mean = Tensor.of(backend, GradCheckTest.toFloat(rm), 2), var = Tensor.of(backend, GradCheckTest.toFloat(rv), 2);
                    return weighted(ConvOps.batchNorm2d(t.get("x"), mean, var, t.get("w"), t.get("b"), false, 0.1f, 1e-5f), 100);
                },
                v -> weightedRef(batchNormRef(v.get("x"), v.get("w"), v.get("b"), 2, 2, 6, rm, rv), 100));
    }

    @Test
    void batchNormInTrainingUpdatesTheRunningStatisticsAsPyTorch() {
        double[] x = random(101, 2, 2, 1, 3).values();
        try (Scope step = Scope.open()) {
            Tensor rm = Tensor.of(backend, new float[] {1f, -1f}, 2), rv = Tensor.of(backend, new float[] {2f, 0.5f}, 2);
            ConvOps.batchNorm2d(Tensor.of(backend, GradCheckTest.toFloat(x), 2, 2, 1, 3), rm, rv, null, null, true, 0.25f, 1e-5f);
            for (int ch = 0; ch < 2; ch++) {
                double m = 0, v = 0;
                for (int e = 0; e < 6; e++) {
                    m += x[(e / 3 * 2 + ch) * 3 + e % 3] / 6;
                }
                for (int e = 0; e < 6; e++) {
                    v += Math.pow(x[(e / 3 * 2 + ch) * 3 + e % 3] - m, 2) / 5; // unbiased
                }
                assertEquals(0.75 * (ch == 0 ? 1 : -1) + 0.25 * m, rm.toArray()[ch], 1e-6, "running mean " + ch);
                assertEquals(0.75 * (ch == 0 ? 2 : 0.5) + 0.25 * v, rv.toArray()[ch], 1e-6, "running var " + ch);
            }
        }
    }

    // ---- a small CNN, end to end ----------------------------------------------------------------

    @Test
    void aSmallCnnCarriesEveryGradientFromTheLossToTheFirstConvolution() {
        // x (4, 1, 6, 6) → conv 1→2 3×3 pad 1 → batch norm → ReLU → max-pool 2 → flatten (4, 18) → linear 18→3 → CE
        Conv2dShape conv = new Conv2dShape(4, 1, 6, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1);
        Pool2dShape pool = new Pool2dShape(4, 2, 6, 6, 2, 2, 2, 2, 0, 0);
        check(Map.of("x", random(111, 4, 1, 6, 6), "cw", random(112, 2, 1, 3, 3), "cb", random(113, 2),
                        "g", random(114, 2), "beta", random(115, 2), "lw", random(116, 3, 18), "lb", random(117, 3)),
                t -> {
                    Tensor h = ConvOps.conv2d(t.get("x"), t.get("cw"), t.get("cb"), 1, 1, 1);
                    h = ConvOps.batchNorm2d(h, null, null, t.get("g"), t.get("beta"), true, 0.1f, 1e-5f);
                    h = ConvOps.maxPool2d(Ops.relu(h), 2);
                    return ce(Ops.linear(h.view(4, 18), t.get("lw"), t.get("lb")));
                },
                v -> {
                    double[] h = conv2dRef(v.get("x"), v.get("cw"), v.get("cb"), conv);
                    h = poolRef(reluRef(batchNormRef(h, v.get("g"), v.get("beta"), 4, 2, 36, null, null)), pool, true);
                    return crossEntropyRef(linearRef(h, v.get("lw"), v.get("lb"), 4, 18, 3), 3);
                });
    }

    // ---- errors -------------------------------------------------------------------------------

    static String message(Runnable call) {
        return assertThrows(IllegalArgumentException.class, call::run).getMessage();
    }

    @Test
    void badShapesAndSizesSayWhichOpWhichOperandAndWhatIsWrong() {
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.zeros(backend, 2, 4, 5, 5), w = Tensor.zeros(backend, 6, 3, 3, 3);
            assertEquals("conv2d: x has 4 channels but weight expects 3 (x is 2×4×5×5, weight 6×3×3×3)",
                    message(() -> ConvOps.conv2d(x, w, null)));
            assertEquals("conv2d: x must be (n, c, h, w) or unbatched (c, h, w), not 4×5",
                    message(() -> ConvOps.conv2d(Tensor.zeros(backend, 4, 5), w, null)));
            assertEquals("conv2d: weight must be (out channels, in channels, kh, kw), not 6×27",
                    message(() -> ConvOps.conv2d(x, Tensor.zeros(backend, 6, 27), null)));
            Tensor w4 = Tensor.zeros(backend, 6, 4, 3, 3);
            assertEquals("conv2d: bias is 5 but weight has 6 output channels (bias needs 6 elements)",
                    message(() -> ConvOps.conv2d(x, w4, Tensor.zeros(backend, 5))));
            assertEquals("conv2d: stride must be ≥ 1, got 0×1",
                    message(() -> ConvOps.conv2d(x, w4, null, new int[] {0, 1}, new int[] {0, 0}, new int[] {1, 1})));
            assertEquals("conv2d: padding must be a pair {h, w}, got [1, 1, 1]",
                    message(() -> ConvOps.conv2d(x, w4, null, new int[] {1, 1}, new int[] {1, 1, 1}, new int[] {1, 1})));
            assertEquals("conv2d: the kernel 3×3 (dilation 3×3) over the input 5×5 padded by 0×0 with stride 1×1 gives an"
                    + " output of -1×-1, which is too small", message(() -> ConvOps.conv2d(x, w4, null, 1, 0, 3)));
            assertEquals("maxPool2d: padding 2×2 must be between 0 and half the kernel 3×3",
                    message(() -> ConvOps.maxPool2d(x, 3, 1, 2)));
            assertEquals("avgPool2d: the kernel 6×6 over the input 5×5 padded by 0×0 with stride 6×6 gives an output of"
                    + " 0×0, which is too small", message(() -> ConvOps.avgPool2d(x, 6)));
            assertEquals("batchNorm2d: x has 4 channels but weight is f32 3 on cpu (it needs to be f32 of 4 elements)",
                    message(() -> ConvOps.batchNorm2d(x, null, null, Tensor.zeros(backend, 3), null, true, 0.1f, 1e-5f)));
            assertEquals("batchNorm2d: expected more than 1 value per channel when training, got x of 1×4×1×1",
                    message(() -> ConvOps.batchNorm2d(Tensor.zeros(backend, 1, 4, 1, 1), null, null, null, null, true,
                            0.1f, 1e-5f)));
            assertEquals("batchNorm2d: evaluation normalises with the running statistics, and none were given",
                    message(() -> ConvOps.batchNorm2d(x, null, null, null, null, false, 0.1f, 1e-5f)));
            assertEquals("batchNorm2d: runningMean and runningVar go together: give both or neither",
                    message(() -> ConvOps.batchNorm2d(x, Tensor.zeros(backend, 4), null, null, null, true, 0.1f, 1e-5f)));
            assertEquals("batchNorm2d: momentum must be in [0, 1], got 1.5",
                    message(() -> ConvOps.batchNorm2d(x, null, null, null, null, true, 1.5f, 1e-5f)));
            assertEquals("batchNorm2d: x must be (n, c, h, w), not 4×5×5",
                    message(() -> ConvOps.batchNorm2d(Tensor.zeros(backend, 4, 5, 5), null, null, null, null, true,
                            0.1f, 1e-5f)));
        }
    }
}
