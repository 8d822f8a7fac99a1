package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.function.Function;

import static dev.jrocm.runtime.autograd.GradCheckTest.backend;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * sum, mean, max, softmax, logSoftmax and crossEntropy on (…, C) against finite differences of a
 * double forward. Each case weighs the op's output by fixed random weights w and sums, so every
 * output element's gradient matters: loss = Σ w⊙op(x).
 */
class ReductionGradTest {
    static final int[] SHAPE = {2, 3, 4};

    @org.junit.jupiter.api.BeforeAll
    static void open() { GradCheckTest.open(); }

    @org.junit.jupiter.api.AfterAll
    static void close() { GradCheckTest.close(); }

    /** Σ w⊙y in jrocm's ops (w of y's shape). */
    static Tensor weighted(Tensor y, Tensor w) {
        return Ops.sum(Ops.mul(y, w));
    }

    static double weightedRef(double[] y, double[] w) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += y[i] * w[i];
        }
        return s;
    }

    /** Reference of a reduction along dim d of SHAPE: f over each row of n elements. */
    static double[] alongRef(double[] x, int d, Function<double[], double[]> f, boolean keepsLength) {
        int outer = 1, inner = 1, n = SHAPE[d];
        for (int k = 0; k < d; k++) outer *= SHAPE[k];
        for (int k = d + 1; k < SHAPE.length; k++) inner *= SHAPE[k];
        double[] y = new double[keepsLength ? x.length : outer * inner];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                double[] row = new double[n];
                for (int k = 0; k < n; k++) row[k] = x[(o * n + k) * inner + i];
                double[] r = f.apply(row);
                if (keepsLength) {
                    for (int k = 0; k < n; k++) y[(o * n + k) * inner + i] = r[k];
                } else {
                    y[o * inner + i] = r[0];
                }
            }
        }
        return y;
    }

    static int[] reduced(int d, boolean keepDim) {
        int[] s = keepDim ? SHAPE.clone() : new int[SHAPE.length - 1];
        if (keepDim) {
            s[d] = 1;
        } else {
            for (int k = 0, j = 0; k < SHAPE.length; k++) if (k != d) s[j++] = SHAPE[k];
        }
        return s;
    }

    void checkAlong(String op, int dim, boolean keepDim) {
        int d = dim < 0 ? dim + SHAPE.length : dim;
        int[] out = reduced(d, keepDim);
        Function<double[], double[]> f = switch (op) {
            case "sum" -> r -> new double[] {java.util.Arrays.stream(r).sum()};
            case "mean" -> r -> new double[] {java.util.Arrays.stream(r).average().orElse(Double.NaN)};
            default -> r -> new double[] {java.util.Arrays.stream(r).max().orElseThrow()};
        };
        check(Map.of("x", random(dim + 20, SHAPE), "w", random(dim + 30, out)),
                t -> {
                    Tensor x = t.get("x");
                    Tensor y = switch (op) {
                        case "sum" -> Ops.sum(x, dim, keepDim);
                        case "mean" -> Ops.mean(x, dim, keepDim);
                        default -> Ops.max(x, dim, keepDim).values();
                    };
                    assertArrayEquals(out, y.shape(), op + " dim " + dim + " keepDim " + keepDim);
                    return weighted(y, t.get("w"));
                },
                v -> weightedRef(alongRef(v.get("x"), d, f, false), v.get("w")));
    }

    @Test
    void sumMeanAndMaxAlongDims0And1AndMinus1WithAndWithoutKeepDim() {
        for (String op : new String[] {"sum", "mean", "max"}) {
            for (int dim : new int[] {0, 1, -1}) {
                checkAlong(op, dim, true);
                checkAlong(op, dim, false);
            }
        }
    }

    @Test
    void fullSumAndMeanGiveOneElementAndSpreadTheGradient() {
        check(Map.of("x", random(1, SHAPE)),
                t -> Ops.mul(Ops.sum(t.get("x")), Ops.mean(t.get("x"))),
                v -> {
                    double s = java.util.Arrays.stream(v.get("x")).sum();
                    return s * s / 24;
                });
    }

    @Test
    void softmaxAndLogSoftmaxAlongAMiddleDim() {
        Function<double[], double[]> soft = r -> {
            double lse = dev.jrocm.runtime.device.TestBuffers.logSumExp(r, 0, r.length);
            return java.util.Arrays.stream(r).map(v -> Math.exp(v - lse)).toArray();
        };
        Function<double[], double[]> logSoft = r -> {
            double lse = dev.jrocm.runtime.device.TestBuffers.logSumExp(r, 0, r.length);
            return java.util.Arrays.stream(r).map(v -> v - lse).toArray();
        };
        for (int dim : new int[] {1, -2, 0, -1}) {
            int d = dim < 0 ? dim + 3 : dim;
            check(Map.of("x", random(40 + dim, SHAPE), "w", random(50 + dim, SHAPE)),
                    t -> weighted(Ops.softmax(t.get("x"), dim), t.get("w")),
                    v -> weightedRef(alongRef(v.get("x"), d, soft, true), v.get("w")));
            check(Map.of("x", random(60 + dim, SHAPE), "w", random(70 + dim, SHAPE)),
                    t -> weighted(Ops.logSoftmax(t.get("x"), dim), t.get("w")),
                    v -> weightedRef(alongRef(v.get("x"), d, logSoft, true), v.get("w")));
        }
    }

    @Test
    void crossEntropyOnRank3LogitsWithRank2Labels() {
        int[] labels = {4, 0, 2, 1, 3, 3};
        check(Map.of("x", random(80, 2, 3, 5)),
                t -> Ops.crossEntropy(t.get("x"), Tensor.ofInts(backend, labels, 2, 3)),
                v -> {
                    double[] x = v.get("x");
                    double loss = 0;
                    for (int r = 0; r < 6; r++) {
                        loss += dev.jrocm.runtime.device.TestBuffers.logSumExp(x, r * 5, 5) - x[r * 5 + labels[r]];
                    }
                    return loss / 6;
                });
    }

    @Test
    void badDimsAndLabelShapesThrowNamingTheOp() {
        try (Tensor x = Tensor.zeros(backend, SHAPE)) {
            assertEquals("softmax: dim 3 is out of range for a tensor of rank 3 (expected -3 to 2)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.softmax(x, 3)).getMessage());
            assertEquals("sum: dim -4 is out of range for a tensor of rank 3 (expected -3 to 2)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.sum(x, -4, false)).getMessage());
            assertEquals("max: dim 1 of 2×0 is empty (a max over no elements is not defined)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.max(Tensor.zeros(backend, 2, 0), 1, false)).getMessage());
            assertEquals("crossEntropy: logits are 2×3×4 but labels are i32 2×4 on cpu (labels need to be i32 of shape 2×3,"
                            + " the logits' leading dimensions)",
                    assertThrows(IllegalArgumentException.class,
                            () -> Ops.crossEntropy(x, Tensor.ofInts(backend, new int[8], 2, 4))).getMessage());
            assertArrayEquals(new int[0], Ops.sum(Tensor.zeros(backend, 5), 0, false).shape()); // rank 0, as PyTorch
            assertArrayEquals(new int[0], Ops.sum(Tensor.zeros(backend, 2, 3)).shape());
            assertEquals(0f, Ops.sum(Ops.sum(Tensor.zeros(backend, 2, 3))).item()); // a rank-0 x sums to itself
            assertEquals(Float.NaN, Ops.mean(Tensor.zeros(backend, 0)).item());
        }
    }
}
