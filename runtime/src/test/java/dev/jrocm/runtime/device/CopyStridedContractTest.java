package dev.jrocm.runtime.device;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.downloadInts;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static dev.jrocm.runtime.device.TestBuffers.uploadInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Backend#copyStrided} on every backend of {@link BackendContractTest#backends()}: transposes,
 * a rank-4 permute, narrows in the middle dimension (read from and written into), accumulating or
 * not, rank 0, empty shapes, sizes the CPU splits across cores, and the errors of
 * {@link Operands#copyStrided}; against an index-by-index reference in double.
 */
class CopyStridedContractTest {

    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends();
    }

    /**
     * The reference: every index of {@code shape} in row-major order (an odometer), dst at its offset
     * set to (or, accumulating, increased by) src at its offset, in double.
     */
    static double[] reference(float[] src, int srcFrom, long[] srcStrides, float[] dst, int dstFrom, long[] dstStrides,
                              int[] shape, boolean accumulate) {
        double[] out = new double[dst.length];
        for (int i = 0; i < dst.length; i++) {
            out[i] = dst[i];
        }
        for (int d : shape) {
            if (d == 0) {
                return out;
            }
        }
        int[] index = new int[shape.length];
        while (true) {
            long s = srcFrom, t = dstFrom;
            for (int d = 0; d < shape.length; d++) {
                s += index[d] * srcStrides[d];
                t += index[d] * dstStrides[d];
            }
            out[(int) t] = (accumulate ? out[(int) t] : 0) + src[(int) s];
            int d = shape.length - 1;
            while (d >= 0 && ++index[d] == shape[d]) {
                index[d--] = 0;
            }
            if (d < 0) {
                return out;
            }
        }
    }

    /** Runs the op on {@code be} over slices from srcFrom and dstFrom; returns the whole of dst afterwards. */
    static float[] run(Backend be, float[] src, int srcFrom, long[] srcStrides, float[] dst, int dstFrom, long[] dstStrides,
                       int[] shape, boolean accumulate) {
        Buffer s = upload(be, src), t = upload(be, dst);
        try {
            be.copyStrided(s.slice(srcFrom, src.length - srcFrom), srcStrides, t.slice(dstFrom, dst.length - dstFrom),
                    dstStrides, shape, accumulate);
            return download(be, t);
        } finally {
            be.release(s);
            be.release(t);
        }
    }

    /** The op against the reference, accumulating and not; floats compared exactly (one rounded add at most). */
    static void check(Backend be, String what, float[] src, int srcFrom, long[] srcStrides, int dstLength, int dstFrom,
                      long[] dstStrides, int[] shape) {
        float[] dst = gaussian(dstLength, BackendContractTest.SEED + dstLength);
        for (boolean accumulate : new boolean[] {false, true}) {
            double[] want = reference(src, srcFrom, srcStrides, dst, dstFrom, dstStrides, shape, accumulate);
            float[] got = run(be, src, srcFrom, srcStrides, dst, dstFrom, dstStrides, shape, accumulate);
            for (int i = 0; i < want.length; i++) {
                if ((float) want[i] != got[i]) {
                    throw new AssertionError(be.describe() + ": " + what + (accumulate ? " (accumulate)" : "") + ": dst[" + i
                            + "] is " + got[i] + ", want " + (float) want[i]);
                }
            }
        }
    }

    static long[] dense(int... shape) {
        long[] s = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = step;
            step *= shape[d];
        }
        return s;
    }

    static int size(int... shape) {
        return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void transposesAMatrix(Backend be) {
        // x (5, 7) read as its transpose (7, 5): y[i, j] = x[j, i]
        check(be, "transpose 5×7", gaussian(35, 1), 0, new long[] {1, 7}, 35, 0, dense(7, 5), new int[] {7, 5});
        // and the other way round: x (7, 5) dense written into the transposed layout
        check(be, "transposed write 7×5", gaussian(35, 2), 0, dense(7, 5), 35, 0, new long[] {1, 7}, new int[] {7, 5});
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void permutesARank4Tensor(Backend be) {
        int[] x = {2, 3, 4, 5}, perm = {2, 0, 3, 1};
        long[] xs = dense(x), read = new long[4];
        int[] y = new int[4];
        for (int d = 0; d < 4; d++) {
            y[d] = x[perm[d]];
            read[d] = xs[perm[d]];
        }
        check(be, "permute (2, 0, 3, 1) of 2×3×4×5", gaussian(size(x), 3), 0, read, size(y), 0, dense(y), y);
        // with a source offset and a destination offset, and dims of extent 1 the walk drops
        int[] z = {1, 3, 1, 4};
        check(be, "permute of 1×3×1×4 at offsets", gaussian(20, 4), 5, new long[] {0, 1, 12, 3}, 15, 3, dense(z), z);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void narrowsTheMiddleDimensionAndWritesIntoIt(Backend be) {
        // x (3, 8, 4): rows [2, 7) of dim 1 read into a dense (3, 5, 4), then a dense (3, 5, 4) written there
        int[] part = {3, 5, 4};
        long[] x = dense(3, 8, 4);
        check(be, "narrow read", gaussian(96, 5), 2 * 4, x, size(part), 0, dense(part), part);
        check(be, "narrow write", gaussian(size(part), 6), 0, dense(part), 96, 2 * 4, x, part);
        // the last dimension narrowed: rows of 3 elements 7 apart
        check(be, "narrow of the last dim", gaussian(5 * 7, 7), 1, new long[] {7, 1}, 15, 0, dense(5, 3), new int[] {5, 3});
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void denseCopiesAtOffsetsAndRepeatedSources(Backend be) {
        check(be, "dense 4×6", gaussian(30, 8), 2, dense(4, 6), 28, 4, dense(4, 6), new int[] {4, 6});
        // a source stride 0 reads one row for every row of dst (reads may repeat; writes may not)
        check(be, "broadcast row", gaussian(6, 9), 0, new long[] {0, 1}, 24, 0, dense(4, 6), new int[] {4, 6});
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void copiesOneElementAtRankZero(Backend be) {
        check(be, "rank 0", gaussian(4, 10), 3, new long[0], 5, 2, new long[0], new int[0]);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void anEmptyShapeWritesNothing(Backend be) {
        float[] dst = {1f, 2f, 3f};
        for (boolean accumulate : new boolean[] {false, true}) {
            assertArrayEquals(dst, run(be, new float[0], 0, dense(3, 0, 4), dst, 0, dense(3, 0, 4), new int[] {3, 0, 4},
                    accumulate), be.describe());
            // strides that would reach far past both buffers do not matter when nothing is copied
            assertArrayEquals(dst, run(be, new float[0], 0, new long[] {1000, 1}, dst, 0, new long[] {1000, 1},
                    new int[] {0, 9}, accumulate), be.describe());
        }
    }

    /** Past the CPU's 2·65536 elements: rows split across cores (a transpose) and one long strided row. */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void largeCopiesSplitAcrossCoresGiveTheSameElements(Backend be) {
        check(be, "transpose 300×500", gaussian(150_000, 11), 0, new long[] {1, 500}, 150_000, 0, dense(500, 300),
                new int[] {500, 300});
        check(be, "every other element of 300000", gaussian(300_000, 12), 1, new long[] {2}, 150_000, 0, new long[] {1},
                new int[] {149_999});
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void plainCopiesKeepTheBitsOfInts(Backend be) {
        int[] x = {Integer.MIN_VALUE, -1, 0x7fc00001, 0x7f800001, 7, 0xffc12345}; // NaN patterns among them
        Buffer s = uploadInts(be, x), t = uploadInts(be, new int[6]);
        be.copyStrided(s, new long[] {1, 3}, t, dense(3, 2), new int[] {3, 2}, false);
        assertArrayEquals(new int[] {x[0], x[3], x[1], x[4], x[2], x[5]}, downloadInts(be, t), be.describe());
        be.release(s);
        be.release(t);
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void badOperandsThrowNamingWhatIsWrong(Backend be) {
        Buffer s = upload(be, new float[12]), t = upload(be, new float[12]);
        try {
            assertMessage(be, "dst needs 2 strides for shape [3, 4], got [4]",
                    () -> be.copyStrided(s, dense(3, 4), t, new long[] {4}, new int[] {3, 4}, false));
            assertMessage(be, "src's strides [-4, 1] must not be negative",
                    () -> be.copyStrided(s, new long[] {-4, 1}, t, dense(3, 4), new int[] {3, 4}, false));
            assertMessage(be, "operand src holds 12 elements, the op needs 15",
                    () -> be.copyStrided(s.slice(0, 12), new long[] {1, 4}, t, dense(3, 4), new int[] {3, 4}, false));
            assertMessage(be, "operand dst holds 11 elements, the op needs 12",
                    () -> be.copyStrided(s, dense(3, 4), t.slice(1, 11), dense(3, 4), new int[] {3, 4}, false));
            assertMessage(be, "dst stride 0 along dimension 0 of shape [3, 4] would write its elements more than once",
                    () -> be.copyStrided(s, dense(3, 4), t, new long[] {0, 1}, new int[] {3, 4}, true));
            assertMessage(be, "dst strides [2, 1] span 8 elements, fewer than the 12 of shape [3, 4]",
                    () -> be.copyStrided(s, dense(3, 4), t, new long[] {2, 1}, new int[] {3, 4}, false));
            assertMessage(be, "shape must have rank 0 to 6",
                    () -> be.copyStrided(s, new long[7], t, new long[7], new int[] {1, 1, 1, 1, 1, 1, 1}, false));
            assertMessage(be, "negative dimension in shape [3, -4]",
                    () -> be.copyStrided(s, dense(3, 4), t, dense(3, 4), new int[] {3, -4}, false));
        } finally {
            be.release(s);
            be.release(t);
        }
    }

    static void assertMessage(Backend be, String part, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run, be.describe());
        assertTrue(e.getMessage().startsWith("copyStrided: ") && e.getMessage().contains(part),
                be.describe() + ": " + e.getMessage());
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared; closed in @AfterAll
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void accumulatingTwiceAddsBothContributions(Backend be) {
        float[] x = gaussian(6, 13);
        Buffer s = upload(be, x), t = upload(be, new float[6]);
        be.copyStrided(s, new long[] {1, 3}, t, dense(3, 2), new int[] {3, 2}, true);
        be.copyStrided(s, new long[] {1, 3}, t, dense(3, 2), new int[] {3, 2}, true);
        float[] got = download(be, t);
        int[] from = {0, 3, 1, 4, 2, 5};
        for (int i = 0; i < 6; i++) {
            assertEquals(2 * x[from[i]], got[i], be.describe() + " element " + i);
        }
        be.release(s);
        be.release(t);
    }
}
