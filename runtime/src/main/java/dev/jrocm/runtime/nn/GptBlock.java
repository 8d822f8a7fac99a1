package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * A GPT-2 transformer block (pre-LayerNorm): {@code x + attn(ln_1(x))}, then
 * {@code x + mlp(ln_2(x))} with the MLP Linear(C, 4C) → GELU (exact) → Linear(4C, C). Input and
 * output (B, T, C). State-dict keys {@code ln_1.*}, {@code attn.*} (see {@link CausalSelfAttention}),
 * {@code ln_2.*}, {@code mlp.0.*}, {@code mlp.2.*} — a PyTorch model built as in
 * {@code runtime/src/test/python/transformer_fixture.py} has the same ones. No dropout.
 */
public final class GptBlock extends Module {
    /** @param seed initialisation of the block's Linear layers (PyTorch's default scheme) */
    public GptBlock(Backend backend, int channels, int heads, long seed) {
        // Children are called through child(name), so LoRA (which replaces Linear layers) takes effect.
        registerModule("ln_1", new LayerNorm(backend, channels));
        registerModule("attn", new CausalSelfAttention(backend, channels, heads, seed));
        registerModule("ln_2", new LayerNorm(backend, channels));
        registerModule("mlp", new Sequential("0", new Linear(backend, channels, 4 * channels, seed + 10),
                "1", new GELU(), "2", new Linear(backend, 4 * channels, channels, seed + 11)));
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = Ops.add(x, child("attn").forward(child("ln_1").forward(x)));
        return Ops.add(h, child("mlp").forward(child("ln_2").forward(h)));
    }
}
