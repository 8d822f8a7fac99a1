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
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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
    void aSmallBatchKeepsTheWeightGradientFactoredUntilAskedFor() {
        try (Tensor w = Tensor.of(backend, new float[] {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, 2, 3).requiresGrad(true);
             Scope s = Scope.open()) {
            Tensor x = Tensor.of(backend, new float[] {1, 2, 3, -1, 0, 2}, 2, 3);
            Ops.crossEntropy(Ops.linear(x, w, null), labels()).backward();
            assertTrue(w.hasGrad());
            assertInstanceOf(Gradient.Factored.class, w.gradient(), "batch 2 should leave dW as factors");
            float[] formed = w.grad().toArray(); // forms it
            assertInstanceOf(Gradient.Dense.class, w.gradient(), "grad() forms the gradient once and keeps it");
            // dW = dyᵀ·x with dy = (softmax − onehot)/2, recomputed here from the logits.
            float[] logits = {0.1f - 0.4f + 0.9f, 0.4f - 1.0f + 1.8f, -0.1f + 0.6f, -0.4f + 1.2f};
            double[] dy = new double[4];
            for (int r = 0; r < 2; r++) {
                double e0 = Math.exp(logits[2 * r]), e1 = Math.exp(logits[2 * r + 1]);
                int label = r == 0 ? 1 : 0;
                dy[2 * r] = (e0 / (e0 + e1) - (label == 0 ? 1 : 0)) / 2;
                dy[2 * r + 1] = (e1 / (e0 + e1) - (label == 1 ? 1 : 0)) / 2;
            }
            float[] xs = {1, 2, 3, -1, 0, 2};
            for (int o = 0; o < 2; o++) {
                for (int i = 0; i < 3; i++) {
                    assertEquals(dy[o] * xs[i] + dy[2 + o] * xs[3 + i], formed[o * 3 + i], 1e-6, "dW[" + o + "," + i + "]");
                }
            }
        }
    }

    @Test
    void aSecondBackwardThroughTheSameGraphSaysTheGraphWasFreed() {
        try (Tensor w = Tensor.of(backend, new float[] {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, 2, 3).requiresGrad(true);
             Scope s = Scope.open()) {
            Tensor loss = Ops.crossEntropy(Ops.linear(Tensor.full(backend, 1f, 2, 3), w, null), labels());
            loss.backward();
            float[] once = w.grad().toArray();
            IllegalStateException e = assertThrows(IllegalStateException.class, loss::backward);
            assertTrue(e.getMessage().contains("freed by a previous backward()"), e.getMessage());
            assertTrue(e.getMessage().contains("run the forward pass again"), e.getMessage());
            assertArrayEquals(once, w.grad().toArray(), "the refused backward changed the gradient");
        }
    }

    @Test
    void backwardThroughAnOpWithoutARuleNamesTheOp() {
        try (Tensor table = Tensor.of(backend, new float[] {1, 2, 3, 4, 5, 6}, 3, 2).requiresGrad(true);
             Scope s = Scope.open()) {
            // Every op of Ops has a rule; a user's own op recorded without one must stop backward.
            Tensor rows = Ops.gatherRows(table, Tensor.ofInts(backend, new int[] {2, 0}, 2));
            Tensor mine = Tensor.empty(backend, 2, 2);
            backend.copy(rows.buffer(), mine.buffer());
            Autograd.record(mine, new Node("myOp", java.util.List.of(rows), null));
            Tensor loss = Ops.crossEntropy(mine, labels());
            IllegalStateException e = assertThrows(IllegalStateException.class, loss::backward);
            assertTrue(e.getMessage().startsWith("no gradient rule for op 'myOp'"), e.getMessage());
            assertNull(table.grad(), "backward stopped before reaching the table");
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
            // Only the weight's gradient outlives the step: once formed, its 6 floats and nothing else.
            assertArrayEquals(new int[] {2, 3}, w.grad().shape());
            assertEquals(before + 6 * Float.BYTES, backend.memoryStats().bytesInUse());
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

    /** Gathering from rows of no elements still checks the indices; gathering no rows is fine. */
    @Test
    void gatherRowsOfEmptyRowsChecksIndicesAndGivesTheRightShape() {
        try (Scope scope = Scope.open()) {
            Tensor noColumns = Tensor.zeros(backend, 3, 0);
            Tensor got = Ops.gatherRows(noColumns, Tensor.ofInts(backend, new int[] {2, 0}, 2));
            assertArrayEquals(new int[] {2, 0}, got.shape());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Ops.gatherRows(noColumns, Tensor.ofInts(backend, new int[] {1, 3}, 2)));
            assertEquals("gatherRows: index 3 at position 1 is outside [0, 3)", e.getMessage());
            Tensor noRows = Tensor.zeros(backend, 0, 5);
            assertArrayEquals(new int[] {0, 5}, Ops.gatherRows(noRows, Tensor.ofInts(backend, new int[0], 0)).shape());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Ops.gatherRows(noRows, Tensor.ofInts(backend, new int[] {0}, 1)));
            assertEquals("gatherRows: index 0 at position 0 is outside [0, 0)", e.getMessage());
        }
    }
}
