/**
 * Tensors: dense row-major float32 (or int32 label) arrays on one backend
 * ({@link dev.jrocm.runtime.tensor.Tensor}), and {@link dev.jrocm.runtime.tensor.Scope}, which
 * closes a training step's temporaries when the step ends.
 */
package dev.jrocm.runtime.tensor;
