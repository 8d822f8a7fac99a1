package dev.jrocm.runtime.device.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link JavaGemm} against a naive GEMM in double precision.
 *
 * <p>Tolerance, per element of C: |got − want| ≤ 1e-6 · (k + 2) · max(|alpha·a·b| over the k
 * terms, |beta·c|). Rounding in float grows with the number of terms summed, so the bound grows
 * with k; at k = 1 it is about ten float roundings, and a term lost or misplaced by a packing bug
 * still exceeds it by far.
 *
 * <p>Segments of a confined arena run on the calling thread only, so the tests that are about
 * splitting the work across threads allocate from a shared arena.
 */
class JavaGemmTest {
    private static final long SEED = 20260611L;
    private static final float ALPHA = 0.7f;
    private static final float BETA = -1.3f;

    private final JavaGemm gemm = new JavaGemm();

    /** One GEMM's inputs: which operands are transposed, and how many floats pad each row. */
    private record Shape(int m, int n, int k, boolean transA, boolean transB, int padding) {
        int aRows() { return transA ? k : m; }
        int aCols() { return transA ? m : k; }
        int bRows() { return transB ? n : k; }
        int bCols() { return transB ? k : n; }
        int lda() { return Math.max(1, aCols()) + padding; }
        int ldb() { return Math.max(1, bCols()) + padding; }
        int ldc() { return Math.max(1, n) + padding; }

        @Override
        public String toString() {
            return m + "×" + n + "×" + k + " transA=" + transA + " transB=" + transB + " padding=" + padding;
        }
    }

    static Stream<Arguments> oddShapes() {
        int[][] mnk = {{1, 1, 1}, {1, 45, 7}, {37, 1, 9}, {5, 6, 3}, {17, 33, 65}, {129, 257, 63}, {130, 1100, 260}};
        List<Arguments> cases = new ArrayList<>();
        for (int[] s : mnk) {
            for (int t = 0; t < 4; t++) {
                cases.add(Arguments.of(s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}×{1}×{2} transA={3} transB={4}")
    @MethodSource("oddShapes")
    void transposedOperandsMatchTheDoubleReference(int m, int n, int k, boolean transA, boolean transB) {
        long seed = SEED + 1_000_003L * m + 1_009L * n + 31L * k + (transA ? 2 : 0) + (transB ? 1 : 0);
        try (Arena arena = Arena.ofConfined()) {
            check(gemm, arena, seed, new Shape(m, n, k, transA, transB, 0), ALPHA, BETA);
        }
    }

    @Test
    void randomShapesWithPaddedRowsMatchTheDoubleReference() {
        Random shapes = new Random(SEED);
        for (int trial = 0; trial < 40; trial++) {
            long seed = shapes.nextLong();
            Random random = new Random(seed);
            Shape shape = new Shape(1 + random.nextInt(150), 1 + random.nextInt(300), 1 + random.nextInt(300),
                    random.nextBoolean(), random.nextBoolean(), 1 + random.nextInt(5));
            try (Arena arena = Arena.ofConfined()) {
                check(gemm, arena, seed, shape, ALPHA, BETA);
            }
        }
    }

    @ParameterizedTest(name = "transA={0}")
    @ValueSource(booleans = {false, true})
    void zeroBetaOverwritesNaNsInC(boolean transA) {
        long seed = SEED + 7;
        try (Arena arena = Arena.ofConfined()) {
            Shape shape = new Shape(33, 70, 19, transA, !transA, 2);
            Operands operands = Operands.random(arena, shape, new Random(seed));
            operands.c.fill((byte) 0xFF); // all bits set: a quiet NaN in every float, padding included
            Expected want = reference(operands, shape, ALPHA, 0f);
            run(gemm, operands, shape, ALPHA, 0f);
            verify(operands, shape, want, seed);
        }
    }

    @Test
    void emptyInnerDimensionOnlyScalesC() {
        long seed = SEED + 11;
        try (Arena arena = Arena.ofConfined()) {
            Shape shape = new Shape(9, 13, 0, false, false, 1);
            Operands operands = Operands.random(arena, shape, new Random(seed));
            Expected want = reference(operands, shape, ALPHA, BETA);
            run(gemm, operands, shape, ALPHA, BETA);
            verify(operands, shape, want, seed);

            operands.c.fill((byte) 0xFF);
            Expected zeros = reference(operands, shape, ALPHA, 0f);
            run(gemm, operands, shape, ALPHA, 0f);
            verify(operands, shape, zeros, seed);
        }
    }

    @Test
    void emptyOutputTouchesNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nan = arena.allocate(ValueLayout.JAVA_FLOAT, 4).fill((byte) 0xFF);
            gemm.sgemm(false, false, 0, 4, 1, ALPHA, nan, 1, nan, 4, BETA, nan, 4);
            gemm.sgemm(true, true, 4, 0, 1, ALPHA, nan, 4, nan, 1, BETA, nan, 1);
            for (int i = 0; i < 4; i++) {
                assertEquals(-1, nan.getAtIndex(ValueLayout.JAVA_INT, i), "element " + i + " was written");
            }
        }
    }

    @Test
    void batchOfEightTimesTransposedWeightsMatchesTheDoubleReference() {
        try (Arena arena = Arena.ofConfined()) {
            check(gemm, arena, SEED + 13, new Shape(8, 4096, 3072, false, true, 0), ALPHA, BETA);
        }
    }

    @Test
    void weightGradientFromTransposedActivationsMatchesTheDoubleReference() {
        try (Arena arena = Arena.ofConfined()) {
            check(gemm, arena, SEED + 17, new Shape(4096, 3072, 8, true, false, 0), ALPHA, BETA);
        }
    }

    static Stream<Arguments> parallelShapes() {
        return Stream.of(
                Arguments.of(new Shape(8, 2048, 4096, false, true, 0)),
                Arguments.of(new Shape(4096, 3072, 8, true, false, 0)),
                Arguments.of(new Shape(300, 1030, 270, false, false, 3)),
                Arguments.of(new Shape(257, 129, 513, true, true, 1)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("parallelShapes")
    void sharedSegmentsSplitAcrossThreadsMatchTheDoubleReference(Shape shape) {
        long seed = SEED + shape.m + shape.n + shape.k;
        for (Sgemm threads : List.<Sgemm>of(gemm, new JavaGemm(1), new JavaGemm(3))) {
            try (Arena arena = Arena.ofShared()) {
                check(threads, arena, seed, shape, ALPHA, BETA);
            }
        }
    }

    @Test
    void nameIsJava() {
        assertEquals("java", gemm.name());
    }

    /** A, B and C filled with values in [-1, 1), and NaN in every padding float. */
    private record Operands(MemorySegment a, MemorySegment b, MemorySegment c) {
        static Operands random(Arena arena, Shape s, Random random) {
            return new Operands(
                    matrix(arena, s.aRows(), s.aCols(), s.lda(), random),
                    matrix(arena, s.bRows(), s.bCols(), s.ldb(), random),
                    matrix(arena, s.m, s.n, s.ldc(), random));
        }

        private static MemorySegment matrix(Arena arena, int rows, int cols, int stride, Random random) {
            MemorySegment x = arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(1L, (long) rows * stride));
            x.fill((byte) 0xFF);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    x.setAtIndex(ValueLayout.JAVA_FLOAT, (long) i * stride + j, 2 * random.nextFloat() - 1);
                }
            }
            return x;
        }
    }

    /** The double-precision answer, and per element the largest magnitude summed into it. */
    private record Expected(double[][] value, double[][] largest) {}

    private static void check(Sgemm gemm, Arena arena, long seed, Shape shape, float alpha, float beta) {
        Operands operands = Operands.random(arena, shape, new Random(seed));
        Expected want = reference(operands, shape, alpha, beta);
        run(gemm, operands, shape, alpha, beta);
        verify(operands, shape, want, seed);
    }

    private static void run(Sgemm gemm, Operands o, Shape s, float alpha, float beta) {
        gemm.sgemm(s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, s.lda(), o.b, s.ldb(), beta, o.c, s.ldc());
    }

    /** alpha·op(A)·op(B) + beta·C in double, not reading C when beta is 0. */
    private static Expected reference(Operands o, Shape s, float alpha, float beta) {
        double[][] value = new double[s.m][s.n];
        double[][] largest = new double[s.m][s.n];
        for (int i = 0; i < s.m; i++) {
            for (int j = 0; j < s.n; j++) {
                double scaledC = beta == 0 ? 0 : beta * (double) at(o.c, s.ldc(), i, j);
                double sum = 0;
                double max = Math.abs(scaledC);
                for (int p = 0; p < s.k; p++) {
                    double term = alpha * opA(o, s, i, p) * opB(o, s, p, j);
                    sum += term;
                    max = Math.max(max, Math.abs(term));
                }
                value[i][j] = sum + scaledC;
                largest[i][j] = max;
            }
        }
        return new Expected(value, largest);
    }

    private static void verify(Operands o, Shape s, Expected want, long seed) {
        for (int i = 0; i < s.m; i++) {
            for (int j = 0; j < s.n; j++) {
                double got = at(o.c, s.ldc(), i, j);
                double tolerance = 1e-6 * (s.k + 2) * want.largest[i][j];
                double error = Math.abs(got - want.value[i][j]);
                if (!(error <= tolerance)) {
                    fail("seed " + seed + ", " + s + ": C[" + i + "][" + j + "] = " + got + ", want "
                            + want.value[i][j] + " (error " + error + " > " + tolerance + ")");
                }
            }
            for (int j = s.n; j < s.ldc(); j++) {
                assertTrue(Float.isNaN(at(o.c, s.ldc(), i, j)),
                        "seed " + seed + ", " + s + ": padding C[" + i + "][" + j + "] was written");
            }
        }
    }

    private static double opA(Operands o, Shape s, int i, int p) {
        return s.transA ? at(o.a, s.lda(), p, i) : at(o.a, s.lda(), i, p);
    }

    private static double opB(Operands o, Shape s, int p, int j) {
        return s.transB ? at(o.b, s.ldb(), j, p) : at(o.b, s.ldb(), p, j);
    }

    private static float at(MemorySegment x, int stride, int row, int col) {
        return x.getAtIndex(ValueLayout.JAVA_FLOAT, (long) row * stride + col);
    }
}
