/**
 * Reverse-mode automatic differentiation: the differentiable ops with their gradient rules
 * ({@link dev.jrocm.runtime.autograd.Ops}, {@link dev.jrocm.runtime.autograd.ConvOps}), the
 * engine ({@link dev.jrocm.runtime.autograd.Autograd#backward}, {@code noGrad}, and
 * {@link dev.jrocm.runtime.autograd.Autograd#record} for ops of your own) and the form a gradient
 * takes ({@link dev.jrocm.runtime.autograd.Gradient}).
 */
package dev.jrocm.runtime.autograd;
