/**
 * Optimizers with PyTorch's semantics: {@link dev.jrocm.runtime.optim.SGD} (momentum, weight
 * decay) and {@link dev.jrocm.runtime.optim.Adam} (and AdamW). Only parameters that require a
 * gradient are updated.
 */
package dev.jrocm.runtime.optim;
