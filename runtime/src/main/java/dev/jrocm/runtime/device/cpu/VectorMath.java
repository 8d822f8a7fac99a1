package dev.jrocm.runtime.device.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GELU and its derivative, softmax along a row, unpadded max pooling and ReLU's mask, over
 * arrays with the Vector API. GELU: {@link UnaryMath}'s formulas (the same
 * erfc fit, in double, rounded to float once), the exponential through the Vector API's
 * {@code EXP} (vectorised libm on x86: within an ulp of double, so the float results are those of
 * the scalar path but for ties of rounding). Loaded only after {@link UnaryMath#VECTOR} found
 * {@code jdk.incubator.vector}; only UnaryMath calls it. Measured in the GPT block step (1 M
 * elements, 2 shared cores, AVX-512, same load): forward 68 → 12 ms, backward 79 → 19 ms wall
 * (13 + 21 → ~3 + ~4 ms on a quieter box); the scalar path spends its time in Math.exp and the fit.
 *
 * <p>Every vector stays inside one method (C2 boxes vectors handed between methods it does not
 * inline): the conversions float ↔ double run as plain array loops, which C2 vectorises itself,
 * and GELU's backward repeats the forward's Φ instead of calling a shared vector method (tried:
 * C2 then declined to inline it now and then, "callee is too large", and the backward took
 * 4.0–4.5 instead of 3.1–3.4 ms of CPU over 1 M elements; a shared array pass for Φ cost as much).
 */
final class VectorMath {
    private VectorMath() {}

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;

    /** Whether {@link #maxPoolPlane} runs here: float and int vectors of one length. */
    static final boolean POOL = IS.length() == S.length();
    private static final double INV_SQRT2 = 0.7071067811865476, INV_SQRT_2PI = 0.3989422804014327;

    /** y[0, len) = gelu(x[0, len)) = x·Φ(x); {@code wide} (≥ len) is scratch. */
    static void gelu(float[] x, float[] y, int len, double[] wide) {
        for (int i = 0; i < len; i++) {
            wide[i] = x[i];
        }
        int i = 0;
        for (int end = D.loopBound(len); i < end; i += D.length()) {
            DoubleVector v = DoubleVector.fromArray(D, wide, i);
            DoubleVector u = v.mul(-INV_SQRT2);
            DoubleVector z = u.abs();
            DoubleVector t = z.mul(0.5).add(1.0);
            t = DoubleVector.broadcast(D, 1.0).div(t);
            DoubleVector p = t.mul(0.17087277).add(-0.82215223);
            p = p.mul(t).add(1.48851587);
            p = p.mul(t).add(-1.13520398);
            p = p.mul(t).add(0.27886807);
            p = p.mul(t).add(-0.18628806);
            p = p.mul(t).add(0.09678418);
            p = p.mul(t).add(0.37409196);
            p = p.mul(t).add(1.00002368);
            DoubleVector r = t.mul(z.mul(z).neg().add(-1.26551223).add(t.mul(p)).lanewise(VectorOperators.EXP));
            VectorMask<Double> negative = u.compare(VectorOperators.LT, 0.0);
            DoubleVector erfc = r.blend(DoubleVector.broadcast(D, 2.0).sub(r), negative);
            v.mul(erfc.mul(0.5)).intoArray(wide, i);
        }
        for (; i < len; i++) {
            wide[i] = UnaryMath.value(dev.jrocm.runtime.device.Backend.UnaryOp.GELU, wide[i]);
        }
        for (int j = 0; j < len; j++) {
            y[j] = (float) wide[j];
        }
    }

    /** g[0, len) = dy·gelu′(x) = dy·(Φ(x) + x·φ(x)) over [0, len), in double before rounding; {@code wide} (≥ len) is scratch. */
    static void geluBackward(float[] x, float[] dy, float[] g, int len, double[] wide) {
        for (int i = 0; i < len; i++) {
            wide[i] = x[i];
        }
        int i = 0;
        for (int end = D.loopBound(len); i < end; i += D.length()) {
            DoubleVector v = DoubleVector.fromArray(D, wide, i);
            DoubleVector u = v.mul(-INV_SQRT2);
            DoubleVector z = u.abs();
            DoubleVector t = z.mul(0.5).add(1.0);
            t = DoubleVector.broadcast(D, 1.0).div(t);
            DoubleVector p = t.mul(0.17087277).add(-0.82215223);
            p = p.mul(t).add(1.48851587);
            p = p.mul(t).add(-1.13520398);
            p = p.mul(t).add(0.27886807);
            p = p.mul(t).add(-0.18628806);
            p = p.mul(t).add(0.09678418);
            p = p.mul(t).add(0.37409196);
            p = p.mul(t).add(1.00002368);
            DoubleVector r = t.mul(z.mul(z).neg().add(-1.26551223).add(t.mul(p)).lanewise(VectorOperators.EXP));
            VectorMask<Double> negative = u.compare(VectorOperators.LT, 0.0);
            DoubleVector phi = r.blend(DoubleVector.broadcast(D, 2.0).sub(r), negative).mul(0.5);
            DoubleVector density = v.mul(v).mul(-0.5).lanewise(VectorOperators.EXP).mul(INV_SQRT_2PI);
            phi.add(v.mul(density)).intoArray(wide, i);
        }
        for (; i < len; i++) {
            wide[i] = UnaryMath.derivative(dev.jrocm.runtime.device.Backend.UnaryOp.GELU, wide[i], 0);
        }
        for (int j = 0; j < len; j++) {
            g[j] = (float) (dy[j] * wide[j]);
        }
    }

    /**
     * {@link UnaryMath#softmaxRow} with vectors: the max and Σ exp(x − max) over lanes (so the sum's
     * order is not the row's: it differs by float rounding), exp in float through {@code EXP}.
     */
    static void softmaxRow(float[] x, float[] y, int n, boolean log) {
        int bound = S.loopBound(n), i = 0;
        FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; i < bound; i += S.length()) {
            mv = mv.max(FloatVector.fromArray(S, x, i)); // Math.max's semantics: a NaN wins
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, x[i]);
        }
        FloatVector sv = FloatVector.zero(S);
        for (i = 0; i < bound; i += S.length()) {
            FloatVector e = FloatVector.fromArray(S, x, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(y, i);
            sv = sv.add(e);
        }
        float sum = sv.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            y[i] = (float) Math.exp(x[i] - max);
            sum += y[i];
        }
        UnaryMath.normaliseRow(x, y, n, max, sum, log);
    }

    /**
     * Max pooling of one plane without padding, L outputs at a time in the plane's order (so
     * rows as short as a CNN's 14 or 7 outputs still fill vectors): output o's window starts at
     * {@code base[o]} = (oi·strideH)·w + oj·strideW, and each kernel tap (p, q) is a gather of
     * the L elements at base + p·w + q, compared in row-major order of the window as the scalar
     * loop: the first largest wins, a NaN beats any number (the first NaN). Fills outputs
     * [0, done) of out and where, returns done (a multiple of L); the caller does the rest.
     * Branch-free, where the scalar loop's data-dependent branch is mispredicted about once per
     * window.
     */
    static int maxPoolPlane(float[] in, int w, int kh, int kw, int[] base, float[] out, int[] where, int planeOut) {
        int done = 0, lanes = S.length();
        for (; done + lanes <= planeOut; done += lanes) {
            IntVector start = IntVector.fromArray(IS, base, done);
            FloatVector best = FloatVector.fromArray(S, in, 0, base, done);
            IntVector at = start;
            for (int p = 0; p < kh; p++) {
                for (int q = p == 0 ? 1 : 0; q < kw; q++) {
                    int offset = p * w + q;
                    FloatVector v = FloatVector.fromArray(S, in, offset, base, done);
                    VectorMask<Float> take = v.compare(VectorOperators.GT, best)
                            .or(v.test(VectorOperators.IS_NAN).andNot(best.test(VectorOperators.IS_NAN)));
                    best = best.blend(v, take);
                    at = at.blend(start.add(offset), take.cast(IS));
                }
            }
            best.intoArray(out, done);
            at.intoArray(where, done);
        }
        return done;
    }

    /** dx[0, len) += y &gt; 0 ? dy : 0, the mask a vector compare (a NaN y passes nothing). */
    static void reluBackward(float[] y, float[] dy, float[] dx, int len) {
        int i = 0;
        for (int end = S.loopBound(len); i < end; i += S.length()) {
            VectorMask<Float> open = FloatVector.fromArray(S, y, i).compare(VectorOperators.GT, 0f);
            FloatVector g = FloatVector.zero(S).blend(FloatVector.fromArray(S, dy, i), open);
            FloatVector.fromArray(S, dx, i).add(g).intoArray(dx, i);
        }
        for (; i < len; i++) {
            dx[i] += y[i] > 0f ? dy[i] : 0f;
        }
    }

    /**
     * One Adam step over {@code len} elements of p, m and v in place in their segments (from byte
     * {@code offset}), with the gradient from the heap: {@link CpuBackend}'s {@code adamChunk} in
     * one pass. Each vector of p, m and v is loaded, stepped and stored while the next ones stream
     * in, where copying a chunk to the heap, stepping it and copying it back left the memory idle
     * during the arithmetic (measured on fc1, 4096×3072, 2 cores: 20 ms a factored step against
     * 11 ms for copying p, m and v). The same float operations in the same order as the scalar
     * loop, so the results are equal bit for bit (sqrt and division are correctly rounded in
     * both; nothing is fused).
     */
    static void adam(java.lang.foreign.MemorySegment pm, java.lang.foreign.MemorySegment mm,
                     java.lang.foreign.MemorySegment vm, long offset, float[] g, int len, float b1, float b2, float eps,
                     float stepSize, float bc2Sqrt, float decay, float l2, boolean flush) {
        java.nio.ByteOrder order = java.nio.ByteOrder.nativeOrder();
        float omb1 = 1f - b1, omb2 = 1f - b2, t = dev.jrocm.runtime.device.AdamStep.FLUSH_BELOW;
        int i = 0;
        for (int end = S.loopBound(len); i < end; i += S.length()) {
            long at = offset + (long) i * Float.BYTES;
            FloatVector pv = FloatVector.fromMemorySegment(S, pm, at, order);
            FloatVector mv = FloatVector.fromMemorySegment(S, mm, at, order);
            FloatVector vv = FloatVector.fromMemorySegment(S, vm, at, order);
            FloatVector grad = FloatVector.fromArray(S, g, i).add(pv.mul(l2));
            FloatVector mi = mv.add(grad.sub(mv).mul(omb1));
            FloatVector vi = vv.mul(b2).add(grad.mul(omb2).mul(grad));
            if (flush) { // ×0 or ×1, branch-free: see AdamStep
                mi = mi.mul(mi.abs().sub(t).mul(0x1p127f).mul(0x1p22f).max(0f).min(1f));
                vi = vi.mul(vi.sub(t).mul(0x1p127f).mul(0x1p22f).max(0f).min(1f));
            }
            mi.intoMemorySegment(mm, at, order);
            vi.intoMemorySegment(vm, at, order);
            pv.mul(decay).sub(mi.div(vi.sqrt().div(bc2Sqrt).add(eps)).mul(stepSize)).intoMemorySegment(pm, at, order);
        }
        for (; i < len; i++) {
            long at = offset + (long) i * Float.BYTES;
            float pi = pm.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at);
            float mOld = mm.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at);
            float vOld = vm.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at);
            float grad = g[i] + l2 * pi;
            float mi = mOld + omb1 * (grad - mOld);
            float vi = vOld * b2 + omb2 * grad * grad;
            if (flush) {
                mi *= Math.min(1f, Math.max(0f, (Math.abs(mi) - t) * 0x1p127f * 0x1p22f));
                vi *= Math.min(1f, Math.max(0f, (vi - t) * 0x1p127f * 0x1p22f));
            }
            mm.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at, mi);
            vm.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at, vi);
            pm.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at,
                    pi * decay - stepSize * (mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps)));
        }
    }
}
