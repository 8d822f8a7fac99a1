package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Sequential mlp(int in, int h1, int h2, int out) {
        return new Sequential("fc1", new Linear(backend, in, h1, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, h1, h2, 2), "relu2", new ReLU(), "fc3", new Linear(backend, h2, out, 3));
    }

    static float[] randomInput(int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static float[] outputs(Sequential model, float[] x, int rows, int cols) {
        try (Scope s = Scope.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            return model.forward(Tensor.of(backend, x, rows, cols)).toArray();
        }
    }

    /** Gives every B a non-zero value, as training would. */
    static void perturbB(LoraModel lora) {
        for (LoraLayer layer : lora.layers().values()) {
            backend.normal(layer.loraB().buffer(), 0f, 0.1f, 77);
        }
    }

    @Test
    void theBlogModelWithRankOneOnThreeLayersCountsLikeTheBlog() {
        try (Sequential model = mlp(3072, 4096, 2048, 10)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(1, 1, "fc1", "fc2", "fc3"));
            ParameterReport report = lora.report();
            assertEquals(21_013_524L, report.total());
            assertEquals(15_370L, report.lora());
            assertEquals(20_998_154L, report.base());
            assertEquals("Number of parameters in the model with LoRA: 21,013,524\nParameters added by LoRA: 15,370\n"
                    + "Parameters increment: 0.073%", report.blogLines().replace(System.lineSeparator(), "\n"));
            lora.freezeBase();
            assertEquals(15_370L, lora.report().trainable());
            assertEquals("trainable params: 15,370 || all params: 21,013,524 || trainable%: 0.0731", lora.report().peftLine());
            assertEquals(List.of("fc1.weight", "fc1.bias", "fc1.lora_A.weight", "fc1.lora_B.weight"),
                    model.stateDict().keySet().stream().limit(4).toList());
            assertArrayEquals(new int[] {1, 3072}, model.stateDict().get("fc1.lora_A.weight").shape());
            assertArrayEquals(new int[] {4096, 1}, model.stateDict().get("fc1.lora_B.weight").shape());
        }
    }

    @Test
    void aFreshAdapterLeavesEveryOutputBitIdentical() {
        float[] x = randomInput(5, 20, 1);
        try (Sequential model = mlp(20, 16, 12, 4)) {
            float[] before = outputs(model, x, 5, 20);
            Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc2", "fc3"));
            assertArrayEquals(before, outputs(model, x, 5, 20));
            assertInstanceOf(LoraLinear.class, model.children().get("fc2"));
        }
    }

    @Test
    void disablingGivesExactlyTheBaseOutputsAndEnablingTheAdaptedOnes() {
        float[] x = randomInput(5, 20, 2);
        try (Sequential model = mlp(20, 16, 12, 4)) {
            float[] base = outputs(model, x, 5, 20);
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"));
            perturbB(lora);
            float[] adapted = outputs(model, x, 5, 20);
            assertFalse(java.util.Arrays.equals(base, adapted), "a trained adapter changed nothing");
            lora.disable();
            assertArrayEquals(base, outputs(model, x, 5, 20));
            lora.enable();
            assertArrayEquals(adapted, outputs(model, x, 5, 20));
        }
    }

    @Test
    void loraOnAModelInEvalModeStaysInEvalModeSoItsDropoutIsOff() {
        float[] x = randomInput(5, 20, 3);
        try (Sequential model = mlp(20, 16, 12, 4)) {
            model.eval();
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc2").withDropout(0.5f));
            perturbB(lora);
            assertFalse(lora.layers().get("fc1").isTraining(), "a LoRA layer put into an eval-mode model trains");
            float[] first = outputs(model, x, 5, 20);
            assertArrayEquals(first, outputs(model, x, 5, 20), "dropout ran in eval mode");
            model.train();
            assertTrue(lora.layers().get("fc2").isTraining());
        }
    }

    @Test
    void mergeMatchesTheAdapterAndUnmergeRestoresTheWeights() {
        float[] x = randomInput(5, 20, 3);
        try (Sequential model = mlp(20, 16, 12, 4)) {
            float[] w1 = model.stateDict().get("fc1.weight").toArray();
            LoraModel lora = Lora.apply(model, LoraConfig.of(3, 6, "fc1", "fc2", "fc3"));
            perturbB(lora);
            float[] adapted = outputs(model, x, 5, 20);
            lora.merge();
            float[] merged = outputs(model, x, 5, 20);
            for (int i = 0; i < adapted.length; i++) {
                assertEquals(adapted[i], merged[i], 1e-5f * Math.max(1, Math.abs(adapted[i])), "output " + i);
            }
            assertEquals("this LoRA layer is already merged", assertThrows(IllegalStateException.class, lora::merge).getMessage());
            assertEquals("a merged LoRA layer cannot be disabled: unmerge() first",
                    assertThrows(IllegalStateException.class, lora::disable).getMessage());
            lora.unmerge();
            float[] restored = model.stateDict().get("fc1.weight").toArray();
            double worst = 0;
            for (int i = 0; i < w1.length; i++) {
                worst = Math.max(worst, Math.abs(restored[i] - w1[i]));
            }
            // W + s·BA − s·BA in float: off by at most a rounding of |s·BA| (here ≲ 2·0.1·3·4 elements' worth).
            assertTrue(worst < 1e-6, "unmerge left W off by " + worst);
            assertEquals("this LoRA layer is not merged", assertThrows(IllegalStateException.class, lora::unmerge).getMessage());
        }
    }

    @Test
    void trainingTheAdapterLeavesFrozenWeightsBitIdenticalAfterAHundredSteps() {
        try (Sequential model = mlp(20, 16, 12, 4)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 2, "fc1", "fc2", "fc3"));
            lora.freezeBase();
            Map<String, float[]> frozen = new java.util.LinkedHashMap<>();
            model.stateDict().forEach((k, v) -> {
                if (!k.contains("lora_")) {
                    frozen.put(k, v.toArray());
                }
            });
            float[] b0 = lora.layers().get("fc2").loraB().toArray();
            Random r = new Random(5);
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            try (Adam adam = new Adam(model.trainableParameters(), 1e-2f)) {
                assertEquals(6, model.trainableParameters().size());
                for (int step = 0; step < 100; step++) {
                    try (Scope s = Scope.open()) {
                        int[] y = new int[8];
                        for (int i = 0; i < 8; i++) {
                            y[i] = r.nextInt(4);
                        }
                        adam.zeroGrad();
                        Tensor loss = lossFn.forward(model.forward(Tensor.of(backend, randomInput(8, 20, step), 8, 20)),
                                Tensor.ofInts(backend, y, 8));
                        loss.backward();
                        for (var e : model.stateDict().entrySet()) {
                            if (!e.getKey().contains("lora_")) {
                                assertFalse(e.getValue().hasGrad(), e.getKey() + " got a gradient");
                            }
                        }
                        adam.step();
                    }
                }
                assertEquals(6, adam.stateCount(), "Adam keeps state for the six LoRA factors only");
            }
            frozen.forEach((k, v) -> assertArrayEquals(v, model.stateDict().get(k).toArray(), k + " changed"));
            assertFalse(java.util.Arrays.equals(b0, lora.layers().get("fc2").loraB().toArray()), "B did not train");
        }
    }

    @Test
    void badConfigurationsNameTheValue() {
        assertEquals("LoRA rank must be ≥ 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(0, 1, "fc1")).getMessage());
        assertEquals("LoRA alpha must be a positive number, got -1.0",
                assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(1, -1, "fc1")).getMessage());
        assertEquals("LoRA dropout must be in [0, 1), got 1.0",
                assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(1, 1, "fc1").withDropout(1f)).getMessage());
        try (Sequential model = mlp(20, 16, 12, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.apply(model, LoraConfig.of(1, 1, "fc1", "fc9")));
            assertEquals("LoRA target [fc9] name no Linear or Conv2d layer of Sequential (its Linear and Conv2d layers: [fc1, fc2, fc3])", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Lora.apply(model, LoraConfig.of(5, 1, "fc3")));
            assertEquals("LoRA rank 5 exceeds min(in, out) = 4 of layer fc3, Linear(12, 4)", e.getMessage());
        }
    }

    @Test
    void aRankTooLargeForTheSecondTargetLeavesTheModelIdentical() {
        try (Sequential model = mlp(20, 16, 12, 4)) {
            ModelState before = ModelState.of(model);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.apply(model, LoraConfig.of(5, 1, "fc1", "fc3")));
            before.assertUnchanged(model, "after a refused apply");
            assertEquals("LoRA rank 5 exceeds min(in, out) = 4 of layer fc3, Linear(12, 4)", e.getMessage());
            assertEquals(3, Lora.apply(model, LoraConfig.of(4, 1)).layers().size(), "the model can still be adapted");
        }
    }

    @Test
    void validateListsEveryProblemAndChangesNothing() {
        try (Sequential model = mlp(20, 16, 12, 4)) {
            ModelState before = ModelState.of(model);
            assertEquals(List.of(), Lora.validate(model, LoraConfig.of(4, 1, "fc1", "fc3")));
            assertEquals(List.of("LoRA target [fc9] name no Linear or Conv2d layer of Sequential (its Linear and Conv2d layers: [fc1, fc2, fc3])",
                            "LoRA rank 13 exceeds min(in, out) = 12 of layer fc2, Linear(16, 12)",
                            "LoRA rank 13 exceeds min(in, out) = 4 of layer fc3, Linear(12, 4)"),
                    Lora.validate(model, LoraConfig.of(13, 1, "fc2", "fc3", "fc9")));
            before.assertUnchanged(model, "after validate");
            Lora.apply(model, LoraConfig.of(2, 1, "fc2"));
            assertEquals(List.of("layer fc2 already has a LoRA adapter"), Lora.validate(model, LoraConfig.of(2, 1, "fc1")));
        }
    }

    @Test
    void aFailureWhileMakingTheLayersLeavesTheModelIdentical() {
        try (Sequential model = mlp(20, 16, 12, 4)) {
            ModelState before = ModelState.of(model);
            RuntimeException boom = new RuntimeException("filling fc3 failed");
            assertSame(boom, assertThrows(RuntimeException.class, () -> Lora.apply(model, LoraConfig.of(2, 1), 0L,
                    (path, layer) -> {
                        if (path.equals("fc3")) {
                            throw boom;
                        }
                    })));
            before.assertUnchanged(model, "after a failed fill");
        }
    }

    @Test
    void scalingIsAlphaOverRankOrOverItsRootWithRsLora() {
        assertEquals(2f, LoraConfig.of(4, 8).scaling());
        assertEquals(4f, LoraConfig.of(4, 8).withRsLora(true).scaling());
    }

    @Test
    void kaimingInitKeepsAWithinPeftsBound() {
        try (Sequential model = mlp(20, 16, 12, 4)) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 2).withInit(LoraConfig.Init.KAIMING_UNIFORM));
            assertEquals(3, lora.layers().size(), "no targets means every Linear");
            for (float a : lora.layers().get("fc1").loraA().toArray()) {
                assertTrue(Math.abs(a) <= 1 / Math.sqrt(20), "A value " + a);
            }
        }
    }
}
