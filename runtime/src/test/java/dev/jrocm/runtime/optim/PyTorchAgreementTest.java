package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * jrocm against fixtures written by PyTorch ({@code runtime/src/test/python/make_fixtures.py},
 * Debian's python3-torch): Adam/AdamW steps to a relative 1e-5, and a small MLP's loss over 30
 * Adam steps to a relative 1e-4.
 */
class PyTorchAgreementTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static JsonNode fixture(String name) throws IOException {
        try (InputStream in = PyTorchAgreementTest.class.getResourceAsStream("/fixtures/" + name)) {
            if (in == null) {
                throw new IOException("fixture " + name + " is missing from the test resources");
            }
            return new ObjectMapper().readTree(in);
        }
    }

    static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).asDouble();
        }
        return out;
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static void assertRelative(float[] want, float[] got, double rel, double abs, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            if (Math.abs(got[i] - want[i]) > rel * Math.abs(want[i]) + abs) {
                fail(what + "[" + i + "]: jrocm " + got[i] + ", PyTorch " + want[i]);
            }
        }
    }

    @Test
    void adamAndAdamWStepsMatchPyTorch() throws IOException {
        JsonNode root = fixture("adam.json");
        int[] shape = ints(root.get("shape"));
        assertEquals(3, root.get("cases").size());
        for (JsonNode c : root.get("cases")) {
            try (Tensor p = Tensor.of(backend, floats(c.get("initial")), shape).requiresGrad(true);
                 Adam adam = new Adam(List.of(p), (float) c.get("lr").asDouble(),
                         (float) c.get("betas").get(0).asDouble(), (float) c.get("betas").get(1).asDouble(),
                         (float) c.get("eps").asDouble(), (float) c.get("weight_decay").asDouble(),
                         c.get("decoupled").asBoolean())) {
                for (int step = 0; step < 10; step++) {
                    Tensor g = Tensor.of(backend, floats(c.get("grads").get(step)), shape);
                    p.setGrad(g);
                    adam.step();
                    // 1e-5 relative, with a floor for values that pass near zero
                    assertRelative(floats(c.get("after_each_step").get(step)), p.toArray(), 1e-5, 1e-7,
                            c.get("name").asText() + " step " + (step + 1));
                    p.zeroGrad();
                }
            }
        }
    }

    @Test
    void aSmallMlpFollowsPyTorchsLossTrajectory() throws IOException {
        JsonNode root = fixture("mlp_train.json");
        try (Sequential model = new Sequential("fc1", new Linear(backend, 20, 32, 0), "relu1", new ReLU(),
                "fc2", new Linear(backend, 32, 16, 0), "relu2", new ReLU(), "fc3", new Linear(backend, 16, 10, 0))) {
            Map<String, Tensor> initial = new LinkedHashMap<>();
            root.get("layers").properties().forEach(e ->
                    initial.put(e.getKey(), Tensor.of(backend, floats(e.getValue().get("data")), ints(e.getValue().get("shape")))));
            model.loadStateDict(initial);
            initial.values().forEach(Tensor::close);
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            JsonNode losses = root.get("losses");
            float first = 0, last = 0;
            try (Adam adam = new Adam(model.trainableParameters(), (float) root.get("lr").asDouble())) {
                for (int step = 0; step < losses.size(); step++) {
                    JsonNode batch = root.get("batches").get(step);
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.of(backend, floats(batch.get("x")), 8, 20);
                        Tensor y = Tensor.ofInts(backend, ints(batch.get("y")), 8);
                        adam.zeroGrad();
                        Tensor loss = lossFn.forward(model.forward(x), y);
                        loss.backward();
                        adam.step();
                        float got = loss.item(), want = (float) losses.get(step).asDouble();
                        assertEquals(want, got, 1e-4 * Math.abs(want), "loss at step " + step);
                        if (step == 0) {
                            first = got;
                        }
                        last = got;
                    }
                }
            }
            assertTrue(last < first, "the fixture should show learning: " + first + " → " + last);
            root.get("final").properties().forEach(e -> assertRelative(floats(e.getValue().get("data")),
                    model.stateDict().get(e.getKey()).toArray(), 1e-3, 1e-5, "final " + e.getKey()));
        }
    }
}
