package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.GptBlock;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRA on a transformer block's attention projections, whose inputs are (B, T, C): the targets
 * match by suffix, the low-rank path on rank-3 inputs equals the merged weights' plain forward, and
 * a few steps on the adapters alone lower the loss while the base stays as it was.
 */
class LoraOnAttentionTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void loraOnQAndVOfAGptBlockTrainsOnSequenceInputs() {
        try (GptBlock block = new GptBlock(backend, 8, 2, 5);
             Tensor x = Tensor.empty(backend, 2, 5, 8); Tensor target = Tensor.empty(backend, 2, 5, 8)) {
            backend.normal(x.buffer(), 0f, 1f, 1);
            backend.normal(target.buffer(), 0f, 1f, 2);
            LoraModel lora = Lora.apply(block, LoraConfig.of(2, 4, "q", "v"));
            assertEquals(Set.of("attn.q", "attn.v"), lora.layers().keySet());
            lora.freezeBase();
            float[] baseWeight = block.stateDict().get("attn.q.weight").toArray();
            float first = 0, last = 0;
            try (Adam adam = new Adam(lora.adapterParameters(), 1e-2f)) {
                for (int step = 0; step < 15; step++) {
                    try (Scope s = Scope.open()) {
                        adam.zeroGrad();
                        Tensor loss = Ops.mseLoss(block.forward(x), target);
                        loss.backward();
                        for (Tensor p : lora.adapterParameters()) {
                            assertNotNull(p.grad(), "every adapter factor gets a gradient");
                        }
                        adam.step();
                        last = loss.item();
                        if (step == 0) {
                            first = last;
                        }
                    }
                }
            }
            assertTrue(last < first, "the adapters alone lower the loss: " + first + " → " + last);
            Close.assertArrayEquals(baseWeight, block.stateDict().get("attn.q.weight").toArray(), 0f,
                    "the frozen base weight");
            try (Scope s = Scope.open()) { // the low-rank path on (B, T, C) against W + s·B·A in a plain Linear
                float[] adapted = block.forward(x).toArray();
                lora.merge();
                float[] merged = block.forward(x).toArray();
                lora.unmerge();
                Close.assertArrayEquals(merged, adapted, 1e-5f, "LoRA forward vs merged forward");
            }
        }
    }

    /** Element-wise comparison with a message naming the first index that differs. */
    static final class Close {
        static void assertArrayEquals(float[] want, float[] got, float tol, String what) {
            assertEquals(want.length, got.length, what);
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], tol * (1 + Math.abs(want[i])), what + "[" + i + "]");
            }
        }
    }
}
