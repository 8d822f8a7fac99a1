package dev.jrocm.runtime.device;

import dev.jrocm.runtime.device.Backend.UnaryOp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Backend#unary} and {@link Backend#unaryBackward} on every backend of
 * {@link BackendContractTest#backends()}: each function and derivative against a reference
 * written here in double (erf by its Taylor series and erfc by its continued fraction, not the
 * fit the backends use), within 4 ulp of float; and the IEEE edges PyTorch gives.
 */
public class UnaryContractTest {
    /** erf(x): the Taylor series for |x| < 3, 1 − erfc by the continued fraction beyond. */
    public static double erf(double x) {
        if (Math.abs(x) >= 3) {
            return Math.signum(x) * (1 - erfcLarge(Math.abs(x)));
        }
        double term = x, sum = x;
        for (int n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
            term *= -x * x / n;
            sum += term / (2 * n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    /** erfc(x) for x ≥ 3: e^(−x²)/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the back. */
    public static double erfcLarge(double x) {
        double f = x;
        for (int k = 200; k >= 1; k--) {
            f = x + (k / 2.0) / f;
        }
        return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
    }

    static double cdf(double x) {
        return x < -3 ? 0.5 * erfcLarge(-x / Math.sqrt(2)) : 0.5 * (1 + erf(x / Math.sqrt(2)));
    }

    static double value(UnaryOp op, double x) {
        return switch (op) {
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case GELU -> x * cdf(x);
            case SILU -> x / (1 + Math.exp(-x));
        };
    }

    static double derivative(UnaryOp op, double x) {
        double s = 1 / (1 + Math.exp(-x));
        return switch (op) {
            case EXP -> Math.exp(x);
            case LOG -> 1 / x;
            case SQRT -> 0.5 / Math.sqrt(x);
            case TANH -> 1 - Math.tanh(x) * Math.tanh(x);
            case SIGMOID -> s * (1 - s);
            case GELU -> cdf(x) + x * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
            case SILU -> s + x * s * (1 - s);
        };
    }

    /** Gaussian inputs spread over [−6, 6] (positive for log and sqrt). */
    static float[] inputs(UnaryOp op) {
        float[] x = gaussian(1000, 31 + op.ordinal());
        for (int i = 0; i < x.length; i++) {
            x[i] *= 2;
            if (op == UnaryOp.LOG || op == UnaryOp.SQRT) {
                x[i] = Math.abs(x[i]) + 1e-3f;
            }
        }
        return x;
    }

    static void within(String what, double expected, float actual, double ulps, double absolute) {
        double tol = ulps * Math.ulp((float) expected) + absolute;
        if (!(Math.abs(expected - actual) <= tol)) {
            fail(what + ": expected " + expected + ", got " + actual + " (tolerance " + tol + ")");
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void everyFunctionAndItsDerivativeMatchTheDoubleReference(Backend be) {
        for (UnaryOp op : UnaryOp.values()) {
            float[] x = inputs(op), dy = gaussian(x.length, 41), dx0 = gaussian(x.length, 42);
            Buffer xb = upload(be, x), y = be.allocate(4L * x.length), dyb = upload(be, dy);
            be.unary(op, xb, y);
            float[] got = download(be, y);
            for (int i = 0; i < x.length; i++) {
                within(op + "(" + x[i] + ") on " + be.describe(), value(op, x[i]), got[i], 4, 0);
            }
            for (boolean accumulate : new boolean[] {false, true}) {
                Buffer dx = upload(be, dx0);
                be.unaryBackward(op, xb, y, dyb, dx, accumulate);
                float[] g = download(be, dx);
                for (int i = 0; i < x.length; i++) {
                    double want = dy[i] * derivative(op, x[i]) + (accumulate ? dx0[i] : 0);
                    // the derivative reads y rounded to float: allow its rounding, scaled by dy
                    within(op + "'(" + x[i] + ")" + (accumulate ? " accumulated" : "") + " on " + be.describe(), want, g[i],
                            8, 2e-7 * Math.abs(dy[i] * derivative(op, x[i])) + 1e-7 * Math.abs(dy[i]));
                }
                be.release(dx);
            }
            for (Buffer b : List.of(xb, y, dyb)) {
                be.release(b);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("dev.jrocm.runtime.device.BackendContractTest#backends")
    void theEdgesAreThoseOfPyTorch(Backend be) {
        float[] x = {0f, -1f, 100f, -100f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        Buffer xb = upload(be, x), y = be.allocate(4L * x.length);
        // Per op: f(0), f(−1), f(100), f(−100), f(∞), f(−∞), f(NaN). As PyTorch 2.13 gives, except
        // where computing in double is closer to the truth: sigmoid(−100) and silu(−100) are the
        // subnormals they are (PyTorch's float formulas give 0 and −0) and gelu(∞) is ∞ (PyTorch: NaN).
        String[][] expected = {
                {"1.0", "0.36787945", "Infinity", "3.7835059e-44", "Infinity", "0.0", "NaN"},       // exp
                {"-Infinity", "NaN", "4.6051702", "NaN", "Infinity", "NaN", "NaN"},                // log
                {"0.0", "NaN", "10.0", "NaN", "Infinity", "NaN", "NaN"},                           // sqrt
                {"0.0", "-0.7615942", "1.0", "-1.0", "1.0", "-1.0", "NaN"},                        // tanh
                {"0.5", "0.26894143", "1.0", "3.7200760e-44", "1.0", "0.0", "NaN"},                // sigmoid
                {"0.0", "-0.15865526", "100.0", "-0.0", "Infinity", "NaN", "NaN"},                 // gelu
                {"0.0", "-0.26894143", "100.0", "-3.7200760e-42", "Infinity", "NaN", "NaN"},       // silu
        };
        for (UnaryOp op : UnaryOp.values()) {
            be.unary(op, xb, y);
            float[] got = download(be, y);
            for (int i = 0; i < x.length; i++) {
                float want = Float.parseFloat(expected[op.ordinal()][i]);
                String what = op + "(" + x[i] + ") on " + be.describe();
                if (Float.isFinite(want)) {
                    assertEquals(want, got[i], 2 * Math.ulp(want), what);
                } else {
                    assertEquals(want, got[i], what); // NaN equals NaN here; ∞ only ∞ of its sign
                }
            }
        }
        be.release(xb);
        be.release(y);
    }

    @Test
    void theReferenceErfIsRightWhereItsTwoHalvesMeet() {
        assertEquals(0.9999779095030014, erf(3.0), 1e-15); // A&S table value of erf(3)
        double slope = 2 / Math.sqrt(Math.PI) * Math.exp(-9); // erf′(3): the series and the fraction agree across 3
        assertEquals(erf(2.999999) + 2e-6 * slope, 1 - erfcLarge(3.000001), 1e-13);
        assertEquals(0.8427007929497149, erf(1.0), 1e-15);
    }
}
