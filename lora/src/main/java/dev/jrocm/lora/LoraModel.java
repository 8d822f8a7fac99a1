package dev.jrocm.lora;

import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model with LoRA layers: switch them on and off, merge them into the base weights, freeze the
 * rest, count parameters. Returned by {@link Lora#apply}.
 */
public final class LoraModel {
    private final Module model;
    private final LoraConfig config;
    private final Map<String, LoraLinear> layers;

    LoraModel(Module model, LoraConfig config, Map<String, LoraLinear> layers) {
        this.model = model;
        this.config = config;
        this.layers = Collections.unmodifiableMap(layers);
    }

    public Module model() { return model; }

    public LoraConfig config() { return config; }

    /** The LoRA layers by their path in the model ({@code fc1}, or {@code block.fc1}). */
    public Map<String, LoraLinear> layers() { return layers; }

    /** Every layer's low-rank path on. */
    public void enable() { layers.values().forEach(LoraLinear::enable); }

    /** Every layer's low-rank path off: the model computes exactly what the base model does. */
    public void disable() { layers.values().forEach(LoraLinear::disable); }

    /** Folds s·B·A into every base weight. */
    public void merge() { layers.values().forEach(LoraLinear::merge); }

    /** Takes s·B·A out of every base weight again. */
    public void unmerge() { layers.values().forEach(LoraLinear::unmerge); }

    /** The A and B factors of every layer, in layer order: what the optimizer should get. */
    public List<Tensor> adapterParameters() {
        List<Tensor> params = new ArrayList<>();
        for (LoraLinear layer : layers.values()) {
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
        PeftAdapter.save(this, dir);
    }

    /** Total, LoRA and trainable parameter counts. */
    public ParameterReport report() {
        long lora = adapterParameters().stream().mapToLong(Tensor::size).sum();
        return new ParameterReport(model.parameterCount(), lora, model.trainableParameterCount());
    }
}
