package dev.jrocm.lora;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.io.Safetensors;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Hugging Face PEFT against jrocm on a nested module tree: PEFT loads jrocm's adapter into the same
 * architecture built in PyTorch and gives jrocm's outputs, and PEFT's merge_and_unload() gives
 * jrocm's {@link LoraModel#mergeAndUnload()} weights ({@code src/test/python/peft_nested_merge.py}).
 * Runs only where a Python with torch, peft and safetensors is found: {@code -Djrocm.peft.python=},
 * {@code JROCM_PEFT_PYTHON}, or {@code python3} on the PATH; skipped, saying so, elsewhere (CI).
 */
class PeftNestedMergeTest {
    static Backend backend;

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    static String python() {
        String p = System.getProperty("jrocm.peft.python", System.getenv("JROCM_PEFT_PYTHON"));
        return p == null || p.isBlank() ? "python3" : p;
    }

    static boolean hasPeft(String python) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import torch, peft, safetensors").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (java.io.IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @ParameterizedTest(name = "rsLoRA {0}")
    @ValueSource(booleans = {false, true})
    void peftLoadsTheNestedAdapterAndItsMergeAndUnloadGivesJrocmsMergedWeights(boolean rsLora, @TempDir Path dir) throws Exception {
        String python = python();
        assumeTrue(hasPeft(python), "needs a Python with torch, peft and safetensors (tried '" + python
                + "'; set -Djrocm.peft.python= or JROCM_PEFT_PYTHON, e.g. to a venv's bin/python)");
        try (Module net = new MergeAndUnloadTest.Net(backend); Scope s = Scope.open()) {
            Safetensors.write(dir.resolve("base.safetensors"), net.stateDict(), Map.of());
            LoraModel lora = Lora.apply(net, LoraConfig.of(2, 4, "q", "h1.qk", "mlp.2").withRsLora(rsLora)
                    .withInit(LoraConfig.Init.KAIMING_UNIFORM), 21);
            assertEquals(List.of("h0.q", "h0.mlp.2", "h1.q", "h1.qk", "h1.mlp.2"), List.copyOf(lora.layers().keySet()));
            MergeAndUnloadTest.train(net, lora, 4, 31);
            lora.save(dir.resolve("adapter"));
            float[] x = LoraTest.randomInput(9, 4, 5);
            Map<String, Tensor> outputs = new LinkedHashMap<>();
            outputs.put("lora", Tensor.of(backend, MergeAndUnloadTest.outputs(net, x, 9, 4), 9, 4));
            Module merged = lora.mergeAndUnload();
            outputs.put("merged", Tensor.of(backend, MergeAndUnloadTest.outputs(merged, x, 9, 4), 9, 4));
            Safetensors.write(dir.resolve("inputs.safetensors"), Map.of("x", Tensor.of(backend, x, 9, 4)), Map.of());
            Safetensors.write(dir.resolve("outputs.safetensors"), outputs, Map.of());
            Safetensors.write(dir.resolve("merged.safetensors"), merged.stateDict(), Map.of());
        }
        String out = runCheck(python, dir, "nested");
        System.out.println("PEFT nested merge check (rsLoRA " + rsLora + "): " + out.strip());
        assertTrue(out.strip().lines().reduce((a, b) -> b).orElse("").startsWith("ok: PEFT "), out);
    }

    /** Runs {@code peft_nested_merge.py dir model} with {@code python}, offline; its output, after checking it exited 0. */
    static String runCheck(String python, Path dir, String model) throws Exception {
        Path script = Path.of(System.getProperty("user.dir"), "src", "test", "python", "peft_nested_merge.py");
        ProcessBuilder pb = new ProcessBuilder(python, script.toString(), dir.toString(), model).redirectErrorStream(true);
        pb.environment().put("HF_HUB_OFFLINE", "1");
        pb.environment().put("TRANSFORMERS_OFFLINE", "1");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the PEFT check did not finish: " + out);
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
