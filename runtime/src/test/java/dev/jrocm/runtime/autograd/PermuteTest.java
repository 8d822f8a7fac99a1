package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.device.PermuteContractTest.permuted;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static dev.jrocm.runtime.autograd.GradCheckTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@code permute} and {@code transpose}: gradients against finite differences, errors (values on
 * every backend: {@code device/PermuteContractTest}).
 */
class PermuteTest {

    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    @Test
    void gradientsOfPermuteAndTransposeAccumulate() {
        int[] shape = {2, 3, 4};
        GradCheckTest.Leaf w = random(21, 4, 3, 2);
        try (Tensor wt = Tensor.of(GradCheckTest.backend, toFloat(w.values()), 4, 3, 2)) {
            // loss = Σ (permute(x, 2, 1, 0) + transpose(x, 0, 2)) ⊙ w: both uses of x feed its gradient.
            check(Map.of("x", random(22, shape)),
                    t -> Ops.sum(Ops.mul(Ops.add(t.get("x").permute(2, 1, 0), t.get("x").transpose(0, 2)), wt)),
                    v -> {
                        double[] p = permuted(v.get("x"), shape, new int[] {2, 1, 0});
                        double s = 0;
                        for (int i = 0; i < p.length; i++) {
                            s += 2 * p[i] * w.values()[i];
                        }
                        return s;
                    });
        }
    }

    @Test
    void badDimsAreNamed() {
        try (Tensor x = Tensor.zeros(GradCheckTest.backend, 2, 3)) {
            assertEquals("permute: dims [0, 0] are not a permutation of the 2 dims of 2×3 (dim 0 appears twice)",
                    assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0)).getMessage());
            assertEquals("permute: dims [0] are not a permutation of the 2 dims of 2×3 (it needs 2 dims, got 1)",
                    assertThrows(IllegalArgumentException.class, () -> x.permute(0)).getMessage());
            assertEquals("transpose: dim 2 is out of range for a tensor of rank 2 (expected -2 to 1)",
                    assertThrows(IllegalArgumentException.class, () -> x.transpose(0, 2)).getMessage());
        }
    }
}
