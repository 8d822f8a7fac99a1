package dev.jrocm.lora;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LoRA targets in a module tree, by PEFT's list rule: a full dotted name, or a suffix after a dot. */
class NestedTargetsTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    /**
     * q, qk (a name that only starts like q) and an mlp Sequential: y = mlp(q(x) + qk(x)). The
     * forward finds its layers through children(), so the LoRA layers that replace them are used.
     */
    static final class Block extends Module {
        Block(long seed) {
            registerModule("q", new Linear(backend, 4, 4, seed));
            registerModule("qk", new Linear(backend, 4, 4, seed + 1));
            registerModule("mlp", new Sequential("0", new Linear(backend, 4, 6, seed + 2), "1", new ReLU(),
                    "2", new Linear(backend, 6, 4, seed + 3)));
        }

        @Override
        public Tensor forward(Tensor x) {
            java.util.Map<String, Module> c = children();
            return c.get("mlp").forward(dev.jrocm.runtime.autograd.Ops.add(c.get("q").forward(x), c.get("qk").forward(x)));
        }
    }

    static final class Net extends Module {
        Net() {
            registerModule("h0", new Block(1));
            registerModule("h1", new Block(10));
        }

        @Override
        public Tensor forward(Tensor x) {
            return children().get("h1").forward(children().get("h0").forward(x));
        }
    }

    @Test
    void aSuffixTargetsThatLayerInEveryBlockAndNotALongerName() {
        try (Net net = new Net()) {
            LoraModel lora = Lora.apply(net, LoraConfig.of(2, 2, "q", "mlp.2"), 5);
            assertEquals(List.of("h0.q", "h0.mlp.2", "h1.q", "h1.mlp.2"), List.copyOf(lora.layers().keySet()));
            assertTrue(net.children().get("h0").children().get("q") instanceof LoraLinear);
            assertTrue(net.children().get("h0").children().get("qk") instanceof Linear);
        }
    }

    @Test
    void aFullDottedNameTargetsOneLayer() {
        try (Net net = new Net()) {
            LoraModel lora = Lora.apply(net, LoraConfig.of(1, 1, "h1.qk"), 5);
            assertEquals(List.of("h1.qk"), List.copyOf(lora.layers().keySet()));
        }
    }

    @Test
    void anAdapterOfNestedLayersSavesInPeftsLayoutAndLoadsBackIntoAFreshModel(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        try (Net net = new Net(); Net fresh = new Net();
             dev.jrocm.runtime.tensor.Scope s = dev.jrocm.runtime.tensor.Scope.open()) {
            LoraModel lora = Lora.apply(net, LoraConfig.of(2, 2, "q", "h1.qk"), 5);
            for (LoraLayer layer : lora.layers().values()) { // B starts at 0: make the adapters matter
                backend.normal(layer.loraB().buffer(), 0f, 0.5f, 9);
            }
            lora.save(dir);
            String config = java.nio.file.Files.readString(dir.resolve("adapter_config.json"));
            assertTrue(config.replace(" ", "").contains("\"target_modules\":[\"h0.q\",\"h1.q\",\"h1.qk\"]"), config);
            try (dev.jrocm.runtime.io.SafetensorsFile f = dev.jrocm.runtime.io.SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
                assertTrue(f.names().contains("base_model.model.h1.qk.lora_A.weight"), f.names().toString());
            }
            Tensor x = Tensor.of(backend, new float[] {0.5f, -1f, 2f, 0.25f, 1f, 1f, -0.5f, 0f}, 2, 4);
            org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(net.forward(x).toArray(), fresh.forward(x).toArray()),
                    "the adapter changes nothing: the check below would prove nothing");
            LoraModel loaded = PeftAdapter.load(fresh, dir);
            assertEquals(List.copyOf(lora.layers().keySet()), List.copyOf(loaded.layers().keySet()));
            org.junit.jupiter.api.Assertions.assertArrayEquals(net.forward(x).toArray(), fresh.forward(x).toArray(), 1e-6f);
        }
    }

    @Test
    void aTargetThatMatchesNothingIsRefusedListingTheLinearLayersAndChangesNothing() {
        try (Net net = new Net()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.apply(net, LoraConfig.of(1, 1, "q", "attn.q"), 5));
            assertTrue(e.getMessage().startsWith("LoRA target [attn.q] name no Linear or Conv2d layer of Net (its Linear and Conv2d layers: [h0.q, h0.qk, "),
                    e.getMessage());
            assertTrue(net.children().get("h0").children().get("q") instanceof Linear, "the model was changed");
        }
    }
}
