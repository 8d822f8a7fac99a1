package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Applies LoRA to a model: every targeted {@link Linear} is replaced by a {@link LoraLinear}. */
public final class Lora {
    private Lora() {}

    /** {@link #apply(Module, LoraConfig, long)} with seed 0. */
    public static LoraModel apply(Module model, LoraConfig config) {
        return apply(model, config, 0L);
    }

    /**
     * Replaces the targeted Linear layers (searched at every depth, matched by their own name)
     * with LoRA layers whose A is initialised from {@code seed}, in the training or eval mode of the
     * layer they replace. Their base weights are frozen;
     * other parameters are left as they are ({@link LoraModel#freezeBase()} freezes them too).
     * A target that names no Linear of the model is an {@link IllegalArgumentException} listing
     * the layers there are.
     */
    public static LoraModel apply(Module model, LoraConfig config, long seed) {
        Map<String, Linear> found = new LinkedHashMap<>();
        Map<String, Module> parents = new LinkedHashMap<>();
        collect(model, "", found, parents);
        List<String> missing = new ArrayList<>();
        for (String target : config.targets()) {
            if (found.keySet().stream().noneMatch(path -> leaf(path).equals(target))) {
                missing.add(target);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("LoRA target" + (missing.size() > 1 ? "s " : " ") + missing
                    + " name no Linear layer of " + model.getClass().getSimpleName() + " (its Linear layers: "
                    + found.keySet() + ")");
        }
        Map<String, LoraLinear> layers = new LinkedHashMap<>();
        long layerSeed = seed;
        for (Map.Entry<String, Linear> e : found.entrySet()) {
            String path = e.getKey();
            if (!config.targets(leaf(path))) {
                continue;
            }
            LoraLinear layer = new LoraLinear(e.getValue(), config, layerSeed);
            if (!e.getValue().isTraining()) {
                layer.eval(); // a model already in eval mode stays there: no LoRA dropout at inference
            }
            layerSeed += 0x9E3779B9L;
            parents.get(path).replaceModule(leaf(path), layer);
            layers.put(path, layer);
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException(model.getClass().getSimpleName() + " has no Linear layer to adapt");
        }
        return new LoraModel(model, config, layers);
    }

    private static void collect(Module module, String prefix, Map<String, Linear> found, Map<String, Module> parents) {
        for (Map.Entry<String, Module> child : module.children().entrySet()) {
            String path = prefix + child.getKey();
            if (child.getValue() instanceof LoraLinear) {
                throw new IllegalStateException("layer " + path + " already has a LoRA adapter");
            }
            if (child.getValue() instanceof Linear linear) {
                found.put(path, linear);
                parents.put(path, module);
            } else {
                collect(child.getValue(), path + ".", found, parents);
            }
        }
    }

    private static String leaf(String path) {
        return path.substring(path.lastIndexOf('.') + 1);
    }
}
