package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;

/**
 * A layer or a model: named parameters, named buffers (state that is no parameter, such as batch
 * norm's running statistics), named children, a train/eval mode, and a state dict keyed like
 * PyTorch's ({@code fc1.weight}, {@code bn.running_mean}). Closing a module frees its parameters,
 * buffers and children.
 */
public abstract class Module implements AutoCloseable {
    private final SequencedMap<String, Tensor> parameters = new LinkedHashMap<>();
    private final SequencedMap<String, Tensor> buffers = new LinkedHashMap<>();
    private final SequencedMap<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Computes the module's output; ops record a graph unless under {@code Autograd.noGrad()}. */
    public abstract Tensor forward(Tensor input);

    /** Registers a parameter (it is made to require grad) under {@code name}; returns it. */
    protected final Tensor registerParameter(String name, Tensor parameter) {
        checkName(name);
        parameter.requiresGrad(true);
        parameters.put(name, parameter);
        return parameter;
    }

    /**
     * Registers a buffer under {@code name}, as PyTorch's {@code register_buffer}: saved and loaded
     * with the parameters ({@link #stateDict}), never a parameter (no optimizer sees it, it gets no
     * gradient); returns it.
     */
    protected final Tensor registerBuffer(String name, Tensor buffer) {
        checkName(name);
        buffers.put(name, buffer);
        return buffer;
    }

    /** Registers a child module under {@code name}; returns it. */
    protected final <M extends Module> M registerModule(String name, M module) {
        checkName(name);
        children.put(name, module);
        return module;
    }

    /**
     * The child registered as {@code name} now: a forward that calls its children through this
     * (not through a field kept from {@link #registerModule}) runs whatever {@link #replaceModule}
     * put there, e.g. a LoRA layer, as PyTorch's attribute lookup does.
     */
    protected final Module child(String name) {
        Module m = children.get(name);
        if (m == null) {
            throw new IllegalArgumentException("no child module '" + name + "' in " + getClass().getSimpleName()
                    + " (children: " + children.keySet() + ")");
        }
        return m;
    }

    /**
     * Replaces the child registered as {@code name} (as LoRA does); returns the old one. The
     * parent's forward sees the new child only if it calls it through {@link #child(String)} or
     * {@link #children()}: a Java field still holds the old one.
     */
    public final Module replaceModule(String name, Module module) {
        if (!children.containsKey(name)) {
            throw new IllegalArgumentException("no child module '" + name + "' in " + getClass().getSimpleName()
                    + " (children: " + children.keySet() + ")");
        }
        return children.put(name, module);
    }

    private void checkName(String name) {
        if (name == null || name.isEmpty() || name.contains(".")) {
            throw new IllegalArgumentException("module and parameter names must be non-empty and dot-free: '" + name + "'");
        }
        if (parameters.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("'" + name + "' is already registered in " + getClass().getSimpleName());
        }
    }

    /** The direct children, in registration order. */
    public final Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** Every parameter of this module and its descendants, by dotted name, in registration order. */
    public final SequencedMap<String, Tensor> namedParameters() {
        SequencedMap<String, Tensor> all = new LinkedHashMap<>();
        collect("", all);
        return all;
    }

    private void collect(String prefix, Map<String, Tensor> into) {
        parameters.forEach((name, p) -> into.put(prefix + name, p));
        children.forEach((name, child) -> child.collect(prefix + name + ".", into));
    }

    /** Every buffer of this module and its descendants, by dotted name, in registration order. */
    public final SequencedMap<String, Tensor> namedBuffers() {
        SequencedMap<String, Tensor> all = new LinkedHashMap<>();
        collectState("", false, all);
        return all;
    }

    /** Each module's parameters (and, with {@code withBuffers}, then its buffers) before its children's: PyTorch's order. */
    private void collectState(String prefix, boolean withParameters, Map<String, Tensor> into) {
        if (withParameters) {
            parameters.forEach((name, p) -> into.put(prefix + name, p));
        }
        buffers.forEach((name, b) -> into.put(prefix + name, b));
        children.forEach((name, child) -> child.collectState(prefix + name + ".", withParameters, into));
    }

    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** The parameters that require grad: what an optimizer should get. */
    public final List<Tensor> trainableParameters() {
        return parameters().stream().filter(Tensor::requiresGrad).toList();
    }

    /** Total number of parameter elements. */
    public final long parameterCount() {
        return parameters().stream().mapToLong(Tensor::size).sum();
    }

    /** Number of parameter elements that require grad. */
    public final long trainableParameterCount() {
        return trainableParameters().stream().mapToLong(Tensor::size).sum();
    }

    /** Drops every parameter's gradient. */
    public final void zeroGrad() {
        parameters().forEach(Tensor::zeroGrad);
    }

    /** Training mode (the default) for this module and its descendants; returns this. */
    public Module train() {
        return setTraining(true);
    }

    /** Evaluation mode for this module and its descendants; returns this. */
    public Module eval() {
        return setTraining(false);
    }

    private Module setTraining(boolean on) {
        training = on;
        children.values().forEach(c -> c.setTraining(on));
        return this;
    }

    public final boolean isTraining() { return training; }

    /**
     * The parameters and buffers by dotted name, in PyTorch's order (each module's parameters, then
     * its buffers, then its children's): the live tensors, not copies (write them with
     * {@link #loadStateDict}).
     */
    public final SequencedMap<String, Tensor> stateDict() {
        SequencedMap<String, Tensor> all = new LinkedHashMap<>();
        collectState("", true, all);
        return all;
    }

    /**
     * Copies {@code state} into the parameters and buffers. Every one must be present with its shape,
     * and nothing else may be: the error lists what is missing, unexpected or mis-shaped.
     * {@code loadStateDict(state, true)}.
     */
    public final void loadStateDict(Map<String, Tensor> state) {
        loadStateDict(state, true);
    }

    /** The keys {@link #loadStateDict(Map, boolean)} did not match, as PyTorch's {@code _IncompatibleKeys}. */
    public record IncompatibleKeys(List<String> missingKeys, List<String> unexpectedKeys) {
        public IncompatibleKeys {
            missingKeys = List.copyOf(missingKeys);
            unexpectedKeys = List.copyOf(unexpectedKeys);
        }
    }

    /**
     * Copies {@code state} into the parameters and buffers whose keys it holds, as PyTorch's
     * {@code load_state_dict(state, strict)}. With {@code strict} a missing or unexpected key is an
     * error; without it those keys are returned and the rest loads. A key present on both sides
     * with another shape or dtype is an error either way. All or nothing: after an error no
     * parameter has changed.
     */
    public final IncompatibleKeys loadStateDict(Map<String, Tensor> state, boolean strict) {
        SequencedMap<String, Tensor> own = stateDict();
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), problems = new ArrayList<>();
        for (Map.Entry<String, Tensor> entry : own.entrySet()) {
            Tensor given = state.get(entry.getKey());
            Tensor mine = entry.getValue();
            if (given == null) {
                missing.add(entry.getKey());
                if (strict) {
                    problems.add("missing " + entry.getKey());
                }
            } else if (!Arrays.equals(given.shape(), mine.shape())) {
                problems.add(entry.getKey() + " is " + given.shapeString() + " in the state dict but "
                        + mine.shapeString() + " in the model");
            } else if (given.dtype() != mine.dtype()) {
                problems.add(entry.getKey() + " is " + given.dtype() + " in the state dict but " + mine.dtype() + " in the model");
            }
        }
        for (String key : state.keySet()) {
            if (!own.containsKey(key)) {
                unexpected.add(key);
                if (strict) {
                    problems.add("unexpected " + key);
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("loadStateDict into " + getClass().getSimpleName() + ": "
                    + String.join("; ", problems));
        }
        own.forEach((key, p) -> {
            Tensor given = state.get(key);
            if (given != null) {
                p.copyFrom(given);
            }
        });
        stateLoaded();
        return new IncompatibleKeys(missing, unexpected);
    }

    /** Tells this module and its descendants that {@link #loadStateDict} wrote their state. */
    private void stateLoaded() {
        loaded();
        children.values().forEach(Module::stateLoaded);
    }

    /**
     * Called after {@link #loadStateDict} wrote this module's parameters and buffers: a module that
     * mirrors some of its state on the host reads it back here. Does nothing by default.
     */
    protected void loaded() {}

    @Override
    public void close() {
        parameters.values().forEach(Tensor::close);
        buffers.values().forEach(Tensor::close);
        children.values().forEach(Module::close);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName();
    }
}
