package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model with LoRA layers: switch them on and off, merge them into the base weights, freeze the
 * rest, count parameters, or take them out again ({@link #mergeAndUnload()},
 * {@link #unloadWithoutMerge()}). Returned by {@link Lora#apply}.
 */
public final class LoraModel {
    private final Module model;
    private final LoraConfig config;
    private final Map<String, LoraLayer> layers;
    private String spent; // why this wrapper can no longer be used (its layers were unloaded), null while it can

    LoraModel(Module model, LoraConfig config, Map<String, LoraLayer> layers) {
        this.model = model;
        this.config = config;
        this.layers = Collections.unmodifiableMap(layers);
    }

    public Module model() { return model; }

    public LoraConfig config() { return config; }

    /**
     * The LoRA layers by their path in the model ({@code fc1}, or {@code block.fc1}): a
     * {@link LoraLinear} for each adapted Linear, a {@link LoraConv2d} for each adapted Conv2d.
     */
    public Map<String, LoraLayer> layers() {
        checkUsable();
        return layers;
    }

    /** Every layer's low-rank path on. */
    public void enable() { layers().values().forEach(LoraLayer::enable); }

    /** Every layer's low-rank path off: the model computes exactly what the base model does. */
    public void disable() { layers().values().forEach(LoraLayer::disable); }

    /** Folds s·B·A into every base weight. */
    public void merge() { layers().values().forEach(LoraLayer::merge); }

    /** Takes s·B·A out of every base weight again. */
    public void unmerge() { layers().values().forEach(LoraLayer::unmerge); }

    /** The A and B factors of every layer, in layer order: what the optimizer should get. */
    public List<Tensor> adapterParameters() {
        List<Tensor> params = new ArrayList<>();
        for (LoraLayer layer : layers().values()) {
            params.add(layer.loraA());
            params.add(layer.loraB());
        }
        return params;
    }

    /** Freezes every parameter that is not a LoRA factor, as the blog does before fine-tuning. */
    public void freezeBase() {
        Set<Tensor> adapter = Collections.newSetFromMap(new IdentityHashMap<>());
        adapter.addAll(adapterParameters());
        for (Tensor p : model.parameters()) {
            if (!adapter.contains(p)) {
                p.requiresGrad(false);
            }
        }
    }

    /** Saves the adapter (only) in PEFT's layout: see {@link PeftAdapter}. */
    public void save(java.nio.file.Path dir) throws java.io.IOException {
        checkUsable();
        PeftAdapter.save(this, dir);
    }

    /** Total, LoRA and trainable parameter counts. */
    public ParameterReport report() {
        long lora = adapterParameters().stream().mapToLong(Tensor::size).sum();
        return new ParameterReport(model.parameterCount(), lora, model.trainableParameterCount());
    }

    /**
     * PEFT's {@code merge_and_unload()}: folds every adapter into its base weight,
     * W ← W + s·B·A (s = alpha/r, or alpha/√r with rsLoRA; for a Conv2d, B·A viewed as
     * (out, r)·(r, in·kh·kw) reshaped to the kernel, as PEFT's {@code get_delta_weight}; one GEMM on
     * the weight's backend, none for a layer already {@link #merge() merged}), and puts each layer's
     * own base {@code Linear} or {@code Conv2d} back in its parent in place of the LoRA layer, in the
     * LoRA layer's train/eval mode.
     * Returns {@link #model()}, now a plain model: its {@code stateDict()} has the base
     * architecture's keys and shapes, so it loads strictly into a fresh base model.
     *
     * <p>As in PEFT the merge is in place: the base layers and weight tensors are the ones the model
     * had before {@link Lora#apply}, so anything still holding them (a layer, a {@code stateDict()}
     * taken earlier) sees the merged weights, and no second copy of the weights is made. Their
     * requires-grad flags stay as they are (frozen by {@code apply}, as PEFT leaves them); call
     * {@code requiresGrad(true)} on them to train the merged model. The A and B factors are freed.
     *
     * <p>Afterwards this wrapper is spent, as PEFT's is: every method except {@link #model()} and
     * {@link #config()} throws an {@link IllegalStateException} saying it was merged and unloaded,
     * and so do the old LoRA layers. Save the adapter before, if it is wanted.
     *
     * @throws IllegalStateException (and changes nothing) if an adapter is {@link #disable()
     *     disabled} (PEFT would merge it anyway; here it is a choice to make: {@link #enable()} it,
     *     or drop it with {@link #unloadWithoutMerge()}), if two LoRA layers wrap the same layer
     *     (one weight cannot take both updates), if a LoRA layer is no longer where
     *     {@code apply} put it, or if this wrapper is already spent
     */
    public Module mergeAndUnload() {
        checkUsable();
        List<String> disabled = layers.entrySet().stream().filter(e -> !e.getValue().isEnabled()).map(Map.Entry::getKey).toList();
        if (!disabled.isEmpty()) {
            throw new IllegalStateException("mergeAndUnload: the adapter" + (disabled.size() > 1 ? "s of " : " of ") + disabled
                    + (disabled.size() > 1 ? " are" : " is") + " disabled; enable() to merge, or unloadWithoutMerge() to drop the adapters");
        }
        Map<Module, String> wrapped = new IdentityHashMap<>();
        layers.forEach((path, layer) -> {
            String other = wrapped.putIfAbsent(layer.base(), path);
            if (other != null) {
                throw new IllegalStateException("mergeAndUnload: layers " + other + " and " + path
                        + " wrap the same " + layer.base().getClass().getSimpleName()
                        + "; its one weight cannot take both adapters' updates");
            }
        });
        return unload("mergeAndUnload", true);
    }

    /**
     * PEFT's {@code unload()}: puts each layer's own base layer back in its parent without
     * merging (a {@link #merge() merged} layer is unmerged first, so the weights are the base's again
     * to float rounding) and returns {@link #model()}, now the base model. The A and B factors are
     * freed and this wrapper is spent, as after {@link #mergeAndUnload()}.
     *
     * @throws IllegalStateException (and changes nothing) if a LoRA layer is no longer where
     *     {@code apply} put it, or if this wrapper is already spent
     */
    public Module unloadWithoutMerge() {
        checkUsable();
        return unload("unloadWithoutMerge", false);
    }

    private Module unload(String op, boolean merge) {
        Map<String, Module> parents = parents(op);
        for (LoraLayer layer : layers.values()) {
            if (merge && !layer.isMerged()) {
                layer.merge();
            } else if (!merge && layer.isMerged()) {
                layer.unmerge();
            }
        }
        spent = "this LoraModel was " + (merge ? "merged and " : "") + "unloaded by " + op
                + "(): its layers are plain " + kinds() + " layers of the model again";
        layers.forEach((path, layer) -> {
            Module base = layer.base();
            if (layer.isTraining()) {
                base.train();
            } else {
                base.eval();
            }
            parents.get(path).replaceModule(path.substring(path.lastIndexOf('.') + 1), base);
            layer.unload("its LoraModel was " + (merge ? "merged and " : "") + "unloaded by " + op + "()");
        });
        return model;
    }

    // The module holding each LoRA layer, checking that the layer is still where apply put it.
    private Map<String, Module> parents(String op) {
        Map<String, Module> parents = new LinkedHashMap<>();
        layers.forEach((path, layer) -> {
            Module parent = model;
            String[] names = path.split("\\.");
            for (int i = 0; i < names.length - 1 && parent != null; i++) {
                parent = parent.children().get(names[i]);
            }
            Module found = parent == null ? null : parent.children().get(names[names.length - 1]);
            if (found != layer) {
                throw new IllegalStateException(op + ": the LoRA layer " + path + " is no longer in the model (found "
                        + found + " there): was the model changed after Lora.apply?");
            }
            parents.put(path, parent);
        });
        return parents;
    }

    // "Linear", "Conv2d" or "Linear and Conv2d": the kinds of base layer, in a fixed order
    private String kinds() {
        return String.join(" and ", layers.values().stream().map(l -> l.base().getClass().getSimpleName())
                .distinct().sorted(java.util.Comparator.reverseOrder()).toList());
    }

    private void checkUsable() {
        if (spent != null) {
            throw new IllegalStateException(spent);
        }
    }
}
