package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

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
     *
     * <p>All or nothing: every target is checked first ({@link #validate}); if any is wrong — a
     * target that names no Linear of the model, a rank over a layer's min(in, out), a layer that
     * already has an adapter — it is an {@link IllegalArgumentException} listing every problem,
     * and the model is not changed at all.
     */
    public static LoraModel apply(Module model, LoraConfig config, long seed) {
        return apply(model, config, seed, (path, layer) -> {});
    }

    /**
     * The problems that would make {@link #apply} refuse {@code config} on {@code model}, each
     * naming the target or layer (empty when it would succeed). Changes nothing.
     */
    public static List<String> validate(Module model, LoraConfig config) {
        Map<String, Target> found = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        collect(model, "", found, problems);
        List<String> missing = new ArrayList<>();
        for (String target : config.targets()) {
            if (found.keySet().stream().noneMatch(path -> LoraConfig.matches(path, target))) {
                missing.add(target);
            }
        }
        if (!missing.isEmpty()) {
            problems.add("LoRA target" + (missing.size() > 1 ? "s " : " ") + missing + " name no Linear layer of "
                    + model.getClass().getSimpleName() + " (its Linear layers: " + found.keySet() + ")");
        }
        found.forEach((path, t) -> {
            int in = t.linear().inFeatures(), out = t.linear().outFeatures();
            if (config.targets(path) && config.rank() > Math.min(in, out)) {
                problems.add("LoRA rank " + config.rank() + " exceeds min(in, out) = " + Math.min(in, out)
                        + " of layer " + path + ", " + t.linear());
            }
        });
        if (problems.isEmpty() && found.keySet().stream().noneMatch(config::targets)) {
            problems.add(model.getClass().getSimpleName() + " has no Linear layer to adapt");
        }
        return problems;
    }

    /**
     * {@link #apply(Module, LoraConfig, long)}, calling {@code fill} on each new layer (by path)
     * before any is put into the model: if {@code fill} throws, the model is left as it was.
     */
    static LoraModel apply(Module model, LoraConfig config, long seed, BiConsumer<String, LoraLinear> fill) {
        List<String> problems = validate(model, config);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        Map<String, Target> found = new LinkedHashMap<>();
        collect(model, "", found, new ArrayList<>());
        found.keySet().removeIf(path -> !config.targets(path));
        Map<String, LoraLinear> layers = build(found, config, seed, fill);
        found.forEach((path, t) -> t.parent().replaceModule(leaf(path), layers.get(path)));
        return new LoraModel(model, config, layers);
    }

    /** A Linear layer of the model and the module that holds it. */
    private record Target(Linear linear, Module parent) {}

    // Makes every LoRA layer, or none: on a failure the new factors are freed and the base weights'
    // requires-grad flags (which a LoraLinear clears) are put back.
    private static Map<String, LoraLinear> build(Map<String, Target> targets, LoraConfig config, long seed,
                                                 BiConsumer<String, LoraLinear> fill) {
        Map<String, LoraLinear> layers = new LinkedHashMap<>();
        Map<Tensor, Boolean> flags = new IdentityHashMap<>();
        targets.values().forEach(t -> t.linear().parameters().forEach(p -> flags.put(p, p.requiresGrad())));
        try {
            long layerSeed = seed;
            for (Map.Entry<String, Target> e : targets.entrySet()) {
                Linear base = e.getValue().linear();
                LoraLinear layer = new LoraLinear(base, config, layerSeed);
                layers.put(e.getKey(), layer);
                if (!base.isTraining()) {
                    layer.eval(); // a model already in eval mode stays there: no LoRA dropout at inference
                }
                layerSeed += 0x9E3779B9L;
            }
            layers.forEach(fill);
            return layers;
        } catch (RuntimeException | Error e) {
            layers.values().forEach(l -> {
                l.loraA().close();
                l.loraB().close();
            });
            flags.forEach(Tensor::requiresGrad);
            throw e;
        }
    }

    private static void collect(Module module, String prefix, Map<String, Target> found, List<String> problems) {
        for (Map.Entry<String, Module> child : module.children().entrySet()) {
            String path = prefix + child.getKey();
            if (child.getValue() instanceof LoraLinear) {
                problems.add("layer " + path + " already has a LoRA adapter");
            } else if (child.getValue() instanceof Linear linear) {
                found.put(path, new Target(linear, module));
            } else {
                collect(child.getValue(), path + ".", found, problems);
            }
        }
    }

    private static String leaf(String path) {
        return path.substring(path.lastIndexOf('.') + 1);
    }
}
