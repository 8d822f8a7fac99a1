package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Conv2d;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Applies LoRA to a model: every targeted {@link Linear} is replaced by a {@link LoraLinear}, every
 * targeted {@link Conv2d} by a {@link LoraConv2d}.
 */
public final class Lora {
    private Lora() {}

    /** {@link #apply(Module, LoraConfig, long)} with seed 0. */
    public static LoraModel apply(Module model, LoraConfig config) {
        return apply(model, config, 0L);
    }

    /**
     * Replaces the targeted Linear and Conv2d layers (searched at every depth, matched by their
     * dotted name as PEFT's {@code target_modules}: equal, or ending in "." + target) with LoRA
     * layers whose A is initialised from {@code seed}, in the training or eval mode of the layer
     * they replace. Their base weights are frozen; other parameters are left as they are
     * ({@link LoraModel#freezeBase()} freezes them too).
     *
     * <p>All or nothing: every target is checked first ({@link #validate}); if any is wrong — a
     * target that names no Linear or Conv2d of the model, one that names a module of another kind
     * (PEFT refuses those too), a rank over a layer's min(in, out) (min(in·kh·kw, out) for a
     * Conv2d), a layer that already has an adapter — it is an {@link IllegalArgumentException}
     * listing every problem, and the model is not changed at all.
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
        Map<String, Module> others = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        collect(model, "", found, others, problems);
        List<String> missing = new ArrayList<>();
        for (String target : config.targets()) {
            List<String> unsupported = others.keySet().stream().filter(path -> LoraConfig.matches(path, target)).toList();
            if (!unsupported.isEmpty()) {
                problems.add("LoRA target " + target + " names " + String.join(", ", unsupported.stream()
                        .map(path -> path + " (" + others.get(path).getClass().getSimpleName() + ")").toList())
                        + ": LoRA adapts only Linear and Conv2d layers");
            } else if (found.keySet().stream().noneMatch(path -> LoraConfig.matches(path, target))) {
                missing.add(target);
            }
        }
        if (!missing.isEmpty()) {
            problems.add("LoRA target" + (missing.size() > 1 ? "s " : " ") + missing + " name no Linear or Conv2d layer of "
                    + model.getClass().getSimpleName() + " (its Linear and Conv2d layers: " + found.keySet() + ")");
        }
        found.forEach((path, t) -> {
            if (config.targets(path) && config.rank() > t.maxRank()) {
                problems.add("LoRA rank " + config.rank() + " exceeds " + (t.layer() instanceof Conv2d ? "min(in·kh·kw, out)"
                        : "min(in, out)") + " = " + t.maxRank() + " of layer " + path + ", " + t.layer());
            }
        });
        if (problems.isEmpty() && found.keySet().stream().noneMatch(config::targets)) {
            problems.add(model.getClass().getSimpleName() + " has no Linear or Conv2d layer to adapt");
        }
        return problems;
    }

    /**
     * {@link #apply(Module, LoraConfig, long)}, calling {@code fill} on each new layer (by path)
     * before any is put into the model: if {@code fill} throws, the model is left as it was.
     */
    static LoraModel apply(Module model, LoraConfig config, long seed, BiConsumer<String, LoraLayer> fill) {
        List<String> problems = validate(model, config);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        Map<String, Target> found = new LinkedHashMap<>();
        collect(model, "", found, new LinkedHashMap<>(), new ArrayList<>());
        found.keySet().removeIf(path -> !config.targets(path));
        Map<String, LoraLayer> layers = build(found, config, seed, fill);
        found.forEach((path, t) -> t.parent().replaceModule(leaf(path), layers.get(path)));
        return new LoraModel(model, config, layers);
    }

    /** A Linear or Conv2d layer of the model and the module that holds it. */
    private record Target(Module layer, Module parent) {
        int maxRank() {
            return layer instanceof Linear l ? Math.min(l.inFeatures(), l.outFeatures()) : LoraConv2d.maxRank((Conv2d) layer);
        }

        LoraLayer adapt(LoraConfig config, long seed) {
            return layer instanceof Linear l ? new LoraLinear(l, config, seed) : new LoraConv2d((Conv2d) layer, config, seed);
        }
    }

    // Makes every LoRA layer, or none: on a failure the new factors are freed and the base weights'
    // requires-grad flags (which a LoRA layer clears) are put back.
    private static Map<String, LoraLayer> build(Map<String, Target> targets, LoraConfig config, long seed,
                                                 BiConsumer<String, LoraLayer> fill) {
        Map<String, LoraLayer> layers = new LinkedHashMap<>();
        Map<Tensor, Boolean> flags = new IdentityHashMap<>();
        targets.values().forEach(t -> t.layer().parameters().forEach(p -> flags.put(p, p.requiresGrad())));
        try {
            long layerSeed = seed;
            for (Map.Entry<String, Target> e : targets.entrySet()) {
                LoraLayer layer = e.getValue().adapt(config, layerSeed);
                layers.put(e.getKey(), layer);
                if (!e.getValue().layer().isTraining()) {
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

    // Linear and Conv2d layers into found; modules a target could name but LoRA cannot adapt into others.
    private static void collect(Module module, String prefix, Map<String, Target> found, Map<String, Module> others,
                                List<String> problems) {
        for (Map.Entry<String, Module> child : module.children().entrySet()) {
            String path = prefix + child.getKey();
            if (child.getValue() instanceof LoraLayer) {
                problems.add("layer " + path + " already has a LoRA adapter");
            } else if (child.getValue() instanceof Linear || child.getValue() instanceof Conv2d) {
                found.put(path, new Target(child.getValue(), module));
            } else {
                others.put(path, child.getValue());
                collect(child.getValue(), path + ".", found, others, problems);
            }
        }
    }

    private static String leaf(String path) {
        return path.substring(path.lastIndexOf('.') + 1);
    }
}
