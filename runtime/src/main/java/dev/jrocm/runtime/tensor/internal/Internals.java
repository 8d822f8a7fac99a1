package dev.jrocm.runtime.tensor.internal;

import dev.jrocm.runtime.autograd.Gradient;
import dev.jrocm.runtime.autograd.Node;
import dev.jrocm.runtime.tensor.Tensor;

/**
 * How the autograd sets what it owns on a {@link Tensor} — the node that produced it and the form
 * of its gradient — without public mutators on {@code Tensor}. This package is not exported:
 * only the runtime module reaches it. {@code Tensor} installs its {@link Slots} when its class is
 * initialised, which has happened before any tensor exists to be passed here.
 */
public final class Internals {
    /** Tensor's private slots, as the autograd reaches them. */
    public interface Slots {
        /** Records that {@code node} produced {@code t}, which then requires grad. */
        void setNode(Tensor t, Node node);

        /**
         * Sets {@code t}'s gradient to {@code gradient} (null: none) without closing the one it
         * replaces: the caller owns that one's lifetime.
         */
        void setGradient(Tensor t, Gradient gradient);
    }

    private static volatile Slots slots;

    private Internals() {}

    /** Called once, by {@code Tensor}'s static initialiser. */
    public static void install(Slots tensorSlots) {
        if (slots != null) {
            throw new IllegalStateException("Tensor's slots are installed once, by Tensor");
        }
        slots = tensorSlots;
    }

    /** The installed slots (any caller holding a tensor finds them installed). */
    public static Slots slots() {
        Slots s = slots;
        if (s == null) {
            throw new IllegalStateException("Tensor's slots are not installed: no tensor has been created yet");
        }
        return s;
    }
}
