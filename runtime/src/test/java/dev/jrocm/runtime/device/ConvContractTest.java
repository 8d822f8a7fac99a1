package dev.jrocm.runtime.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
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
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The convolution section of {@link Backend} (convolution, pooling, batch norm) on every backend
 * of {@link BackendContractTest#backends()}, against direct loops computed here in double (no
 * im2col, no GEMM: the definitions themselves).
 */
class ConvContractTest {

    /** n = 3, stride 2×1, padding 1×0, dilation 2×1, a 3×2 kernel: out 3×5. */
    static final Conv2dShape STRIDED = new Conv2dShape(3, 2, 7, 6, 4, 3, 2, 2, 1, 1, 0, 2, 1);
    /** A 1×3 kernel with dilation 1×2 and padding 0×2 (wider than half the kernel): out 5×5. */
    static final Conv2dShape WIDE = new Conv2dShape(3, 3, 5, 5, 2, 1, 3, 1, 1, 0, 2, 1, 2);
    /** Columns of 2.5 images fit Im2col.MAX_COLUMNS: groups of 2 and of 1 (no transpose) images. */
    static final Conv2dShape GROUPED = new Conv2dShape(3, 64, 76, 76, 2, 3, 3, 1, 1, 1, 1, 1, 1);

    // ---- the reference, in double -------------------------------------------------------------

    /** Calls {@code term(b, o, i, j, ch, p, q, xIndex)} for every product of the convolution's sum that reads x (not padding). */
    interface Term {
        void add(int b, int o, int i, int j, int ch, int p, int q, int xAt);
    }

    static void eachTerm(Conv2dShape s, Term term) {
        for (int b = 0; b < s.n(); b++) {
            for (int o = 0; o < s.k(); o++) {
                for (int i = 0; i < s.outH(); i++) {
                    for (int j = 0; j < s.outW(); j++) {
                        for (int ch = 0; ch < s.c(); ch++) {
                            for (int p = 0; p < s.kh(); p++) {
                                int ih = i * s.strideH() - s.padH() + p * s.dilH();
                                for (int q = 0; q < s.kw(); q++) {
                                    int iw = j * s.strideW() - s.padW() + q * s.dilW();
                                    if (ih >= 0 && ih < s.h() && iw >= 0 && iw < s.w()) {
                                        term.add(b, o, i, j, ch, p, q, ((b * s.c() + ch) * s.h() + ih) * s.w() + iw);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static int yAt(Conv2dShape s, int b, int o, int i, int j) {
        return ((b * s.k() + o) * s.outH() + i) * s.outW() + j;
    }

    static int wAt(Conv2dShape s, int o, int ch, int p, int q) {
        return ((o * s.c() + ch) * s.kh() + p) * s.kw() + q;
    }

    /** y, dx and dw of the convolution, each with the sums of the magnitudes of its terms (for tolerances). */
    record ConvReference(double[] y, double[] yScale, double[] dx, double[] dxScale, double[] dw, double[] dwScale) {}

    static ConvReference reference(Conv2dShape s, float[] x, float[] w, float[] dy) {
        double[] y = new double[(int) s.outputSize()], ys = y.clone();
        double[] dx = new double[(int) s.inputSize()], dxs = dx.clone();
        double[] dw = new double[(int) s.weightSize()], dws = dw.clone();
        eachTerm(s, (b, o, i, j, ch, p, q, xAt) -> {
            int yi = yAt(s, b, o, i, j), wi = wAt(s, o, ch, p, q);
            y[yi] += (double) x[xAt] * w[wi];
            ys[yi] += Math.abs((double) x[xAt] * w[wi]);
            dx[xAt] += (double) dy[yi] * w[wi];
            dxs[xAt] += Math.abs((double) dy[yi] * w[wi]);
            dw[wi] += (double) dy[yi] * x[xAt];
            dws[wi] += Math.abs((double) dy[yi] * x[xAt]);
        });
        return new ConvReference(y, ys, dx, dxs, dw, dws);
    }

    /** |got − want| ≤ 1e-5·scale + 1e-6 (scale: the sum of the terms' magnitudes), with an offset added to want. */
    static void close(String what, double[] want, double[] scale, double offset, float[] got) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            double tol = 1e-5 * (scale == null ? Math.abs(want[i]) : scale[i]) + 1e-6;
            if (!(Math.abs(got[i] - (want[i] + offset)) <= tol)) {
                fail(what + "[" + i + "]: got " + got[i] + ", want " + (want[i] + offset) + " ± " + tol);
            }
        }
    }

    // ---- convolution --------------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void convolutionAndItsGradientsMatchTheDefinitionWithStridePaddingAndDilation(Backend be) {
        for (Conv2dShape s : List.of(STRIDED, WIDE, GROUPED)) {
            float[] x = gaussian((int) s.inputSize(), 31), w = gaussian((int) s.weightSize(), 32);
            float[] dy = gaussian((int) s.outputSize(), 33);
            ConvReference ref = reference(s, x, w, dy);
            String on = s + " on " + be.describe();
            List<Buffer> all = new ArrayList<>();
            Buffer xb = upload(be, x), wb = upload(be, w), dyb = upload(be, dy);
            Buffer y = be.allocate(4 * s.outputSize()), dx = be.allocate(4 * s.inputSize()), dw = be.allocate(4 * s.weightSize());
            all.addAll(List.of(xb, wb, dyb, y, dx, dw));
            be.fill(y, Float.NaN); // overwritten, never read
            be.fill(dx, Float.NaN);
            be.fill(dw, Float.NaN);
            be.conv2dForward(xb, wb, s, y);
            close("y of " + on, ref.y(), ref.yScale(), 0, download(be, y));
            be.conv2dBackwardData(dyb, wb, s, dx, false);
            close("dx of " + on, ref.dx(), ref.dxScale(), 0, download(be, dx));
            be.conv2dBackwardWeight(dyb, xb, s, dw, false);
            close("dw of " + on, ref.dw(), ref.dwScale(), 0, download(be, dw));
            be.fill(dx, 0.5f);
            be.fill(dw, 0.5f);
            be.conv2dBackwardData(dyb, wb, s, dx, true);
            close("accumulated dx of " + on, ref.dx(), ref.dxScale(), 0.5, download(be, dx));
            be.conv2dBackwardWeight(dyb, xb, s, dw, true);
            close("accumulated dw of " + on, ref.dw(), ref.dwScale(), 0.5, download(be, dw));
            all.forEach(be::release);
        }
    }

    @Test
    void theGroupedShapeReallyGoesInGroupsOfTwoAndOne() {
        assertEquals(2, Im2col.groupSize(GROUPED));
        assertEquals(3, Im2col.groupSize(STRIDED));
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void anEmptyBatchGivesAZeroWeightGradientAndTouchesNothingElse(Backend be) {
        Conv2dShape s = new Conv2dShape(0, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1);
        Buffer x = be.allocate(4), y = be.allocate(4), dw = be.allocate(4 * s.weightSize());
        be.fill(dw, Float.NaN);
        be.conv2dForward(x, dw, s, y);
        be.conv2dBackwardData(y, dw, s, x, false);
        be.conv2dBackwardWeight(y, x, s, dw, false);
        for (float v : download(be, dw)) {
            assertEquals(0f, v);
        }
        for (Buffer b : List.of(x, y, dw)) {
            be.release(b);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void convolutionOperandsTooSmallForTheShapeSayWhichAndHowMuch(Backend be) {
        Conv2dShape s = STRIDED; // x 252, weight 48, y 180
        Buffer x = be.allocate(4 * s.inputSize()), w = be.allocate(4 * s.weightSize()), y = be.allocate(4 * s.outputSize());
        Buffer small = be.allocate(4 * 47);
        assertEquals("conv2dForward: operand weight holds 47 elements, the op needs 48", assertThrows(
                IllegalArgumentException.class, () -> be.conv2dForward(x, small, s, y)).getMessage());
        assertEquals("conv2dForward: operand y holds 47 elements, the op needs 180", assertThrows(
                IllegalArgumentException.class, () -> be.conv2dForward(x, w, s, small)).getMessage());
        assertEquals("conv2dBackwardData: operand dx holds 47 elements, the op needs 252", assertThrows(
                IllegalArgumentException.class, () -> be.conv2dBackwardData(y, w, s, small, false)).getMessage());
        assertEquals("conv2dBackwardWeight: operand dw holds 47 elements, the op needs 48", assertThrows(
                IllegalArgumentException.class, () -> be.conv2dBackwardWeight(y, x, s, small, false)).getMessage());
        assertEquals("conv2dForward: shape is null", assertThrows(
                IllegalArgumentException.class, () -> be.conv2dForward(x, w, null, y)).getMessage());
        for (Buffer b : List.of(x, w, y, small)) {
            be.release(b);
        }
    }

    @Test
    void shapesFollowPyTorchsOutputFormulaAndRejectWhatItRejects() {
        assertEquals(3, STRIDED.outH()); // ⌊(7 + 2 − 2·2 − 1)/2⌋ + 1
        assertEquals(5, STRIDED.outW()); // ⌊(6 − 1 − 1)/1⌋ + 1
        assertEquals(5, WIDE.outW());    // ⌊(5 + 4 − 2·2 − 1)/1⌋ + 1
        assertEquals("Conv2dShape: the kernel 3×3 (dilation 2×2) over the input 4×4 padded by 0×0 with stride 1×1"
                        + " gives an output of 0×0, which is too small",
                assertThrows(IllegalArgumentException.class,
                        () -> new Conv2dShape(1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 2)).getMessage());
        assertEquals("Conv2dShape: stride must be ≥ 1, got 0×1", assertThrows(IllegalArgumentException.class,
                () -> new Conv2dShape(1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0, 1, 1)).getMessage());
        assertEquals("Conv2dShape: padding must not be negative, got -1×0", assertThrows(IllegalArgumentException.class,
                () -> new Conv2dShape(1, 1, 4, 4, 1, 3, 3, 1, 1, -1, 0, 1, 1)).getMessage());
        assertEquals("Conv2dShape: input channels must be ≥ 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> new Conv2dShape(1, 0, 4, 4, 1, 3, 3, 1, 1, 0, 0, 1, 1)).getMessage());
        assertEquals(2, new Pool2dShape(1, 1, 5, 5, 2, 2, 2, 2, 0, 0).outH());
        assertEquals(3, new Pool2dShape(1, 1, 5, 5, 3, 3, 2, 2, 1, 1).outH()); // ⌊(5 + 2 − 3)/2⌋ + 1
        assertEquals("Pool2dShape: padding 2×0 must be between 0 and half the kernel 3×3", assertThrows(
                IllegalArgumentException.class, () -> new Pool2dShape(1, 1, 5, 5, 3, 3, 1, 1, 2, 0)).getMessage());
        assertEquals("Pool2dShape: the kernel 3×3 over the input 2×2 padded by 0×0 with stride 1×1 gives an output of"
                + " 0×0, which is too small", assertThrows(IllegalArgumentException.class,
                () -> new Pool2dShape(1, 1, 2, 2, 3, 3, 1, 1, 0, 0)).getMessage());
        assertEquals("Pool2dShape: stride must be ≥ 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> new Pool2dShape(1, 1, 5, 5, 3, 3, 0, 1, 0, 0)).getMessage());
    }

    // ---- pooling ------------------------------------------------------------------------------

    /** Overlapping 3×2 windows, stride 2×1, padding 1×1: out 4×6 of a 7×5 plane. */
    static final Pool2dShape POOL = new Pool2dShape(3, 2, 7, 5, 3, 2, 2, 1, 1, 1);

    /** Values in steps of 0.5, so windows hold ties (the first of equal maxima wins). */
    static float[] poolInput() {
        float[] x = gaussian((int) POOL.inputSize(), 41);
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.round(x[i] * 2) / 2f;
        }
        return x;
    }

    /** For window (plane, oi, oj): the positions ih·w + iw of x inside it, in row-major order, and its padded size. */
    static List<Integer> window(Pool2dShape s, int oi, int oj, int[] paddedSize) {
        List<Integer> inside = new ArrayList<>();
        int size = 0;
        for (int p = 0; p < s.kh(); p++) {
            for (int q = 0; q < s.kw(); q++) {
                int ih = oi * s.strideH() - s.padH() + p, iw = oj * s.strideW() - s.padW() + q;
                if (ih >= -s.padH() && ih < s.h() + s.padH() && iw >= -s.padW() && iw < s.w() + s.padW()) {
                    size++; // inside the padded input: counted by count_include_pad
                }
                if (ih >= 0 && ih < s.h() && iw >= 0 && iw < s.w()) {
                    inside.add(ih * s.w() + iw);
                }
            }
        }
        paddedSize[0] = size;
        return inside;
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void maxPoolingTakesTheFirstLargestOfOverlappingPaddedWindowsAndRoutesEveryGradientBack(Backend be) {
        Pool2dShape s = POOL;
        float[] x = poolInput(), dy = gaussian((int) s.outputSize(), 42);
        x[3] = Float.NaN; // plane 0, row 0: a NaN wins its windows
        int planeIn = s.h() * s.w(), planeOut = s.outH() * s.outW();
        float[] wantY = new float[(int) s.outputSize()];
        int[] wantIdx = new int[wantY.length];
        double[] wantDx = new double[x.length];
        int[] padded = new int[1];
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            for (int oi = 0; oi < s.outH(); oi++) {
                for (int oj = 0; oj < s.outW(); oj++) {
                    int o = plane * planeOut + oi * s.outW() + oj, best = -1;
                    for (int at : window(s, oi, oj, padded)) {
                        float v = x[plane * planeIn + at];
                        if (best < 0 || (Float.isNaN(v) && !Float.isNaN(x[plane * planeIn + best]))
                                || v > x[plane * planeIn + best]) {
                            best = at;
                        }
                    }
                    wantY[o] = x[plane * planeIn + best];
                    wantIdx[o] = best;
                    wantDx[plane * planeIn + best] += dy[o];
                }
            }
        }
        assertTrue(Float.isNaN(wantY[3]) && wantIdx[3] == 3 && Float.isNaN(wantY[4]), "the NaN wins windows 3 and 4 of plane 0");
        Buffer xb = upload(be, x), dyb = upload(be, dy), y = be.allocate(4 * s.outputSize());
        Buffer idx = be.allocate(4 * s.outputSize()), dx = be.allocate(4 * s.inputSize());
        be.maxPool2dForward(xb, s, y, idx);
        assertArrayEquals(wantY, download(be, y), "y on " + be.describe());
        assertArrayEquals(wantIdx, downloadInts(be, idx), "indices on " + be.describe());
        be.fill(dx, Float.NaN);
        be.maxPool2dBackward(dyb, idx, s, dx, false);
        close("dx on " + be.describe(), wantDx, null, 0, download(be, dx));
        be.fill(dx, 0.5f);
        be.maxPool2dBackward(dyb, idx, s, dx, true);
        close("accumulated dx on " + be.describe(), wantDx, null, 0.5, download(be, dx));
        int[] bad = wantIdx.clone();
        bad[40] = planeIn;
        Buffer badIdx = uploadInts(be, bad);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> { be.maxPool2dBackward(dyb, badIdx, s, dx, false); be.synchronize(); });
        assertEquals("maxPool2dBackward: index 35 at position 40 is outside [0, 35)", e.getMessage());
        assertEquals("maxPool2dForward: operand indices holds 47 elements, the op needs 144", assertThrows(
                IllegalArgumentException.class, () -> be.maxPool2dForward(xb, s, y, idx.slice(0, 47))).getMessage());
        for (Buffer b : List.of(xb, dyb, y, idx, dx, badIdx)) {
            be.release(b);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void averagePoolingDividesByThePaddedWindowAndSpreadsTheGradientOverIt(Backend be) {
        Pool2dShape s = POOL;
        float[] x = gaussian((int) s.inputSize(), 43), dy = gaussian((int) s.outputSize(), 44);
        int planeIn = s.h() * s.w(), planeOut = s.outH() * s.outW();
        double[] wantY = new double[(int) s.outputSize()], wantDx = new double[x.length];
        int[] padded = new int[1];
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            for (int oi = 0; oi < s.outH(); oi++) {
                for (int oj = 0; oj < s.outW(); oj++) {
                    int o = plane * planeOut + oi * s.outW() + oj;
                    List<Integer> inside = window(s, oi, oj, padded);
                    for (int at : inside) {
                        wantY[o] += (double) x[plane * planeIn + at] / padded[0];
                        wantDx[plane * planeIn + at] += (double) dy[o] / padded[0];
                    }
                }
            }
        }
        Buffer xb = upload(be, x), dyb = upload(be, dy), y = be.allocate(4 * s.outputSize()), dx = be.allocate(4 * s.inputSize());
        be.avgPool2dForward(xb, s, y);
        close("y on " + be.describe(), wantY, null, 0, download(be, y));
        be.fill(dx, Float.NaN);
        be.avgPool2dBackward(dyb, s, dx, false);
        close("dx on " + be.describe(), wantDx, null, 0, download(be, dx));
        be.fill(dx, 0.5f);
        be.avgPool2dBackward(dyb, s, dx, true);
        close("accumulated dx on " + be.describe(), wantDx, null, 0.5, download(be, dx));
        assertEquals("avgPool2dBackward: operand dx holds 47 elements, the op needs 210", assertThrows(
                IllegalArgumentException.class, () -> be.avgPool2dBackward(dyb, s, dx.slice(0, 47), false)).getMessage());
        for (Buffer b : List.of(xb, dyb, y, dx)) {
            be.release(b);
        }
    }

    // ---- batch normalisation ------------------------------------------------------------------

    static final int N = 3, C = 4, HW = 10;
    static final float EPS = 1e-5f, MOMENTUM = 0.1f;

    /** Channel 1 offset by 100 (no cancellation allowed), channel 2 constant (variance 0: eps alone). */
    static float[] bnInput() {
        float[] x = gaussian(N * C * HW, 51);
        for (int b = 0; b < N; b++) {
            for (int i = 0; i < HW; i++) {
                x[(b * C + 1) * HW + i] += 100f;
                x[(b * C + 2) * HW + i] = 0.75f;
            }
        }
        return x;
    }

    record BnReference(double[] y, double[] mean, double[] rstd, double[] runningMean, double[] runningVar,
                       double[] dx, double[] dw, double[] db) {}

    /** Training (batch statistics) or evaluation (the running ones) batch norm and its gradients, in double. */
    static BnReference bnReference(float[] x, float[] w, float[] b, float[] rm, float[] rv, float[] dy, boolean training) {
        int count = N * HW;
        double[] y = new double[x.length], dx = new double[x.length], mean = new double[C], rstd = new double[C];
        double[] rmOut = new double[C], rvOut = new double[C], dw = new double[C], db = new double[C];
        for (int ch = 0; ch < C; ch++) {
            double m = 0, v = 0;
            for (int e = 0; e < count; e++) {
                m += x[(e / HW * C + ch) * HW + e % HW];
            }
            m /= count;
            for (int e = 0; e < count; e++) {
                double d = x[(e / HW * C + ch) * HW + e % HW] - m;
                v += d * d;
            }
            rmOut[ch] = (1 - MOMENTUM) * rm[ch] + MOMENTUM * m;
            rvOut[ch] = (1 - MOMENTUM) * rv[ch] + MOMENTUM * v / (count - 1);
            if (!training) {
                m = rm[ch];
                v = rv[ch] * count;
            }
            double s = 1 / Math.sqrt(v / count + EPS), wc = w == null ? 1 : w[ch], sumDy = 0, sumDyXhat = 0;
            mean[ch] = m;
            rstd[ch] = s;
            for (int e = 0; e < count; e++) {
                int at = (e / HW * C + ch) * HW + e % HW;
                double xhat = (x[at] - m) * s;
                y[at] = xhat * wc + (b == null ? 0 : b[ch]);
                sumDy += dy[at];
                sumDyXhat += dy[at] * xhat;
            }
            dw[ch] = sumDyXhat;
            db[ch] = sumDy;
            for (int e = 0; e < count; e++) {
                int at = (e / HW * C + ch) * HW + e % HW;
                double xhat = (x[at] - m) * s;
                dx[at] = wc * s * (dy[at] - (training ? sumDy / count + xhat * sumDyXhat / count : 0));
            }
        }
        return new BnReference(y, mean, rstd, rmOut, rvOut, dx, dw, db);
    }

    /**
     * |got − want| ≤ 2e-5·scale + 1e-5·|want|, plus 1e-3 on channel 1 (offset by 100: float's mean
     * there is off by up to 2⁻¹⁸·100, which x − μ carries into x̂, as in PyTorch's float kernels).
     */
    static void bnClose(String what, double[] want, float[] got, double scale) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            boolean offset = want.length == N * C * HW ? i / HW % C == 1 : i == 1;
            double tol = 2e-5 * scale + 1e-5 * Math.abs(want[i]) + (offset ? 1e-3 : 0);
            if (!(Math.abs(got[i] - want[i]) <= tol)) {
                fail(what + "[" + i + "]: got " + got[i] + ", want " + want[i] + " ± " + tol);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void batchNormInTrainingNormalisesPerChannelUpdatesTheRunningStatisticsAndHasItsGradients(Backend be) {
        float[] x = bnInput(), w = gaussian(C, 52), b = gaussian(C, 53), dy = gaussian(N * C * HW, 54);
        float[] rm = gaussian(C, 55), rv = {0.5f, 2f, 1f, 3f};
        for (boolean affine : new boolean[] {true, false}) {
            BnReference ref = bnReference(x, affine ? w : null, affine ? b : null, rm, rv, dy, true);
            String on = be.describe() + (affine ? ", affine" : ", no affine");
            Buffer xb = upload(be, x), dyb = upload(be, dy), wb = affine ? upload(be, w) : null, bb = affine ? upload(be, b) : null;
            Buffer rmb = upload(be, rm), rvb = upload(be, rv), y = be.allocate(4L * x.length);
            Buffer mean = be.allocate(4L * C), rstd = be.allocate(4L * C), dx = be.allocate(4L * x.length);
            Buffer dw = be.allocate(4L * C), db = be.allocate(4L * C);
            be.batchNorm2dTraining(xb, wb, bb, N, C, HW, EPS, MOMENTUM, rmb, rvb, y, mean, rstd);
            bnClose("y on " + on, ref.y(), download(be, y), 1);
            bnClose("saved mean on " + on, ref.mean(), download(be, mean), 1);
            bnClose("saved rstd on " + on, ref.rstd(), download(be, rstd), 1);
            bnClose("running mean on " + on, ref.runningMean(), download(be, rmb), 1);
            bnClose("running var (unbiased) on " + on, ref.runningVar(), download(be, rvb), 1);
            be.fill(dx, Float.NaN);
            be.fill(dw, Float.NaN);
            be.fill(db, Float.NaN);
            be.batchNorm2dBackward(xb, wb, mean, rstd, dyb, N, C, HW, true, dx, dw, db);
            // Channel 2 is constant: its rstd is 1/√eps ≈ 316, which scales its dx.
            bnClose("dx on " + on, ref.dx(), download(be, dx), 316);
            bnClose("dweight on " + on, ref.dw(), download(be, dw), N * HW);
            bnClose("dbias on " + on, ref.db(), download(be, db), N * HW);
            for (Buffer buf : List.of(xb, dyb, rmb, rvb, y, mean, rstd, dx, dw, db)) {
                be.release(buf);
            }
            if (affine) {
                be.release(wb);
                be.release(bb);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void batchNormInEvaluationUsesTheRunningStatisticsAndItsGradientIsAnAffineMap(Backend be) {
        float[] x = bnInput(), w = gaussian(C, 56), b = gaussian(C, 57), dy = gaussian(N * C * HW, 58);
        float[] rm = {0.1f, 100.2f, 0.7f, -0.4f}, rv = {0.5f, 2f, 1e-3f, 3f};
        BnReference ref = bnReference(x, w, b, rm, rv, dy, false);
        float[] rstd = new float[C];
        for (int ch = 0; ch < C; ch++) {
            rstd[ch] = (float) ref.rstd()[ch];
        }
        Buffer xb = upload(be, x), dyb = upload(be, dy), wb = upload(be, w), bb = upload(be, b);
        Buffer rmb = upload(be, rm), rvb = upload(be, rv), rsb = upload(be, rstd), y = be.allocate(4L * x.length);
        Buffer dx = be.allocate(4L * x.length), dw = be.allocate(4L * C), db = be.allocate(4L * C);
        be.batchNorm2dInference(xb, wb, bb, rmb, rvb, N, C, HW, EPS, y);
        bnClose("y on " + be.describe(), ref.y(), download(be, y), 1);
        assertArrayEquals(rm, download(be, rmb), "evaluation leaves the running mean as it was");
        be.batchNorm2dBackward(xb, wb, rmb, rsb, dyb, N, C, HW, false, dx, dw, db);
        bnClose("dx on " + be.describe(), ref.dx(), download(be, dx), 40);
        bnClose("dweight on " + be.describe(), ref.dw(), download(be, dw), N * HW);
        bnClose("dbias on " + be.describe(), ref.db(), download(be, db), N * HW);
        be.batchNorm2dTraining(xb, null, null, N, C, HW, EPS, MOMENTUM, null, null, y, null, null); // nothing saved or tracked
        bnClose("y without statistics on " + be.describe(),
                bnReference(x, null, null, rm, rv, dy, true).y(), download(be, y), 1);
        for (Buffer buf : List.of(xb, dyb, wb, bb, rmb, rvb, rsb, y, dx, dw, db)) {
            be.release(buf);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void batchNormRejectsWhatItCannotComputeAndSaysWhy(Backend be) {
        Buffer x = be.allocate(4L * N * C * HW), y = be.allocate(4L * N * C * HW), stat = be.allocate(4L * C);
        Buffer other = be.allocate(4L * C), small = be.allocate(4L * (C - 1));
        assertEquals("batchNorm2dTraining: one value per channel (n = 1, hw = 1) has no unbiased variance for the"
                + " running statistics", assertThrows(IllegalArgumentException.class, () -> be.batchNorm2dTraining(
                x, null, null, 1, C, 1, EPS, MOMENTUM, stat, other, y, null, null)).getMessage());
        assertEquals("batchNorm2dTraining: eps must be a positive finite number, got 0.0", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dTraining(
                        x, null, null, N, C, HW, 0f, MOMENTUM, stat, other, y, null, null)).getMessage());
        assertEquals("batchNorm2dTraining: saveMean and saveRstd are saved together: give both or neither", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dTraining(
                        x, null, null, N, C, HW, EPS, MOMENTUM, null, null, y, stat, null)).getMessage());
        assertEquals("batchNorm2dTraining: runningMean and runningVar are updated together: give both or neither",
                assertThrows(IllegalArgumentException.class, () -> be.batchNorm2dTraining(
                        x, null, null, N, C, HW, EPS, MOMENTUM, stat, null, y, null, null)).getMessage());
        assertEquals("batchNorm2dInference: operand runningVar holds 3 elements, the op needs 4", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dInference(
                        x, null, null, stat, small, N, C, HW, EPS, y)).getMessage());
        assertEquals("batchNorm2dInference: operand runningMean is null", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dInference(
                        x, null, null, null, stat, N, C, HW, EPS, y)).getMessage());
        assertEquals("batchNorm2dBackward: operand dWeight holds 3 elements, the op needs 4", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dBackward(
                        x, null, stat, other, y, N, C, HW, true, null, small, null)).getMessage());
        assertEquals("batchNorm2dBackward: counts (n, c, hw) must not be negative, got [3, -1, 10]", assertThrows(
                IllegalArgumentException.class, () -> be.batchNorm2dBackward(
                        x, null, stat, other, y, N, -1, HW, true, null, null, null)).getMessage());
        for (Buffer b : List.of(x, y, stat, other, small)) {
            be.release(b);
        }
    }
}
