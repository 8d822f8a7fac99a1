package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Embedding;
import dev.jrocm.runtime.nn.GptBlock;
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
 * blocks ({@link GptBlock}) of causal attention (matmul, transpose, an additive −∞ mask, softmax) and a
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

    /** The model of docs/MODELS.md. */
    static final class Gpt extends Module {
        Gpt(Backend be, int vocab, int blockSize, int c, int heads, int blocks) {
            registerModule("wte", new Embedding(be, vocab, c, 1));
            registerModule("wpe", new Embedding(be, blockSize, c, 2));
            Object[] named = new Object[2 * blocks];
            for (int i = 0; i < blocks; i++) {
                named[2 * i] = Integer.toString(i);                 // state-dict keys h.0.…, h.1.…
                named[2 * i + 1] = new GptBlock(be, c, heads, 100L * (i + 1));
            }
            registerModule("h", new Sequential(named));
            registerModule("ln_f", new LayerNorm(be, c));
            registerModule("lm_head", new Linear(be, c, vocab, false, 3));
        }

        /** idx (B, T) i32 → logits (B, T, vocab). */
        @Override
        public Tensor forward(Tensor idx) {
            int t = idx.dim(1);
            int[] positions = java.util.stream.IntStream.range(0, t).toArray();
            Tensor x = Ops.add(child("wte").forward(idx),                 // (B, T, C) + (T, C)
                    child("wpe").forward(Tensor.ofInts(idx.backend(), positions, t)));
            return child("lm_head").forward(child("ln_f").forward(child("h").forward(x)));
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
                LrScheduler cosine = new CosineAnnealingLR(adam, steps, 0.0);
                for (int step = 0; step < steps; step++) {
                    assertEquals(root.get("lrs").get(step).asDouble(), adam.lr(), 1e-6 * lr, "lr at step " + step); // float lr
                    JsonNode b = batches.get(step);
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.ofInts(backend, ints(b.get("x")), batch, t);
                        Tensor y = Tensor.ofInts(backend, ints(b.get("y")), batch, t);
                        adam.zeroGrad();
                        Tensor loss = Ops.crossEntropy(model.forward(x), y);
                        loss.backward();
                        double norm = Optimizer.clipGradNorm(model.trainableParameters(), maxNorm);
                        adam.step();
                        cosine.step();
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
