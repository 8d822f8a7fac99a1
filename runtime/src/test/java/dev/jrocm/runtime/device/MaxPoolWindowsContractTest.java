package dev.jrocm.runtime.device;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.downloadInts;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Max pooling with 2×2 windows and stride 2 (a CNN's usual pooling, which the CPU backend runs
 * with vectors) on planes wide enough for several vectors, odd widths and heights (a last row and
 * column no window takes) and narrow ones; values with ties (the first largest wins), NaNs (the
 * first NaN wins) and −∞, against a scalar reference, on every backend of
 * {@link BackendContractTest#backends()}; then overlapping, non-square and padded windows (the CPU
 * vectorises every unpadded pooling, L windows at a time in the plane's order).
 */
class MaxPoolWindowsContractTest {
    @AfterAll
    static void closeBackends() {
        BackendContractTest.closeBackends(); // and the test doubles' properties, for the classes after this one
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void twoByTwoWindowsOfStrideTwoAgreeWithAScalarReferenceAtEveryWidth(Backend be) {
        int[][] planes = {{28, 28}, {14, 14}, {7, 7}, {5, 67}, {4, 33}, {2, 2}, {3, 64}};
        for (int[] hw : planes) {
            check(be, new Pool2dShape(2, 3, hw[0], hw[1], 2, 2, 2, 2, 0, 0));
        }
        check(be, new Pool2dShape(2, 3, 28, 40, 3, 3, 2, 2, 1, 1)); // padded: the scalar loop
        check(be, new Pool2dShape(2, 3, 17, 23, 3, 2, 2, 3, 0, 0)); // overlapping rows, non-square, unpadded
        check(be, new Pool2dShape(1, 2, 9, 9, 3, 3, 1, 1, 0, 0));
    }

    private static void check(Backend be, Pool2dShape s) {
        float[] x = gaussian((int) s.inputSize(), 5 + s.w());
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.round(x[i] * 2) / 2f; // ties
            if (i % 53 == 7) {
                x[i] = Float.NaN;
            } else if (i % 29 == 4) {
                x[i] = Float.NEGATIVE_INFINITY;
            }
        }
        int planeIn = s.h() * s.w(), planeOut = s.outH() * s.outW();
        float[] wantY = new float[(int) s.outputSize()];
        int[] wantIdx = new int[wantY.length];
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            for (int oi = 0; oi < s.outH(); oi++) {
                for (int oj = 0; oj < s.outW(); oj++) {
                    int best = -1;
                    for (int at : ConvContractTest.window(s, oi, oj, new int[1])) {
                        float v = x[plane * planeIn + at], b = best < 0 ? 0f : x[plane * planeIn + best];
                        if (best < 0 || (Float.isNaN(v) && !Float.isNaN(b)) || v > b) {
                            best = at;
                        }
                    }
                    int o = plane * planeOut + oi * s.outW() + oj;
                    wantY[o] = x[plane * planeIn + best];
                    wantIdx[o] = best;
                }
            }
        }
        Buffer xb = upload(be, x), y = be.allocate(4 * s.outputSize()), idx = be.allocate(4 * s.outputSize());
        be.maxPool2dForward(xb, s, y, idx);
        assertArrayEquals(wantIdx, downloadInts(be, idx), "indices of " + s + " on " + be.describe());
        assertArrayEquals(wantY, download(be, y), "y of " + s + " on " + be.describe());
        be.release(xb);
        be.release(y);
        be.release(idx);
    }
}
