package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** NumPy's broadcasting rules for the element-wise ops: result shapes, values, and the errors. */
class BroadcastTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void shapesAlignFromTheRightAndOnesRepeat() {
        assertArrayEquals(new int[] {2, 3}, Ops.broadcastShape("add", new int[] {2, 3}, new int[] {3}));
        assertArrayEquals(new int[] {2, 3, 4}, Ops.broadcastShape("mul", new int[] {2, 1, 4}, new int[] {3, 1}));
        assertArrayEquals(new int[] {2, 2}, Ops.broadcastShape("div", new int[] {1}, new int[] {2, 2}));
        assertArrayEquals(new int[] {0, 3}, Ops.broadcastShape("add", new int[] {0, 1}, new int[] {3})); // 1 repeats to 0, as NumPy
    }

    @Test
    void incompatibleShapesNameBothAndTheDimensionFromTheRight() {
        assertEquals("add: shapes [2, 3] and [4] cannot be broadcast: dimension -1 is 3 and 4",
                assertThrows(IllegalArgumentException.class,
                        () -> Ops.broadcastShape("add", new int[] {2, 3}, new int[] {4})).getMessage());
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(backend, 2, 3, 4), b = Tensor.zeros(backend, 5, 1);
            assertEquals("sub: shapes [2, 3, 4] and [5, 1] cannot be broadcast: dimension -2 is 3 and 5",
                    assertThrows(IllegalArgumentException.class, () -> Ops.sub(a, b)).getMessage());
        }
    }

    @Test
    void aOneElementTensorActsAsAScalarOnEitherSide() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, new float[] {1, 2, 3, 4, 5, 6}, 2, 3), two = Tensor.scalar(backend, 2f);
            assertArrayEquals(new float[] {2, 1, 0.6666667f, 0.5f, 0.4f, 0.33333334f}, Ops.div(two, x).toArray());
            assertArrayEquals(new float[] {-1, 0, 1, 2, 3, 4}, Ops.sub(x, two).toArray());
            Tensor column = Tensor.of(backend, new float[] {10, 100}, 2, 1), row = Tensor.of(backend, new float[] {1, 2, 3}, 3);
            assertArrayEquals(new float[] {10, 20, 30, 100, 200, 300}, Ops.mul(column, row).toArray());
            assertArrayEquals(new int[] {2, 3}, Ops.add(column, row).shape());
        }
    }
}
