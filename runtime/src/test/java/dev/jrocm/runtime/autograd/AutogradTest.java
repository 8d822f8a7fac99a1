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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AutogradTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Tensor labels() { return Tensor.ofInts(backend, new int[] {1, 0}, 2); }

    @Test
    void noGradBuildsNoGraph() {
        try (Tensor w = Tensor.of(backend, new float[] {1, 2, 3, 4, 5, 6}, 2, 3).requiresGrad(true);
             Scope s = Scope.open();
             Autograd.NoGrad ng = Autograd.noGrad()) {
            Tensor y = Ops.linear(Tensor.full(backend, 1f, 2, 3), w, null);
            assertNull(y.node());
            assertFalse(y.requiresGrad());
            assertFalse(Autograd.isEnabled());
        }
        assertTrue(Autograd.isEnabled());
    }

    @Test
    void gradientsAccumulateOverBackwardPassesUntilZeroGrad() {
        try (Tensor w = Tensor.of(backend, new float[] {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, 2, 3).requiresGrad(true)) {
            float[] once;
            try (Scope s = Scope.open()) {
                Ops.crossEntropy(Ops.linear(Tensor.full(backend, 1f, 2, 3), w, null), labels()).backward();
                once = w.grad().toArray();
                Ops.crossEntropy(Ops.linear(Tensor.full(backend, 1f, 2, 3), w, null), labels()).backward();
            }
            float[] twice = w.grad().toArray();
            for (int i = 0; i < once.length; i++) {
                assertEquals(2 * once[i], twice[i], 1e-6f);
            }
            w.zeroGrad();
            assertNull(w.grad());
        }
    }

    @Test
    void backwardThroughAnOpWithoutARuleNamesTheOp() {
        try (Tensor table = Tensor.of(backend, new float[] {1, 2, 3, 4, 5, 6}, 3, 2).requiresGrad(true);
             Scope s = Scope.open()) {
            Tensor rows = Ops.gatherRows(table, Tensor.ofInts(backend, new int[] {2, 0}, 2));
            Tensor loss = Ops.crossEntropy(rows, labels());
            IllegalStateException e = assertThrows(IllegalStateException.class, loss::backward);
            assertTrue(e.getMessage().startsWith("no gradient rule for op 'gatherRows'"), e.getMessage());
        }
    }

    @Test
    void backwardNeedsAOneElementTensorThatRequiresGrad() {
        try (Scope s = Scope.open()) {
            Tensor m = Tensor.zeros(backend, 2, 2);
            assertThrows(IllegalArgumentException.class, m::backward);
            IllegalStateException e = assertThrows(IllegalStateException.class, Tensor.zeros(backend, 1)::backward);
            assertTrue(e.getMessage().contains("does not require grad"), e.getMessage());
        }
    }

    @Test
    void theStepScopeReleasesActivationsAndTheirGradients() {
        try (Tensor w = Tensor.of(backend, new float[] {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, 2, 3).requiresGrad(true)) {
            long before = backend.memoryStats().bytesInUse();
            Tensor y;
            try (Scope s = Scope.open()) {
                y = Ops.relu(Ops.linear(Tensor.full(backend, 1f, 2, 3), w, null));
                Ops.crossEntropy(y, labels()).backward();
            }
            assertTrue(y.isClosed());
            IllegalStateException e = assertThrows(IllegalStateException.class, y::toArray);
            assertEquals("tensor 2×2 is closed", e.getMessage());
            // Only the weight's gradient (6 floats, pooled as such) outlives the step.
            assertEquals(before + 6 * Float.BYTES, backend.memoryStats().bytesInUse());
            assertArrayEquals(new int[] {2, 3}, w.grad().shape());
        }
    }

    @Test
    void keptTensorsSurviveTheirScope() {
        Tensor kept;
        try (Scope s = Scope.open()) {
            kept = s.keep(Tensor.full(backend, 3f, 2));
            Tensor.full(backend, 4f, 2);
            assertEquals(1, s.size());
        }
        assertArrayEquals(new float[] {3f, 3f}, kept.toArray());
        kept.close();
        assertThrows(IllegalStateException.class, kept::toArray);
    }
}
