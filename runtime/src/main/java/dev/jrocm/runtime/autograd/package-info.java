/**
 * Reverse-mode automatic differentiation: the differentiable ops of a training step with their
 * gradient rules, all in {@link dev.jrocm.runtime.autograd.Ops}, and
 * {@link dev.jrocm.runtime.autograd.Autograd#backward} and {@code noGrad}.
 */
package dev.jrocm.runtime.autograd;
