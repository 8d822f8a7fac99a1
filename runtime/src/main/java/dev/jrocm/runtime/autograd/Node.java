package dev.jrocm.runtime.autograd;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.List;

/**
 * How a tensor was made: the op, its inputs, and the rule that turns the output's gradient into
 * contributions to the inputs' gradients. Rules live in {@link Ops}, all in one place.
 *
 * @param op the op's name, as errors show it
 * @param inputs the tensors the op read
 * @param rule the gradient rule, or null for an op that has none (an error if backward reaches it)
 */
public record Node(String op, List<Tensor> inputs, Rule rule) {

    /** Accumulates d(loss)/d(inputs) given d(loss)/d(output). */
    @FunctionalInterface
    public interface Rule {
        void backward(Tensor gradOutput);
    }
}
