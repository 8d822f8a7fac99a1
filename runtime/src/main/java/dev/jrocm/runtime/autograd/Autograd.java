package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;
import dev.jrocm.runtime.tensor.internal.Internals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/** Reverse-mode differentiation: the {@link #noGrad} switch and {@link #backward}. */
public final class Autograd {
    private static final ThreadLocal<int[]> DISABLED = ThreadLocal.withInitial(() -> new int[1]);
    private static final ThreadLocal<Tensor> SEED = new ThreadLocal<>();

    private Autograd() {}

    /** Closing it restores gradient recording. */
    public interface NoGrad extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Within the returned scope ops record no graph (evaluation): {@code try (var ng = Autograd.noGrad()) {…}}.
     */
    public static NoGrad noGrad() {
        int[] depth = DISABLED.get();
        depth[0]++;
        boolean[] closed = {false};
        return () -> {
            if (!closed[0]) {
                closed[0] = true;
                depth[0]--;
            }
        };
    }

    /** Whether ops on this thread record the graph now. */
    public static boolean isEnabled() {
        return DISABLED.get()[0] == 0;
    }

    /** Whether an op over {@code inputs} must record itself: recording is on and an input needs a gradient. */
    public static boolean records(Tensor... inputs) {
        if (!isEnabled()) {
            return false;
        }
        for (Tensor t : inputs) {
            if (t != null && t.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Records that {@code node} produced {@code output}, which then requires grad: how an op
     * (jrocm's, or one of your own, as PyTorch's {@code autograd.Function}) joins the graph. Call
     * it after computing the output and only when {@link #records} says so; the node's rule runs
     * once, in {@link #backward}, with the output's gradient.
     *
     * @throws IllegalArgumentException when output or node is null, output is not a float tensor,
     *     or output already has a node (a tensor is produced once)
     */
    public static void record(Tensor output, Node node) {
        if (output == null || node == null) {
            throw new IllegalArgumentException("Autograd.record: output and node must not be null");
        }
        if (output.dtype() != dev.jrocm.runtime.tensor.DType.F32) {
            throw new IllegalArgumentException("Autograd.record: only float tensors carry gradients, not "
                    + output.describe() + " (op '" + node.op() + "')");
        }
        if (output.node() != null) {
            throw new IllegalArgumentException("Autograd.record: " + output.describe() + " was already produced by '"
                    + output.node().op() + "', so op '" + node.op() + "' cannot claim it");
        }
        Internals.slots().setNode(output, node);
    }

    /** True when {@code grad} is the implicit d(loss)/d(loss) = 1 that started this backward pass. */
    static boolean isSeedOfOne(Tensor grad) {
        return SEED.get() == grad;
    }

    /**
     * Back-propagates from a one-element {@code root}: every node reachable from it runs its rule
     * once, after all the nodes that use its output; leaves that require grad accumulate into
     * {@link Tensor#grad()}. Gradients of intermediate tensors are released as soon as their
     * node has run.
     */
    public static void backward(Tensor root) {
        if (root.size() != 1) {
            throw new IllegalArgumentException("backward() starts from a one-element tensor, not " + root.shapeString());
        }
        if (!root.requiresGrad()) {
            throw new IllegalStateException("backward(): " + root.describe() + " does not require grad (no graph was recorded)");
        }
        if (root.node() == null) { // a leaf: d root / d root = 1
            try (Tensor one = Tensor.full(root.backend(), 1f, root.shape())) {
                Grads.accumulate(root, one, false);
            }
            return;
        }
        List<Tensor> order = topologicalOrder(root);
        for (Tensor t : order) {
            if (t.node().isFreed()) {
                throw new IllegalStateException("backward(): the graph of " + root.describe() + " (at op '" + t.node().op()
                        + "') was freed by a previous backward(), which releases what each op saved for its gradient;"
                        + " run the forward pass again to build a new graph");
            }
        }
        Tensor seed = Tensor.full(root.backend(), 1f, root.shape());
        SEED.set(seed);
        try {
            Grads.accumulate(root, seed, true);
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Node node = t.node();
                Tensor g = t.grad();
                if (g == null) {
                    continue; // nothing flowed here (e.g. a branch not on the loss's path)
                }
                if (node.rule() == null) {
                    throw new IllegalStateException("no gradient rule for op '" + node.op() + "' (input of "
                            + root.describe() + "'s graph); compute it under Autograd.noGrad() or detach its inputs");
                }
                node.rule().backward(g);
                node.free();
                if (g != seed) {
                    t.zeroGrad(); // an intermediate gradient is spent once its node has run
                } else {
                    Internals.slots().setGradient(t, null); // the seed is closed below
                }
            }
        } finally {
            SEED.remove();
            seed.close();
        }
    }

    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        // Iterative post-order DFS: deep graphs must not overflow the stack.
        List<Object[]> stack = new ArrayList<>();
        stack.add(new Object[] {root, 0});
        seen.add(root);
        while (!stack.isEmpty()) {
            Object[] top = stack.getLast();
            Tensor t = (Tensor) top[0];
            int next = (Integer) top[1];
            List<Tensor> inputs = t.node().inputs();
            if (next < inputs.size()) {
                top[1] = next + 1;
                Tensor in = inputs.get(next);
                if (in != null && in.node() != null && seen.add(in)) {
                    stack.add(new Object[] {in, 0});
                }
            } else {
                stack.removeLast();
                order.add(t);
            }
        }
        return order;
    }


}
