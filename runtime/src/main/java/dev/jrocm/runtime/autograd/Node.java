package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.List;

/**
 * How a tensor was made: the op, its inputs, and the rule that turns the output's gradient into
 * contributions to the inputs' gradients. Rules live in {@link Ops}, all in one place. A node runs
 * once: {@link Autograd#backward} marks every node it ran as freed (the temporaries its rule
 * saved are released with the step), so a second backward through it is an error that says so,
 * as in PyTorch, never a rule running on released tensors.
 */
public final class Node {
    private final String op;
    private final List<Tensor> inputs;
    private final Rule rule;
    private boolean freed;

    /**
     * @param op the op's name, as errors show it
     * @param inputs the tensors the op read
     * @param rule the gradient rule, or null for an op that has none (an error if backward reaches it)
     */
    public Node(String op, List<Tensor> inputs, Rule rule) {
        this.op = op;
        this.inputs = inputs;
        this.rule = rule;
    }

    public String op() { return op; }

    public List<Tensor> inputs() { return inputs; }

    public Rule rule() { return rule; }

    /** Whether a backward pass has already run this node. */
    public boolean isFreed() { return freed; }

    void free() { freed = true; }

    /** Accumulates d(loss)/d(inputs) given d(loss)/d(output). */
    @FunctionalInterface
    public interface Rule {
        void backward(Tensor gradOutput);
    }
}
