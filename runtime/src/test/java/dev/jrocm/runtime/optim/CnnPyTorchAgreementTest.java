package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.ContractBackends;
import dev.jrocm.runtime.nn.AvgPool2d;
import dev.jrocm.runtime.nn.BatchNorm2d;
import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Flatten;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.MaxPool2d;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import dev.jrocm.runtime.autograd.Autograd;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jrocm.runtime.optim.PyTorchAgreementTest.assertRelative;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.fixture;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.floats;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.ints;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A small CNN (conv, batch norm, ReLU, max-pool, a strided dilated non-square conv, avg-pool,
 * flatten, linear) against PyTorch ({@code runtime/src/test/python/cnn_fixtures.py}): from the
 * same initial state dict, the loss of each of 20 Adam steps to a relative 1e-4, then the trained
 * parameters, the running statistics and the evaluation-mode logits. On every backend of
 * {@link ContractBackends#all()}.
 */
class CnnPyTorchAgreementTest {

    static List<Backend> backends() {
        return ContractBackends.all();
    }

    @AfterAll
    static void closeBackends() {
        ContractBackends.closeAll();
    }

    static Sequential cnn(Backend be) {
        return new Sequential(
                "c1", new Conv2d(be, 1, 4, 3, 1, 1, 1, false, 0), // batch norm follows: a bias would cancel out
                "bn", new BatchNorm2d(be, 4),
                "relu1", new ReLU(),
                "pool1", new MaxPool2d(2),
                "c2", new Conv2d(be, 4, 6, new int[] {3, 2}, new int[] {1, 2}, new int[] {1, 1}, new int[] {2, 1}, true, 0),
                "relu2", new ReLU(),
                "pool2", new AvgPool2d(2, 1, 1),
                "flat", new Flatten(),
                "fc", new Linear(be, 6 * 3 * 4, 10, 0));
    }

    /** The fixture's state dict as tensors; num_batches_tracked (int64 in PyTorch) as int32. */
    static Map<String, Tensor> state(Backend be, JsonNode dict) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        dict.properties().forEach(e -> {
            int[] shape = ints(e.getValue().get("shape"));
            float[] data = floats(e.getValue().get("data"));
            out.put(e.getKey(), e.getKey().endsWith("num_batches_tracked")
                    ? Tensor.ofInts(be, new int[] {(int) data[0]}, shape) : Tensor.of(be, data, shape));
        });
        return out;
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void aSmallCnnFollowsPyTorchsLossTrajectoryRunningStatisticsAndEvaluationOutput(Backend be) throws IOException {
        JsonNode root = fixture("cnn_train.json");
        String on = " on " + be.describe();
        try (Sequential model = cnn(be)) {
            Map<String, Tensor> initial = state(be, root.get("state"));
            assertEquals(List.copyOf(initial.keySet()), List.copyOf(model.stateDict().keySet()), "state dict keys and order");
            model.loadStateDict(initial);
            initial.values().forEach(Tensor::close);
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            JsonNode losses = root.get("losses");
            double firstRound = 0, lastRound = 0;
            try (Adam adam = new Adam(model.trainableParameters(), (float) root.get("lr").asDouble())) {
                for (int step = 0; step < losses.size(); step++) {
                    JsonNode batch = root.get("batches").get(step);
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.of(be, floats(batch.get("x")), 8, 1, 8, 8);
                        Tensor y = Tensor.ofInts(be, ints(batch.get("y")), 8);
                        adam.zeroGrad();
                        Tensor loss = lossFn.forward(model.forward(x), y);
                        loss.backward();
                        adam.step();
                        float got = loss.item(), want = (float) losses.get(step).asDouble();
                        assertEquals(want, got, 1e-4 * Math.abs(want), "loss at step " + step + on);
                        firstRound += step < 4 ? got : 0;
                        lastRound += step >= losses.size() - 4 ? got : 0;
                    }
                }
            }
            assertTrue(lastRound < firstRound, "the fixture should show learning: " + firstRound + " → " + lastRound);
            Map<String, Tensor> mine = model.stateDict();
            root.get("final").properties().forEach(e -> {
                if (e.getKey().endsWith("num_batches_tracked")) {
                    assertEquals(e.getValue().get("data").get(0).asInt(), mine.get(e.getKey()).toIntArray()[0], e.getKey() + on);
                } else {
                    assertRelative(floats(e.getValue().get("data")), mine.get(e.getKey()).toArray(), 1e-3, 1e-5,
                            "final " + e.getKey() + on);
                }
            });
            model.eval();
            try (Scope s = Scope.open(); Autograd.NoGrad none = Autograd.noGrad()) {
                Tensor logits = model.forward(Tensor.of(be, floats(root.get("eval_x")), 8, 1, 8, 8));
                assertRelative(floats(root.get("eval_logits")), logits.toArray(), 1e-3, 1e-4, "evaluation logits" + on);
            }
        }
    }
}
