package dev.jrocm.runtime.device;

import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.cpu.CpuGemm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.downloadInts;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static dev.jrocm.runtime.device.TestBuffers.uploadInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every op of the Backend SPI on every backend present, against a plain-Java reference computed
 * in double. A GPU backend joins {@link #backends()} and must pass the same checks.
 */
class BackendContractTest {
    static final long SEED = 7L;
    static final List<Backend> BACKENDS = new ArrayList<>();

    static final List<Runnable> RESTORE = new ArrayList<>();

    static List<Backend> backends() {
        if (BACKENDS.isEmpty()) {
            BACKENDS.add(new CpuBackend(CpuGemm.java()));
            CpuGemm.cblas().ifPresent(c -> BACKENDS.add(new CpuBackend(c)));
            for (DeviceKind gpu : List.of(DeviceKind.HIP, DeviceKind.CUDA)) {
                if (Devices.status(gpu).available()) {
                    BACKENDS.add(Devices.open(new DeviceSpec(gpu, 0)));
                }
            }
            if (!Devices.status(DeviceKind.CUDA).available()) {
                emulatedCuda().ifPresent(BACKENDS::add);
            }
        }
        return BACKENDS;
    }

    /**
     * The CUDA backend over the test double of the CUDA driver, NVRTC and cuBLAS
     * ({@code src/test/c/fake_cuda.c}), which builds jrocm's kernel source for the host and runs it:
     * the kernels' arithmetic and jrocm's launches of them, held to the same checks as the CPU.
     * Where gcc or g++ is missing, it is left out.
     */
    static java.util.Optional<Backend> emulatedCuda() {
        try {
            if (new ProcessBuilder("g++", "--version").start().waitFor() != 0) {
                return java.util.Optional.empty();
            }
            java.nio.file.Path fake = TestDoubles.build("fake_cuda");
            for (NativeLibrary library : List.of(NativeLibrary.CUDA, NativeLibrary.NVRTC, NativeLibrary.CUBLAS)) {
                RESTORE.add(library.substitute(fake));
            }
            return java.util.Optional.of(new dev.jrocm.runtime.device.gpu.GpuBackend(
                    dev.jrocm.runtime.device.cuda.CudaDriver.open(0)));
        } catch (java.io.IOException | InterruptedException e) {
            return java.util.Optional.empty();
        }
    }

    @AfterAll
    static void closeBackends() {
        BACKENDS.forEach(Backend::close);
        BACKENDS.clear();
        RESTORE.forEach(Runnable::run);
        RESTORE.clear();
    }

    // ---- helpers: host arrays in and out of buffers are TestBuffers' -----------------------------

    static void assertClose(double want, float got, double rel, String what) {
        assertTrue(Math.abs(got - want) <= rel * Math.max(1, Math.abs(want)),
                what + ": got " + got + ", want " + want + " (seed " + SEED + ")");
    }

    // ---- memory -------------------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void copiesRoundTripAndReleasedBuffersGoBackToThePool(Backend be) {
        float[] data = gaussian(1000, SEED);
        long before = be.memoryStats().systemAllocations();
        Buffer a = upload(be, data);
        Buffer b = be.allocate(a.byteSize());
        be.copy(a, b);
        assertArrayEquals(data, download(be, b));
        be.release(a);
        be.release(b);
        be.release(b); // idempotent
        Buffer c = be.allocate(1000L * Float.BYTES);
        Buffer d = be.allocate(1000L * Float.BYTES);
        assertTrue(be.memoryStats().systemAllocations() - before <= 2, "the pool did not reuse released blocks");
        be.release(c);
        be.release(d);
        IllegalStateException e = assertThrows(IllegalStateException.class, a::memory);
        assertTrue(e.getMessage().contains("used after it was released"), e.getMessage());
    }

    // ---- initialisation -----------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void fillAndSeededRandomInitAreDeterministicAndInRange(Backend be) {
        int n = 100_000;
        Buffer x = be.allocate(n * 4L);
        be.fill(x, 2.5f);
        for (float v : download(be, x)) {
            assertEquals(2.5f, v);
        }
        be.uniform(x, -0.25f, 0.75f, 99);
        float[] u = download(be, x);
        double mean = 0;
        for (float v : u) {
            assertTrue(v >= -0.25f && v < 0.75f, "uniform value " + v + " out of [-0.25, 0.75)");
            mean += v / n;
        }
        assertEquals(0.25, mean, 0.01);
        be.uniform(x, -0.25f, 0.75f, 99);
        assertArrayEquals(u, download(be, x), "same seed, different values");
        be.normal(x, 1f, 2f, 5);
        float[] g = download(be, x);
        double m = 0, sq = 0;
        for (float v : g) {
            m += v / n;
        }
        for (float v : g) {
            sq += (v - m) * (v - m) / n;
        }
        assertEquals(1, m, 0.03);
        assertEquals(2, Math.sqrt(sq), 0.03);
        be.release(x);
    }

    // ---- linear algebra -----------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void gemmWithAlphaBetaMatchesTheReference(Backend be) {
        int m = 7, n = 9, k = 11;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            float[] a = gaussian(m * k, SEED + t), b = gaussian(k * n, SEED + 10 + t), c = gaussian(m * n, SEED + 20 + t);
            Buffer ab = upload(be, a), bb = upload(be, b), cb = upload(be, c);
            be.gemm(ta, tb, m, n, k, 0.5f, ab, bb, 2f, cb);
            float[] got = download(be, cb);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                    }
                    assertClose(0.5 * s + 2.0 * c[i * n + j], got[i * n + j], 1e-5, "gemm ta=" + ta + " tb=" + tb);
                }
            }
            be.release(ab);
            be.release(bb);
            be.release(cb);
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void biasAddAndColumnSumsMatchTheReference(Backend be) {
        int rows = 300, cols = 257;
        float[] y = gaussian(rows * cols, SEED), bias = gaussian(cols, SEED + 1), start = gaussian(cols, SEED + 2);
        Buffer yb = upload(be, y), bb = upload(be, bias), out = upload(be, start);
        be.addBias(yb, bb, rows, cols);
        float[] got = download(be, yb);
        for (int i = 0; i < rows * cols; i++) {
            assertEquals(y[i] + bias[i % cols], got[i], 1e-6f);
        }
        be.columnSums(yb, rows, cols, out, true);
        float[] sums = download(be, out);
        for (int c = 0; c < cols; c++) {
            double s = start[c];
            for (int r = 0; r < rows; r++) {
                s += got[r * cols + c];
            }
            assertClose(s, sums[c], 1e-5, "accumulated column sum " + c);
        }
        be.columnSums(yb, rows, cols, out, false);
        float[] fresh = download(be, out);
        for (int c = 0; c < cols; c++) {
            assertClose(sums[c] - start[c], fresh[c], 1e-4, "column sum " + c);
        }
        be.release(yb);
        be.release(bb);
        be.release(out);
    }

    // ---- element-wise -------------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void reluScaleAndAxpyMatchTheReference(Backend be) {
        int n = 200_003;
        float[] x = gaussian(n, SEED), dy = gaussian(n, SEED + 1), dx0 = gaussian(n, SEED + 2);
        Buffer xb = upload(be, x), yb = be.allocate(n * 4L), dyb = upload(be, dy), dxb = upload(be, dx0);
        be.relu(xb, yb);
        float[] y = download(be, yb);
        be.reluBackward(yb, dyb, dxb, true);
        float[] dx = download(be, dxb);
        for (int i = 0; i < n; i++) {
            assertEquals(Math.max(x[i], 0f), y[i]);
            assertEquals(dx0[i] + (x[i] > 0 ? dy[i] : 0f), dx[i], 1e-6f);
        }
        be.reluBackward(yb, dyb, dxb, false);
        dx = download(be, dxb);
        for (int i = 0; i < n; i++) {
            assertEquals(x[i] > 0 ? dy[i] : 0f, dx[i]);
        }
        be.scale(xb, -3f);
        be.axpy(0.5f, dyb, xb);
        float[] z = download(be, xb);
        for (int i = 0; i < n; i++) {
            assertEquals(-3f * x[i] + 0.5f * dy[i], z[i], 1e-5f);
        }
        for (Buffer b : List.of(xb, yb, dyb, dxb)) {
            be.release(b);
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void dropoutKeepsAboutOneMinusPAndBackwardUsesTheSameMask(Backend be) {
        int n = 100_000;
        float p = 0.25f;
        float[] x = gaussian(n, SEED), dy = gaussian(n, SEED + 1);
        Buffer xb = upload(be, x), yb = be.allocate(n * 4L), dyb = upload(be, dy), dxb = upload(be, dy);
        be.dropout(xb, yb, p, 99);
        be.dropoutBackward(dyb, dxb, p, 99, true);
        float[] y = download(be, yb), dx = download(be, dxb);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            boolean keep = dev.jrocm.runtime.device.cpu.CounterRandom.uniform(99, i) >= p;
            kept += keep ? 1 : 0;
            assertEquals(keep ? x[i] / (1 - p) : 0f, y[i], 1e-6f);
            assertEquals(dy[i] + (keep ? dy[i] / (1 - p) : 0f), dx[i], 1e-5f);
        }
        assertEquals(0.75, kept / (double) n, 0.01);
        for (Buffer b : List.of(xb, yb, dyb, dxb)) {
            be.release(b);
        }
    }

    // ---- broadcasting ---------------------------------------------------------------------------

    /** The spec of {@link Backend#binary}, in Java floats: out[i] = a[Σ i_d·as_d] op b[Σ i_d·bs_d]. */
    static float[] binaryReference(Backend.BinaryOp op, float[] a, long[] as, float[] b, long[] bs, int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            long ao = 0, bo = 0;
            for (int d = shape.length - 1, rest = i; d >= 0; d--) {
                int k = rest % shape[d];
                rest /= shape[d];
                ao += k * as[d];
                bo += k * bs[d];
            }
            float x = a[(int) ao], y = b[(int) bo];
            out[i] = switch (op) {
                case ADD -> x + y;
                case SUB -> x - y;
                case MUL -> x * y;
                case DIV -> x / y;
            };
        }
        return out;
    }

    /** Dense strides of {@code shape} read as {@code target} (right-aligned), 0 where it has 1 or lacks the dimension. */
    static long[] readAs(int[] shape, int[] target) {
        long[] s = new long[target.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[target.length - shape.length + d] = shape[d] == 1 ? 0 : step;
            step *= shape[d];
        }
        return s;
    }

    static int count(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void binaryOpsBroadcastAndFollowStridesAsTheReference(Backend be) {
        int[][][] cases = { // {a's shape, b's shape, out's shape}
                {{100_003}, {100_003}, {100_003}},          // dense, split across cores
                {{2, 3}, {3}, {2, 3}},
                {{3}, {2, 3}, {2, 3}},
                {{2, 1, 4}, {3, 1}, {2, 3, 4}},
                {{1}, {2, 2}, {2, 2}},
                {{300, 257}, {257}, {300, 257}},            // a bias, many rows
                {{300, 1}, {1, 257}, {300, 257}},           // an outer product's pattern
                {{2, 1, 3, 1, 2, 2}, {4, 3, 1, 1, 2}, {2, 4, 3, 1, 2, 2}},
        };
        int seed = 0;
        for (int[][] c : cases) {
            for (Backend.BinaryOp op : Backend.BinaryOp.values()) {
                float[] a = gaussian(count(c[0]), SEED + seed++), b = gaussian(count(c[1]), SEED + seed++);
                long[] as = readAs(c[0], c[2]), bs = readAs(c[1], c[2]);
                Buffer ab = upload(be, a), bb = upload(be, b), out = be.allocate(count(c[2]) * 4L);
                be.binary(op, ab, as, bb, bs, out, c[2]);
                float[] want = binaryReference(op, a, as, b, bs, c[2]), got = download(be, out);
                for (int i = 0; i < want.length; i++) {
                    assertClose(want[i], got[i], 1e-6, op + " " + java.util.Arrays.deepToString(c) + " at " + i);
                }
                for (Buffer x : List.of(ab, bb, out)) {
                    be.release(x);
                }
            }
        }
        // Any strides, not only broadcasts: a (4, 3) matrix read transposed, minus b's rows reversed by steps of 2.
        float[] a = gaussian(12, SEED), b = gaussian(8, SEED + 1);
        long[] as = {1, 3}, bs = {2, 0};
        Buffer ab = upload(be, a), bb = upload(be, b), out = be.allocate(12 * 4L);
        be.binary(Backend.BinaryOp.SUB, ab, as, bb, bs, out, new int[] {3, 4});
        assertArrayEquals(binaryReference(Backend.BinaryOp.SUB, a, as, b, bs, new int[] {3, 4}), download(be, out));
        be.binary(Backend.BinaryOp.MUL, out, new long[] {4, 1}, ab, as, out, new int[] {3, 4}); // out may be an operand
        float[] twice = binaryReference(Backend.BinaryOp.MUL,
                binaryReference(Backend.BinaryOp.SUB, a, as, b, bs, new int[] {3, 4}), new long[] {4, 1}, a, as, new int[] {3, 4});
        assertArrayEquals(twice, download(be, out));
        for (Buffer x : List.of(ab, bb, out)) {
            be.release(x);
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void sumToSumsOverTheBroadcastDimensionsAsTheReference(Backend be) {
        int[][][] cases = { // {x's shape, out's shape}
                {{300, 257}, {1, 257}},          // column sums (a bias gradient)
                {{257, 300}, {257, 1}},          // row sums
                {{2, 3, 4}, {1, 3, 1}},
                {{2, 3, 4}, {2, 1, 4}},
                {{5, 70, 3}, {5, 1, 3}},         // few outputs of many elements: a GPU block each
                {{100, 1000}, {1, 1}},           // everything into one
                {{2, 4, 3, 1, 2, 2}, {2, 1, 3, 1, 1, 2}},
                {{7, 5}, {7, 5}},                // nothing to sum: alpha·x + beta·out
        };
        int seed = 100;
        for (int[][] c : cases) {
            float[] x = gaussian(count(c[0]), SEED + seed++), start = gaussian(count(c[1]), SEED + seed++);
            long[] os = readAs(c[1], c[0]);
            double[] sums = new double[start.length];
            for (int i = 0; i < x.length; i++) {
                long o = 0;
                for (int d = c[0].length - 1, rest = i; d >= 0; d--) {
                    o += (rest % c[0][d]) * os[d];
                    rest /= c[0][d];
                }
                sums[(int) o] += x[i];
            }
            Buffer xb = upload(be, x), out = upload(be, start);
            for (float beta : new float[] {1f, 0f}) {
                be.sumTo(-0.5f, xb, c[0], beta, out, c[1]);
                float[] got = download(be, out);
                for (int j = 0; j < sums.length; j++) {
                    assertClose(-0.5 * sums[j] + (beta == 0f ? 0 : start[j]), got[j], 1e-4,
                            "sumTo " + java.util.Arrays.deepToString(c) + " beta " + beta + " at " + j);
                }
            }
            be.release(xb);
            be.release(out);
        }
    }

    // ---- fused ops ----------------------------------------------------------------------------

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void crossEntropyGivesLossCorrectCountAndGradient(Backend be) {
        int rows = 13, classes = 10;
        float[] logits = gaussian(rows * classes, SEED);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= 4; // spread out, some large, to exercise the max shift
        }
        int[] labels = new int[rows];
        Random r = new Random(SEED);
        for (int i = 0; i < rows; i++) {
            labels[i] = r.nextInt(classes);
        }
        labels[0] = argmax(logits, 0, classes); // at least one correct
        Buffer lb = upload(be, logits), yb = uploadInts(be, labels), out = be.allocate(8), d = be.allocate(rows * classes * 4L);
        be.crossEntropy(lb, yb, rows, classes, out, d);
        float[] o = download(be, out), grad = download(be, d);
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < rows; i++) {
            double lse = TestBuffers.logSumExp(logits, i * classes, classes);
            loss += (lse - logits[i * classes + labels[i]]) / rows;
            correct += argmax(logits, i, classes) == labels[i] ? 1 : 0;
            for (int c = 0; c < classes; c++) {
                double want = (Math.exp(logits[i * classes + c] - lse) - (c == labels[i] ? 1 : 0)) / rows;
                assertEquals(want, grad[i * classes + c], 1e-6, "dLogits[" + i + "," + c + "]");
            }
        }
        assertClose(loss, o[0], 1e-6, "loss");
        assertEquals(correct, o[1]);
        Buffer bad = uploadInts(be, new int[] {0, 1, 10, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> { be.crossEntropy(lb, bad, rows, classes, out, null); be.synchronize(); }); // GPUs throw at the sync
        assertEquals("cross-entropy: label 10 of row 2 is outside [0, 10)", e.getMessage());
        Buffer idx = be.allocate(rows * 4L);
        be.argmaxRows(lb, rows, classes, idx);
        int[] am = downloadInts(be, idx);
        for (int i = 0; i < rows; i++) {
            assertEquals(argmax(logits, i, classes), am[i]);
        }
        for (Buffer b : List.of(lb, yb, out, d, bad, idx)) {
            be.release(b);
        }
    }

    static int argmax(float[] x, int row, int cols) {
        int best = 0;
        for (int c = 1; c < cols; c++) {
            if (x[row * cols + c] > x[row * cols + best]) {
                best = c;
            }
        }
        return best;
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void adamStepsFollowTheFormulaInDouble(Backend be) {
        int n = 100_001;
        for (boolean decoupled : new boolean[] {false, true}) {
            float[] p = gaussian(n, SEED), m = gaussian(n, SEED + 1), v = gaussian(n, SEED + 2), g = gaussian(n, SEED + 3);
            for (int i = 0; i < n; i++) {
                v[i] = v[i] * v[i]; // a second moment is non-negative
            }
            Buffer pb = upload(be, p), gb = upload(be, g), mb = upload(be, m), vb = upload(be, v);
            AdamStep step = new AdamStep(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled, 3);
            be.adam(pb, gb, mb, vb, step);
            float[] p2 = download(be, pb), m2 = download(be, mb), v2 = download(be, vb);
            assertArrayEquals(g, download(be, gb), "adam changed the gradient");
            for (int i = 0; i < n; i += 7) {
                double param = p[i], grad = g[i];
                if (decoupled) {
                    param *= 1 - 0.01 * 0.1;
                } else {
                    grad += 0.1 * param;
                }
                double mi = 0.9 * m[i] + 0.1 * grad;
                double vi = 0.999 * v[i] + 0.001 * grad * grad;
                // Bias corrections written out for t = 3, not taken from the AdamStep under test.
                double want = param - 0.01 / (1 - Math.pow(0.9f, 3)) * mi / (Math.sqrt(vi) / Math.sqrt(1 - Math.pow(0.999f, 3)) + 1e-8);
                assertClose(mi, m2[i], 1e-5, "m[" + i + "]");
                assertClose(vi, v2[i], 1e-5, "v[" + i + "]");
                assertClose(want, p2[i], 1e-5, "p[" + i + "] decoupled=" + decoupled);
            }
            for (Buffer b : List.of(pb, gb, mb, vb)) {
                be.release(b);
            }
        }
    }

    /**
     * Every {@value AdamStep#FLUSH_INTERVAL}th step sets subnormal moments to 0 (both the plain and
     * the factored form, every backend alike); other steps keep them; normal values are exact.
     */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void subnormalMomentsAreFlushedEverySixteenthStep(Backend be) {
        float stuck = 3 * Float.MIN_VALUE; // the lerp leaves it unchanged when the gradient is 0
        float[] m = {stuck, -stuck, 1e-39f, -1e-39f, 0.5f, -0.25f, 2e-36f, 0f};
        float[] v = {stuck, 1e-39f, stuck, 1e-39f, 0.25f, 0.5f, 2e-36f, 0f};
        float[] g = {0, 0, 0, 0, 0.1f, -0.2f, 0, 0};
        for (int t : new int[] {AdamStep.FLUSH_INTERVAL - 1, AdamStep.FLUSH_INTERVAL, 2 * AdamStep.FLUSH_INTERVAL}) {
            AdamStep step = new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, t);
            for (boolean factored : new boolean[] {false, true}) {
                Buffer pb = upload(be, new float[8]), gb = upload(be, g), mb = upload(be, m), vb = upload(be, v);
                if (factored) { // g = dyᵀ·x with dy = [1] (1×1) and x = g (1×8)
                    Buffer dy = upload(be, new float[] {1f});
                    be.adamFactored(pb, mb, vb, dy, gb, 1, 1, 8, step);
                    be.release(dy);
                } else {
                    be.adam(pb, gb, mb, vb, step);
                }
                float[] m2 = download(be, mb), v2 = download(be, vb);
                String what = (factored ? "adamFactored" : "adam") + " at step " + t;
                if (step.flushesSubnormals()) {
                    for (int i : new int[] {0, 1, 2, 3}) {
                        assertEquals(0f, Math.abs(m2[i]), what + ": m[" + i + "] = " + m[i] + " flushed (to ±0)");
                        assertEquals(0f, v2[i], what + ": v[" + i + "] = " + v[i] + " flushed");
                    }
                } else {
                    assertEquals(stuck, m2[0], what + ": a stuck subnormal stays between flushes");
                    assertTrue(m2[2] != 0f && Math.abs(m2[2]) < Float.MIN_NORMAL, what + ": m[2] = " + m2[2]);
                }
                for (int i : new int[] {4, 5, 6}) { // normal values step exactly as without the flush
                    float mi = m[i] + (1f - 0.9f) * (g[i] - m[i]);
                    float vi = v[i] * 0.999f + (1f - 0.999f) * g[i] * g[i];
                    assertEquals(mi, m2[i], what + ": m[" + i + "]");
                    assertEquals(vi, v2[i], what + ": v[" + i + "]");
                }
                for (Buffer b : List.of(pb, gb, mb, vb)) {
                    be.release(b);
                }
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void factoredAdamMatchesFormingTheGradientFirst(Backend be) {
        // 5000 columns: more than one heap chunk per row, and a ragged last one.
        int batch = 8, out = 37, in = 5000;
        float[] p = gaussian(out * in, SEED), m = gaussian(out * in, SEED + 1), v = gaussian(out * in, SEED + 2);
        for (int i = 0; i < v.length; i++) {
            v[i] = v[i] * v[i];
        }
        float[] dy = gaussian(batch * out, SEED + 3), x = gaussian(batch * in, SEED + 4);
        for (int i = 0; i < dy.length; i += 3) {
            dy[i] = 0f; // rows a ReLU zeroed
        }
        AdamStep step = new AdamStep(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, false, 2);
        Buffer p1 = upload(be, p), m1 = upload(be, m), v1 = upload(be, v), dyb = upload(be, dy), xb = upload(be, x);
        be.adamFactored(p1, m1, v1, dyb, xb, batch, out, in, step);
        Buffer p2 = upload(be, p), m2 = upload(be, m), v2 = upload(be, v), g = be.allocate((long) out * in * 4);
        be.gemm(true, false, out, in, batch, 1f, dyb, xb, 0f, g);
        be.adam(p2, g, m2, v2, step);
        float[] want = download(be, p2), got = download(be, p1), wantM = download(be, m2), gotM = download(be, m1);
        for (int i = 0; i < want.length; i++) {
            assertClose(want[i], got[i], 1e-5, "p[" + i + "]");
            assertClose(wantM[i], gotM[i], 1e-5, "m[" + i + "]");
        }
        for (Buffer b : List.of(p1, m1, v1, dyb, xb, p2, m2, v2, g)) {
            be.release(b);
        }
    }

    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void gatherRowsPicksRowsAndRejectsBadIndices(Backend be) {
        int rows = 50, cols = 33;
        float[] src = gaussian(rows * cols, SEED);
        int[] idx = {49, 0, 7, 7, 23};
        Buffer sb = upload(be, src), ib = uploadInts(be, idx), db = be.allocate(idx.length * cols * 4L);
        be.gatherRows(sb, cols, ib, idx.length, db);
        float[] got = download(be, db);
        for (int i = 0; i < idx.length; i++) {
            for (int c = 0; c < cols; c++) {
                assertEquals(src[idx[i] * cols + c], got[i * cols + c]);
            }
        }
        Buffer bad = uploadInts(be, new int[] {1, 50});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> { be.gatherRows(sb, cols, bad, 2, db); be.synchronize(); }); // GPUs throw at the sync
        assertEquals("gatherRows: index 50 at position 1 is outside [0, 50)", e.getMessage());
        for (Buffer b : List.of(sb, ib, db, bad)) {
            be.release(b);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void scatterAddRowsAddsEveryRowIntoItsIndexInOrderAndRejectsBadIndices(Backend be) {
        int rows = 9, cols = 37;
        int[] idx = {8, 0, 3, 3, 5, 3, 0};
        float[] src = gaussian(idx.length * cols, SEED), dst = gaussian(rows * cols, SEED + 1);
        float[] expected = dst.clone();
        for (int i = 0; i < idx.length; i++) {
            for (int c = 0; c < cols; c++) {
                expected[idx[i] * cols + c] += src[i * cols + c]; // in the order of i, in float: bit-exact
            }
        }
        Buffer sb = upload(be, src), ib = uploadInts(be, idx), db = upload(be, dst);
        be.scatterAddRows(sb, cols, ib, idx.length, db);
        assertArrayEquals(expected, download(be, db));
        Buffer bad = uploadInts(be, new int[] {1, -1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> { be.scatterAddRows(sb, cols, bad, 2, db); be.synchronize(); });
        assertEquals("scatterAddRows: index -1 at position 1 is outside [0, 9)", e.getMessage());
        for (Buffer b : List.of(sb, ib, db, bad)) {
            be.release(b);
        }
    }

    /**
     * Every entry point given an operand too small for the sizes it is told, a buffer of another
     * backend, or a released buffer throws naming the op and the operand — it never reads or
     * writes outside the buffer (on the CPU that is native memory; on a GPU, device memory).
     */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void everyEntryPointChecksItsOperandsAgainstTheSizesItIsGiven(Backend be) {
        Buffer b6 = be.allocate(6 * 4L), b8 = be.allocate(8 * 4L), b12 = be.allocate(12 * 4L), small = be.allocate(4 * 4L), two = be.allocate(2 * 4L);
        Buffer labels = uploadInts(be, new int[] {0, 1});
        AdamStep step = new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, 1);
        Map<String, org.junit.jupiter.api.function.Executable> calls = new LinkedHashMap<>();
        calls.put("gemm: operand c holds 4 elements, the op needs 6",
                () -> be.gemm(false, false, 2, 3, 4, 1f, b8, b12, 0f, small));
        calls.put("gemm: operand b holds 8 elements, the op needs 12",
                () -> be.gemm(false, false, 2, 3, 4, 1f, b8, b8, 0f, b6));
        calls.put("gemm: counts (m, n, k) must not be negative", () -> be.gemm(false, false, -1, 3, 4, 1f, b8, b8, 0f, b6));
        calls.put("addBias: operand y holds 6 elements, the op needs 8", () -> be.addBias(b6, b8, 2, 4));
        calls.put("addBias: operand bias holds 2 elements, the op needs 3", () -> be.addBias(b6, two, 2, 3));
        calls.put("columnSums: operand out holds 2 elements, the op needs 3", () -> be.columnSums(b6, 2, 3, two, false));
        calls.put("columnSums: operand x holds 6 elements, the op needs 8", () -> be.columnSums(b6, 2, 4, b8, false));
        calls.put("relu: operand y holds 6 elements, the op needs 8", () -> be.relu(b8, b6));
        calls.put("reluBackward: operand dx holds 6 elements, the op needs 8", () -> be.reluBackward(b8, b8, b6, false));
        calls.put("dropout: operand y holds 6 elements, the op needs 8", () -> be.dropout(b8, b6, 0.5f, 1));
        calls.put("dropout: p must be in [0, 1], got 1.5", () -> be.dropout(b8, b8, 1.5f, 1));
        calls.put("dropoutBackward: operand dx holds 6 elements, the op needs 8", () -> be.dropoutBackward(b8, b6, 0.5f, 1, false));
        calls.put("axpy: operand y holds 6 elements, the op needs 8", () -> be.axpy(1f, b8, b6));
        calls.put("crossEntropy: operand logits holds 6 elements, the op needs 8", () -> be.crossEntropy(b6, labels, 2, 4, two, null));
        calls.put("crossEntropy: operand labels holds 2 elements, the op needs 3", () -> be.crossEntropy(b6, labels, 3, 2, two, null));
        calls.put("crossEntropy: operand dLogits holds 4 elements, the op needs 6", () -> be.crossEntropy(b6, labels, 2, 3, two, small));
        calls.put("crossEntropy: operand out holds 0 elements, the op needs 2", () -> be.crossEntropy(b6, labels, 2, 3, small.slice(0, 0), null));
        calls.put("argmaxRows: operand out holds 2 elements, the op needs 3", () -> be.argmaxRows(b6, 3, 2, two));
        calls.put("argmaxRows: 2 rows of 0 columns have no largest element", () -> be.argmaxRows(b6, 2, 0, two));
        calls.put("adam: operand v holds 6 elements, the op needs 8", () -> be.adam(b8, b8, b8, b6, step));
        calls.put("adamFactored: operand x holds 6 elements, the op needs 8", () -> be.adamFactored(b8, b8, b8, two, b6, 2, 1, 4, step));
        calls.put("adamFactored: operand dy holds 2 elements, the op needs 4", () -> be.adamFactored(b8, b8, b8, two, b8, 2, 2, 4, step));
        calls.put("gatherRows: operand dst holds 4 elements, the op needs 6", () -> be.gatherRows(b6, 3, labels, 2, small));
        calls.put("gatherRows: operand indices holds 2 elements, the op needs 3", () -> be.gatherRows(b6, 2, labels, 3, b6));
        calls.put("scatterAddRows: operand src holds 6 elements, the op needs 8", () -> be.scatterAddRows(b6, 4, labels, 2, b8));
        calls.put("scatterAddRows: operand indices holds 2 elements, the op needs 3", () -> be.scatterAddRows(b6, 2, labels, 3, b8));
        calls.put("copy: target holds 24 bytes, needs 32", () -> be.copy(b8, b6));
        long[] dense24 = {4, 1};
        int[] s24 = {2, 4};
        calls.put("binary ADD: operand a holds 6 elements, the op needs 8",
                () -> be.binary(Backend.BinaryOp.ADD, b6, dense24, b8, dense24, b8, s24));
        calls.put("binary MUL: operand b holds 6 elements, the op needs 7", // strides (2, 2) over (2, 3) reach element 6
                () -> be.binary(Backend.BinaryOp.MUL, b8, new long[] {0, 1}, b6, new long[] {2, 2}, b6, new int[] {2, 3}));
        calls.put("binary DIV: operand out holds 6 elements, the op needs 8",
                () -> be.binary(Backend.BinaryOp.DIV, b8, dense24, b8, dense24, b6, s24));
        calls.put("binary SUB: a needs 2 strides for shape [2, 4], got [1]",
                () -> be.binary(Backend.BinaryOp.SUB, b8, new long[] {1}, b8, dense24, b8, s24));
        calls.put("binary SUB: b's strides [-1, 1] must not be negative",
                () -> be.binary(Backend.BinaryOp.SUB, b8, dense24, b8, new long[] {-1, 1}, b8, s24));
        calls.put("binary ADD: operand a holds 8 elements, the op needs " + Long.MAX_VALUE, // a stride past any memory
                () -> be.binary(Backend.BinaryOp.ADD, b8, new long[] {Long.MAX_VALUE / 2, 1}, b8, dense24, b8, new int[] {3, 1}));
        calls.put("binary ADD: outShape must have rank 0 to 6, not [1, 1, 1, 1, 1, 1, 1]",
                () -> be.binary(Backend.BinaryOp.ADD, b8, new long[7], b8, new long[7], b8, new int[] {1, 1, 1, 1, 1, 1, 1}));
        calls.put("binary: op is null", () -> be.binary(null, b8, dense24, b8, dense24, b8, s24));
        calls.put("sumTo: cannot sum [2, 3] to [2, 2]: dimension 1 is 3 and 2",
                () -> be.sumTo(1f, b6, new int[] {2, 3}, 0f, b8, new int[] {2, 2}));
        calls.put("sumTo: xShape [2, 3] and outShape [3] differ in rank",
                () -> be.sumTo(1f, b6, new int[] {2, 3}, 0f, b8, new int[] {3}));
        calls.put("sumTo: operand out holds 2 elements, the op needs 3",
                () -> be.sumTo(1f, b6, new int[] {2, 3}, 0f, two, new int[] {1, 3}));
        calls.put("sumTo: operand x holds 6 elements, the op needs 8",
                () -> be.sumTo(1f, b6, s24, 0f, b8, new int[] {2, 1}));
        calls.put("sumTo: beta must be 0 or 1, got 0.5", () -> be.sumTo(1f, b6, new int[] {2, 3}, 0.5f, b8, new int[] {1, 3}));
        for (Map.Entry<String, org.junit.jupiter.api.function.Executable> call : calls.entrySet()) {
            Exception e = assertThrows(IllegalArgumentException.class, call.getValue(), call.getKey());
            assertTrue(e.getMessage().startsWith(call.getKey()), "expected '" + call.getKey() + "', got '" + e.getMessage() + "'");
        }
        try (CpuBackend other = new CpuBackend(CpuGemm.java())) {
            Buffer foreign = other.allocate(8 * 4L);
            Exception e = assertThrows(IllegalArgumentException.class, () -> be.axpy(1f, foreign, b8));
            assertTrue(e.getMessage().startsWith("axpy: operand x belongs to another backend"), e.getMessage());
        }
        Buffer released = be.allocate(8 * 4L);
        be.release(released);
        Exception e = assertThrows(IllegalStateException.class, () -> be.scale(released, 2f));
        assertEquals("scale: operand x was released", e.getMessage());
        for (Buffer b : List.of(b6, b8, b12, small, two, labels)) {
            be.release(b);
        }
    }

    /**
     * Empty inputs mean the same everywhere (PyTorch's answers): an op over no elements writes
     * nothing, a product with an empty inner dimension is zeros, the sums over no rows are zeros,
     * the mean cross-entropy of no rows is NaN with 0 correct, and gathering no rows or rows of no
     * columns is fine while a bad index is still an error.
     */
    @ParameterizedTest(autoCloseArguments = false) // the backends are shared across tests; closed in @AfterAll
    @MethodSource("backends")
    void emptyInputsHaveTheSameAnswerOnEveryBackend(Backend be) {
        Buffer empty = be.allocate(0);
        Buffer c = upload(be, new float[] {5, 5, 5, 5, 5, 5});
        be.gemm(false, false, 2, 3, 0, 1f, empty, empty, 0f, c); // (2×0)·(0×3): zeros
        assertArrayEquals(new float[6], download(be, c));
        Buffer k4 = be.allocate(12 * 4L);
        be.gemm(false, false, 0, 3, 4, 1f, empty, k4, 0f, empty); // no rows: nothing to write
        be.release(k4);
        Buffer sums = upload(be, new float[] {7, 7, 7});
        be.columnSums(empty, 0, 3, sums, false);
        assertArrayEquals(new float[3], download(be, sums));
        be.relu(empty, empty);
        be.scale(empty, 2f);
        be.axpy(1f, empty, empty);
        be.fill(empty, 1f);
        be.adam(empty, empty, empty, empty, new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, 1));
        be.argmaxRows(empty, 0, 0, empty);
        Buffer out = upload(be, new float[] {3, 3});
        be.crossEntropy(empty, empty, 0, 10, out, empty);
        float[] ce = download(be, out);
        assertTrue(Float.isNaN(ce[0]), "mean loss of no rows is NaN, got " + ce[0]);
        assertEquals(0f, ce[1]);
        Buffer src = upload(be, new float[] {1, 2, 3, 4}), idx = uploadInts(be, new int[] {1, 0});
        be.binary(Backend.BinaryOp.DIV, empty, new long[] {3, 1}, empty, new long[] {0, 1}, empty, new int[] {0, 3});
        Buffer three = upload(be, new float[] {4, 4, 4});
        be.sumTo(2f, empty, new int[] {0, 3}, 1f, three, new int[] {1, 3}); // a sum of nothing is 0
        assertArrayEquals(new float[] {4, 4, 4}, download(be, three));
        be.sumTo(2f, empty, new int[] {0, 3}, 0f, three, new int[] {1, 3});
        assertArrayEquals(new float[3], download(be, three));
        be.release(three);
        be.gatherRows(src, 2, idx, 0, empty);
        be.gatherRows(empty, 0, idx, 2, empty);
        be.synchronize();
        for (Buffer b : List.of(empty, c, sums, out, src, idx)) {
            be.release(b);
        }
    }
}
