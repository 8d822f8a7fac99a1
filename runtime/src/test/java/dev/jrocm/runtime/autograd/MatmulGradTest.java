package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Strides;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;

import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static dev.jrocm.runtime.autograd.GradCheckTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Ops#matmul} as {@code torch.matmul}: 1-D, 2-D and batched operands with broadcast batch
 * dimensions, values against loops in double and gradients against finite differences. The loss is
 * Σ y⊙w for a fixed random w of y's shape, so every output element has its own weight.
 */
public class MatmulGradTest {

    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    @Test
    void matrixTimesMatrix() { checkMatmul(new int[] {3, 4}, new int[] {4, 5}, new int[] {3, 5}); }

    @Test
    void batchTimesBatch() { checkMatmul(new int[] {2, 3, 4}, new int[] {2, 4, 2}, new int[] {2, 3, 2}); }

    @Test
    void broadcastBatchDimensionsSumTheRepeatedOperandsGradients() {
        checkMatmul(new int[] {2, 1, 3, 4}, new int[] {3, 4, 2}, new int[] {2, 3, 3, 2});
    }

    @Test
    void aBatchTimesAMatrixIsOneFoldedGemm() { checkMatmul(new int[] {2, 3, 4}, new int[] {4, 5}, new int[] {2, 3, 5}); }

    @Test
    void aMatrixTimesABatchRepeatsTheMatrix() { checkMatmul(new int[] {3, 4}, new int[] {2, 4, 5}, new int[] {2, 3, 5}); }

    @Test
    void vectorTimesVectorIsARankZeroDotProduct() { checkMatmul(new int[] {4}, new int[] {4}, new int[0]); }

    @Test
    void vectorTimesBatchAndBatchTimesVectorDropTheVectorsDimension() {
        checkMatmul(new int[] {4}, new int[] {2, 4, 3}, new int[] {2, 3});
        checkMatmul(new int[] {2, 3, 4}, new int[] {4}, new int[] {2, 3});
    }

    @Test
    void anOperandUsedTwiceGetsBothContributions() {
        // loss = Σ (x·x)⊙w for a square x: dx = w·xᵀ + xᵀ·w summed by the engine.
        int[] s = {3, 3};
        GradCheckTest.Leaf w = random(83, 3, 3);
        try (Tensor wt = Tensor.of(GradCheckTest.backend, toFloat(w.values()), 3, 3)) {
            check(Map.of("x", random(81, s)),
                    t -> Ops.sum(Ops.mul(Ops.matmul(t.get("x"), t.get("x")), wt)),
                    v -> weighted(reference(v.get("x"), s, v.get("x"), s), w.values()));
        }
    }

    @Test
    void badShapesNameBothOperands() {
        try (Tensor a = Tensor.zeros(GradCheckTest.backend, 2, 3); Tensor b = Tensor.zeros(GradCheckTest.backend, 4, 5);
             Tensor c = Tensor.zeros(GradCheckTest.backend, 2, 3, 4); Tensor d = Tensor.zeros(GradCheckTest.backend, 3, 4, 5);
             Tensor s = Tensor.of(GradCheckTest.backend, new float[] {1f})) { // rank 0
            IllegalArgumentException inner = assertThrows(IllegalArgumentException.class, () -> Ops.matmul(a, b));
            assertEquals("matmul: a is 2×3 and b is 4×5: a's last dimension (3) must equal b's second-to-last"
                    + " dimension (4)", inner.getMessage());
            IllegalArgumentException batch = assertThrows(IllegalArgumentException.class, () -> Ops.matmul(c, d));
            assertTrue(batch.getMessage().startsWith("matmul: a is 2×3×4 and b is 3×4×5: their batch dimensions [2]"
                    + " and [3] cannot be broadcast"), batch.getMessage());
            IllegalArgumentException scalar = assertThrows(IllegalArgumentException.class, () -> Ops.matmul(s, a));
            assertTrue(scalar.getMessage().startsWith("matmul: both operands need at least one dimension"), scalar.getMessage());
        }
    }

    @Test
    void anEmptyInnerDimensionGivesZeros() {
        try (Tensor a = Tensor.zeros(GradCheckTest.backend, 2, 0); Tensor b = Tensor.zeros(GradCheckTest.backend, 0, 3);
             Tensor y = Ops.matmul(a, b)) {
            assertArrayEquals(new int[] {2, 3}, y.shape());
            assertArrayEquals(new float[6], y.toArray());
        }
    }

    /** Values against {@link #reference}, then gradients of Σ y⊙w by finite differences. */
    private static void checkMatmul(int[] aShape, int[] bShape, int[] yShape) {
        GradCheckTest.Leaf a = random(91, aShape), b = random(92, bShape);
        GradCheckTest.Leaf w = random(93, yShape);
        try (Tensor at = Tensor.of(GradCheckTest.backend, toFloat(a.values()), aShape);
             Tensor bt = Tensor.of(GradCheckTest.backend, toFloat(b.values()), bShape);
             Tensor y = Ops.matmul(at, bt)) {
            assertArrayEquals(yShape, y.shape());
            double[] want = reference(a.values(), aShape, b.values(), bShape);
            float[] got = y.toArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), "y[" + i + "] of " + Arrays.toString(yShape));
            }
        }
        try (Tensor wt = Tensor.of(GradCheckTest.backend, toFloat(w.values()), yShape)) {
            check(Map.of("a", a, "b", b),
                    t -> Ops.sum(Ops.mul(Ops.matmul(t.get("a"), t.get("b")), wt)),
                    v -> weighted(reference(v.get("a"), aShape, v.get("b"), bShape), w.values()));
        }
    }

    private static double weighted(double[] y, double[] w) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += y[i] * w[i];
        }
        return s;
    }

    /**
     * torch.matmul in double by its definition: vectors promoted to a row or a column, batch
     * indices broadcast from the right, each output element Σ_k a[…, i, k]·b[…, k, j].
     */
    public static double[] reference(double[] a, int[] aShape, double[] b, int[] bShape) {
        int[] as = aShape.length == 1 ? new int[] {1, aShape[0]} : aShape;
        int[] bs = bShape.length == 1 ? new int[] {bShape[0], 1} : bShape;
        int m = as[as.length - 2], k = as[as.length - 1], n = bs[bs.length - 1];
        int rank = Math.max(as.length, bs.length) - 2;
        int[] batch = new int[rank];
        for (int d = 0; d < rank; d++) {
            int da = d - (rank - (as.length - 2)), db = d - (rank - (bs.length - 2));
            batch[d] = Math.max(da >= 0 ? as[da] : 1, db >= 0 ? bs[db] : 1);
        }
        int count = (int) Strides.count(batch);
        double[] y = new double[count * m * n];
        int[] idx = new int[rank];
        for (int t = 0; t < count; t++) {
            long ao = batchOffset(idx, as, rank) * m * k, bo = batchOffset(idx, bs, rank) * k * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int q = 0; q < k; q++) {
                        s += a[(int) (ao + (long) i * k + q)] * b[(int) (bo + (long) q * n + j)];
                    }
                    y[t * m * n + i * n + j] = s;
                }
            }
            for (int d = rank - 1; d >= 0 && ++idx[d] == batch[d]; d--) {
                idx[d] = 0;
            }
        }
        return y;
    }

    /** The index of the batch matrix of an operand of shape {@code s} at broadcast batch index {@code idx}. */
    private static long batchOffset(int[] idx, int[] s, int rank) {
        int own = s.length - 2;
        long o = 0;
        for (int d = 0; d < own; d++) {
            int i = idx[d + rank - own];
            o = o * s[d] + (s[d] == 1 ? 0 : i);
        }
        return o;
    }
}
