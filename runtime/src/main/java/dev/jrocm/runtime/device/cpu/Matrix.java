package dev.jrocm.runtime.device.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A dense row-major float32 matrix in a memory segment: what {@link CpuGemm} multiplies. The
 * segment holds at least {@code rows·cols} native-order floats.
 */
public record Matrix(MemorySegment data, int rows, int cols) {
    public Matrix {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("matrix shape must not be negative: " + rows + "×" + cols);
        }
        long needed = (long) rows * cols * Float.BYTES;
        if (data.byteSize() < needed) {
            throw new IllegalArgumentException("a " + rows + "×" + cols + " matrix needs " + needed
                    + " bytes but its segment holds " + data.byteSize());
        }
    }

    /** {@code "8×3072"}. */
    public String shape() { return rows + "×" + cols; }

    public float get(int row, int col) {
        return data.getAtIndex(ValueLayout.JAVA_FLOAT, (long) row * cols + col);
    }

    public void set(int row, int col, float value) {
        data.setAtIndex(ValueLayout.JAVA_FLOAT, (long) row * cols + col, value);
    }
}
