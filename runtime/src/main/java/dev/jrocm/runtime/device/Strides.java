package dev.jrocm.runtime.device;

import java.util.Arrays;

/**
 * Element strides of dense row-major operands read against a larger shape (NumPy broadcasting:
 * stride 0 repeats an operand along a dimension), and the merging of dimensions that kernels walk
 * as one. Shared by the backends of {@link Backend#binary} and {@link Backend#sumTo}, and by the
 * ops that call them.
 */
public final class Strides {
    private Strides() {}

    /** The strides of a dense row-major tensor of {@code shape}: the last is 1. */
    public static long[] dense(int[] shape) {
        long[] s = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = step;
            step *= shape[d];
        }
        return s;
    }

    /**
     * The strides with which a dense tensor of {@code shape} is read as {@code target} (its shape
     * aligned from the right, {@code target} of at least its rank): 0 on the dimensions it lacks or
     * has as 1. The caller has checked that the shapes broadcast.
     */
    public static long[] broadcast(int[] shape, int[] target) {
        long[] own = dense(shape);
        long[] s = new long[target.length];
        int lead = target.length - shape.length;
        for (int d = lead; d < target.length; d++) {
            s[d] = shape[d - lead] == 1 ? 0 : own[d - lead];
        }
        return s;
    }

    /** Product of the dimensions, as a long. */
    public static long count(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** {@code shape} with leading 1s up to {@code rank} dimensions. */
    public static int[] padded(int[] shape, int rank) {
        int[] p = new int[rank];
        Arrays.fill(p, 1);
        System.arraycopy(shape, 0, p, rank - shape.length, shape.length);
        return p;
    }

    /**
     * A shape and the strides of operands over it, with dimensions of extent 1 dropped and
     * neighbours that every operand steps through contiguously merged: what a kernel walks.
     * A dense same-shape operation becomes one dimension of stride 1. Never of rank 0: a single
     * element is one dimension of extent 1.
     */
    public record Walk(long[] shape, long[][] strides) {
        public int rank() { return shape.length; }

        /** Whether every operand steps by 1 over a single dimension. */
        public boolean isDense() {
            if (shape.length != 1) {
                return false;
            }
            for (long[] s : strides) {
                if (s[0] != 1) {
                    return false;
                }
            }
            return true;
        }
    }

    /** The {@link Walk} of {@code shape} with each operand's {@code strides} (of the same rank). */
    public static Walk walk(int[] shape, long[]... strides) {
        int rank = shape.length;
        long[] sh = new long[rank];
        long[][] st = new long[strides.length][rank];
        int r = 0;
        for (int d = 0; d < rank; d++) {
            if (shape[d] == 1) {
                continue;
            }
            if (r > 0 && mergesWithPrevious(st, r - 1, shape[d], strides, d)) {
                sh[r - 1] *= shape[d];
                for (int k = 0; k < strides.length; k++) {
                    st[k][r - 1] = strides[k][d];
                }
                continue;
            }
            sh[r] = shape[d];
            for (int k = 0; k < strides.length; k++) {
                st[k][r] = strides[k][d];
            }
            r++;
        }
        if (r == 0) { // one element (or a shape of all 1s)
            long[][] one = new long[strides.length][];
            Arrays.setAll(one, k -> new long[] {0});
            return new Walk(new long[] {1}, one);
        }
        long[][] trimmed = new long[strides.length][];
        for (int k = 0; k < strides.length; k++) {
            trimmed[k] = Arrays.copyOf(st[k], r);
        }
        return new Walk(Arrays.copyOf(sh, r), trimmed);
    }

    /** Whether dimension d (extent n) continues merged dimension p for every operand: stride[p] = stride[d]·n. */
    private static boolean mergesWithPrevious(long[][] merged, int p, int n, long[][] strides, int d) {
        for (int k = 0; k < strides.length; k++) {
            if (merged[k][p] != strides[k][d] * n) {
                return false;
            }
        }
        return true;
    }
}
