package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Updates parameters from their gradients. Only parameters that require grad and have a
 * gradient are touched; state (moments, momentum) is created for a parameter at its first
 * update, so a frozen parameter never has any. Closing frees the state.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final List<Tensor> parameters;
    protected final Map<Tensor, Tensor[]> state = new IdentityHashMap<>();

    protected Optimizer(List<Tensor> parameters) {
        if (parameters.isEmpty()) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " got no parameters to optimise");
        }
        this.parameters = List.copyOf(parameters);
    }

    /** One update of every parameter that requires grad and has a gradient. */
    public abstract void step();

    /** Drops every parameter's gradient. */
    public void zeroGrad() {
        parameters.forEach(Tensor::zeroGrad);
    }

    /** Number of parameters that have optimizer state (for tests: frozen ones never do). */
    public int stateCount() {
        return state.size();
    }

    /** The state tensors of {@code parameter} (e.g. Adam's m and v), or null if it has none. */
    public Tensor[] stateOf(Tensor parameter) {
        Tensor[] s = state.get(parameter);
        return s == null ? null : s.clone();
    }

    protected static float check(String name, float value, float min, float maxExclusive) {
        if (!(value >= min && value < maxExclusive)) {
            throw new IllegalArgumentException(name + " must be in [" + min + ", " + maxExclusive + "), got " + value);
        }
        return value;
    }

    @Override
    public void close() {
        state.values().forEach(s -> {
            for (Tensor t : s) {
                t.close();
            }
        });
        state.clear();
    }
}
