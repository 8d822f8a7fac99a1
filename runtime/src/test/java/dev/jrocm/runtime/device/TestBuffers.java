package dev.jrocm.runtime.device;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Host arrays into and out of any backend's buffers, and seeded random data, for the tests. */
public final class TestBuffers {
    private TestBuffers() {}

    public static Buffer upload(Backend be, float[] data) {
        Buffer b = be.allocate((long) data.length * Float.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Math.max(4, (long) data.length * Float.BYTES));
            MemorySegment.copy(data, 0, s, ValueLayout.JAVA_FLOAT, 0, data.length);
            be.copyFromHost(s, b);
        }
        return b;
    }

    public static Buffer uploadInts(Backend be, int[] data) {
        Buffer b = be.allocate((long) data.length * Integer.BYTES);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Math.max(4, (long) data.length * Integer.BYTES));
            MemorySegment.copy(data, 0, s, ValueLayout.JAVA_INT, 0, data.length);
            be.copyFromHost(s, b);
        }
        return b;
    }

    public static float[] download(Backend be, Buffer b) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Math.max(4, b.byteSize())).asSlice(0, b.byteSize());
            be.copyToHost(b, s);
            return s.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    public static int[] downloadInts(Backend be, Buffer b) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Math.max(4, b.byteSize())).asSlice(0, b.byteSize());
            be.copyToHost(b, s);
            return s.toArray(ValueLayout.JAVA_INT);
        }
    }

    public static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** log Σ exp(x[from..from+n)) in double, shifted by the maximum: the reference for log-softmax and cross-entropy. */
    public static double logSumExp(double[] x, int from, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < n; c++) {
            max = Math.max(max, x[from + c]);
        }
        double sum = 0;
        for (int c = 0; c < n; c++) {
            sum += Math.exp(x[from + c] - max);
        }
        return max + Math.log(sum);
    }

    /** {@link #logSumExp(double[], int, int)} of floats. */
    public static double logSumExp(float[] x, int from, int n) {
        double[] d = new double[n];
        for (int c = 0; c < n; c++) {
            d[c] = x[from + c];
        }
        return logSumExp(d, 0, n);
    }
}
