package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.ContractBackends;
import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.jrocm.runtime.autograd.GradCheckTest.ce;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.crossEntropyRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static dev.jrocm.runtime.autograd.GradCheckTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * transpose, permute, t, narrow along any dim, cat, split and chunk: gradients against finite
 * differences of a double reference written here (loss = Σ op(x)·c, c a leaf too, so its
 * gradient checks the forward values as well), values and gradients on every backend, and the
 * error messages.
 */
class ShapeCopyGradTest {

    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() {
        GradCheckTest.close();
        ContractBackends.closeAll();
    }

    static List<Backend> backends() { return ContractBackends.all(); }

    // ---- the double reference: each loops over x in row-major order ---------------------------

    /** y with y.dim(d) = shape[perm[d]] and y[.., i_perm[d], ..] = x[i]. */
    static double[] permuteRef(double[] x, int[] shape, int... perm) {
        int rank = shape.length;
        int[] index = new int[rank];
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            for (int d = rank - 1, rest = i; d >= 0; d--) {
                index[d] = rest % shape[d];
                rest /= shape[d];
            }
            int j = 0;
            for (int d = 0; d < rank; d++) {
                j = j * shape[perm[d]] + index[perm[d]];
            }
            y[j] = x[i];
        }
        return y;
    }

    /** The elements of x whose index along dim lies in [start, start + length), in order. */
    static double[] narrowRef(double[] x, int[] shape, int dim, int start, int length) {
        int inner = 1;
        for (int d = dim + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        double[] y = new double[x.length / shape[dim] * length];
        int n = 0;
        for (int i = 0; i < x.length; i++) {
            int k = i / inner % shape[dim];
            if (k >= start && k < start + length) {
                y[n++] = x[i];
            }
        }
        return y;
    }

    /** The parts (of shapes[p]) joined along dim: for each index before dim, each part's block in turn. */
    static double[] catRef(int dim, List<double[]> parts, List<int[]> shapes) {
        int outer = 1;
        for (int d = 0; d < dim; d++) {
            outer *= shapes.get(0)[d];
        }
        List<Double> y = new ArrayList<>();
        for (int o = 0; o < outer; o++) {
            for (int p = 0; p < parts.size(); p++) {
                int block = parts.get(p).length / outer;
                for (int k = 0; k < block; k++) {
                    y.add(parts.get(p)[o * block + k]);
                }
            }
        }
        return y.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static double dot(double[] a, double[] b) {
        assertEquals(a.length, b.length, "the reference's shapes");
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /** Σ y·c as a jrocm op: the loss of the checks. */
    static Tensor weighted(Tensor y, Tensor c) {
        assertArrayEquals(c.shape(), y.shape(), "the op's result shape");
        return Ops.sum(Ops.mul(y, c));
    }

    // ---- gradients by finite differences ----------------------------------------------------------

    @Test
    void transposeOfARank3TensorBothWays() {
        check(Map.of("x", random(101, 2, 3, 4), "c", random(102, 4, 3, 2)),
                t -> weighted(t.get("x").transpose(0, 2), t.get("c")),
                v -> dot(permuteRef(v.get("x"), new int[] {2, 3, 4}, 2, 1, 0), v.get("c")));
        check(Map.of("x", random(103, 2, 3, 4), "c", random(104, 2, 4, 3)),
                t -> weighted(t.get("x").transpose(-1, 1), t.get("c")),
                v -> dot(permuteRef(v.get("x"), new int[] {2, 3, 4}, 0, 2, 1), v.get("c")));
    }

    @Test
    void permuteOfARank4TensorWithNegativeDims() {
        // (-1, 1, 0, -2) is (3, 1, 0, 2): (2, 3, 4, 2) → (2, 3, 2, 4)
        check(Map.of("x", random(111, 2, 3, 4, 2), "c", random(112, 2, 3, 2, 4)),
                t -> weighted(t.get("x").permute(-1, 1, 0, -2), t.get("c")),
                v -> dot(permuteRef(v.get("x"), new int[] {2, 3, 4, 2}, 3, 1, 0, 2), v.get("c")));
    }

    @Test
    void narrowAlongDims0And1AndMinus1() {
        check(Map.of("x", random(121, 5, 3), "c", random(122, 3, 3)),
                t -> weighted(t.get("x").narrow(0, 1, 3), t.get("c")),
                v -> dot(narrowRef(v.get("x"), new int[] {5, 3}, 0, 1, 3), v.get("c")));
        check(Map.of("x", random(123, 3, 5, 2), "c", random(124, 3, 3, 2)),
                t -> weighted(t.get("x").narrow(1, 1, 3), t.get("c")),
                v -> dot(narrowRef(v.get("x"), new int[] {3, 5, 2}, 1, 1, 3), v.get("c")));
        // dim −1 and start −4: elements [1, 3) of the last dim
        check(Map.of("x", random(125, 3, 5), "c", random(126, 3, 2)),
                t -> weighted(t.get("x").narrow(-1, -4, 2), t.get("c")),
                v -> dot(narrowRef(v.get("x"), new int[] {3, 5}, 1, 1, 2), v.get("c")));
    }

    @Test
    void catOfThreePartsAlongDim1AndMinus1() {
        check(Map.of("a", random(131, 2, 1, 3), "b", random(132, 2, 3, 3), "d", random(133, 2, 2, 3),
                        "c", random(134, 2, 6, 3)),
                t -> weighted(Ops.cat(1, t.get("a"), t.get("b"), t.get("d")), t.get("c")),
                v -> dot(catRef(1, List.of(v.get("a"), v.get("b"), v.get("d")),
                        List.of(new int[] {2, 1, 3}, new int[] {2, 3, 3}, new int[] {2, 2, 3})), v.get("c")));
        check(Map.of("a", random(135, 2, 3, 1), "b", random(136, 2, 3, 2), "d", random(137, 2, 3, 4),
                        "c", random(138, 2, 3, 7)),
                t -> weighted(Ops.cat(-1, List.of(t.get("a"), t.get("b"), t.get("d"))), t.get("c")),
                v -> dot(catRef(2, List.of(v.get("a"), v.get("b"), v.get("d")),
                        List.of(new int[] {2, 3, 1}, new int[] {2, 3, 2}, new int[] {2, 3, 4})), v.get("c")));
    }

    @Test
    void catOfATensorWithItselfAddsBothSlicesOfTheGradient() {
        check(Map.of("x", random(141, 2, 3), "c", random(142, 4, 3)),
                t -> weighted(Ops.cat(0, t.get("x"), t.get("x")), t.get("c")),
                v -> dot(catRef(0, List.of(v.get("x"), v.get("x")), List.of(new int[] {2, 3}, new int[] {2, 3})),
                        v.get("c")));
        check(Map.of("x", random(143, 2, 3), "c", random(144, 2, 6)),
                t -> weighted(Ops.cat(1, t.get("x"), t.get("x")), t.get("c")),
                v -> dot(catRef(1, List.of(v.get("x"), v.get("x")), List.of(new int[] {2, 3}, new int[] {2, 3})),
                        v.get("c")));
    }

    @Test
    void aTransposeTimesABroadcastRowIntoCrossEntropy() {
        // mul(xᵀ, y): x (3, 4) → (4, 3), y (3) broadcast over the 4 rows; then the loss over 3 classes
        check(Map.of("x", random(151, 3, 4), "y", random(152, 3)),
                t -> ce(Ops.mul(t.get("x").t(), t.get("y"))),
                v -> {
                    double[] p = permuteRef(v.get("x"), new int[] {3, 4}, 1, 0);
                    for (int i = 0; i < p.length; i++) {
                        p[i] *= v.get("y")[i % 3];
                    }
                    return crossEntropyRef(p, 3);
                });
    }

    @Test
    void overlappingNarrowsAndTwoTransposesOfOneInputAccumulate() {
        // columns [0, 2) and [1, 3) of x (3, 4) side by side: column 1 gets two contributions
        check(Map.of("x", random(161, 3, 4), "c", random(162, 3, 4)),
                t -> weighted(Ops.cat(1, t.get("x").narrow(1, 0, 2), t.get("x").narrow(1, 1, 2)), t.get("c")),
                v -> dot(catRef(1, List.of(narrowRef(v.get("x"), new int[] {3, 4}, 1, 0, 2),
                                narrowRef(v.get("x"), new int[] {3, 4}, 1, 1, 2)),
                        List.of(new int[] {3, 2}, new int[] {3, 2})), v.get("c")));
        // x reaches the loss three times: directly, transposed and permuted
        check(Map.of("x", random(163, 3, 4), "c", random(164, 4, 3), "e", random(165, 3, 4)),
                t -> Ops.add(Ops.add(weighted(t.get("x").transpose(0, 1), t.get("c")),
                                weighted(t.get("x").permute(1, 0), t.get("c"))),
                        weighted(t.get("x"), t.get("e"))),
                v -> 2 * dot(permuteRef(v.get("x"), new int[] {3, 4}, 1, 0), v.get("c")) + dot(v.get("x"), v.get("e")));
    }

    @Test
    void catWithAKeepDimSumOfTheSameInput() {
        // [x | Σ_cols x]: x (3, 4) → (3, 5)
        check(Map.of("x", random(171, 3, 4), "c", random(172, 3, 5)),
                t -> weighted(Ops.cat(-1, t.get("x"), Ops.sum(t.get("x"), 1, true)), t.get("c")),
                v -> {
                    double[] x = v.get("x"), sums = new double[3];
                    for (int i = 0; i < x.length; i++) {
                        sums[i / 4] += x[i];
                    }
                    return dot(catRef(1, List.of(x, sums), List.of(new int[] {3, 4}, new int[] {3, 1})), v.get("c"));
                });
    }

    @Test
    void splitAndChunkPiecesReassembledInReverseOrder() {
        // split(x, 2, 1) of (3, 5): widths 2, 2, 1 (copies); chunk(x, 2, 0) of (3, 5): 2 and 1 rows (views)
        check(Map.of("x", random(181, 3, 5), "c", random(182, 3, 5)),
                t -> {
                    List<Tensor> pieces = new ArrayList<>(Ops.split(t.get("x"), 2, 1));
                    assertEquals(3, pieces.size());
                    assertArrayEquals(new int[] {3, 1}, pieces.get(2).shape());
                    return weighted(Ops.cat(1, pieces.reversed()), t.get("c"));
                },
                v -> {
                    int[] s = {3, 5};
                    double[] x = v.get("x");
                    return dot(catRef(1, List.of(narrowRef(x, s, 1, 4, 1), narrowRef(x, s, 1, 2, 2), narrowRef(x, s, 1, 0, 2)),
                            List.of(new int[] {3, 1}, new int[] {3, 2}, new int[] {3, 2})), v.get("c"));
                });
        check(Map.of("x", random(183, 3, 5), "c", random(184, 3, 5)),
                t -> {
                    List<Tensor> pieces = Ops.chunk(t.get("x"), 2, 0);
                    assertEquals(2, pieces.size());
                    return weighted(Ops.cat(0, pieces.reversed()), t.get("c"));
                },
                v -> {
                    double[] x = v.get("x");
                    return dot(catRef(0, List.of(narrowRef(x, new int[] {3, 5}, 0, 2, 1), narrowRef(x, new int[] {3, 5}, 0, 0, 2)),
                            List.of(new int[] {1, 5}, new int[] {2, 5})), v.get("c"));
                });
    }

    // ---- values and gradients on every backend ----------------------------------------------------

    /** Each op's values and, with dy = c, its exact gradient (copies round nothing), on the CPU and GPU backends. */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("backends")
    void valuesAndGradientsOnEveryBackend(Backend be) {
        int[] shape = {2, 3, 4};
        double[] xv = random(191, shape).values(), cv = random(192, 4, 2, 3).values();
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.of(be, toFloat(xv), shape).requiresGrad(true);
            Tensor y = x.permute(2, 0, 1);
            assertArrayEquals(toFloat(permuteRef(xv, shape, 2, 0, 1)), y.toArray(), be.describe());
            weighted(y, Tensor.of(be, toFloat(cv), 4, 2, 3)).backward();
            // dx = c permuted back: c is (4, 2, 3) and x's dim d is c's dim (1, 2, 0)[d]
            assertArrayEquals(toFloat(permuteRef(cv, new int[] {4, 2, 3}, 1, 2, 0)), x.grad().toArray(), be.describe());

            Tensor z = Tensor.of(be, toFloat(xv), shape).requiresGrad(true);
            Tensor middle = z.narrow(1, 1, 2);
            assertArrayEquals(toFloat(narrowRef(xv, shape, 1, 1, 2)), middle.toArray(), be.describe());
            Tensor joined = Ops.cat(1, middle, z);
            assertArrayEquals(toFloat(catRef(1, List.of(narrowRef(xv, shape, 1, 1, 2), xv),
                    List.of(new int[] {2, 2, 4}, shape))), joined.toArray(), be.describe());
            Ops.sum(joined).backward();
            float[] want = new float[24]; // 1 everywhere, 2 in rows 1 and 2 of dim 1
            for (int i = 0; i < 24; i++) {
                want[i] = i / 4 % 3 >= 1 ? 2f : 1f;
            }
            assertArrayEquals(want, z.grad().toArray(), be.describe());
            x.close();
            z.close();
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("backends")
    void intTensorsPermuteAndCatBitForBit(Backend be) {
        int[] v = {1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE, 0x7fc00001, 6};
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.ofInts(be, v, 2, 3);
            Tensor y = x.t();
            assertEquals(DType.I32, y.dtype());
            assertArrayEquals(new int[] {v[0], v[3], v[1], v[4], v[2], v[5]}, y.toIntArray(), be.describe());
            assertArrayEquals(new int[] {v[0], v[1], v[2], v[0], v[1], v[2], v[3], v[4], v[5], v[3], v[4], v[5]},
                    Ops.cat(1, x, x).toIntArray(), be.describe());
        }
    }

    // ---- views, copies, shapes --------------------------------------------------------------------

    @Test
    void narrowAlongDim0IsAViewAndAlongOtherDimsACopy() {
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.of(GradCheckTest.backend, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
            Tensor rows = x.narrow(0, 1, 2), column = x.narrow(-1, 1, 1);
            assertArrayEquals(new float[] {3, 4, 5, 6}, rows.toArray());
            assertArrayEquals(new float[] {2, 4, 6}, column.toArray());
            x.copyFrom(new float[] {0, 0, 0, 0, 0, 0});
            assertArrayEquals(new float[] {0, 0, 0, 0}, rows.toArray(), "dim 0: shares x's buffer");
            assertArrayEquals(new float[] {2, 4, 6}, column.toArray(), "dim 1: a copy");
        }
    }

    @Test
    void tOfRank0And1IsTheTensorItselfAndEmptyShapesGoThrough() {
        try (Scope step = Scope.open()) {
            Backend be = GradCheckTest.backend;
            Tensor v = Tensor.of(be, new float[] {1, 2}, 2);
            assertSame(v, v.t());
            Tensor s = Tensor.of(be, new float[] {3});
            assertSame(s, s.t());
            assertArrayEquals(new int[0], s.permute().shape());
            assertArrayEquals(new float[] {3}, s.permute().toArray());
            Tensor empty = Tensor.zeros(be, 2, 0, 3);
            assertArrayEquals(new int[] {3, 2, 0}, empty.permute(2, 0, 1).shape());
            assertArrayEquals(new int[] {2, 0, 1}, empty.narrow(2, 1, 1).shape());
            assertArrayEquals(new int[] {2, 0, 6}, Ops.cat(2, empty, empty).shape());
            assertArrayEquals(new int[] {2, 0}, Tensor.zeros(be, 2, 3).narrow(1, 3, 0).shape());
            List<Tensor> none = Ops.chunk(empty, 3, 1);
            assertEquals(3, none.size(), "chunk of an empty dim: that many empty pieces, as PyTorch");
            assertEquals(1, Ops.split(empty, 2, 1).size(), "split of an empty dim: one empty piece, as PyTorch");
        }
    }

    // ---- errors -----------------------------------------------------------------------------------

    static void assertMessage(String message, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, e.getMessage());
    }

    @Test
    void badDimsAndRangesThrowNamingTheOp() {
        try (Scope step = Scope.open()) {
            Backend be = GradCheckTest.backend;
            Tensor x = Tensor.zeros(be, 2, 3, 4);
            assertMessage("transpose: dim 3 is out of range for a tensor of rank 3 (expected -3 to 2)",
                    () -> x.transpose(0, 3));
            assertMessage("permute: dims [0, 1] are not a permutation of the 3 dims of 2×3×4 (it needs 3 dims, got 2)",
                    () -> x.permute(0, 1));
            assertMessage("permute: dims [0, -3, 1] are not a permutation of the 3 dims of 2×3×4 (dim 0 appears twice)",
                    () -> x.permute(0, -3, 1));
            assertMessage("permute: dim -4 is out of range for a tensor of rank 3 (expected -3 to 2)",
                    () -> x.permute(0, -4, 1));
            assertMessage("narrow: elements [2, 5) of dim 1 of 2×3×4 (start must be in [-3, 3], length ≥ 0, and the "
                    + "range must end within the dim's 3 elements)", () -> x.narrow(1, 2, 3));
            assertMessage("narrow: elements [-5, -4) of dim -1 of 2×3×4 (start must be in [-4, 4], length ≥ 0, and the "
                    + "range must end within the dim's 4 elements)", () -> x.narrow(-1, -5, 1));
            assertMessage("narrow: dim 3 is out of range for a tensor of rank 3 (expected -3 to 2)", () -> x.narrow(3, 0, 1));
            assertMessage("narrow: a tensor of rank 0 has no dimension to narrow",
                    () -> Tensor.of(be, new float[] {1}).narrow(0, 0, 1));
            assertMessage("t: expects a tensor of rank 2 or less, not 2×3×4 (use transpose(dim0, dim1))", x::t);
            assertMessage("split: size must be at least 1, got 0", () -> Ops.split(x, 0, 1));
            assertMessage("chunk: chunks must be at least 1, got 0", () -> Ops.chunk(x, 0, 1));
            assertMessage("split: dim -4 is out of range for a tensor of rank 3 (expected -3 to 2)", () -> Ops.split(x, 1, -4));
        }
    }

    @Test
    void catNamesTheFirstPartThatDiffersAndHow() {
        try (Scope step = Scope.open()) {
            Backend be = GradCheckTest.backend;
            Tensor a = Tensor.zeros(be, 2, 3), b = Tensor.zeros(be, 5, 3), c = Tensor.zeros(be, 2, 4);
            assertArrayEquals(new int[] {9, 3}, Ops.cat(0, a, b, a).shape());
            assertMessage("cat: part 2 (f32 2×4 on cpu) does not match part 0 (f32 2×3 on cpu): dim 1 is 4, not 3 "
                    + "(only dim 0, the one joined along, may differ)", () -> Ops.cat(0, a, b, c, b));
            assertMessage("cat: part 1 (f32 5×3 on cpu) does not match part 0 (f32 2×3 on cpu): dim 0 is 5, not 2 "
                    + "(only dim 1, the one joined along, may differ)", () -> Ops.cat(-1, a, b));
            assertMessage("cat: part 1 (f32 6 on cpu) does not match part 0 (f32 2×3 on cpu): its rank is 1, not 2",
                    () -> Ops.cat(0, a, Tensor.zeros(be, 6)));
            assertMessage("cat: part 1 (i32 2×3 on cpu) does not match part 0 (f32 2×3 on cpu): its dtype differs",
                    () -> Ops.cat(0, a, Tensor.ofInts(be, new int[6], 2, 3)));
            assertMessage("cat: needs at least one tensor, got none", () -> Ops.cat(0));
            assertMessage("cat: part 0 has rank 0 (shape []): a tensor of rank 0 cannot be concatenated",
                    () -> Ops.cat(0, Tensor.of(be, new float[] {1})));
            assertMessage("cat: dim 2 is out of range for a tensor of rank 2 (expected -2 to 1)", () -> Ops.cat(2, a, a));
            try (dev.jrocm.runtime.device.cpu.CpuBackend other = new dev.jrocm.runtime.device.cpu.CpuBackend()) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> Ops.cat(0, a, Tensor.zeros(other, 2, 3)));
                assertTrue(e.getMessage().endsWith("it is on another backend"), e.getMessage());
            }
        }
    }
}
