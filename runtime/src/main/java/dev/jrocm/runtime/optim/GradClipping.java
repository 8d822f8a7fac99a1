package dev.jrocm.runtime.optim;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.autograd.Gradient;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@link Optimizer#clipGradNorm}: the norm on each parameter's device, one read-back per device. */
final class GradClipping {
    /** PyTorch's clip_grad_norm_ divides by norm + 1e-6. */
    static final double EPS = 1e-6;

    private GradClipping() {}

    static double clipGradNorm(Collection<Tensor> parameters, double maxNorm, boolean errorIfNonfinite) {
        if (parameters == null) {
            throw new IllegalArgumentException("clipGradNorm: parameters is null");
        }
        if (!(maxNorm >= 0)) {
            throw new IllegalArgumentException("clipGradNorm: maxNorm must be ≥ 0 (or infinite, to only measure), got "
                    + maxNorm);
        }
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<Backend, List<Tensor>> byBackend = new LinkedHashMap<>(); // backends compare by identity
        int index = 0;
        for (Tensor p : parameters) {
            if (p == null) {
                throw new IllegalArgumentException("clipGradNorm: parameter " + index + " is null");
            }
            if (p.hasGrad() && seen.add(p)) {
                byBackend.computeIfAbsent(p.backend(), k -> new ArrayList<>()).add(p);
            }
            index++;
        }
        double sumOfSquares = 0;
        for (Map.Entry<Backend, List<Tensor>> group : byBackend.entrySet()) {
            for (float s : squaredNorms(group.getKey(), group.getValue())) {
                sumOfSquares += s;
            }
        }
        double total = Math.sqrt(sumOfSquares);
        if (!Double.isFinite(total) && errorIfNonfinite) {
            throw new IllegalStateException("clipGradNorm: the total norm of the gradients of " + seen.size()
                    + " parameters is not finite (" + total + "); nothing was scaled. Pass errorIfNonfinite = false"
                    + " to scale by maxNorm / norm anyway, as PyTorch does by default");
        }
        double coef = maxNorm / (total + EPS);
        if (!(coef >= 1)) { // NaN too: PyTorch multiplies by clamp(coef, max=1) whatever it is
            for (List<Tensor> group : byBackend.values()) {
                group.forEach(p -> scale(p, (float) coef));
            }
        }
        return total;
    }

    /** ‖g‖² of each parameter's gradient, summed on {@code be}, read back at once. */
    private static float[] squaredNorms(Backend be, List<Tensor> parameters) {
        Buffer sums = be.allocate((long) parameters.size() * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < parameters.size(); i++) {
                squaredNorm(be, parameters.get(i), sums.slice(i, 1));
            }
            MemorySegment host = arena.allocate(sums.byteSize(), Float.BYTES);
            be.copyToHost(sums, host);
            return host.toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            be.release(sums);
        }
    }

    /**
     * A gradient held as factors is formed in a temporary (its squares need every element; the
     * parameter keeps the factors, so a fused optimizer step still reads them).
     */
    private static void squaredNorm(Backend be, Tensor p, Buffer out) {
        switch (p.gradient()) {
            case Gradient.Dense(Tensor g) -> be.sumOfSquares(g.buffer().slice(0, g.size()), out);
            case Gradient.Factored f -> {
                try (Tensor g = Scope.detached(() -> Tensor.empty(be, p.shape()))) {
                    f.formInto(g, false);
                    be.sumOfSquares(g.buffer(), out);
                }
            }
        }
    }

    /** Σ (c·dy)ᵀ·x = c·Σ dyᵀ·x: scaling each dy scales a factored gradient. */
    private static void scale(Tensor p, float coef) {
        Tensor scaled = switch (p.gradient()) {
            case Gradient.Dense(Tensor g) -> g;
            case Gradient.Factored(Tensor dy, Tensor x) -> dy;
        };
        p.backend().scale(scaled.buffer().slice(0, scaled.size()), coef);
    }
}
