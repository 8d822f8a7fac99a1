/**
 * Datasets and batches: Fashion-MNIST and CIFAR-10 read from their official files
 * ({@link dev.jrocm.runtime.data.FashionMnist}, {@link dev.jrocm.runtime.data.Cifar10}, found
 * through {@link dev.jrocm.runtime.data.DataPaths}), held whole on a backend
 * ({@link dev.jrocm.runtime.data.Dataset}) and served in seeded, shuffled batches
 * ({@link dev.jrocm.runtime.data.DataLoader}). A file that is missing or malformed is an exception
 * that names it.
 */
package dev.jrocm.runtime.data;
