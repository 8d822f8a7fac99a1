package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.tensor.Tensor;

import java.util.Arrays;

/** What {@link MaxPool2d} and {@link AvgPool2d} share: a window's kernel, stride and padding, pairs {h, w}. */
abstract class Pool2d extends Module {
    final int[] kernel, stride, padding;

    Pool2d(int[] kernel, int[] stride, int[] padding) {
        String layer = getClass().getSimpleName();
        this.kernel = pair(layer, "kernel", kernel, 1);
        this.stride = pair(layer, "stride", stride, 1);
        this.padding = pair(layer, "padding", padding, 0);
    }

    /** A copy of {@code values}, checked to be two numbers ≥ {@code least}. */
    static int[] pair(String layer, String name, int[] values, int least) {
        if (values == null || values.length != 2 || values[0] < least || values[1] < least) {
            throw new IllegalArgumentException(layer + ": " + name + " must be a pair {h, w} of numbers ≥ " + least
                    + ", got " + (values == null ? "null" : Arrays.toString(values)));
        }
        return values.clone();
    }

    static int[] square(int size) {
        return new int[] {size, size};
    }

    static String tuple(int[] pair) {
        return "(" + pair[0] + ", " + pair[1] + ")";
    }

    @Override
    public abstract Tensor forward(Tensor x);

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(kernel_size=" + tuple(kernel) + ", stride=" + tuple(stride)
                + ", padding=" + tuple(padding) + ")";
    }
}
