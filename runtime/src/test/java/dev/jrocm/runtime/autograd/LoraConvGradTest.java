package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.jrocm.runtime.autograd.ConvGradTest.add;
import static dev.jrocm.runtime.autograd.ConvGradTest.conv2dRef;
import static dev.jrocm.runtime.autograd.ConvGradTest.weighted;
import static dev.jrocm.runtime.autograd.ConvGradTest.weightedRef;
import static dev.jrocm.runtime.autograd.GradCheckTest.backend;
import static dev.jrocm.runtime.autograd.GradCheckTest.check;
import static dev.jrocm.runtime.autograd.GradCheckTest.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ConvOps#loraConv2d} (the base kernel and lora_A as one stacked convolution) against an
 * independent forward in double: conv(x, W) + b + s·conv1×1(conv(x, A), B), every gradient by
 * central differences.
 */
class LoraConvGradTest {
    private static final float SCALE = 0.75f;

    @BeforeAll
    static void open() { GradCheckTest.open(); }

    @AfterAll
    static void close() { GradCheckTest.close(); }

    /** x (2, 3, 6, 5), W (4, 3, 3, 2), A (2, 3, 3, 2), B (4, 2, 1, 1): stride 2×1, padding 1×0, dilation 1×2. */
    private static final Conv2dShape BASE = new Conv2dShape(2, 3, 6, 5, 4, 3, 2, 2, 1, 1, 0, 1, 2);

    private static double[] reference(Map<String, double[]> v, boolean withBias) {
        Conv2dShape a = new Conv2dShape(2, 3, 6, 5, 2, 3, 2, 2, 1, 1, 0, 1, 2);
        Conv2dShape b = new Conv2dShape(2, 2, BASE.outH(), BASE.outW(), 4, 1, 1, 1, 1, 0, 0, 1, 1);
        double[] u = conv2dRef(v.get("x"), v.get("a"), null, a);
        for (int i = 0; i < u.length; i++) {
            u[i] *= SCALE;
        }
        return add(conv2dRef(v.get("x"), v.get("w"), withBias ? v.get("b") : null, BASE), conv2dRef(u, v.get("bb"), null, b));
    }

    @Test
    void everyGradientOfTheStackedConvolutionMatchesFiniteDifferences() {
        check(Map.of("x", random(81, 2, 3, 6, 5), "w", random(82, 4, 3, 3, 2), "b", random(83, 4),
                        "a", random(84, 2, 3, 3, 2), "bb", random(85, 4, 2, 1, 1)),
                t -> {
                    Tensor y = ConvOps.loraConv2d(t.get("x"), t.get("w"), t.get("b"), t.get("a"), t.get("bb"), SCALE,
                            new int[] {2, 1}, new int[] {1, 0}, new int[] {1, 2});
                    assertArrayEquals(new int[] {2, 4, BASE.outH(), BASE.outW()}, y.shape());
                    return weighted(y, 86);
                },
                v -> weightedRef(reference(v, true), 86));
    }

    @Test
    void withoutABiasAndUsedTwiceTheGradientsAddUp() {
        check(Map.of("x", random(91, 2, 3, 6, 5), "w", random(92, 4, 3, 3, 2), "a", random(94, 2, 3, 3, 2),
                        "bb", random(95, 4, 2, 1, 1)),
                t -> {
                    int[] st = {2, 1}, pad = {1, 0}, dil = {1, 2};
                    Tensor y = ConvOps.loraConv2d(t.get("x"), t.get("w"), null, t.get("a"), t.get("bb"), SCALE, st, pad, dil);
                    return Ops.add(weighted(y, 96), weighted(
                            ConvOps.loraConv2d(t.get("x"), t.get("w"), null, t.get("a"), t.get("bb"), SCALE, st, pad, dil), 97));
                },
                v -> weightedRef(reference(v, false), 96) + weightedRef(reference(v, false), 97));
    }

    @Test
    void aFrozenBaseGetsNoKernelGradient() {
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.of(backend, GradCheckTest.toFloat(random(1, 1, 3, 6, 5).values()), 1, 3, 6, 5);
            Tensor w = Tensor.of(backend, GradCheckTest.toFloat(random(2, 4, 3, 3, 2).values()), 4, 3, 3, 2);
            Tensor a = Tensor.of(backend, GradCheckTest.toFloat(random(3, 2, 3, 3, 2).values()), 2, 3, 3, 2).requiresGrad(true);
            Tensor b = Tensor.zeros(backend, 4, 2, 1, 1).requiresGrad(true);
            Ops.sum(ConvOps.loraConv2d(x, w, null, a, b, SCALE, new int[] {1, 1}, new int[] {1, 1}, new int[] {1, 1}))
                    .backward();
            assertNull(w.grad(), "the frozen base kernel");
            assertNull(x.grad(), "data");
            assertTrue(b.grad() != null && a.grad() != null);
        }
    }

    @Test
    void factorsThatDoNotFitTheKernelAreRefusedByName() {
        try (Scope step = Scope.open()) {
            Tensor x = Tensor.zeros(backend, 1, 3, 6, 5), w = Tensor.zeros(backend, 4, 3, 3, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ConvOps.loraConv2d(x, w, null,
                    Tensor.zeros(backend, 2, 3, 3, 2), Tensor.zeros(backend, 4, 2, 1, 1), 1f, new int[] {1, 1},
                    new int[] {0, 0}, new int[] {1, 1}));
            assertTrue(e.getMessage().startsWith("loraConv2d: weight is 4×3×3×3, lora_A 2×3×3×2"), e.getMessage());
            IllegalArgumentException c = assertThrows(IllegalArgumentException.class, () -> ConvOps.loraConv2d(
                    Tensor.zeros(backend, 1, 2, 6, 5), w, null, Tensor.zeros(backend, 2, 3, 3, 3),
                    Tensor.zeros(backend, 4, 2, 1, 1), 1f, new int[] {1, 1}, new int[] {0, 0}, new int[] {1, 1}));
            assertTrue(c.getMessage().startsWith("loraConv2d: x has 2 channels but weight expects 3"), c.getMessage());
        }
    }
}
