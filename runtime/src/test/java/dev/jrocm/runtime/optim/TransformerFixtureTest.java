package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Embedding;
import dev.jrocm.runtime.nn.GELU;
import dev.jrocm.runtime.nn.LayerNorm;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.jrocm.runtime.optim.PyTorchAgreementTest.assertRelative;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.fixture;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.floats;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.ints;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A GPT-2-style language model written with jrocm's ops and layers — embeddings, pre-LayerNorm
 * blocks of causal multi-head attention (matmul, transpose, an additive −∞ mask, softmax) and a
 * GELU MLP with residuals — against {@code runtime/src/test/python/transformer_fixture.py}
 * (PyTorch 2.13): the same initial state dict loads strictly, the first logits agree, and 20 steps
 * of AdamW with a cosine schedule and gradient clipping follow PyTorch's loss and gradient-norm
 * trajectory to a relative 1e-4.
 */
class TransformerFixtureTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    /** Causal self-attention with separate q, k, v projections, PyTorch's layout (B, T, C). */
    static final class Attention extends Module {
        private final Linear q, k, v, proj;
        private final int heads;
        private final Tensor mask; // (T, T): 0 on and below the diagonal, −∞ above

        Attention(Backend be, int channels, int heads, int blockSize, long seed) {
            this.heads = heads;
            q = registerModule("q", new Linear(be, channels, channels, seed));
            k = registerModule("k", new Linear(be, channels, channels, seed + 1));
            v = registerModule("v", new Linear(be, channels, channels, seed + 2));
            proj = registerModule("c_proj", new Linear(be, channels, channels, seed + 3));
            float[] m = new float[blockSize * blockSize];
            for (int i = 0; i < blockSize; i++) {
                for (int j = i + 1; j < blockSize; j++) {
                    m[i * blockSize + j] = Float.NEGATIVE_INFINITY;
                }
            }
            mask = Scope.detached(() -> Tensor.of(be, m, blockSize, blockSize));
        }

        @Override
        public Tensor forward(Tensor x) {
            int b = x.dim(0), t = x.dim(1), c = x.dim(2), d = c / heads;
            Tensor qh = q.forward(x).view(b, t, heads, d).transpose(1, 2); // (B, H, T, D)
            Tensor kh = k.forward(x).view(b, t, heads, d).transpose(1, 2);
            Tensor vh = v.forward(x).view(b, t, heads, d).transpose(1, 2);
            Tensor att = Ops.scale(Ops.matmul(qh, kh.transpose(-2, -1)), (float) (1 / Math.sqrt(d)));
            att = Ops.softmax(Ops.add(att, mask), -1);
            Tensor y = Ops.matmul(att, vh).transpose(1, 2).reshape(b, t, c);
            return proj.forward(y);
        }

        @Override
        public void close() {
            mask.close();
            super.close();
        }
    }

    static final class Block extends Module {
        private final LayerNorm ln1, ln2;
        private final Attention attn;
        private final Sequential mlp;

        Block(Backend be, int c, int heads, int blockSize, long seed) {
            ln1 = registerModule("ln_1", new LayerNorm(be, c));
            attn = registerModule("attn", new Attention(be, c, heads, blockSize, seed));
            ln2 = registerModule("ln_2", new LayerNorm(be, c));
            mlp = registerModule("mlp", new Sequential("0", new Linear(be, c, 4 * c, seed + 10), "1", new GELU(),
                    "2", new Linear(be, 4 * c, c, seed + 11)));
        }

        @Override
        public Tensor forward(Tensor x) {
            x = Ops.add(x, attn.forward(ln1.forward(x)));
            return Ops.add(x, mlp.forward(ln2.forward(x)));
        }
    }

    static final class Gpt extends Module {
        private final Embedding wte, wpe;
        private final Sequential h;
        private final LayerNorm lnF;
        private final Linear head;

        Gpt(Backend be, int vocab, int blockSize, int c, int heads, int blocks) {
            wte = registerModule("wte", new Embedding(be, vocab, c, 1));
            wpe = registerModule("wpe", new Embedding(be, blockSize, c, 2));
            Object[] named = new Object[2 * blocks];
            for (int i = 0; i < blocks; i++) {
                named[2 * i] = Integer.toString(i);
                named[2 * i + 1] = new Block(be, c, heads, blockSize, 100L * (i + 1));
            }
            h = registerModule("h", new Sequential(named));
            lnF = registerModule("ln_f", new LayerNorm(be, c));
            head = registerModule("lm_head", new Linear(be, c, vocab, false, 3));
        }

        /** idx (B, T) i32 → logits (B, T, vocab). */
        @Override
        public Tensor forward(Tensor idx) {
            int t = idx.dim(1);
            int[] positions = new int[t];
            for (int i = 0; i < t; i++) {
                positions[i] = i;
            }
            Tensor x = Ops.add(wte.forward(idx), wpe.forward(Tensor.ofInts(idx.backend(), positions, t)));
            return head.forward(lnF.forward(h.forward(x)));
        }
    }

    @Test
    void aSmallTransformerFollowsPyTorchsAdamWCosineAndClippingTrajectory() throws IOException {
        JsonNode root = fixture("transformer_train.json");
        JsonNode cfg = root.get("config");
        int vocab = cfg.get("vocab").asInt(), t = cfg.get("block_size").asInt(), batch = cfg.get("batch").asInt();
        int steps = cfg.get("steps").asInt();
        double lr = cfg.get("lr").asDouble(), maxNorm = cfg.get("max_norm").asDouble();
        try (Gpt model = new Gpt(backend, vocab, t, cfg.get("channels").asInt(), cfg.get("heads").asInt(),
                cfg.get("blocks").asInt())) {
            Map<String, Tensor> initial = new LinkedHashMap<>();
            root.get("state").properties().forEach(e ->
                    initial.put(e.getKey(), Tensor.of(backend, floats(e.getValue().get("data")), ints(e.getValue().get("shape")))));
            assertEquals(initial.keySet(), model.stateDict().keySet(), "state dict keys as PyTorch's");
            model.loadStateDict(initial, true);
            initial.values().forEach(Tensor::close);

            JsonNode batches = root.get("batches");
            try (Scope s = Scope.open()) {
                Tensor x0 = Tensor.ofInts(backend, ints(batches.get(0).get("x")), batch, t);
                assertRelative(floats(root.get("logits0")), model.forward(x0).toArray(), 1e-4, 1e-5, "logits before training");
            }
            float first = 0, last = 0;
            try (Adam adam = Adam.adamW(model.trainableParameters(), (float) lr, (float) cfg.get("weight_decay").asDouble())) {
                for (int step = 0; step < steps; step++) {
                    double want = lr * (1 + Math.cos(Math.PI * step / steps)) / 2; // CosineAnnealingLR, eta_min 0
                    assertEquals(root.get("lrs").get(step).asDouble(), want, 1e-9 * lr, "lr at step " + step);
                    adam.setLr(want);
                    JsonNode b = batches.get(step);
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.ofInts(backend, ints(b.get("x")), batch, t);
                        Tensor y = Tensor.ofInts(backend, ints(b.get("y")), batch, t);
                        adam.zeroGrad();
                        Tensor loss = Ops.crossEntropy(model.forward(x), y);
                        loss.backward();
                        double norm = Optimizer.clipGradNorm(model.trainableParameters(), maxNorm);
                        adam.step();
                        float got = loss.item();
                        float wantLoss = (float) root.get("losses").get(step).asDouble();
                        assertEquals(wantLoss, got, 1e-4 * Math.abs(wantLoss), "loss at step " + step);
                        double wantNorm = root.get("grad_norms").get(step).asDouble();
                        assertEquals(wantNorm, norm, 1e-4 * wantNorm, "gradient norm at step " + step);
                        if (step == 0) {
                            first = got;
                        }
                        last = got;
                    }
                }
            }
            assertTrue(last < first, "the fixture should show learning: " + first + " → " + last);
        }
    }
}
