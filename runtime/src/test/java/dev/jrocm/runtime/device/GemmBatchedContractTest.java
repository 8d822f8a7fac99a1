package dev.jrocm.runtime.device;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Backend#gemmBatched} on every backend of {@link BackendContractTest#backends()}: every
 * transpose pair, beta 0 and 1, matrices at scattered offsets (gaps between them, B shared by
 * several products as a broadcast batch), C's elements outside its matrices left alone, against
 * products summed in double; and each check of {@link Operands#gemmBatched} with its message.
 */
class GemmBatchedContractTest {
    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends(); // and the test doubles' properties, for the classes after this one
    }

    /** C_i = alpha·op(A_i)·op(B_i) + beta·C_i in double over row-major matrices at the given offsets. */
    static double[] reference(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, long[] ao, float[] b,
                              long[] bo, float beta, float[] c, long[] co) {
        double[] out = new double[c.length];
        for (int j = 0; j < c.length; j++) {
            out[j] = c[j];
        }
        for (int i = 0; i < co.length; i++) {
            for (int r = 0; r < m; r++) {
                for (int col = 0; col < n; col++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double x = a[(int) ao[i] + (ta ? p * m + r : r * k + p)];
                        double y = b[(int) bo[i] + (tb ? col * k + p : p * n + col)];
                        s += x * y;
                    }
                    int at = (int) co[i] + r * n + col;
                    out[at] = alpha * s + (beta == 0f ? 0 : beta * (double) c[at]);
                }
            }
        }
        return out;
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void aBatchOfProductsAtScatteredOffsetsMatchesDouble(Backend be) {
        int m = 5, n = 7, k = 6, count = 4;
        long[] ao = {0, 31, 62, 100}, bo = {3, 3, 50, 50}, co = {2, 40, 80, 130}; // gaps; B shared pairwise
        float[] a = gaussian(140, 1), b = gaussian(100, 2), c0 = gaussian(170, 3);
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (float beta : new float[] {0f, 1f}) {
                    Buffer ab = upload(be, a), bb = upload(be, b), cb = upload(be, c0);
                    be.gemmBatched(ta, tb, m, n, k, 0.5f, ab, ao, bb, bo, beta, cb, co);
                    float[] got = download(be, cb);
                    double[] want = reference(ta, tb, m, n, k, 0.5f, a, ao, b, bo, beta, c0, co);
                    for (int j = 0; j < want.length; j++) {
                        assertEquals(want[j], got[j], 1e-5 * Math.max(1, Math.abs(want[j])), "C[" + j + "], transA " + ta
                                + ", transB " + tb + ", beta " + beta + " on " + be.describe());
                    }
                    for (Buffer x : List.of(ab, bb, cb)) {
                        be.release(x);
                    }
                }
            }
        }
        assertTrue(count == co.length);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void attentionSizedBatchesSplitAcrossTheCoresMatchDouble(Backend be) {
        int m = 32, n = 32, k = 16, count = 9;
        long[] ao = new long[count], bo = new long[count], co = new long[count];
        for (int i = 0; i < count; i++) {
            ao[i] = (long) i * m * k;
            bo[i] = (long) i * k * n;
            co[i] = (long) i * m * n;
        }
        float[] a = gaussian(count * m * k, 4), b = gaussian(count * k * n, 5), c0 = gaussian(count * m * n, 6);
        Buffer ab = upload(be, a), bb = upload(be, b), cb = upload(be, c0);
        be.gemmBatched(false, true, m, n, k, 1f, ab, ao, bb, bo, 0f, cb, co);
        float[] got = download(be, cb);
        double[] want = reference(false, true, m, n, k, 1f, a, ao, b, bo, 0f, c0, co);
        for (int j = 0; j < want.length; j++) {
            assertEquals(want[j], got[j], 1e-5 * Math.max(1, Math.abs(want[j])), "C[" + j + "] on " + be.describe());
        }
        for (Buffer x : List.of(ab, bb, cb)) {
            be.release(x);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void badOffsetsAndCountsAreRefusedNamingTheMatrix(Backend be) {
        Buffer a = be.allocate(4L * 24), b = be.allocate(4L * 24), c = be.allocate(4L * 24);
        Map<String, Runnable> calls = Map.of(
                "gemmBatched: matrix 1 of a (12 elements from offset 13) does not lie inside its 24 elements",
                () -> be.gemmBatched(false, false, 3, 4, 4, 1f, a, new long[] {0, 13}, b, new long[] {0, 0}, 0f, c,
                        new long[] {0, 12}),
                "gemmBatched: matrix 0 of c (12 elements from offset -1) does not lie inside its 24 elements",
                () -> be.gemmBatched(false, false, 3, 4, 4, 1f, a, new long[] {0}, b, new long[] {0}, 0f, c, new long[] {-1}),
                "gemmBatched: a, b and c need one offset per matrix of the batch, got 2, 1 and 2",
                () -> be.gemmBatched(false, false, 3, 4, 4, 1f, a, new long[] {0, 12}, b, new long[] {0}, 0f, c,
                        new long[] {0, 12}),
                "gemmBatched: counts (m, n, k) must not be negative, got [3, -4, 4]",
                () -> be.gemmBatched(false, false, 3, -4, 4, 1f, a, new long[0], b, new long[0], 0f, c, new long[0]));
        calls.forEach((message, call) -> assertEquals(message,
                assertThrows(IllegalArgumentException.class, call::run).getMessage(), "on " + be.describe()));
        for (Buffer x : List.of(a, b, c)) {
            be.release(x);
        }
    }
}
