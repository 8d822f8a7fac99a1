package dev.jrocm.runtime.device;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.downloadInts;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static dev.jrocm.runtime.device.TestBuffers.uploadInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backend.softmax, softmaxBackward, maxAlong and scatterAlong on every backend against references in double. */
class SoftmaxContractTest {
    static final long SEED = 13L;

    static void close(double want, float got, String what) {
        assertTrue(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)) || (Double.isNaN(want) && Float.isNaN(got)),
                what + ": got " + got + ", want " + want + " (seed " + SEED + ")");
    }

    /** Softmax (or log-softmax) of (outer, n, inner) in double. */
    static double[] softmaxRef(float[] x, int outer, int n, int inner, boolean log) {
        double[] y = new double[x.length];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                double[] row = new double[n];
                for (int k = 0; k < n; k++) {
                    row[k] = x[(o * n + k) * inner + i];
                }
                double lse = TestBuffers.logSumExp(row, 0, n);
                for (int k = 0; k < n; k++) {
                    y[(o * n + k) * inner + i] = log ? row[k] - lse : Math.exp(row[k] - lse);
                }
            }
        }
        return y;
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void softmaxAndItsGradientAlongAMiddleDimMatchDouble(Backend be) {
        int outer = 3, n = 7, inner = 5, total = outer * n * inner;
        float[] x = gaussian(total, SEED), dy = gaussian(total, SEED + 1), dx0 = gaussian(total, SEED + 2);
        for (boolean log : new boolean[] {false, true}) {
            Buffer xb = upload(be, x), yb = be.allocate(4L * total), gb = upload(be, dy), db = upload(be, dx0);
            be.softmax(xb, outer, n, inner, yb, log);
            float[] y = download(be, yb);
            double[] want = softmaxRef(x, outer, n, inner, log);
            for (int j = 0; j < total; j++) {
                close(want[j], y[j], (log ? "logSoftmax" : "softmax") + "[" + j + "]");
            }
            be.softmaxBackward(yb, gb, outer, n, inner, db, log, true);
            float[] dx = download(be, db);
            for (int o = 0; o < outer; o++) {
                for (int i = 0; i < inner; i++) {
                    double dot = 0;
                    for (int k = 0; k < n; k++) {
                        int at = (o * n + k) * inner + i;
                        dot += log ? dy[at] : dy[at] * want[at];
                    }
                    for (int k = 0; k < n; k++) {
                        int at = (o * n + k) * inner + i;
                        double d = log ? dy[at] - Math.exp(want[at]) * dot : want[at] * (dy[at] - dot);
                        close(dx0[at] + d, dx[at], "backward " + log + "[" + at + "]");
                    }
                }
            }
            for (Buffer b : List.of(xb, yb, gb, db)) {
                be.release(b);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void softmaxIsStableForLargeValuesAndMinusInfinity(Backend be) {
        float inf = Float.POSITIVE_INFINITY;
        float[] x = {1000f, 1000f, -inf, 0f, -inf, -inf};
        Buffer xb = upload(be, x), yb = be.allocate(4L * x.length);
        be.softmax(xb, 3, 2, 1, yb, false);
        float[] y = download(be, yb);
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f, 1f}, java.util.Arrays.copyOf(y, 4));
        assertTrue(Float.isNaN(y[4]) && Float.isNaN(y[5]), "a row of only -inf is NaN, as PyTorch");
        be.softmax(xb, 3, 2, 1, yb, true);
        y = download(be, yb);
        assertArrayEquals(new float[] {(float) -Math.log(2), (float) -Math.log(2), -inf, 0f}, java.util.Arrays.copyOf(y, 4), 1e-6f);
        be.release(xb);
        be.release(yb);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void maxAlongFindsTheFirstLargestAndScatterAlongPutsTheGradientThere(Backend be) {
        int outer = 2, n = 4, inner = 3, total = outer * n * inner;
        float[] x = gaussian(total, SEED + 3);
        x[(0 * n + 3) * inner + 1] = x[(0 * n + 1) * inner + 1] = 9f; // a tie in row (0, 1): index 1
        Buffer xb = upload(be, x), vb = be.allocate(4L * outer * inner), ib = be.allocate(4L * outer * inner);
        be.maxAlong(xb, outer, n, inner, vb, ib);
        float[] values = download(be, vb);
        int[] indices = downloadInts(be, ib);
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                int best = 0;
                for (int k = 1; k < n; k++) {
                    if (x[(o * n + k) * inner + i] > x[(o * n + best) * inner + i]) {
                        best = k;
                    }
                }
                assertEquals(best, indices[o * inner + i], "index of row " + (o * inner + i));
                assertEquals(x[(o * n + best) * inner + i], values[o * inner + i]);
            }
        }
        assertEquals(1, indices[1]);
        float[] dy = gaussian(outer * inner, SEED + 4), dx0 = gaussian(total, SEED + 5);
        Buffer gb = upload(be, dy), db = upload(be, dx0);
        be.scatterAlong(gb, ib, outer, n, inner, db, true);
        float[] dx = download(be, db);
        for (int o = 0; o < outer; o++) {
            for (int k = 0; k < n; k++) {
                for (int i = 0; i < inner; i++) {
                    int at = (o * n + k) * inner + i, r = o * inner + i;
                    assertEquals(dx0[at] + (indices[r] == k ? dy[r] : 0f), dx[at], 0f, "dx[" + at + "]");
                }
            }
        }
        Buffer bad = uploadInts(be, new int[] {0, 4});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> { be.scatterAlong(gb, bad, 1, n, 2, db, false); be.synchronize(); });
        assertEquals("scatterAlong: index 4 at position 1 is outside [0, 4)", e.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> be.softmax(xb, 5, n, inner, db, false));
        assertEquals("softmax: operand x holds 24 elements, the op needs 60", small.getMessage());
        for (Buffer b : List.of(xb, vb, ib, gb, db, bad)) {
            be.release(b);
        }
    }
}
