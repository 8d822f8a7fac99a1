/**
 * Files: tensors in the safetensors format ({@link dev.jrocm.runtime.io.Safetensors}, checked when
 * read by {@link dev.jrocm.runtime.io.SafetensorsFile}), training checkpoints that a run resumes
 * from ({@link dev.jrocm.runtime.io.Checkpoint}), writes that readers see whole or not at all
 * ({@link dev.jrocm.runtime.io.AtomicFile}), and a progress bar for long transfers.
 */
package dev.jrocm.runtime.io;
