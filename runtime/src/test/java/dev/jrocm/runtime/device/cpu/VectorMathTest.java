package dev.jrocm.runtime.device.cpu;

import dev.jrocm.runtime.device.Backend.UnaryOp;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Vector API GELU ({@link VectorMath}) against the scalar formulas of {@link UnaryMath} it
 * vectorises, element by element over lengths that leave every tail size: they differ only by the
 * exponential's last double bit, so the float results agree to 1 ulp (almost always exactly).
 */
class VectorMathTest {
    @Test
    void geluAndItsGradientAgreeWithTheScalarFormulasAtEveryTailLength() {
        assumeTrue(UnaryMath.VECTOR, "needs --add-modules jdk.incubator.vector");
        Random random = new Random(17);
        for (int len = 0; len <= 67; len++) {
            float[] x = new float[len], dy = new float[len], y = new float[len], g = new float[len];
            for (int i = 0; i < len; i++) {
                x[i] = (float) (random.nextGaussian() * 4);
                dy[i] = (float) random.nextGaussian();
            }
            if (len > 3) { // the edges: ±∞ and NaN go through the vector lanes too
                x[0] = Float.POSITIVE_INFINITY;
                x[1] = Float.NEGATIVE_INFINITY;
                x[2] = Float.NaN;
                x[3] = -100f;
            }
            double[] wide = new double[len];
            VectorMath.gelu(x, y, len, wide);
            VectorMath.geluBackward(x, dy, g, len, wide);
            for (int i = 0; i < len; i++) {
                float want = (float) UnaryMath.value(UnaryOp.GELU, x[i]);
                float wantG = (float) (dy[i] * UnaryMath.derivative(UnaryOp.GELU, x[i], want));
                String at = "length " + len + ", x = " + x[i];
                if (Float.isFinite(want)) {
                    assertEquals(want, y[i], Math.ulp(want), "gelu at " + at);
                } else {
                    assertEquals(want, y[i], "gelu at " + at);
                }
                if (Float.isFinite(wantG)) {
                    assertEquals(wantG, g[i], Math.ulp(wantG), "gelu' at " + at);
                } else {
                    assertEquals(wantG, g[i], "gelu' at " + at);
                }
            }
        }
    }
}
