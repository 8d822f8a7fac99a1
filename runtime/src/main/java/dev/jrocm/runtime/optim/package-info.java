/**
 * Optimizers with PyTorch's semantics: {@link dev.jrocm.runtime.optim.SGD} (momentum, weight
 * decay) and {@link dev.jrocm.runtime.optim.Adam} (and AdamW). Only parameters that require a
 * gradient are updated. Learning-rate schedulers ({@link dev.jrocm.runtime.optim.LrScheduler}:
 * StepLR, CosineAnnealingLR, LinearLR, LambdaLR, SequentialLR, LinearWarmup) set an optimizer's lr.
 */
package dev.jrocm.runtime.optim;
