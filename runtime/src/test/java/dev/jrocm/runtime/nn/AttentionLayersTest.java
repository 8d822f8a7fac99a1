package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link CausalSelfAttention} and {@link GptBlock}: PyTorch's state-dict keys, causality (a later
 * position never changes an earlier one's output) and the errors for bad sizes and inputs. Their
 * numbers against PyTorch are TransformerFixtureTest's.
 */
class AttentionLayersTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void keysAreGpt2sAndAttentionIsCausal() {
        try (GptBlock block = new GptBlock(backend, 8, 2, 3); Scope s = Scope.open()) {
            assertEquals(List.of("ln_1.weight", "ln_1.bias", "attn.q.weight", "attn.q.bias", "attn.k.weight", "attn.k.bias",
                    "attn.v.weight", "attn.v.bias", "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                    "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"), List.copyOf(block.stateDict().keySet()));
            Tensor x = Tensor.empty(backend, 1, 4, 8);
            backend.normal(x.buffer(), 0f, 1f, 1);
            float[] before = block.forward(x).toArray();
            float[] changed = x.toArray();
            for (int c = 0; c < 8; c++) {
                changed[3 * 8 + c] += 1f; // the last position only
            }
            float[] after = block.forward(Tensor.of(backend, changed, 1, 4, 8)).toArray();
            assertArrayEquals(Arrays.copyOf(before, 24), Arrays.copyOf(after, 24),
                    "positions 0–2 do not see position 3");
            assertNotEquals(before[24], after[24], "position 3 sees itself");
        }
    }

    @Test
    void badSizesAndInputsAreNamed() {
        assertEquals("CausalSelfAttention: channels (6) must be a positive multiple of heads (4)",
                assertThrows(IllegalArgumentException.class, () -> new CausalSelfAttention(backend, 6, 4, 1)).getMessage());
        try (CausalSelfAttention attn = new CausalSelfAttention(backend, 8, 2, 1); Tensor x = Tensor.zeros(backend, 4, 8)) {
            assertEquals("CausalSelfAttention(8): input is 4×8 but needs to be (batch, time, 8)",
                    assertThrows(IllegalArgumentException.class, () -> attn.forward(x)).getMessage());
        }
    }
}
