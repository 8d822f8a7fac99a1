package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.tensor.DType;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Updates parameters from their gradients. Only parameters that require grad and have a
 * gradient are touched; state (moments, momentum) is created for a parameter at its first
 * update, so a frozen parameter never has any. Closing frees the state.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final List<Tensor> parameters;
    protected final Map<Tensor, Tensor[]> state = new IdentityHashMap<>();
    private final AtomicReference<Thread> stepping = new AtomicReference<>();

    private float lr = Float.NaN; // NaN: this optimizer has no learning rate
    private double initialLr = Double.NaN; // the lr when the first scheduler was attached (PyTorch's initial_lr)

    /** An optimizer without a learning rate: {@link #lr()} and {@link #setLr} throw. */
    protected Optimizer(List<Tensor> parameters) {
        if (parameters.isEmpty()) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " got no parameters to optimise");
        }
        this.parameters = List.copyOf(parameters);
    }

    /** An optimizer whose learning rate {@code lr} (≥ 0, finite) can be changed with {@link #setLr}. */
    protected Optimizer(List<Tensor> parameters, float lr) {
        this(parameters);
        this.lr = check("lr", lr, 0f, Float.POSITIVE_INFINITY);
    }

    /**
     * The learning rate the next {@link #step()} uses: the constructor's, or the last one
     * {@link #setLr} (or a scheduler) set. Throws {@link UnsupportedOperationException} for an
     * optimizer that has none.
     */
    public double lr() {
        requireLr("lr()");
        return lr;
    }

    /**
     * Sets the learning rate of every later {@link #step()} (PyTorch: {@code group["lr"] = lr} for
     * every param group). The steps compute in float32, so the rate is rounded to a float; it must
     * be ≥ 0 and finite as a float, else {@link IllegalArgumentException} (with the constructors'
     * message) and nothing changes.
     */
    public void setLr(double lr) {
        requireLr("setLr");
        float f = (float) lr;
        if (!(f >= 0f && f < Float.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ".setLr: lr must be in [0.0, Infinity), got "
                    + lr + (lr >= 0 && lr < Double.POSITIVE_INFINITY ? " (more than float32 holds)" : ""));
        }
        this.lr = f;
    }

    /**
     * The learning rate schedulers start from (PyTorch's {@code initial_lr}): the lr at the time
     * the first scheduler asked for it, the same for every later one.
     */
    double initialLr() {
        if (Double.isNaN(initialLr)) {
            initialLr = lr();
        }
        return initialLr;
    }

    private void requireLr(String what) {
        if (Float.isNaN(lr)) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " has no learning rate (" + what + ")");
        }
    }

    /**
     * One update of every parameter that requires grad and has a gradient. An optimizer (like
     * its model) belongs to one thread at a time: a step begun while another thread's step is
     * running throws {@link IllegalStateException} instead of mixing the two updates.
     */
    public final void step() {
        Thread self = Thread.currentThread();
        Thread other = stepping.compareAndExchange(null, self);
        if (other != null) {
            throw new IllegalStateException(getClass().getSimpleName() + ".step() called on thread '" + self.getName()
                    + "' while thread '" + other.getName() + "' is stepping it: a model and its optimizer"
                    + " are used by one thread at a time");
        }
        try {
            update();
        } finally {
            stepping.set(null);
        }
    }

    /** The update of {@link #step()}: each optimizer's rule. */
    protected abstract void update();

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

    // ---- gradient clipping ----------------------------------------------------------------------

    /**
     * {@link #clipGradNorm(Collection, double, boolean)} that throws when the norm is not finite.
     */
    public static double clipGradNorm(Collection<Tensor> parameters, double maxNorm) {
        return clipGradNorm(parameters, maxNorm, true);
    }

    /**
     * PyTorch's {@code torch.nn.utils.clip_grad_norm_(parameters, maxNorm)} (L2): the norm of all
     * the gradients together, {@code ‖g‖ = √(Σ over every parameter's gradient of Σ g²)}, and when
     * {@code c = maxNorm / (‖g‖ + 1e-6)} is below 1 every gradient is multiplied by c in place
     * (PyTorch multiplies by min(c, 1), so a norm just under maxNorm is scaled by a hair, as
     * there). Returns ‖g‖ before clipping; 0 when no parameter has a gradient.
     *
     * <p>Parameters without a gradient are skipped; a tensor listed twice counts once (PyTorch
     * would count it twice). A gradient held as factors ({@link dev.jrocm.runtime.autograd.Gradient.Factored},
     * a linear layer's dy and x) is formed in a temporary for the norm and stays factored: clipping
     * scales dy by c, which scales dyᵀ·x by c, so a fused Adam step still reads the factors.
     * The squares are summed on each parameter's device ({@code Backend.sumOfSquares}, in double,
     * rounded to float per parameter) and read back once per device; the total is summed in double.
     * A gradient whose own norm exceeds float's range (about 1.8e19) counts as infinite.
     *
     * <p>A NaN or infinite norm: when {@code errorIfNonfinite} is true this throws
     * {@link IllegalStateException} saying the gradient norm is not finite and scales nothing
     * (what PyTorch does with {@code error_if_nonfinite=True}); when false it does what PyTorch
     * does by default: scales by c anyway (all NaN for a NaN norm; 0, and NaN where an element is
     * infinite, for an infinite one) and returns the norm.
     *
     * @param maxNorm ≥ 0; {@code Double.POSITIVE_INFINITY} only measures
     * @throws IllegalArgumentException when parameters or one of them is null, or maxNorm is
     *         negative or NaN
     */
    public static double clipGradNorm(Collection<Tensor> parameters, double maxNorm, boolean errorIfNonfinite) {
        return GradClipping.clipGradNorm(parameters, maxNorm, errorIfNonfinite);
    }

    // ---- state export and import (checkpoints) ------------------------------------------------

    /**
     * The names of a parameter's state tensors, in the order {@link #stateOf} returns them
     * (PyTorch's names: Adam's {@code exp_avg}, {@code exp_avg_sq}; SGD's {@code momentum_buffer}).
     * An optimizer that keeps per-parameter state must name it to be checkpointed.
     */
    protected List<String> stateNames() {
        return List.of();
    }

    /** The key of the learning rate in {@link #scalarState()}. */
    public static final String LR = "lr";
    /** The key of the schedulers' base lr (PyTorch's {@code initial_lr}) in {@link #scalarState()}, once a scheduler took it. */
    public static final String INITIAL_LR = "initial_lr";

    /**
     * The optimizer's scalar state as strings: {@value #LR} (the rate the next step uses, when it
     * has one), {@value #INITIAL_LR} (when a scheduler took its base lr), and the optimizer's own
     * ({@link #ownScalarState}: Adam's step count). A checkpoint keeps them, so a resumed run
     * steps at the rate the saved one would have.
     */
    public final Map<String, String> scalarState() {
        Map<String, String> out = new LinkedHashMap<>();
        if (!Float.isNaN(lr)) {
            out.put(LR, Float.toString(lr));
        }
        if (!Double.isNaN(initialLr)) {
            out.put(INITIAL_LR, Double.toString(initialLr));
        }
        out.putAll(ownScalarState());
        return out;
    }

    /** This optimizer's own scalar state (beyond the lr) as strings; empty when it has none. */
    protected Map<String, String> ownScalarState() {
        return Map.of();
    }

    /**
     * Checks and takes over {@code scalars} as saved by {@link #ownScalarState()} (the lr keys
     * removed); throws before changing anything.
     */
    protected void loadScalarState(Map<String, String> scalars) {
        if (!scalars.isEmpty()) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " has no scalar state, got " + scalars.keySet());
        }
    }

    /**
     * The per-parameter state, keyed {@code <parameter name>.<state name>} (e.g.
     * {@code fc1.weight.exp_avg}), the names taken from {@code namedParameters} (a model's
     * {@code namedParameters()}). The live tensors, not copies; parameters without state (frozen,
     * or not yet stepped) have no entries.
     */
    public SequencedMap<String, Tensor> stateDict(Map<String, Tensor> namedParameters) {
        Map<Tensor, String> names = namesOf(namedParameters);
        SequencedMap<String, Tensor> out = new LinkedHashMap<>();
        for (Tensor p : parameters) {
            Tensor[] s = state.get(p);
            if (s == null) {
                continue;
            }
            List<String> stateNames = stateNames();
            if (stateNames.size() != s.length) {
                throw new IllegalStateException(getClass().getSimpleName() + " keeps " + s.length
                        + " state tensors per parameter but names " + stateNames.size() + ": " + stateNames);
            }
            for (int i = 0; i < s.length; i++) {
                out.put(names.get(p) + "." + stateNames.get(i), s[i]);
            }
        }
        return out;
    }

    /**
     * Replaces this optimizer's state with {@code state} (as {@link #stateDict} names it) and
     * {@code scalars} (as {@link #scalarState} gives them): afterwards it steps exactly as the
     * optimizer that saved them would have. A parameter with no entries gets no state. Everything
     * is checked before anything changes; the error lists every key that is missing, unexpected
     * or mis-shaped.
     */
    public void loadStateDict(Map<String, Tensor> namedParameters, Map<String, Tensor> state, Map<String, String> scalars) {
        Map<Tensor, String> names = namesOf(namedParameters);
        List<String> stateNames = stateNames();
        List<String> problems = new ArrayList<>();
        Set<String> expected = new HashSet<>();
        Map<Tensor, Tensor[]> incoming = new IdentityHashMap<>();
        for (Tensor p : parameters) {
            String name = names.get(p);
            List<String> present = new ArrayList<>(), absent = new ArrayList<>();
            Tensor[] given = new Tensor[stateNames.size()];
            for (int i = 0; i < stateNames.size(); i++) {
                String key = name + "." + stateNames.get(i);
                expected.add(key);
                given[i] = state.get(key);
                if (given[i] == null) {
                    absent.add(stateNames.get(i));
                    continue;
                }
                present.add(stateNames.get(i));
                if (given[i].dtype() != DType.F32 || !Arrays.equals(given[i].shape(), p.shape())) {
                    problems.add(key + " is " + given[i].describe() + " but the parameter is " + p.describe());
                }
            }
            if (!present.isEmpty() && !absent.isEmpty()) {
                problems.add(name + " has " + String.join(", ", present) + " but not " + String.join(", ", absent));
            } else if (!present.isEmpty()) {
                incoming.put(p, given);
            }
        }
        state.keySet().stream().filter(k -> !expected.contains(k)).sorted().forEach(k -> problems.add("unexpected " + k));
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("loadStateDict into " + getClass().getSimpleName() + ": "
                    + String.join("; ", problems));
        }
        Map<String, String> ownScalars = new LinkedHashMap<>(scalars);
        float savedLr = savedRate(ownScalars.remove(LR), LR);
        float savedInitialLr = savedRate(ownScalars.remove(INITIAL_LR), INITIAL_LR);
        loadScalarState(ownScalars);
        if (!Float.isNaN(savedLr)) {
            lr = savedLr;
        }
        if (!Float.isNaN(savedInitialLr)) {
            initialLr = savedInitialLr;
        }
        for (Tensor p : parameters) {
            Tensor[] given = incoming.get(p);
            Tensor[] own = this.state.get(p);
            if (given == null) {
                if (own != null) {
                    this.state.remove(p);
                    for (Tensor t : own) {
                        t.close();
                    }
                }
                continue;
            }
            if (own == null) {
                own = Scope.detached(() -> {
                    Tensor[] fresh = new Tensor[given.length];
                    for (int i = 0; i < fresh.length; i++) {
                        fresh[i] = Tensor.empty(p.backend(), p.shape());
                    }
                    return fresh;
                });
                this.state.put(p, own);
            }
            for (int i = 0; i < given.length; i++) {
                own[i].copyFrom(given[i]);
            }
        }
    }

    /** A saved lr (NaN when absent: a checkpoint from before lrs were saved keeps this optimizer's). */
    private float savedRate(String text, String key) {
        if (text == null) {
            return Float.NaN;
        }
        String self = "loadStateDict into " + getClass().getSimpleName() + ": ";
        if (Float.isNaN(lr)) {
            throw new IllegalArgumentException(self + "the state has " + key + " " + text + " but this optimizer has no learning rate");
        }
        float f;
        try {
            f = Float.parseFloat(text);
        } catch (NumberFormatException e) {
            f = Float.NaN;
        }
        if (!(f >= 0f && f < Float.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException(self + key + " must be a number >= 0 and finite, got '" + text + "'");
        }
        return f;
    }

    private Map<Tensor, String> namesOf(Map<String, Tensor> namedParameters) {
        Map<Tensor, String> names = new IdentityHashMap<>();
        namedParameters.forEach((name, t) -> names.put(t, name));
        for (int i = 0; i < parameters.size(); i++) {
            if (!names.containsKey(parameters.get(i))) {
                throw new IllegalArgumentException(getClass().getSimpleName() + " parameter " + i + " ("
                        + parameters.get(i).describe() + ") has no name among the named parameters given");
            }
        }
        return names;
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
