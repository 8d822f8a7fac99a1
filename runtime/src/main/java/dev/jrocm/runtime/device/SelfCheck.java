package dev.jrocm.runtime.device;

import dev.jrocm.runtime.device.cpu.CpuBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

/**
 * A check of a second that a backend computes what the CPU backend computes, for a person who
 * wants to know whether jrocm works on their GPU ({@code scripts/jrocm-info.sh --check}): copies
 * (plain and strided), fill, the counter RNG, a GEMM with alpha and beta, bias + ReLU, the fused
 * cross-entropy with its gradient, an Adam step, a row gather and scatter-add, layer norm, softmax,
 * GELU, a convolution's three passes, max pooling and batch norm, each on small random data against
 * the CPU backend.
 * Nothing it does throws: a failing op is a result that says what went wrong.
 */
public final class SelfCheck {
    private SelfCheck() {}

    /** One op: its relative error against the CPU backend and its limit, or the problem it met. */
    public record Result(String op, double error, double limit, String problem) {
        /** Passed: no problem and within the limit (NaN fails). */
        public boolean ok() {
            return problem == null && error <= limit;
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%-40s %s", op, problem != null ? "FAILED: " + problem
                    : ok() ? String.format(java.util.Locale.ROOT, "ok (error %.2g)", error)
                    : String.format(java.util.Locale.ROOT, "FAILED: error %.3g > %.0g", error, limit));
        }
    }

    /** Runs every op on {@code backend} and on a CPU backend of its own. */
    public static List<Result> run(Backend backend) {
        List<Result> results = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend()) {
            for (Op op : ops()) {
                results.add(compare(op, backend, cpu));
            }
        }
        return results;
    }

    /** An op on a backend: what it wrote, read back. */
    private record Op(String name, double limit, Function<Backend, float[]> body) {}

    private static Result compare(Op op, Backend backend, Backend cpu) {
        try {
            float[] want = op.body().apply(cpu);
            float[] got = op.body().apply(backend);
            return new Result(op.name(), relativeError(got, want), op.limit(), null);
        } catch (RuntimeException e) {
            return new Result(op.name(), Double.NaN, op.limit(), e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /** ‖got − want‖ / ‖want‖ in double (the plain norm of the difference when want is all zeros); NaN when the lengths differ. */
    public static double relativeError(float[] got, float[] want) {
        if (got.length != want.length) {
            return Double.NaN;
        }
        double diff = 0, norm = 0;
        for (int i = 0; i < got.length; i++) {
            double d = (double) got[i] - want[i];
            diff += d * d;
            norm += (double) want[i] * want[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    private static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** Buffers of one op on one backend, released together. */
    private static final class Buffers implements AutoCloseable {
        private final Backend backend;
        private final List<Buffer> all = new ArrayList<>();

        Buffers(Backend backend) {
            this.backend = backend;
        }

        Buffer floats(float[] data) {
            return upload(data.length, MemorySegment.ofArray(data), ValueLayout.JAVA_FLOAT);
        }

        Buffer ints(int[] data) {
            return upload(data.length, MemorySegment.ofArray(data), ValueLayout.JAVA_INT);
        }

        private Buffer upload(int n, MemorySegment heap, ValueLayout element) {
            Buffer b = empty(n);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(element, Math.max(1, n));
                MemorySegment.copy(heap, 0, host, 0, (long) n * 4);
                backend.copyFromHost(host.asSlice(0, (long) n * 4), b);
            }
            return b;
        }

        Buffer empty(long n) {
            Buffer b = backend.allocate(n * 4);
            all.add(b);
            return b;
        }

        float[] read(Buffer b) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(Math.max(4, b.byteSize())).asSlice(0, b.byteSize());
                backend.copyToHost(b, host);
                return host.toArray(ValueLayout.JAVA_FLOAT);
            }
        }

        @Override
        public void close() {
            all.forEach(backend::release);
        }
    }

    private static Op op(String name, double limit, java.util.function.BiFunction<Backend, Buffers, float[]> body) {
        return new Op(name, limit, be -> {
            try (Buffers b = new Buffers(be)) {
                return body.apply(be, b);
            }
        });
    }

    private static List<Op> ops() {
        int n = 1000;
        float[] x = gaussian(n, 1), y = gaussian(n, 2);
        int m = 33, k = 47, cols = 65;
        float[] a = gaussian(m * k, 3), w = gaussian(cols * k, 4), c = gaussian(m * cols, 5), bias = gaussian(cols, 6);
        int rows = 16, classes = 10;
        float[] logits = gaussian(rows * classes, 7);
        int[] labels = new Random(8).ints(rows, 0, classes).toArray();
        float[] v = gaussian(n, 9);
        for (int i = 0; i < n; i++) {
            v[i] *= v[i];
        }
        int[] picks = {3, 0, 999, 500, 3};
        AdamStep step = new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, true, 3);
        return List.of(
                op("copy host → device → device → host", 0, (be, b) -> {
                    Buffer src = b.floats(x), dst = b.empty(n);
                    be.copy(src, dst);
                    return b.read(dst);
                }),
                op("strided copy: a 3-d permute, added to its target", 1e-6, (be, b) -> {
                    int[] shape = {10, 4, 25}; // x seen as (25, 10, 4) permuted to (10, 4, 25)
                    Buffer out = b.floats(y);
                    be.copyStrided(b.floats(x), new long[] {4, 1, 40}, out, Strides.dense(shape), shape, true);
                    return b.read(out);
                }),
                op("fill", 0, (be, b) -> {
                    Buffer t = b.empty(n);
                    be.fill(t, 0.75f);
                    return b.read(t);
                }),
                op("uniform (counter RNG)", 0, (be, b) -> {
                    Buffer t = b.empty(n);
                    be.uniform(t, -1f, 1f, 42);
                    return b.read(t);
                }),
                op("gemm 33×65×47, x·Wᵀ, alpha 0.5, beta 1", 1e-5, (be, b) -> {
                    Buffer out = b.floats(c);
                    be.gemm(false, true, m, cols, k, 0.5f, b.floats(a), b.floats(w), 1f, out);
                    return b.read(out);
                }),
                op("bias add + ReLU", 1e-6, (be, b) -> {
                    Buffer t = b.floats(c);
                    be.addBias(t, b.floats(bias), m, cols);
                    be.relu(t, t);
                    return b.read(t);
                }),
                op("cross-entropy: loss, correct, dLogits", 1e-5, (be, b) -> {
                    Buffer out = b.empty(2), d = b.empty((long) rows * classes);
                    be.crossEntropy(b.floats(logits), b.ints(labels), rows, classes, out, d);
                    float[] loss = b.read(out), grad = b.read(d);
                    float[] both = java.util.Arrays.copyOf(loss, 2 + grad.length);
                    System.arraycopy(grad, 0, both, 2, grad.length);
                    return both;
                }),
                op("AdamW step", 1e-6, (be, b) -> {
                    Buffer p = b.floats(x), mm = b.floats(y), vv = b.floats(v);
                    be.adam(p, b.floats(y), mm, vv, step);
                    return b.read(p);
                }),
                op("gather rows", 0, (be, b) -> {
                    Buffer out = b.empty((long) picks.length * 10);
                    be.gatherRows(b.floats(x), 10, b.ints(java.util.Arrays.stream(picks).map(i -> i / 10).toArray()),
                            picks.length, out);
                    return b.read(out);
                }),
                op("scatter-add rows (rows picked twice)", 1e-6, (be, b) -> {
                    Buffer out = b.floats(java.util.Arrays.copyOf(y, 100 * 10));
                    be.scatterAddRows(b.floats(java.util.Arrays.copyOf(x, picks.length * 10)), 10,
                            b.ints(java.util.Arrays.stream(picks).map(i -> i / 10).toArray()), picks.length, out);
                    return b.read(out);
                }),
                op("layer norm 33×65 and its gradients", 1e-5, (be, b) -> {
                    Buffer out = b.empty((long) m * cols), mean = b.empty(m), rstd = b.empty(m);
                    Buffer dx = b.empty((long) m * cols), dw = b.empty(cols), db = b.empty(cols);
                    Buffer in = b.floats(c), weight = b.floats(bias);
                    be.layerNorm(in, weight, b.floats(java.util.Arrays.copyOf(a, cols)), m, cols, 1e-5f, out, mean, rstd);
                    be.layerNormBackward(in, weight, mean, rstd, b.floats(java.util.Arrays.copyOf(a, m * cols)), m, cols,
                            dx, dw, db);
                    float[] all = new float[3 * m * cols];
                    System.arraycopy(b.read(out), 0, all, 0, m * cols);
                    System.arraycopy(b.read(dx), 0, all, m * cols, m * cols);
                    System.arraycopy(b.read(dw), 0, all, 2 * m * cols, cols);
                    System.arraycopy(b.read(db), 0, all, 2 * m * cols + cols, cols);
                    return all;
                }),
                op("softmax 33×65 and its gradient", 1e-5, (be, b) -> {
                    Buffer out = b.empty((long) m * cols), dx = b.empty((long) m * cols);
                    be.softmax(b.floats(c), m, cols, 1, out, false);
                    be.softmaxBackward(out, b.floats(java.util.Arrays.copyOf(a, m * cols)), m, cols, 1, dx, false, false);
                    return concat(b.read(out), b.read(dx));
                }),
                op("GELU (erf) and its gradient", 1e-5, (be, b) -> {
                    Buffer in = b.floats(x), out = b.empty(n), dx = b.empty(n);
                    be.unary(Backend.UnaryOp.GELU, in, out);
                    be.unaryBackward(Backend.UnaryOp.GELU, in, out, b.floats(y), dx, false);
                    return concat(b.read(out), b.read(dx));
                }),
                op("conv2d 2×3×9×8 → 4, 3×2, stride 2, pad 1, dilation 2: y, dx, dW", 1e-5, (be, b) -> {
                    Conv2dShape s = new Conv2dShape(2, 3, 9, 8, 4, 3, 2, 2, 2, 1, 1, 2, 2);
                    Buffer in = b.floats(java.util.Arrays.copyOf(x, (int) s.inputSize()));
                    Buffer weight = b.floats(java.util.Arrays.copyOf(y, (int) s.weightSize()));
                    Buffer out = b.empty(s.outputSize()), dx = b.empty(s.inputSize()), dw = b.empty(s.weightSize());
                    Buffer dy = b.floats(java.util.Arrays.copyOf(v, (int) s.outputSize()));
                    be.conv2dForward(in, weight, s, out);
                    be.conv2dBackwardData(dy, weight, s, dx, false);
                    be.conv2dBackwardWeight(dy, in, s, dw, false);
                    return concat(concat(b.read(out), b.read(dx)), b.read(dw));
                }),
                op("max pool 3×3, stride 2, pad 1 and its gradient", 1e-6, (be, b) -> {
                    Pool2dShape s = new Pool2dShape(2, 3, 9, 8, 3, 3, 2, 2, 1, 1);
                    long outSize = (long) s.n() * s.c() * s.outH() * s.outW(), inSize = 2L * 3 * 9 * 8;
                    Buffer out = b.empty(outSize), idx = b.empty(outSize), dx = b.empty(inSize);
                    be.maxPool2dForward(b.floats(java.util.Arrays.copyOf(x, (int) inSize)), s, out, idx);
                    be.maxPool2dBackward(b.floats(java.util.Arrays.copyOf(y, (int) outSize)), idx, s, dx, false);
                    return concat(b.read(out), b.read(dx));
                }),
                op("batch norm 4×5×6×6 (training) and its gradients", 1e-5, (be, b) -> {
                    int bn = 4, ch = 5, hw = 36, size = bn * ch * hw;
                    Buffer in = b.floats(java.util.Arrays.copyOf(x, size)), weight = b.floats(java.util.Arrays.copyOf(bias, ch));
                    Buffer out = b.empty(size), mean = b.empty(ch), rstd = b.empty(ch), dx = b.empty(size);
                    Buffer dw = b.empty(ch), db = b.empty(ch);
                    be.batchNorm2dTraining(in, weight, b.floats(java.util.Arrays.copyOf(y, ch)), bn, ch, hw, 1e-5f, 0.1f,
                            null, null, out, mean, rstd);
                    be.batchNorm2dBackward(in, weight, mean, rstd, b.floats(java.util.Arrays.copyOf(v, size)), bn, ch, hw, true,
                            dx, dw, db);
                    return concat(concat(b.read(out), b.read(dx)), concat(b.read(dw), b.read(db)));
                }));
    }

    private static float[] concat(float[] first, float[] second) {
        float[] all = java.util.Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, all, first.length, second.length);
        return all;
    }
}
