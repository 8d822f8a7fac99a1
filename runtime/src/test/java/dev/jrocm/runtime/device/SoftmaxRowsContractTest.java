package dev.jrocm.runtime.device;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static dev.jrocm.runtime.device.SoftmaxContractTest.close;
import static dev.jrocm.runtime.device.SoftmaxContractTest.softmaxRef;
import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Softmax along contiguous rows (inner = 1, attention's scores): rows long enough for vectors and
 * of every tail length, against double, forward and backward (with accumulate), and the edges —
 * −∞ elements, a row of only −∞, a NaN or +∞ in a long row — on every backend of
 * {@link BackendContractTest#backends()}.
 */
class SoftmaxRowsContractTest {
    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends(); // and the test doubles' properties, for the classes after this one
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void contiguousRowsOfEveryLengthMatchDouble(Backend be) {
        int outer = 5;
        for (int n : new int[] {1, 3, 16, 37, 128, 131}) {
            int total = outer * n;
            float[] x = gaussian(total, 90 + n), dy = gaussian(total, 91 + n), dx0 = gaussian(total, 92 + n);
            for (int i = 0; i < total; i++) {
                x[i] *= 4;
                if (i % 7 == 3 && n > 1) {
                    x[i] = Float.NEGATIVE_INFINITY; // masked, as attention's upper triangle
                }
            }
            for (boolean log : new boolean[] {false, true}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    Buffer xb = upload(be, x), yb = be.allocate(4L * total), gb = upload(be, dy), db = upload(be, dx0);
                    be.softmax(xb, outer, n, 1, yb, log);
                    float[] y = download(be, yb);
                    double[] want = softmaxRef(x, outer, n, 1, log);
                    String what = (log ? "logSoftmax" : "softmax") + " n=" + n + " on " + be.describe();
                    for (int j = 0; j < total; j++) {
                        if (want[j] == Double.NEGATIVE_INFINITY) {
                            assertEquals(Float.NEGATIVE_INFINITY, y[j], what + "[" + j + "]");
                        } else {
                            close(want[j], y[j], what + "[" + j + "]");
                        }
                    }
                    be.softmaxBackward(yb, gb, outer, n, 1, db, log, accumulate);
                    float[] dx = download(be, db);
                    for (int o = 0; o < outer; o++) {
                        double dot = 0;
                        for (int k = 0; k < n; k++) {
                            int at = o * n + k;
                            dot += log ? dy[at] : dy[at] * want[at];
                        }
                        for (int k = 0; k < n; k++) {
                            int at = o * n + k;
                            double d = log ? dy[at] - Math.exp(want[at]) * dot : want[at] * (dy[at] - dot);
                            close((accumulate ? dx0[at] : 0) + d, dx[at], "backward of " + what + ", accumulate "
                                    + accumulate + " [" + at + "]");
                        }
                    }
                    for (Buffer b : List.of(xb, yb, gb, db)) {
                        be.release(b);
                    }
                }
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void aLongRowWithNanOrInfinityOrOnlyMinusInfinityIsNan(Backend be) {
        int n = 40;
        float[] x = gaussian(4 * n, 7);
        x[n + 33] = Float.NaN;                      // row 1: a NaN past the first vector
        x[2 * n + 17] = Float.POSITIVE_INFINITY;    // row 2: +∞
        for (int k = 0; k < n; k++) {
            x[3 * n + k] = Float.NEGATIVE_INFINITY; // row 3: only −∞
        }
        Buffer xb = upload(be, x), yb = be.allocate(4L * x.length);
        for (boolean log : new boolean[] {false, true}) {
            be.softmax(xb, 4, n, 1, yb, log);
            float[] y = download(be, yb);
            double sum = 0;
            for (int k = 0; k < n; k++) {
                sum += log ? Math.exp(y[k]) : y[k];
            }
            assertEquals(1.0, sum, 1e-5, "row 0 sums to 1, log " + log + " on " + be.describe());
            for (int r = 1; r < 4; r++) {
                for (int k = 0; k < n; k++) {
                    assertTrue(Float.isNaN(y[r * n + k]), "row " + r + " element " + k + " is NaN, log " + log
                            + " on " + be.describe() + ", got " + y[r * n + k]);
                }
            }
        }
        be.release(xb);
        be.release(yb);
    }
}
