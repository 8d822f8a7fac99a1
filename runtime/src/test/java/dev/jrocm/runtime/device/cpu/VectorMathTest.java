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

    /** The in-place vector Adam step equals the scalar chunk loop bit for bit, with and without flushing. */
    @Test
    void adamInPlaceEqualsTheScalarLoopBitForBit() {
        assumeTrue(UnaryMath.VECTOR, "needs --add-modules jdk.incubator.vector");
        Random random = new Random(23);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            for (int len = 0; len <= 67; len++) {
                for (boolean flush : new boolean[] {false, true}) {
                    for (float l2 : new float[] {0f, 0.01f}) {
                        float[] p = new float[len], g = new float[len], m = new float[len], v = new float[len];
                        for (int i = 0; i < len; i++) {
                            p[i] = (float) random.nextGaussian();
                            g[i] = i % 5 == 0 ? 0f : (float) (random.nextGaussian() * 1e-3);
                            m[i] = i % 7 == 0 ? 1e-39f : (float) (random.nextGaussian() * 1e-3); // a subnormal now and then
                            v[i] = i % 11 == 0 ? 2e-40f : (float) Math.abs(random.nextGaussian() * 1e-6);
                        }
                        long bytes = 4L * Math.max(1, len) + 4; // offset by one float: unaligned vectors too
                        var pm = arena.allocate(bytes, 4);
                        var mm = arena.allocate(bytes, 4);
                        var vm = arena.allocate(bytes, 4);
                        java.lang.foreign.MemorySegment.copy(p, 0, pm, java.lang.foreign.ValueLayout.JAVA_FLOAT, 4, len);
                        java.lang.foreign.MemorySegment.copy(m, 0, mm, java.lang.foreign.ValueLayout.JAVA_FLOAT, 4, len);
                        java.lang.foreign.MemorySegment.copy(v, 0, vm, java.lang.foreign.ValueLayout.JAVA_FLOAT, 4, len);
                        float decay = l2 == 0f ? 0.99f : 1f;
                        VectorMath.adam(pm, mm, vm, 4, g, len, 0.9f, 0.999f, 1e-8f, 3e-3f, 0.05f, decay, l2, flush);
                        CpuBackend.adamChunk(p, g, m, v, len, 0.9f, 0.999f, 1e-8f, 3e-3f, 0.05f, decay, l2, flush);
                        String what = "length " + len + ", flush " + flush + ", l2 " + l2;
                        for (int i = 0; i < len; i++) {
                            long at = 4L + 4L * i;
                            assertEquals(Float.floatToRawIntBits(p[i]), Float.floatToRawIntBits(pm.get(
                                    java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at)), "p " + what + " [" + i + "]");
                            assertEquals(Float.floatToRawIntBits(m[i]), Float.floatToRawIntBits(mm.get(
                                    java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at)), "m " + what + " [" + i + "]");
                            assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(vm.get(
                                    java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at)), "v " + what + " [" + i + "]");
                        }
                    }
                }
            }
        }
    }
}
