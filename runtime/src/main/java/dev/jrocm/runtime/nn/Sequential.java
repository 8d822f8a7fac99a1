package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.stream.Collectors;

/** Named modules applied in order; names become state-dict prefixes ({@code fc1.weight}). */
public final class Sequential extends Module {

    /** Children as alternating names and modules: {@code new Sequential("fc1", linear, "relu1", new ReLU(), …)}. */
    public Sequential(Object... namesAndModules) {
        if (namesAndModules.length % 2 != 0) {
            throw new IllegalArgumentException("Sequential takes name, module pairs; got " + namesAndModules.length + " arguments");
        }
        for (int i = 0; i < namesAndModules.length; i += 2) {
            if (!(namesAndModules[i] instanceof String name) || !(namesAndModules[i + 1] instanceof Module module)) {
                throw new IllegalArgumentException("Sequential argument " + i + ": expected a name then a module, got "
                        + namesAndModules[i] + ", " + namesAndModules[i + 1]);
            }
            registerModule(name, module);
        }
    }

    /** Appends a module under {@code name}; returns this. */
    public Sequential add(String name, Module module) {
        registerModule(name, module);
        return this;
    }


    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Module m : children().values()) {
            h = m.forward(h);
        }
        return h;
    }

    @Override
    public String toString() {
        return children().entrySet().stream().map(e -> "  (" + e.getKey() + "): " + e.getValue())
                .collect(Collectors.joining("\n", "Sequential(\n", "\n)"));
    }
}
