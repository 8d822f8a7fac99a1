package dev.jrocm.lora;

import dev.jrocm.runtime.autograd.Autograd;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LoraModel#mergeAndUnload()} and {@link LoraModel#unloadWithoutMerge()}, as PEFT's merge_and_unload / unload. */
class MergeAndUnloadTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static Sequential mlp() {
        return new Sequential("fc1", new Linear(backend, 20, 16, 1), "relu1", new ReLU(),
                "fc2", new Linear(backend, 16, 12, 2), "relu2", new ReLU(), "fc3", new Linear(backend, 12, 4, 3));
    }

    /**
     * NestedTargetsTest's tree, y = mlp(q(x) + qk(x)) per block, h0 then h1; the forward finds
     * each layer through children() so the LoRA layers that replace them are the ones used.
     */
    static final class Block extends Module {
        Block(Backend be, long seed) {
            registerModule("q", new Linear(be, 4, 4, seed));
            registerModule("qk", new Linear(be, 4, 4, seed + 1));
            registerModule("mlp", new Sequential("0", new Linear(be, 4, 6, seed + 2), "1", new ReLU(),
                    "2", new Linear(be, 6, 4, seed + 3)));
        }

        @Override
        public Tensor forward(Tensor x) {
            Map<String, Module> c = children();
            return c.get("mlp").forward(Ops.add(c.get("q").forward(x), c.get("qk").forward(x)));
        }
    }

    static final class Net extends Module {
        Net(Backend be) {
            registerModule("h0", new Block(be, 1));
            registerModule("h1", new Block(be, 10));
        }

        @Override
        public Tensor forward(Tensor x) {
            return children().get("h1").forward(children().get("h0").forward(x));
        }
    }

    /** Gives every B a non-zero value, as training would. */
    static void perturbB(LoraModel lora) {
        lora.layers().values().forEach(layer -> backend.normal(layer.loraB().buffer(), 0f, 0.1f, 77));
    }

    /** A few Adam steps on the adapter only, so every B moves away from zero as in real fine-tuning. */
    static void train(Module model, LoraModel lora, int in, long seed) {
        Backend be = model.parameters().getFirst().backend();
        lora.freezeBase();
        Random r = new Random(seed);
        CrossEntropyLoss lossFn = new CrossEntropyLoss();
        try (Adam adam = new Adam(model.trainableParameters(), 1e-2f)) {
            for (int step = 0; step < 5; step++) {
                try (Scope s = Scope.open()) {
                    int[] y = new int[8];
                    for (int i = 0; i < 8; i++) {
                        y[i] = r.nextInt(4);
                    }
                    adam.zeroGrad();
                    lossFn.forward(model.forward(Tensor.of(be, LoraTest.randomInput(8, in, seed + step), 8, in)),
                            Tensor.ofInts(be, y, 8)).backward();
                    adam.step();
                }
            }
        }
        lora.layers().forEach((path, layer) -> assertFalse(Arrays.equals(new float[layer.loraB().toArray().length],
                layer.loraB().toArray()), "B of " + path + " did not train"));
    }

    static float[] outputs(Module model, float[] x, int rows, int cols) {
        Backend be = model.parameters().getFirst().backend();
        try (Scope s = Scope.open(); Autograd.NoGrad ng = Autograd.noGrad()) {
            return model.forward(Tensor.of(be, x, rows, cols)).toArray();
        }
    }

    static void assertClose(float[] want, float[] got, double tolerance, String what) {
        assertEquals(want.length, got.length, what + ": lengths");
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance * Math.max(1, Math.abs(want[i])), what + " [" + i + "]");
        }
    }

    static Map<String, List<Integer>> shapes(Module model) {
        Map<String, List<Integer>> shapes = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> shapes.put(k, Arrays.stream(v.shape()).boxed().toList()));
        return shapes;
    }

    /** W + s·B·A in double, from the factors' values. */
    static float[] mergedInDouble(float[] w, float[] a, float[] b, int out, int in, int r, double s) {
        float[] merged = new float[w.length];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double delta = 0;
                for (int k = 0; k < r; k++) {
                    delta += (double) b[o * r + k] * a[k * in + i];
                }
                merged[o * in + i] = (float) (w[o * in + i] + s * delta);
            }
        }
        return merged;
    }

    /** Trains, merges and checks outputs, state dict and a strict load into a fresh base. */
    static void mergedModelIsThePlainBaseArchitectureWithTheAdaptedOutputs(Supplier<Module> base, LoraConfig config, int in) {
        float[] x = LoraTest.randomInput(7, in, 42);
        try (Module model = base.get(); Module fresh = base.get()) {
            Map<String, List<Integer>> baseShapes = shapes(fresh);
            LoraModel lora = Lora.apply(model, config, 3);
            train(model, lora, in, 11);
            float[] adapted = outputs(model, x, 7, in);
            assertFalse(Arrays.equals(adapted, outputs(fresh, x, 7, in)), "the trained adapter changed nothing");
            Module merged = lora.mergeAndUnload();
            assertSame(model, merged);
            assertClose(adapted, outputs(merged, x, 7, in), 1e-5, "merged vs LoRA forward");
            assertEquals(baseShapes, shapes(merged), "the merged state dict is not the base architecture's");
            fresh.loadStateDict(merged.stateDict()); // strict
            assertArrayEquals(outputs(merged, x, 7, in), outputs(fresh, x, 7, in));
        }
    }

    @Test
    void aMergedMlpComputesWhatTheAdapterDidAndLoadsStrictlyIntoAFreshBase() {
        mergedModelIsThePlainBaseArchitectureWithTheAdaptedOutputs(MergeAndUnloadTest::mlp,
                LoraConfig.of(2, 4, "fc1", "fc3"), 20);
    }

    @Test
    void aMergedNestedTreeComputesWhatTheAdapterDidAndLoadsStrictlyIntoAFreshBase() {
        mergedModelIsThePlainBaseArchitectureWithTheAdaptedOutputs(() -> new Net(backend),
                LoraConfig.of(2, 2, "q", "h1.qk", "mlp.2"), 4);
    }

    @Test
    void aMergedRsLoraTreeComputesWhatTheAdapterDid() {
        mergedModelIsThePlainBaseArchitectureWithTheAdaptedOutputs(() -> new Net(backend),
                LoraConfig.of(3, 2, "q", "mlp.0").withRsLora(true), 4);
    }

    @Test
    void theMergedWeightIsWPlusScaleTimesBAInDoubleAndTheBiasIsTheOriginal() {
        for (boolean rs : new boolean[] {false, true}) {
            try (Module net = new Net(backend)) {
                LoraModel lora = Lora.apply(net, LoraConfig.of(3, 5, "h0.mlp.0", "h1.q").withRsLora(rs), 8);
                train(net, lora, 4, 2);
                Map<String, float[]> want = new LinkedHashMap<>();
                Map<String, Tensor> biases = new LinkedHashMap<>();
                Map<String, Linear> bases = new LinkedHashMap<>();
                double s = rs ? 5 / Math.sqrt(3) : 5 / 3.0;
                lora.layers().forEach((path, layer) -> {
                    Linear b = ((LoraLinear) layer).base();
                    want.put(path, mergedInDouble(b.weight().toArray(), layer.loraA().toArray(), layer.loraB().toArray(),
                            b.outFeatures(), b.inFeatures(), 3, s));
                    biases.put(path, b.bias());
                    bases.put(path, b);
                });
                float[] bias = biases.get("h1.q").toArray();
                Map<String, Tensor> state = lora.mergeAndUnload().stateDict();
                want.forEach((path, w) -> assertClose(w, state.get(path + ".weight").toArray(), 1e-6, path + ".weight, rsLoRA " + rs));
                biases.forEach((path, b) -> assertSame(b, state.get(path + ".bias"), path + ".bias was replaced"));
                assertArrayEquals(bias, state.get("h1.q.bias").toArray());
                assertSame(bases.get("h0.mlp.0"), net.children().get("h0").children().get("mlp").children().get("0"),
                        "the LoRA layer was not replaced by its own base Linear");
                assertSame(bases.get("h1.q"), net.children().get("h1").children().get("q"));
            }
        }
    }

    @Test
    void layersThatWereNotTargetedAreLeftExactlyAsTheyWere() {
        try (Module net = new Net(backend)) {
            net.children().get("h0").children().get("qk").parameters().forEach(p -> p.requiresGrad(false));
            LoraModel lora = Lora.apply(net, LoraConfig.of(2, 2, "h1.q"), 4);
            train(net, lora, 4, 6);
            ModelState untouched = ModelState.of(net.children().get("h0"));
            ModelState qk = ModelState.of(net.children().get("h1").children().get("qk"));
            lora.mergeAndUnload();
            untouched.assertUnchanged(net.children().get("h0"), "the untargeted block h0");
            qk.assertUnchanged(net.children().get("h1").children().get("qk"), "the untargeted layer h1.qk");
        }
    }

    @Test
    void mergedWeightsStayFrozenAsPeftLeavesThemAndTheModeIsTheLoraLayers() {
        try (Sequential model = mlp()) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc2"), 1);
            perturbB(lora);
            model.eval();
            Module merged = lora.mergeAndUnload();
            List<String> trainable = merged.namedParameters().entrySet().stream().filter(e -> e.getValue().requiresGrad())
                    .map(Map.Entry::getKey).toList();
            assertEquals(List.of("fc3.weight", "fc3.bias"), trainable, "the merged layers' weights are frozen, the untargeted fc3's are not");
            assertFalse(merged.children().get("fc1").isTraining(), "fc1 came back in training mode in an eval-mode model");
        }
    }

    @Test
    void aLayerMergedBeforeIsNotMergedTwice() {
        float[] x = LoraTest.randomInput(5, 20, 9);
        try (Sequential model = mlp()) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"), 1);
            perturbB(lora);
            float[] adapted = outputs(model, x, 5, 20);
            lora.layers().get("fc1").merge();
            assertClose(adapted, outputs(lora.mergeAndUnload(), x, 5, 20), 1e-5, "fc1 merged before mergeAndUnload");
        }
    }

    @Test
    void theWrapperAndItsLayersAreSpentAfterwardsAndSayWhy() {
        try (Sequential model = mlp(); Scope s = Scope.open()) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1"), 1);
            LoraLayer fc1 = lora.layers().get("fc1");
            Tensor a = fc1.loraA();
            lora.mergeAndUnload();
            String spent = "this LoraModel was merged and unloaded by mergeAndUnload(): its layers are plain Linear layers of the model again";
            for (Runnable use : List.<Runnable>of(lora::mergeAndUnload, lora::unloadWithoutMerge, lora::merge, lora::unmerge,
                    lora::enable, lora::disable, lora::layers, lora::adapterParameters, lora::freezeBase, lora::report)) {
                assertEquals(spent, assertThrows(IllegalStateException.class, use::run).getMessage());
            }
            IllegalStateException save = assertThrows(IllegalStateException.class, () -> lora.save(java.nio.file.Path.of("unused")));
            assertEquals(spent, save.getMessage());
            assertSame(model, lora.model());
            assertEquals(2, lora.config().rank());
            IllegalStateException forward = assertThrows(IllegalStateException.class,
                    () -> fc1.forward(Tensor.of(backend, new float[20], 1, 20)));
            assertEquals("this LoRA layer is unloaded: its LoraModel was merged and unloaded by mergeAndUnload()", forward.getMessage());
            assertThrows(IllegalStateException.class, fc1::unmerge);
            assertTrue(a.isClosed(), "lora_A was not freed");
            assertTrue(assertThrows(IllegalStateException.class, a::toArray).getMessage()
                    .endsWith("is closed: its LoraModel was merged and unloaded by mergeAndUnload()"));
        }
    }

    @Test
    void aDisabledAdapterIsRefusedByNameAndNothingChanges() {
        try (Sequential model = mlp()) {
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc3"), 1);
            perturbB(lora);
            lora.layers().get("fc3").disable();
            ModelState before = ModelState.of(model);
            IllegalStateException e = assertThrows(IllegalStateException.class, lora::mergeAndUnload);
            assertEquals("mergeAndUnload: the adapter of [fc3] is disabled; enable() to merge, or unloadWithoutMerge() to drop the adapters",
                    e.getMessage());
            before.assertUnchanged(model, "a refused mergeAndUnload");
            lora.enable();
            assertInstanceOf(Linear.class, lora.mergeAndUnload().children().get("fc3"));
        }
    }

    @Test
    void twoLoraLayersOnOneSharedLinearAreRefused() {
        final class Tied extends Module {
            Tied() {
                Linear shared = new Linear(backend, 4, 4, 1);
                registerModule("a", shared);
                registerModule("b", shared);
            }

            @Override
            public Tensor forward(Tensor x) { return children().get("b").forward(children().get("a").forward(x)); }
        }
        try (Tied tied = new Tied()) {
            LoraModel lora = Lora.apply(tied, LoraConfig.of(1, 1), 1);
            perturbB(lora);
            float[] w = tied.children().get("a").stateDict().get("weight").toArray();
            IllegalStateException e = assertThrows(IllegalStateException.class, lora::mergeAndUnload);
            assertEquals("mergeAndUnload: layers a and b wrap the same Linear; its one weight cannot take both adapters' updates",
                    e.getMessage());
            assertArrayEquals(w, tied.children().get("a").stateDict().get("weight").toArray(), "the shared weight changed");
            assertInstanceOf(LoraLinear.class, tied.children().get("a"));
        }
    }

    @Test
    void aLayerMovedAfterApplyIsRefusedByPath() {
        try (Module net = new Net(backend)) {
            LoraModel lora = Lora.apply(net, LoraConfig.of(1, 1, "h1.q"), 1);
            Module h1 = net.children().get("h1");
            LoraLinear q = (LoraLinear) h1.replaceModule("q", new Linear(backend, 4, 4, 99));
            IllegalStateException e = assertThrows(IllegalStateException.class, lora::mergeAndUnload);
            assertEquals("mergeAndUnload: the LoRA layer h1.q is no longer in the model (found Linear(4, 4) there): "
                    + "was the model changed after Lora.apply?", e.getMessage());
            assertFalse(q.isMerged(), "the refused merge changed the layer");
            q.close();
        }
    }

    @Test
    void unloadWithoutMergeGivesBackTheBaseModelEvenFromAMergedAdapter() {
        float[] x = LoraTest.randomInput(5, 20, 10);
        try (Sequential model = mlp(); Sequential fresh = mlp()) {
            float[] base = outputs(fresh, x, 5, 20);
            LoraModel lora = Lora.apply(model, LoraConfig.of(2, 4, "fc1", "fc2", "fc3"), 1);
            train(model, lora, 20, 4);
            lora.layers().get("fc2").merge();
            Module unloaded = lora.unloadWithoutMerge();
            assertEquals(shapes(fresh), shapes(unloaded));
            assertClose(base, outputs(unloaded, x, 5, 20), 1e-6, "unloaded vs base");
            assertEquals("this LoraModel was unloaded by unloadWithoutMerge(): its layers are plain Linear layers of the model again",
                    assertThrows(IllegalStateException.class, lora::layers).getMessage());
        }
    }
}
