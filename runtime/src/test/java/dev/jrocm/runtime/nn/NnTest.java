package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NnTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Sequential mlp(int in, int h1, int h2, int out, long seed) {
        return new Sequential("fc1", new Linear(backend, in, h1, seed), "relu1", new ReLU(),
                "fc2", new Linear(backend, h1, h2, seed + 10), "relu2", new ReLU(),
                "fc3", new Linear(backend, h2, out, seed + 20));
    }

    @Test
    void theBlogModelHasExactly20998154Parameters() {
        try (Sequential model = mlp(3072, 4096, 2048, 10, 1)) {
            assertEquals(20_998_154L, model.parameterCount());
            assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"),
                    List.copyOf(model.stateDict().keySet()));
            assertArrayEquals(new int[] {4096, 3072}, model.stateDict().get("fc1.weight").shape());
        }
    }

    @Test
    void linearInitialisesLikePyTorch() {
        try (Linear layer = new Linear(backend, 400, 300, 42)) {
            double bound = 1 / Math.sqrt(400);
            float[] w = layer.weight().toArray();
            double mean = 0, sq = 0;
            for (float v : w) {
                assertTrue(Math.abs(v) <= bound, "weight " + v + " outside ±" + bound);
                mean += v / w.length;
                sq += (double) v * v / w.length;
            }
            assertEquals(0, mean, 0.01 * bound);
            assertEquals(bound / Math.sqrt(3), Math.sqrt(sq), 0.01 * bound); // U(−b, b) has std b/√3
            for (float v : layer.bias().toArray()) {
                assertTrue(Math.abs(v) <= bound);
            }
            try (Linear same = new Linear(backend, 400, 300, 42); Linear other = new Linear(backend, 400, 300, 43)) {
                assertArrayEquals(w, same.weight().toArray());
                assertFalse(java.util.Arrays.equals(w, other.weight().toArray()));
            }
        }
    }

    @Test
    void loadStateDictCopiesAndListsEveryProblem() {
        try (Sequential a = mlp(6, 5, 4, 3, 1); Sequential b = mlp(6, 5, 4, 3, 2)) {
            assertNotEquals(a.stateDict().get("fc2.bias").toArray()[0], b.stateDict().get("fc2.bias").toArray()[0]);
            b.loadStateDict(a.stateDict());
            for (var e : a.stateDict().entrySet()) {
                assertArrayEquals(e.getValue().toArray(), b.stateDict().get(e.getKey()).toArray(), e.getKey());
            }
            try (Tensor wrong = Tensor.zeros(backend, 4, 4); Tensor extra = Tensor.zeros(backend, 1)) {
                Map<String, Tensor> bad = new java.util.LinkedHashMap<>(a.stateDict());
                bad.remove("fc1.bias");
                bad.put("fc2.weight", wrong);
                bad.put("fc9.weight", extra);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(bad));
                assertEquals("loadStateDict into Sequential: missing fc1.bias; fc2.weight is 4×4 in the state dict but 4×5"
                        + " in the model; unexpected fc9.weight", e.getMessage());
            }
        }
    }

    @Test
    void aNonStrictLoadCopiesWhatMatchesAndReturnsTheRestAsPyTorchDoes() {
        try (Sequential a = mlp(6, 5, 4, 3, 1); Sequential b = mlp(6, 5, 4, 3, 2); Tensor extra = Tensor.zeros(backend, 1)) {
            float[] fc1BiasBefore = b.stateDict().get("fc1.bias").toArray();
            Map<String, Tensor> partial = new java.util.LinkedHashMap<>(a.stateDict());
            partial.remove("fc1.bias");
            partial.put("head.weight", extra);
            Module.IncompatibleKeys keys = b.loadStateDict(partial, false);
            assertEquals(List.of("fc1.bias"), keys.missingKeys());
            assertEquals(List.of("head.weight"), keys.unexpectedKeys());
            assertArrayEquals(a.stateDict().get("fc2.weight").toArray(), b.stateDict().get("fc2.weight").toArray());
            assertArrayEquals(fc1BiasBefore, b.stateDict().get("fc1.bias").toArray(), "a missing key keeps its value");
            assertEquals(new Module.IncompatibleKeys(List.of(), List.of()), b.loadStateDict(a.stateDict(), false));
        }
    }

    @Test
    void aNonStrictLoadStillRefusesAWrongShapeAndChangesNothing() {
        try (Sequential a = mlp(6, 5, 4, 3, 1); Sequential b = mlp(6, 5, 4, 3, 2); Tensor wrong = Tensor.zeros(backend, 4, 4)) {
            float[] fc1Before = b.stateDict().get("fc1.weight").toArray();
            Map<String, Tensor> bad = new java.util.LinkedHashMap<>(a.stateDict());
            bad.put("fc2.weight", wrong);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(bad, false));
            assertEquals("loadStateDict into Sequential: fc2.weight is 4×4 in the state dict but 4×5 in the model", e.getMessage());
            assertArrayEquals(fc1Before, b.stateDict().get("fc1.weight").toArray(), "fc1 was loaded before fc2 failed");
        }
    }

    @Test
    void linearTakesAnyLeadingDimensionsAsPyTorchDoes() {
        try (Linear layer = new Linear(backend, 5, 3, 7); Tensor x3 = Tensor.zeros(backend, 2, 4, 5);
             Tensor x1 = Tensor.zeros(backend, 5); Tensor wrong = Tensor.zeros(backend, 2, 4, 6);
             dev.jrocm.runtime.tensor.Scope step = dev.jrocm.runtime.tensor.Scope.open()) {
            assertArrayEquals(new int[] {2, 4, 3}, layer.forward(x3).shape());
            Tensor y1 = layer.forward(x1);
            assertArrayEquals(new int[] {3}, y1.shape());
            assertArrayEquals(layer.bias().toArray(), y1.toArray()); // x = 0: y = b
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> layer.forward(wrong));
            assertEquals("linear: x is 2×4×6 but weight is 3×5 (x's last dimension needs to be 5)", e.getMessage());
        }
    }

    @Test
    void trainAndEvalReachEveryChild() {
        try (Sequential model = mlp(4, 3, 3, 2, 1)) {
            model.eval();
            model.children().values().forEach(c -> assertFalse(c.isTraining()));
            model.train();
            model.children().values().forEach(c -> assertTrue(c.isTraining()));
        }
    }

    @Test
    void freezingAParameterTakesItOutOfTheTrainableCount() {
        try (Sequential model = mlp(4, 3, 3, 2, 1)) {
            long all = model.parameterCount();
            model.stateDict().get("fc1.weight").requiresGrad(false);
            assertEquals(all - 12, model.trainableParameterCount());
            assertEquals(5, model.trainableParameters().size());
        }
    }

    @Test
    void badArgumentsAreRejectedWithTheirValues() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Linear(backend, 0, 3, 1));
        assertEquals("Linear needs in, out ≥ 1, got in=0, out=3", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Sequential("fc1"));
        assertTrue(e.getMessage().contains("name, module pairs"), e.getMessage());
    }
}
