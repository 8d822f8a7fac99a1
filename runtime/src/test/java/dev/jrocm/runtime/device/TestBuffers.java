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
}
