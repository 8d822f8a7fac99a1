/**
 * Layers and models with PyTorch's parameter layout, initialisation and state-dict names:
 * {@link dev.jrocm.runtime.nn.Module}, {@link dev.jrocm.runtime.nn.Linear},
 * {@link dev.jrocm.runtime.nn.ReLU}, {@link dev.jrocm.runtime.nn.Sequential} and
 * {@link dev.jrocm.runtime.nn.CrossEntropyLoss}.
 */
package dev.jrocm.runtime.nn;
