package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every gradient rule against central finite differences of an independent forward computed in
 * double (h = 1e-6). Each case ends in cross-entropy so the loss is a scalar; inputs of ReLU are
 * kept away from its kink. Tolerance: |analytic − numeric| ≤ 1e-4 + 1e-3·|numeric|.
 */
class GradCheckTest {
    static final long SEED = 11L;
    static int[] LABELS = {2, 0, 1, 2};
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    /** A leaf: values and shape. */
    record Leaf(double[] values, int... shape) {}

    static Leaf random(long seed, int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        Random r = new Random(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextGaussian();
            if (Math.abs(v[i]) < 0.05) {
                v[i] += Math.signum(v[i] + 1e-9) * 0.1; // keep away from ReLU's kink
            }
        }
        return new Leaf(v, shape);
    }

    /**
     * Checks d(loss)/d(leaf) for every leaf: {@code ops} builds the loss with jrocm's float ops,
     * {@code reference} computes the same loss in double from the leaves' values.
     */
    static void check(Map<String, Leaf> leaves, Function<Map<String, Tensor>, Tensor> ops,
                      Function<Map<String, double[]>, Double> reference) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        leaves.forEach((name, leaf) -> tensors.put(name, Tensor.of(backend, toFloat(leaf.values()), leaf.shape()).requiresGrad(true)));
        try (Scope step = Scope.open()) {
            ops.apply(tensors).backward();
        }
        Map<String, double[]> values = new LinkedHashMap<>();
        leaves.forEach((name, leaf) -> values.put(name, leaf.values().clone()));
        for (String name : leaves.keySet()) {
            float[] analytic = tensors.get(name).grad().toArray();
            double[] v = values.get(name);
            for (int i = 0; i < v.length; i++) {
                double keep = v[i], h = 1e-6;
                v[i] = keep + h;
                double up = reference.apply(values);
                v[i] = keep - h;
                double down = reference.apply(values);
                v[i] = keep;
                double numeric = (up - down) / (2 * h);
                if (Math.abs(analytic[i] - numeric) > 1e-4 + 1e-3 * Math.abs(numeric)) {
                    fail("d loss / d " + name + "[" + i + "]: analytic " + analytic[i] + ", numeric " + numeric + " (seed " + SEED + ")");
                }
            }
        }
        tensors.values().forEach(Tensor::close);
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    // ---- the double reference -----------------------------------------------------------------

    static double[] linearRef(double[] x, double[] w, double[] b, int batch, int in, int out) {
        // b == null: no bias
        double[] y = new double[batch * out];
        for (int r = 0; r < batch; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    static double[] reluRef(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.max(0, x[i]);
        }
        return y;
    }

    static double crossEntropyRef(double[] logits, int classes) {
        int rows = logits.length / classes;
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            loss += dev.jrocm.runtime.device.TestBuffers.logSumExp(logits, r * classes, classes) - logits[r * classes + LABELS[r]];
        }
        return loss / rows;
    }

    static Tensor ce(Tensor logits) {
        return Ops.crossEntropy(logits, Tensor.ofInts(backend, LABELS, LABELS.length));
    }

    // ---- one case per rule --------------------------------------------------------------------

    @Test
    void linearGradientsForInputWeightAndBias() {
        check(Map.of("x", random(1, 4, 5), "w", random(2, 3, 5), "b", random(3, 3)),
                t -> ce(Ops.linear(t.get("x"), t.get("w"), t.get("b"))),
                v -> crossEntropyRef(linearRef(v.get("x"), v.get("w"), v.get("b"), 4, 5, 3), 3));
    }

    @Test
    void linearOnARank3InputFlattensItsLeadingDimensionsAndCarriesEveryGradient() {
        // x (2, 2, 5) → y (2, 2, 3): the same four rows as a (4, 5) input, through the two views.
        check(Map.of("x", random(41, 2, 2, 5), "w", random(42, 3, 5), "b", random(43, 3)),
                t -> {
                    Tensor y = Ops.linear(t.get("x"), t.get("w"), t.get("b"));
                    assertArrayEquals(new int[] {2, 2, 3}, y.shape());
                    return ce(y.view(4, 3));
                },
                v -> crossEntropyRef(linearRef(v.get("x"), v.get("w"), v.get("b"), 4, 5, 3), 3));
    }

    @Test
    void linearGradientsAboveTheFactoredBatchSizeToo() {
        // 20 rows: the weight gradient is formed by a GEMM, not kept as factors.
        int[] saved = LABELS.clone();
        LABELS = new int[20];
        for (int i = 0; i < 20; i++) {
            LABELS[i] = i % 3;
        }
        try {
            check(Map.of("x", random(31, 20, 5), "w", random(32, 3, 5), "b", random(33, 3)),
                    t -> ce(Ops.linear(t.get("x"), t.get("w"), t.get("b"))),
                    v -> crossEntropyRef(linearRef(v.get("x"), v.get("w"), v.get("b"), 20, 5, 3), 3));
        } finally {
            LABELS = saved;
        }
    }

    @Test
    void matmulTransposedGradients() {
        check(Map.of("x", random(4, 4, 6), "w", random(5, 3, 6)),
                t -> ce(Ops.matmulTransposed(t.get("x"), t.get("w"))),
                v -> crossEntropyRef(linearRef(v.get("x"), v.get("w"), null, 4, 6, 3), 3));
    }

    @Test
    void addBiasGradients() {
        check(Map.of("x", random(6, 4, 3), "b", random(7, 3)),
                t -> ce(Ops.addBias(t.get("x"), t.get("b"))),
                v -> {
                    double[] y = v.get("x").clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] += v.get("b")[i % 3];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void aViewThatIsOneOfTwoPathsToAParameterCarriesItsGradient() {
        // y = x + view(view(x, 12), 4, 3): d loss / d x is the sum of both paths (issue 12: a view
        // cut the graph and x's gradient came out exactly halved).
        check(Map.of("x", random(40, 4, 3)),
                t -> ce(Ops.add(t.get("x"), t.get("x").view(12).view(4, 3))),
                v -> {
                    double[] y = v.get("x").clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] *= 2;
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void narrowedRowsGetTheirGradientAndTheOtherRowsZero() {
        // logits = rows 1..4 of a (6, 3) leaf: rows 0 and 5 get zero gradient, the rest the loss's.
        check(Map.of("x", random(41, 6, 3)),
                t -> ce(t.get("x").narrow(1, 4)),
                v -> crossEntropyRef(java.util.Arrays.copyOfRange(v.get("x"), 3, 15), 3));
    }

    @Test
    void twoNarrowsOfOneParameterAddUp() {
        // rows 0..3 and rows 1..4 of one (5, 3) leaf, added: the overlap gets both contributions.
        check(Map.of("x", random(42, 5, 3)),
                t -> ce(Ops.add(t.get("x").narrow(0, 4), t.get("x").narrow(1, 4))),
                v -> {
                    double[] x = v.get("x"), y = new double[12];
                    for (int i = 0; i < 12; i++) {
                        y[i] = x[i] + x[i + 3];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void gatheredRowsAddTheirGradientsIntoTheTableAndRowsPickedTwiceGetBoth() {
        // 4 picks from a (5, 3) table, row 3 twice and row 4 never: the loss's rows land in 1, 3, 0.
        int[] picks = {3, 1, 3, 0};
        check(Map.of("table", random(43, 5, 3)),
                t -> ce(Ops.gatherRows(t.get("table"), Tensor.ofInts(backend, picks, picks.length))),
                v -> {
                    double[] table = v.get("table"), y = new double[12];
                    for (int r = 0; r < picks.length; r++) {
                        System.arraycopy(table, picks[r] * 3, y, r * 3, 3);
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void reluGradient() {
        check(Map.of("x", random(8, 4, 3)),
                t -> ce(Ops.relu(t.get("x"))),
                v -> crossEntropyRef(reluRef(v.get("x")), 3));
    }

    @Test
    void addGradientsReachBothInputs() {
        check(Map.of("a", random(9, 4, 3), "b", random(10, 4, 3)),
                t -> ce(Ops.add(t.get("a"), t.get("b"))),
                v -> {
                    double[] y = v.get("a").clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] += v.get("b")[i];
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void scaleGradient() {
        check(Map.of("x", random(12, 4, 3)),
                t -> ce(Ops.scale(t.get("x"), -1.7f)),
                v -> {
                    double[] y = v.get("x").clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] *= -1.7;
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    @Test
    void crossEntropyGradient() {
        check(Map.of("logits", random(13, 4, 3)),
                t -> ce(t.get("logits")),
                v -> crossEntropyRef(v.get("logits"), 3));
    }

    // ---- broadcasting element-wise ops ----------------------------------------------------------

    /** NumPy's broadcast of two shapes, computed here independently of {@link Ops#broadcastShape}. */
    static int[] broadcastRef(int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] out = new int[rank];
        for (int d = 0; d < rank; d++) {
            int x = d < rank - a.length ? 1 : a[d - (rank - a.length)], y = d < rank - b.length ? 1 : b[d - (rank - b.length)];
            out[d] = Math.max(x, y);
        }
        return out;
    }

    /** The element of a leaf of {@code shape} that output index {@code i} of {@code out} reads (right-aligned, 1s repeat). */
    static int source(int i, int[] out, int[] shape) {
        int offset = 0, step = 1;
        for (int d = out.length - 1, rest = i; d >= 0; d--) {
            int k = rest % out[d];
            rest /= out[d];
            int s = d - (out.length - shape.length);
            if (s >= 0) {
                offset += (shape[s] == 1 ? 0 : k) * step;
                step *= shape[s];
            }
        }
        return offset;
    }

    /** {@code y = a op b} broadcast, then cross-entropy over y viewed as (size / last, last) against labels r % last. */
    static void checkBinary(char op, Leaf a, Leaf b) {
        int[] out = broadcastRef(a.shape(), b.shape());
        int size = java.util.Arrays.stream(out).reduce(1, (p, q) -> p * q);
        int classes = out[out.length - 1], rows = size / classes;
        int[] saved = LABELS;
        LABELS = new int[rows];
        for (int r = 0; r < rows; r++) {
            LABELS[r] = r % classes;
        }
        try {
            check(Map.of("a", a, "b", b),
                    t -> {
                        Tensor x = t.get("a"), y = t.get("b");
                        Tensor z = switch (op) {
                            case '+' -> Ops.add(x, y);
                            case '-' -> Ops.sub(x, y);
                            case '*' -> Ops.mul(x, y);
                            default -> Ops.div(x, y);
                        };
                        return ce(z.view(rows, classes));
                    },
                    v -> {
                        double[] y = new double[size];
                        for (int i = 0; i < size; i++) {
                            double p = v.get("a")[source(i, out, a.shape())], q = v.get("b")[source(i, out, b.shape())];
                            y[i] = switch (op) {
                                case '+' -> p + q;
                                case '-' -> p - q;
                                case '*' -> p * q;
                                default -> p / q;
                            };
                        }
                        return crossEntropyRef(y, classes);
                    });
        } finally {
            LABELS = saved;
        }
    }

    /** {@link #random} pushed to |v| ≥ 0.5: a divisor whose quotient's gradient stays moderate. */
    static Leaf divisor(long seed, int... shape) {
        Leaf l = random(seed, shape);
        double[] v = l.values();
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.signum(v[i]) * (0.5 + Math.abs(v[i]));
        }
        return l;
    }

    @Test
    void addBroadcastsAVectorOverRowsAndSumsItsGradientBack() {
        checkBinary('+', random(60, 2, 3), random(61, 3));
        checkBinary('+', random(62, 4, 3), random(63, 4, 3)); // same shapes
        checkBinary('+', random(64, 2, 1, 3, 1, 2, 1), random(65, 2, 1, 1, 1, 2)); // rank 6
    }

    @Test
    void subBroadcastsEitherSideAndNegatesTheSecondGradient() {
        checkBinary('-', random(66, 3), random(67, 2, 3));
        checkBinary('-', random(68, 2, 3, 4), random(69, 1, 3, 1));
    }

    @Test
    void mulBroadcastsBothInputsIntoALargerShape() {
        checkBinary('*', random(70, 2, 1, 4), random(71, 3, 1));
        checkBinary('*', random(72, 4, 3), random(73, 1));
    }

    @Test
    void divBroadcastsAScalarAndAColumn() {
        checkBinary('/', random(74, 1), divisor(75, 2, 2));
        checkBinary('/', random(76, 2, 3), divisor(77, 2, 1));
        checkBinary('/', random(78, 4, 3), divisor(79, 4, 3));
    }

    @Test
    void anInputUsedOnBothSidesGetsBothGradients() {
        // x·x: 2x·dy; x/(x·x + 1) through an intermediate, broadcast against a row of x's shape.
        check(Map.of("x", random(80, 4, 3)),
                t -> ce(Ops.mul(t.get("x"), t.get("x"))),
                v -> {
                    double[] y = v.get("x").clone();
                    for (int i = 0; i < y.length; i++) {
                        y[i] *= y[i];
                    }
                    return crossEntropyRef(y, 3);
                });
        check(Map.of("x", random(81, 4, 3), "r", random(82, 3)),
                t -> {
                    Tensor x = t.get("x");
                    Tensor denominator = Ops.add(Ops.mul(x, x), Tensor.scalar(backend, 1f));
                    return ce(Ops.div(Ops.sub(x, t.get("r")), denominator));
                },
                v -> {
                    double[] x = v.get("x"), y = new double[12];
                    for (int i = 0; i < 12; i++) {
                        y[i] = (x[i] - v.get("r")[i % 3]) / (x[i] * x[i] + 1);
                    }
                    return crossEntropyRef(y, 3);
                });
    }

    static double[] loraRef(Map<String, double[]> v, int batch, int in, int out, int rank, double s, float p, long seed) {
        double[] y = linearRef(v.get("x"), v.get("w"), v.get("b"), batch, in, out);
        double[] xd = v.get("x").clone();
        for (int i = 0; i < xd.length; i++) {
            xd[i] = dev.jrocm.runtime.device.cpu.CounterRandom.uniform(seed, i) >= p ? xd[i] / (1 - p) : 0;
        }
        double[] u = linearRef(xd, v.get("a"), null, batch, in, rank);
        double[] d = linearRef(u, v.get("bb"), null, batch, rank, out);
        for (int i = 0; i < y.length; i++) {
            y[i] += s * d[i];
        }
        return y;
    }

    @Test
    void loraLinearGradientsForInputBaseAndBothFactors() {
        check(Map.of("x", random(41, 4, 6), "w", random(42, 3, 6), "b", random(43, 3), "a", random(44, 2, 6), "bb", random(45, 3, 2)),
                t -> ce(Ops.loraLinear(t.get("x"), t.get("w"), t.get("b"), t.get("a"), t.get("bb"), 1.5f, 0f, 0)),
                v -> crossEntropyRef(loraRef(v, 4, 6, 3, 2, 1.5, 0f, 0), 3));
    }

    @Test
    void loraLinearGradientsWithDropoutOnTheLowRankPath() {
        check(Map.of("x", random(46, 4, 6), "w", random(47, 3, 6), "a", random(48, 2, 6), "bb", random(49, 3, 2)),
                t -> ce(Ops.loraLinear(t.get("x"), t.get("w"), null, t.get("a"), t.get("bb"), 0.5f, 0.3f, 1234)),
                v -> crossEntropyRef(loraRef(v, 4, 6, 3, 2, 0.5, 0.3f, 1234), 3));
    }

    @Test
    void aTwoLayerMlpWithASharedActivationAccumulatesCorrectly() {
        // h is used twice (h + 2h), so its gradient must be the sum of both paths.
        check(Map.of("x", random(14, 4, 5), "w1", random(15, 6, 5), "b1", random(16, 6),
                        "w2", random(17, 3, 6), "b2", random(18, 3)),
                t -> {
                    Tensor h = Ops.relu(Ops.linear(t.get("x"), t.get("w1"), t.get("b1")));
                    Tensor hh = Ops.add(h, Ops.scale(h, 2f));
                    return ce(Ops.linear(hh, t.get("w2"), t.get("b2")));
                },
                v -> {
                    double[] h = reluRef(linearRef(v.get("x"), v.get("w1"), v.get("b1"), 4, 5, 6));
                    for (int i = 0; i < h.length; i++) {
                        h[i] *= 3;
                    }
                    return crossEntropyRef(linearRef(h, v.get("w2"), v.get("b2"), 4, 6, 3), 3);
                });
    }

    @Test
    void frozenWeightsAndDataGetNoGradient() {
        try (Tensor x = Tensor.of(backend, toFloat(random(19, 4, 5).values()), 4, 5);
             Tensor w = Tensor.of(backend, toFloat(random(20, 3, 5).values()), 3, 5);
             Tensor b = Tensor.of(backend, toFloat(random(21, 3).values()), 3).requiresGrad(true);
             Scope step = Scope.open()) {
            ce(Ops.linear(x, w, b)).backward();
            assertNull(x.grad(), "data got a gradient");
            assertNull(w.grad(), "a frozen weight got a gradient");
            if (b.grad() == null) {
                fail("the trainable bias got no gradient");
            }
        }
    }
}
