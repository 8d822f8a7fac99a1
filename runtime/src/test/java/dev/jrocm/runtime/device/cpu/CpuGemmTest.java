package dev.jrocm.runtime.device.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Both CPU GEMM paths through {@link CpuGemm} (shape checks included) against a naive GEMM in
 * double precision. Tolerance: |got − want| ≤ 1e-5 · (Σ|a·b| + |beta·c|) per element, i.e. a
 * few float roundings of the sum of magnitudes, whatever the summation order. Memory is shared
 * (as the CPU backend's is), so the pure-Java path runs its parallel split.
 */
class CpuGemmTest {
    static final long SEED = 20261129L;

    static Stream<Sgemm> paths() {
        List<Sgemm> paths = new ArrayList<>();
        paths.add(CpuGemm.java());
        CpuGemm.cblas().ifPresent(paths::add);
        CpuGemm.skinny().ifPresent(paths::add); // only with --add-modules jdk.incubator.vector
        // the kernels at every shape they can take, thin ones too (the default path sends those to BLAS)
        CpuGemm.skinny().ifPresent(s -> paths.add(SkinnyGemm.kernelsOnly(s.fallback())));
        return paths.stream();
    }

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>();
        // 13×200×130 and 16×67×19: row, column and k remainders of the skinny kernels' blocks.
        int[][] mnk = {{1, 1, 1}, {1, 37, 5}, {29, 1, 7}, {3, 4, 1}, {17, 33, 65}, {64, 64, 64}, {129, 67, 131},
                {13, 200, 130}, {16, 67, 19}};
        for (Sgemm path : paths().toList()) {
            for (int[] s : mnk) {
                for (int t = 0; t < 4; t++) {
                    cases.add(Arguments.of(path, s[0], s[1], s[2], (t & 1) != 0, (t & 2) != 0));
                }
            }
            // The blog MLP at batch 8: forward x·W1ᵀ, input gradient dY·W2, weight gradient dYᵀ·X.
            cases.add(Arguments.of(path, 8, 4096, 3072, false, true));
            cases.add(Arguments.of(path, 8, 4096, 2048, false, false));
            cases.add(Arguments.of(path, 2048, 4096, 8, true, false));
            // Tall C: large enough that the CBLAS path splits its rows across threads.
            cases.add(Arguments.of(path, 1024, 48, 256, true, false));
            cases.add(Arguments.of(path, 1024, 48, 256, false, true));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} {1}×{2}×{3} transA={4} transB={5}")
    @MethodSource("shapes")
    void agreesWithTheDoubleReference(Sgemm path, int m, int n, int k, boolean transA, boolean transB) {
        Random random = new Random(SEED + 31L * m + 17L * n + k);
        try (Arena arena = Arena.ofShared()) {
            Matrix a = random(arena, transA ? k : m, transA ? m : k, random);
            Matrix b = random(arena, transB ? n : k, transB ? k : n, random);
            Matrix c = random(arena, m, n, random);
            float alpha = 0.7f, beta = -1.3f;
            double[][] want = new double[m][n];
            double[][] scale = new double[m][n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0, mag = 0;
                    for (int p = 0; p < k; p++) {
                        double term = (double) (transA ? a.get(p, i) : a.get(i, p)) * (transB ? b.get(j, p) : b.get(p, j));
                        sum += term;
                        mag += Math.abs(term);
                    }
                    want[i][j] = alpha * sum + beta * (double) c.get(i, j);
                    scale[i][j] = Math.abs(alpha) * mag + Math.abs(beta * c.get(i, j));
                }
            }
            CpuGemm.gemm(path, alpha, a, transA, b, transB, beta, c);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double err = Math.abs(c.get(i, j) - want[i][j]);
                    if (err > 1e-5 * scale[i][j] + 1e-30) {
                        fail(path.name() + " C[" + i + "," + j + "] = " + c.get(i, j) + ", want " + want[i][j]
                                + " (error " + err + ", seed " + SEED + ")");
                    }
                }
            }
        }
    }

    @Test
    void skinnyKernelsRunWhereTheVectorModuleIs() {
        org.junit.jupiter.api.Assumptions.assumeTrue(SkinnyGemm.vectorAvailable(),
                "skinny kernels not checked: " + SkinnyGemm.whyUnavailable());
        assertTrue(CpuGemm.skinny().isPresent());
        assertTrue(SkinnyGemm.takes(false, 8) && !SkinnyGemm.takes(true, 8) && !SkinnyGemm.takes(false, 17));
        // the default path: the batch-8 forward and input gradient, not the thin rank-1 LoRA shapes
        assertTrue(SkinnyGemm.takes(false, true, 8, 4096, 3072) && SkinnyGemm.takes(false, false, 8, 4096, 2048));
        assertTrue(!SkinnyGemm.takes(false, true, 8, 4096, 1) && !SkinnyGemm.takes(false, false, 8, 1, 4096));
    }

    @ParameterizedTest
    @MethodSource("paths")
    void betaZeroIgnoresWhatCHeld(Sgemm path) {
        try (Arena arena = Arena.ofShared()) {
            Matrix a = random(arena, 5, 3, new Random(SEED));
            Matrix b = random(arena, 3, 4, new Random(SEED + 1));
            Matrix c = new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, 20), 5, 4);
            c.data().fill((byte) 0xff); // every float a NaN
            CpuGemm.gemm(path, 1f, a, false, b, false, 0f, c);
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < 4; j++) {
                    assertTrue(Float.isFinite(c.get(i, j)), path.name() + " kept a NaN at " + i + "," + j);
                }
            }
        }
    }

    @Test
    void innerDimensionMismatchNamesBothShapes() {
        try (Arena arena = Arena.ofShared()) {
            Matrix x = zeros(arena, 8, 3072);
            Matrix w = zeros(arena, 4096, 3000);
            Matrix y = zeros(arena, 8, 4096);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CpuGemm.gemm(1f, x, false, w, true, 0f, y));
            assertEquals("gemm: op(A) is 8×3072 (A 8×3072) but op(B) is 3000×4096 (B 4096×3000, transposed):"
                    + " the inner dimensions 3072 and 3000 differ", e.getMessage());
        }
    }

    @Test
    void wrongOutputShapeNamesItAndTheProduct() {
        try (Arena arena = Arena.ofShared()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CpuGemm.gemm(1f, zeros(arena, 8, 16), false, zeros(arena, 16, 10), false, 0f, zeros(arena, 10, 8)));
            assertTrue(e.getMessage().startsWith("gemm: C is 10×8 but op(A)·op(B) is 8×10"), e.getMessage());
        }
    }

    @Test
    void aSegmentTooSmallForItsShapeIsRejected() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment small = arena.allocate(ValueLayout.JAVA_FLOAT, 10);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Matrix(small, 4, 3));
            assertEquals("a 4×3 matrix needs 48 bytes but its segment holds 40", e.getMessage());
        }
    }

    @Test
    void theCblasPathRefusesHeapMemory() {
        Cblas cblas = CpuGemm.cblas().orElse(null);
        org.junit.jupiter.api.Assumptions.assumeTrue(cblas != null, "no CBLAS library here");
        Matrix heap = new Matrix(MemorySegment.ofArray(new float[4]), 2, 2);
        try (Arena arena = Arena.ofShared()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CpuGemm.gemm(cblas, 1f, heap, false, zeros(arena, 2, 2), false, 0f, zeros(arena, 2, 2)));
            assertTrue(e.getMessage().contains("A (2×2) is on the Java heap"), e.getMessage());
        }
    }

    @Test
    void thePathIsChosenByName() {
        assertInstanceOf(JavaGemm.class, CpuGemm.choose("java"));
        Sgemm blas = CpuGemm.cblas().<Sgemm>map(c -> c).orElse(CpuGemm.java());
        assertEquals(CpuGemm.skinny().<Sgemm>map(s -> s).orElse(blas), CpuGemm.choose("auto"));
        CpuGemm.skinny().ifPresent(s -> assertEquals(blas, s.fallback()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuGemm.choose("fortran"));
        assertEquals("-Djrocm.cpu.gemm=fortran is not one of auto, cblas, java", e.getMessage());
    }

    static Matrix random(Arena arena, int rows, int cols, Random random) {
        Matrix x = zeros(arena, rows, cols);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                x.set(i, j, (float) random.nextGaussian());
            }
        }
        return x;
    }

    static Matrix zeros(Arena arena, int rows, int cols) {
        return new Matrix(arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, (long) rows * cols)), rows, cols);
    }
}
