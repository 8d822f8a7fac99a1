package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.jrocm.runtime.autograd.GradCheckTest.ce;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.crossEntropyRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.linearRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Gradients through the shape ops, against finite differences (so far reshape/view with -1 and rank-0 losses). */
class ShapeOpsGradTest {

    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    @Test
    void reshapeWithAnInferredDimensionCarriesTheGradient() {
        // x (2, 2, 5) → reshape(-1, 5) = (4, 5) → linear → (4, 3) → view(2, -1) → reshape(4, -1) → ce.
        check(Map.of("x", random(51, 2, 2, 5), "w", random(52, 3, 5), "b", random(53, 3)),
                t -> {
                    Tensor rows = t.get("x").reshape(-1, 5);
                    assertArrayEquals(new int[] {4, 5}, rows.shape());
                    Tensor y = Ops.linear(rows, t.get("w"), t.get("b")).view(2, -1);
                    assertArrayEquals(new int[] {2, 6}, y.shape());
                    assertSame(y, y.contiguous());
                    return ce(y.reshape(4, -1));
                },
                v -> crossEntropyRef(linearRef(v.get("x"), v.get("w"), v.get("b"), 4, 5, 3), 3));
    }

    @Test
    void backwardFromARankZeroLossThroughBroadcasting() {
        // loss = (x · s) · (w + s), every factor of rank 0 (views of one-element leaves).
        check(Map.of("x", random(61, 1, 1), "w", random(62, 1), "s", random(63, 1)),
                t -> {
                    Tensor s = t.get("s").view();
                    Tensor loss = Ops.mul(Ops.mul(t.get("x").view(), s), Ops.add(t.get("w").view(), s));
                    assertArrayEquals(new int[0], loss.shape());
                    return loss;
                },
                v -> v.get("x")[0] * v.get("s")[0] * (v.get("w")[0] + v.get("s")[0]));
    }

    @Test
    void aRankZeroTensorBroadcastsAgainstAMatrixAndGetsTheSummedGradient() {
        check(Map.of("x", random(71, 4, 5), "w", random(72, 3, 5), "b", random(73, 3), "s", random(74, 1)),
                t -> ce(Ops.mul(Ops.linear(t.get("x"), t.get("w"), t.get("b")), t.get("s").view())),
                v -> {
                    double[] y = linearRef(v.get("x"), v.get("w"), v.get("b"), 4, 5, 3);
                    for (int i = 0; i < y.length; i++) {
                        y[i] *= v.get("s")[0];
                    }
                    return crossEntropyRef(y, 3);
                });
    }
}
