package dev.jrocm.runtime.device.cpu;

import dev.jrocm.runtime.device.Backend.UnaryOp;

/**
 * The element-wise functions of {@link dev.jrocm.runtime.device.Backend#unary} and their
 * derivatives, in double (the GPU kernels evaluate the same formulas). Java has no erf: the
 * complementary error function is Numerical Recipes' Chebyshev fit {@code erfcc}, fractional
 * error below 1.2e-7 everywhere, so Φ and GELU stay within about 2 ulp of float.
 *
 * <p>The array forms ({@link #values}, {@link #derivatives}) run GELU through {@link VectorMath}
 * when {@link #VECTOR} (chosen once: {@code jdk.incubator.vector} in the boot layer and
 * {@code -Djrocm.cpu.vectorMath} not {@code false}), every other function element by element.
 */
final class UnaryMath {
    private static final double INV_SQRT2 = 0.7071067811865476, INV_SQRT_2PI = 0.3989422804014327;

    /** The property that turns the Vector API path off ({@code -Djrocm.cpu.vectorMath=false}). */
    static final String PROPERTY = "jrocm.cpu.vectorMath";

    /** Whether GELU runs through {@link VectorMath}. */
    static final boolean VECTOR = Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private UnaryMath() {}

    /** y[0, len) = f(x[0, len)), each computed in double and rounded once; {@code wide} (≥ len) is scratch. */
    static void values(UnaryOp op, float[] x, float[] y, int len, double[] wide) {
        if (VECTOR && op == UnaryOp.GELU) {
            VectorMath.gelu(x, y, len, wide);
            return;
        }
        for (int i = 0; i < len; i++) {
            y[i] = (float) value(op, x[i]);
        }
    }

    /** g[0, len) = dy·f′(x) from x and y = f(x), in double and rounded once; {@code wide} (≥ len) is scratch. */
    static void derivatives(UnaryOp op, float[] x, float[] y, float[] dy, float[] g, int len, double[] wide) {
        if (VECTOR && op == UnaryOp.GELU) {
            VectorMath.geluBackward(x, dy, g, len, wide);
            return;
        }
        for (int i = 0; i < len; i++) {
            g[i] = (float) (dy[i] * derivative(op, x[i], y[i]));
        }
    }

    /**
     * One softmax row of n elements: y = exp(x − max)/Σ exp(x − max), or with {@code log}
     * y = x − max − log Σ exp(x − max); −∞ gives 0 (log −∞), a row of only −∞, or holding +∞ or
     * NaN, is NaN. Vectorised when {@link #VECTOR}; in order, exp in double rounded, when not.
     */
    static void softmaxRow(float[] x, float[] y, int n, boolean log) {
        if (VECTOR) {
            VectorMath.softmaxRow(x, y, n, log);
            return;
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) {
            max = Math.max(max, x[k]); // NaN wins: the row becomes NaN
        }
        float sum = 0f;
        for (int k = 0; k < n; k++) {
            y[k] = (float) Math.exp(x[k] - max);
            sum += y[k];
        }
        normaliseRow(x, y, n, max, sum, log);
    }

    /** The last pass of {@link #softmaxRow}: y holds exp(x − max), their sum is {@code sum}. */
    static void normaliseRow(float[] x, float[] y, int n, float max, float sum, boolean log) {
        if (log) {
            float logSum = (float) Math.log(sum);
            for (int k = 0; k < n; k++) {
                y[k] = x[k] - max - logSum;
            }
        } else {
            for (int k = 0; k < n; k++) {
                y[k] = y[k] / sum;
            }
        }
    }

    static double value(UnaryOp op, double x) {
        return switch (op) {
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> sigmoid(x);
            case GELU -> x * phi(x);
            case SILU -> x * sigmoid(x);
        };
    }

    /** f′(x), given x and y = f(x) as stored in float. */
    static double derivative(UnaryOp op, double x, double y) {
        return switch (op) {
            case EXP -> y;
            case LOG -> 1 / x;
            case SQRT -> 0.5 / y;
            case TANH -> 1 - y * y;
            case SIGMOID -> y * (1 - y);
            case GELU -> phi(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
            case SILU -> {
                double s = sigmoid(x);
                yield s * (1 + x * (1 - s));
            }
        };
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    /** Φ(x), the standard normal CDF, as erfc(−x/√2)/2 (no cancellation for negative x). */
    static double phi(double x) {
        return 0.5 * erfc(-x * INV_SQRT2);
    }

    static double erfc(double x) {
        double z = Math.abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
