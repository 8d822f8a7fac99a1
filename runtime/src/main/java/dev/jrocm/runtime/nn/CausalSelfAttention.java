package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.HashMap;
import java.util.Map;

/**
 * Causal multi-head self-attention as in GPT-2, written with jrocm's ops: x (B, T, C) →
 * (B, T, C). Separate {@code q}, {@code k} and {@code v} projections (GPT-2 fuses them into one
 * {@code c_attn}; separate layers let LoRA target each by name), heads of C/heads channels,
 * softmax(q·kᵀ/√d + mask)·v with −∞ above the diagonal, then {@code c_proj}. State-dict keys:
 * {@code q.weight}, {@code q.bias}, …, {@code c_proj.bias}; the same module in PyTorch is in
 * {@code runtime/src/test/python/transformer_fixture.py}. No dropout.
 */
public final class CausalSelfAttention extends Module {
    private final Backend backend;
    private final int channels, heads;
    private final Map<Integer, Tensor> masks = new HashMap<>(); // (T, T) per sequence length seen

    /**
     * @param channels C, divisible by {@code heads}
     * @param seed the projections' initialisation (PyTorch's Linear default), seed … seed + 3
     */
    public CausalSelfAttention(Backend backend, int channels, int heads, long seed) {
        if (heads < 1 || channels < 1 || channels % heads != 0) {
            throw new IllegalArgumentException("CausalSelfAttention: channels (" + channels
                    + ") must be a positive multiple of heads (" + heads + ")");
        }
        this.backend = backend;
        this.channels = channels;
        this.heads = heads;
        // Children are called through child(name), so LoRA (which replaces them) takes effect.
        registerModule("q", new Linear(backend, channels, channels, seed));
        registerModule("k", new Linear(backend, channels, channels, seed + 1));
        registerModule("v", new Linear(backend, channels, channels, seed + 2));
        registerModule("c_proj", new Linear(backend, channels, channels, seed + 3));
    }

    /** x (B, T, C) → (B, T, C); position t attends to positions ≤ t. */
    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 3 || x.dim(2) != channels) {
            throw new IllegalArgumentException("CausalSelfAttention(" + channels + "): input is " + x.shapeString()
                    + " but needs to be (batch, time, " + channels + ")");
        }
        int b = x.dim(0), t = x.dim(1), d = channels / heads;
        Tensor qh = child("q").forward(x).view(b, t, heads, d).transpose(1, 2); // (B, H, T, d)
        Tensor kh = child("k").forward(x).view(b, t, heads, d).transpose(1, 2);
        Tensor vh = child("v").forward(x).view(b, t, heads, d).transpose(1, 2);
        Tensor scores = Ops.scale(Ops.matmul(qh, kh.transpose(-2, -1)), (float) (1 / Math.sqrt(d)));
        Tensor att = Ops.softmax(Ops.add(scores, mask(t)), -1);
        return child("c_proj").forward(Ops.matmul(att, vh).transpose(1, 2).reshape(b, t, channels));
    }

    private Tensor mask(int t) {
        return masks.computeIfAbsent(t, n -> {
            float[] m = new float[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) {
                    m[i * n + j] = Float.NEGATIVE_INFINITY;
                }
            }
            return Scope.detached(() -> Tensor.of(backend, m, n, n));
        });
    }

    public int heads() { return heads; }

    @Override
    public void close() {
        masks.values().forEach(Tensor::close);
        masks.clear();
        super.close();
    }

    @Override
    public String toString() {
        return "CausalSelfAttention(channels=" + channels + ", heads=" + heads + ")";
    }
}
