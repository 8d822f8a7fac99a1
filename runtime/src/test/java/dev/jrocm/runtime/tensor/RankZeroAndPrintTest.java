package dev.jrocm.runtime.tensor;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Rank-0 tensors (item, toArray, view, broadcasting, safetensors), reshape/view with {@code -1}, and toString. */
class RankZeroAndPrintTest {

    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    private static float[] iota(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i + 1;
        }
        return v;
    }

    @Test
    void reshapeAndViewInferOneDimension() {
        try (Tensor t = Tensor.of(backend, iota(24), 2, 3, 4)) {
            assertArrayEquals(new int[] {6, 4}, t.reshape(-1, 4).shape());
            assertArrayEquals(new int[] {2, 12}, t.view(2, -1).shape());
            assertArrayEquals(new int[] {24}, t.reshape(-1).shape());
            assertArrayEquals(new int[] {2, 3, 2, 2}, t.reshape(2, 3, -1, 2).shape());
            assertArrayEquals(iota(24), t.reshape(4, -1).toArray());
        }
    }

    @Test
    void reshapeRefusesWhatCannotBeInferred() {
        try (Tensor t = Tensor.of(backend, iota(24), 2, 3, 4)) {
            var twice = assertThrows(IllegalArgumentException.class, () -> t.reshape(-1, -1));
            assertEquals("reshape: only one dimension can be -1, not dims 0 and 1 of [-1, -1]", twice.getMessage());
            var indivisible = assertThrows(IllegalArgumentException.class, () -> t.view(5, -1));
            assertEquals("view: cannot infer dim 1 of [5, -1] for a tensor of shape 2×3×4 (24 elements)",
                    indivisible.getMessage());
            var size = assertThrows(IllegalArgumentException.class, () -> t.reshape(5, 5));
            assertTrue(size.getMessage().startsWith("reshape: cannot reshape "), size.getMessage());
            var negative = assertThrows(IllegalArgumentException.class, () -> t.reshape(-2, 12));
            assertTrue(negative.getMessage().contains("negative dimension"), negative.getMessage());
        }
    }

    @Test
    void smallTensorsPrintTheirValuesAsPyTorch() {
        try (Tensor m = Tensor.of(backend, new float[] {1, 2, 3, 4}, 2, 2);
                Tensor v = Tensor.of(backend, new float[] {-0.5f, 1e-5f, Float.NaN, Float.NEGATIVE_INFINITY}, 4);
                Tensor c = Tensor.of(backend, iota(8), 2, 2, 2);
                Tensor i = Tensor.ofInts(backend, new int[] {3, -1, 7}, 3)) {
            assertEquals("tensor([[1.0000, 2.0000], [3.0000, 4.0000]])", m.toString());
            assertEquals("tensor([-0.5000, 0.0000, nan, -inf])", v.toString());
            assertEquals("tensor([[[1.0000, 2.0000], [3.0000, 4.0000]], [[5.0000, 6.0000], [7.0000, 8.0000]]])",
                    c.toString());
            assertEquals("tensor([3, -1, 7], dtype=i32)", i.toString());
            m.requiresGrad(true);
            assertEquals("tensor([[1.0000, 2.0000], [3.0000, 4.0000]], requiresGrad)", m.toString());
        }
    }

    @Test
    void largeOrClosedTensorsPrintTheirDescription() {
        Tensor big = Tensor.zeros(backend, 101);
        assertTrue(big.toString().startsWith("Tensor(f32 101 on "), big.toString());
        big.close();
        assertTrue(big.toString().contains(", closed"), big.toString());
        try (Tensor hundred = Tensor.zeros(backend, 10, 10)) {
            assertTrue(hundred.toString().startsWith("tensor([[0.0000"), hundred.toString());
        }
    }

    @Test
    void rankZeroTensorsHoldOneElement() {
        try (Tensor s = Tensor.of(backend, new float[] {2.5f});
                Tensor m = Tensor.of(backend, new float[] {1, 2, 3, 4}, 2, 2)) {
            assertEquals(0, s.rank());
            assertEquals(1, s.size());
            assertEquals(2.5f, s.item());
            assertArrayEquals(new float[] {2.5f}, s.toArray());
            assertEquals("tensor(2.5000)", s.toString());
            assertEquals("f32 [] on cpu", s.describe());
            assertArrayEquals(new int[] {1, 1}, s.view(1, 1).shape());
            assertEquals(0, s.view(1, 1).view().rank());
            assertEquals(0, m.view(4).narrow(1, 1).view().rank());
            var narrow = assertThrows(IllegalArgumentException.class, () -> s.narrow(0, 1));
            assertEquals("narrow: a tensor of rank 0 has no dimension to narrow", narrow.getMessage());
            try (Tensor sum = dev.jrocm.runtime.autograd.Ops.add(m, s);
                    Tensor product = dev.jrocm.runtime.autograd.Ops.mul(s, m)) {
                assertArrayEquals(new int[] {2, 2}, sum.shape());
                assertArrayEquals(new float[] {3.5f, 4.5f, 5.5f, 6.5f}, sum.toArray());
                assertArrayEquals(new float[] {2.5f, 5f, 7.5f, 10f}, product.toArray());
            }
            try (Tensor both = dev.jrocm.runtime.autograd.Ops.mul(s, s)) {
                assertEquals(0, both.rank());
                assertEquals(6.25f, both.item());
            }
        }
    }

    @Test
    void aRankZeroTensorRoundTripsThroughSafetensors(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        java.nio.file.Path file = dir.resolve("scalar.safetensors");
        try (Tensor s = Tensor.of(backend, new float[] {-1.75f})) {
            dev.jrocm.runtime.io.Safetensors.write(file, java.util.Map.of("s", s), java.util.Map.of());
        }
        try (dev.jrocm.runtime.io.SafetensorsFile st = dev.jrocm.runtime.io.SafetensorsFile.open(file);
                Scope ignored = Scope.open()) {
            assertArrayEquals(new long[0], st.entry("s").shape());
            Tensor back = st.tensor("s", backend);
            assertEquals(0, back.rank());
            assertEquals(-1.75f, back.item());
        }
    }
}
