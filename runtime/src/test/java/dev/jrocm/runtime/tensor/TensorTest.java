package dev.jrocm.runtime.tensor;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shapes, views and scopes: every wrong use names what was wrong. */
class TensorTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void opShapeMismatchesNameTheOpAndBothShapes() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(backend, 8, 3000), w = Tensor.zeros(backend, 4096, 3072), b = Tensor.zeros(backend, 10);
            assertEquals("linear: x is 8×3000 but weight is 4096×3072 (x needs 3072 columns)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.linear(x, w, null)).getMessage());
            assertEquals("linear: bias is 10 but weight is 4096×3072 (bias needs 4096 elements)",
                    assertThrows(IllegalArgumentException.class, () -> Ops.linear(Tensor.zeros(backend, 8, 3072), w, b)).getMessage());
            assertEquals("add: shapes [8, 3000] and [10] cannot be broadcast: dimension -1 is 3000 and 10",
                    assertThrows(IllegalArgumentException.class, () -> Ops.add(x, b)).getMessage());
            Tensor logits = Tensor.zeros(backend, 4, 10);
            assertEquals("crossEntropy: logits are 4×10 but labels are i32 3 on cpu (labels need to be i32 of 4 elements)",
                    assertThrows(IllegalArgumentException.class,
                            () -> Ops.crossEntropy(logits, Tensor.ofInts(backend, new int[] {1, 2, 3}, 3))).getMessage());
        }
    }

    @Test
    void viewsAndRowRangesShareMemoryAndCheckTheirShape() {
        try (Tensor t = Tensor.of(backend, new float[] {1, 2, 3, 4, 5, 6}, 3, 2)) {
            Tensor rows = t.narrow(1, 2);
            assertArrayEquals(new float[] {3, 4, 5, 6}, rows.toArray());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.view(6).toArray());
            assertEquals("view: cannot view 3×2 (6 elements) as 4 (4)",
                    assertThrows(IllegalArgumentException.class, () -> t.view(4)).getMessage());
            assertEquals("narrow: rows [2, 4) of 3×2 (from and count must be ≥ 0 and end within the 3 rows)",
                    assertThrows(IllegalArgumentException.class, () -> t.narrow(2, 2)).getMessage());
            // from + count overflows int: the check must not wrap around and pass.
            assertTrue(assertThrows(IllegalArgumentException.class, () -> t.narrow(1, Integer.MAX_VALUE)).getMessage()
                    .startsWith("narrow: rows [1, 2147483648) of 3×2"));
            t.close();
            assertEquals("tensor 2×2 is closed", assertThrows(IllegalStateException.class, rows::toArray).getMessage());
        }
        assertEquals("tensors have rank 0 to 6, not 7 [1, 1, 1, 1, 1, 1, 1]",
                assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(backend, 1, 1, 1, 1, 1, 1, 1)).getMessage());
        assertEquals(6, Tensor.zeros(backend, 2, 1, 3, 1, 2, 1).rank());
        assertEquals("5 floats do not fill a tensor of shape 2×3",
                assertThrows(IllegalArgumentException.class, () -> Tensor.of(backend, new float[5], 2, 3)).getMessage());
    }

    @Test
    void elementCountsThatOverflowAreRefusedNotWrapped() {
        // 65536⁴ = 2⁶⁴ wrapped to 0 elements before (a tensor of size 0 that claimed that shape).
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.zeros(backend, 65536, 65536, 65536, 65536));
        assertTrue(e.getMessage().contains("[65536, 65536, 65536, 65536]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(backend, 1 << 30, 1 << 30, 1 << 30));
        assertTrue(e.getMessage().contains("more elements than memory can address"), e.getMessage());
    }

    @Test
    void scopesCloseInnermostFirstAndOnTheirOwnThread() throws Exception {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        assertEquals("scopes must close innermost first", assertThrows(IllegalStateException.class, outer::close).getMessage());
        inner.close();
        outer.close(); // the failed close above left it open; now it closes
        Scope mine = Scope.open();
        ExecutionException e = assertThrows(ExecutionException.class, () -> CompletableFuture.runAsync(mine::close).get());
        assertTrue(e.getCause().getMessage().contains("belongs to the thread that opened it"), e.getCause().getMessage());
        Tensor t = Tensor.zeros(backend, 2);
        e = assertThrows(ExecutionException.class, () -> CompletableFuture.runAsync(() -> mine.keep(t)).get());
        assertTrue(e.getCause().getMessage().contains("was kept from thread"), e.getCause().getMessage());
        assertEquals(1, mine.size(), "the failed keep left the tensor in the scope");
        mine.close();
        assertTrue(t.isClosed());
    }

    /** copyFrom takes a tensor of another backend (through the host), as PyTorch's copy_ does across devices. */
    @Test
    void copyFromATensorOfAnotherBackend() {
        try (CpuBackend other = new CpuBackend();
             Tensor there = Tensor.of(other, new float[] {1, 2, 3}, 3);
             Tensor here = Tensor.zeros(backend, 3)) {
            here.copyFrom(there);
            assertArrayEquals(new float[] {1, 2, 3}, here.toArray());
        }
    }
}
