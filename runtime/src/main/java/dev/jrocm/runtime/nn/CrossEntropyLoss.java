package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.tensor.Tensor;

/** Mean cross-entropy of logits against int32 class labels, as PyTorch's {@code CrossEntropyLoss()}. */
public final class CrossEntropyLoss {

    /** The mean loss, a one-element tensor to call {@code backward()} on. */
    public Tensor forward(Tensor logits, Tensor labels) {
        return Ops.crossEntropy(logits, labels);
    }

    /** The mean loss and, from the same pass, how many rows the logits classify correctly. */
    public Ops.LossAndCorrect forwardWithAccuracy(Tensor logits, Tensor labels) {
        return Ops.crossEntropyWithAccuracy(logits, labels);
    }
}
