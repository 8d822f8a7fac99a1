package dev.jrocm.runtime.device;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Backend#layerNorm} and {@link Backend#layerNormBackward} on every backend of
 * {@link BackendContractTest#backends()}, against the formulas computed here in double.
 */
class NormalisationContractTest {
    static final int ROWS = 7, COLS = 37;
    static final float EPS = 1e-5f;

    /** Gaussian rows, with row 2 constant (variance 0: eps alone) and row 5 offset by 1e4. */
    static float[] input() {
        float[] x = gaussian(ROWS * COLS, 21);
        for (int c = 0; c < COLS; c++) {
            x[2 * COLS + c] = 3.25f;
            x[5 * COLS + c] += 1e4f;
        }
        return x;
    }

    record Reference(double[] y, double[] mean, double[] rstd, double[] dx, double[] dw, double[] db) {}

    static Reference reference(float[] x, float[] w, float[] b, float[] dy) {
        double[] y = new double[x.length], mean = new double[ROWS], rstd = new double[ROWS], dx = new double[x.length];
        double[] dw = new double[COLS], db = new double[COLS];
        for (int r = 0; r < ROWS; r++) {
            double m = 0, v = 0;
            for (int c = 0; c < COLS; c++) {
                m += x[r * COLS + c];
            }
            m /= COLS;
            for (int c = 0; c < COLS; c++) {
                v += (x[r * COLS + c] - m) * (x[r * COLS + c] - m);
            }
            double s = 1 / Math.sqrt(v / COLS + EPS), meanG = 0, meanGx = 0;
            mean[r] = m;
            rstd[r] = s;
            for (int c = 0; c < COLS; c++) {
                double xhat = (x[r * COLS + c] - m) * s, g = dy[r * COLS + c] * (w == null ? 1 : w[c]);
                y[r * COLS + c] = xhat * (w == null ? 1 : w[c]) + (b == null ? 0 : b[c]);
                meanG += g / COLS;
                meanGx += g * xhat / COLS;
                dw[c] += dy[r * COLS + c] * xhat;
                db[c] += dy[r * COLS + c];
            }
            for (int c = 0; c < COLS; c++) {
                double xhat = (x[r * COLS + c] - m) * s, g = dy[r * COLS + c] * (w == null ? 1 : w[c]);
                dx[r * COLS + c] = s * (g - meanG - xhat * meanGx);
            }
        }
        return new Reference(y, mean, rstd, dx, dw, db);
    }

    /**
     * Rows of COLS are compared with 2e-5·scale + 1e-5·|expected|, and row 5 (offset by 1e4) with
     * 2e-3 more: float's spacing at 1e4 is 2⁻¹⁰, so the float mean is off by up to 2⁻¹¹ ≈ 5e-4 and
     * x − μ carries that error into x̂ (as it does in PyTorch's float kernels). What this row checks
     * is that there is no cancellation (E[x²] − E[x]² would lose every digit here).
     */
    static void close(String what, double[] expected, float[] actual, double scale) {
        for (int i = 0; i < expected.length; i++) {
            boolean offsetRow = expected.length == ROWS * COLS && i / COLS == 5;
            double tol = 2e-5 * scale + 1e-5 * Math.abs(expected[i]) + (offsetRow || expected.length == COLS ? 2e-3 : 0);
            if (Math.abs(expected[i] - actual[i]) > tol) {
                fail(what + "[" + i + "]: expected " + expected[i] + ", got " + actual[i]);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void layerNormAndItsGradientsMatchTheFormulasWithAndWithoutAffineParameters(Backend be) {
        float[] x = input(), w = gaussian(COLS, 22), b = gaussian(COLS, 23), dy = gaussian(ROWS * COLS, 24);
        for (boolean affine : new boolean[] {true, false}) {
            Reference ref = reference(x, affine ? w : null, affine ? b : null, dy);
            List<Buffer> all = new ArrayList<>();
            Buffer xb = upload(be, x), dyb = upload(be, dy), y = be.allocate(4L * ROWS * COLS);
            Buffer wb = affine ? upload(be, w) : null, bb = affine ? upload(be, b) : null;
            Buffer mean = be.allocate(4L * ROWS), rstd = be.allocate(4L * ROWS), dx = be.allocate(4L * ROWS * COLS);
            Buffer dw = be.allocate(4L * COLS), db = be.allocate(4L * COLS);
            all.addAll(List.of(xb, dyb, y, mean, rstd, dx, dw, db));
            be.layerNorm(xb, wb, bb, ROWS, COLS, EPS, y, mean, rstd);
            String on = be.describe() + (affine ? ", affine" : ", no affine");
            close("y on " + on, ref.y(), download(be, y), 1);
            close("mean on " + on, ref.mean(), download(be, mean), 1);
            close("rstd on " + on, ref.rstd(), download(be, rstd), 1);
            be.fill(dx, Float.NaN); // every output is overwritten, not accumulated
            be.fill(dw, Float.NaN);
            be.fill(db, Float.NaN);
            be.layerNormBackward(xb, wb, mean, rstd, dyb, ROWS, COLS, dx, dw, db);
            // Row 2 is constant: its rstd is 1/√eps ≈ 316, which scales its dx; compare against that.
            close("dx on " + on, ref.dx(), download(be, dx), 316);
            close("dweight on " + on, ref.dw(), download(be, dw), ROWS);
            close("dbias on " + on, ref.db(), download(be, db), ROWS);
            for (Buffer buf : all) {
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
    void layerNormWithoutSavedStatisticsAndBadOperandsSayWhatIsWrong(Backend be) {
        float[] x = input();
        Buffer xb = upload(be, x), y = be.allocate(4L * ROWS * COLS), small = be.allocate(4L * (COLS - 1));
        be.layerNorm(xb, null, null, ROWS, COLS, EPS, y, null, null);
        close("y on " + be.describe(), reference(x, null, null, new float[x.length]).y(), download(be, y), 1);
        assertEquals("layerNorm: operand weight holds 36 elements, the op needs 37", assertThrows(
                IllegalArgumentException.class, () -> be.layerNorm(xb, small, null, ROWS, COLS, EPS, y, null, null)).getMessage());
        assertEquals("layerNorm: eps must be a positive finite number, got 0.0", assertThrows(
                IllegalArgumentException.class, () -> be.layerNorm(xb, null, null, ROWS, COLS, 0f, y, null, null)).getMessage());
        assertEquals("layerNorm: mean and rstd are saved together: give both or neither", assertThrows(
                IllegalArgumentException.class, () -> be.layerNorm(xb, null, null, ROWS, COLS, EPS, y, small, null)).getMessage());
        assertEquals("layerNormBackward: operand dx holds 36 elements, the op needs 259", assertThrows(
                IllegalArgumentException.class,
                () -> be.layerNormBackward(xb, null, y, y, xb, ROWS, COLS, small, null, null)).getMessage());
        for (Buffer buf : List.of(xb, y, small)) {
            be.release(buf);
        }
    }
}
