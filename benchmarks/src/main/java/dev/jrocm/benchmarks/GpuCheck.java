package dev.jrocm.benchmarks;

import dev.jrocm.lora.Lora;
import dev.jrocm.lora.LoraConfig;
import dev.jrocm.lora.LoraModel;
import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.AdamStep;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.gpu.GpuBackend;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Module;
import dev.jrocm.runtime.nn.Linear;
import dev.jrocm.runtime.nn.ReLU;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Random;
import java.util.function.Function;

/**
 * The GPU check that scripts/device/check.sh runs on a lent GPU (docs/GPU.md): every Backend op on
 * random data against the CPU backend, 200 full and 200 LoRA training steps of the blog MLP at
 * batch 8 against the CPU backend's loss trajectory, and steps/s at batch 8 and 256. Prints a
 * table and writes {@code jrocm-summary.md} and {@code jrocm-results.tsv} to the folder given.
 * Exit status 1 when a check fails.
 *
 * <p>{@code java -cp benchmarks.jar dev.jrocm.benchmarks.GpuCheck OUT_DIR [--quick] [--only 1,3,4]
 * [--pytorch pytorch.json]}: {@code --quick} runs few steps and batch 8 alone in sections 3 and 4,
 * {@code --only} the sections named;
 * the device is {@code -Djrocm.device=} / {@code JROCM_DEVICE=} (default: the first GPU found).
 */
public final class GpuCheck {
    static final int IN = 3072, H1 = 4096, H2 = 2048, OUT = 10;
    static final double ELEMENTWISE = 1e-5, GEMM_OR_LOSS = 1e-4;
    /**
     * Two runs of the same training agree step for step only at first: rounding differences (a
     * GEMM summing in another order) grow about twofold every ten Adam steps, so after 150 steps
     * each run is its own. Section 2 therefore holds the first {@value #EARLY_STEPS} losses to
     * {@value #EARLY} (a wrong gradient or update shows at once) and the mean of the last
     * {@value #LATE_STEPS} to {@value #LATE} (a run that went astray shows there).
     */
    static final int EARLY_STEPS = 20, LATE_STEPS = 100;
    static final double EARLY = 1e-4, LATE = 2e-2;

    private final List<String> lines = new ArrayList<>();
    private final List<String> tsv = new ArrayList<>();
    private int failures;
    private final Backend gpu;
    private final Backend cpu;
    private final Path out;
    private Data data;
    /** steps/s by "full 8", "LoRA r=1 256", … from section 3. */
    private final java.util.Map<String, Double> stepsPerSecond = new java.util.LinkedHashMap<>();

    private GpuCheck(Backend gpu, Backend cpu, Path out) {
        this.gpu = gpu;
        this.cpu = cpu;
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(args) == 0 ? 0 : 1);
    }

    /** The whole check with {@link #main}'s arguments; returns the number of failed checks. */
    public static int run(String... args) throws java.io.IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "gpu-check");
        boolean quick = List.of(args).contains("--quick");
        int onlyAt = List.of(args).indexOf("--only");
        java.util.Set<String> only = onlyAt >= 0 && onlyAt + 1 < args.length
                ? java.util.Set.of(args[onlyAt + 1].split(",")) : java.util.Set.of("1", "2", "3", "4", "5");
        int torchAt = List.of(args).indexOf("--pytorch");
        Path torchJson = torchAt >= 0 && torchAt + 1 < args.length ? Path.of(args[torchAt + 1]) : null;
        Files.createDirectories(out);
        List<String> header = new ArrayList<>();
        for (BackendStatus s : Devices.describe()) {
            header.add(s.summary());
            s.libraries().forEach(l -> header.add("      " + l));
        }
        header.forEach(System.out::println);
        DeviceSpec requested = Devices.requested();
        DeviceSpec spec = requested.kind() != null ? requested
                : Devices.describe().stream().filter(s -> s.available() && s.kind() != DeviceKind.CPU)
                        .map(s -> new DeviceSpec(s.kind(), 0)).findFirst()
                        .orElseThrow(() -> new IllegalStateException("no GPU backend is available here (see the lines above)"));
        GpuCheck check;
        try (Backend gpu = Devices.open(spec); Backend cpu = new CpuBackend()) {
            check = new GpuCheck(gpu, cpu, out);
            check.lines.add("# jrocm GPU check");
            check.lines.add("");
            check.lines.add("gpu backend: " + gpu.describe());
            check.lines.add("cpu backend: " + cpu.describe());
            check.lines.add("java: " + System.getProperty("java.vm.name") + " " + System.getProperty("java.version")
                    + ", " + Runtime.getRuntime().availableProcessors() + " processors");
            check.lines.add("");
            check.lines.add("```");
            check.lines.addAll(header);
            check.lines.add("```");
            check.run(quick, only);
        }
        if (only.contains("4")) {
            check.guarded("4. where a step's time goes on the device", () -> check.profile(spec, quick));
        }
        if (only.contains("5")) {
            check.guarded("5. speed targets", () -> check.targets(torchJson));
        }
        check.section(check.failures == 0 ? "all checks passed" : check.failures + " check(s) FAILED");
        check.flush();
        System.out.println(check.failures == 0 ? "GPU CHECK PASSED" : "GPU CHECK FAILED: " + check.failures + " check(s)");
        return check.failures;
    }

    /** Writes what is known so far, so that a crash later leaves the earlier sections behind. */
    private void flush() {
        try {
            Files.write(out.resolve("jrocm-summary.md"), lines);
            Files.write(out.resolve("jrocm-results.tsv"), tsv);
        } catch (java.io.IOException e) {
            System.out.println("could not write the summary: " + e);
        }
    }

    /** Runs one section; an exception fails it, is written down with its stack, and the next section runs. */
    private void guarded(String title, Runnable body) {
        section(title);
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            failures++;
            java.io.StringWriter trace = new java.io.StringWriter();
            e.printStackTrace(new java.io.PrintWriter(trace));
            lines.add("");
            lines.add("FAIL: the section threw:");
            lines.add("```");
            String[] stack = trace.toString().split("\n");
            lines.addAll(List.of(stack).subList(0, Math.min(30, stack.length)));
            lines.add("```");
            System.out.println("section '" + title + "' threw:");
            e.printStackTrace(System.out);
        }
        flush();
    }

    private void run(boolean quick, java.util.Set<String> only) {
        if (only.contains("1")) {
            guarded("1. every op vs the CPU backend (relative error ‖gpu − cpu‖ / ‖cpu‖)", () -> {
                lines.add("| op | error | limit | |");
                lines.add("|---|---|---|---|");
                ops(quick);
            });
        }
        int steps = quick ? 20 : 200;
        data = new Data(2048, 42);
        if (only.contains("2")) {
            guarded("2. training: loss trajectory vs the CPU backend, batch 8", () -> {
                lines.add("| run | steps | first loss (gpu / cpu) | last loss (gpu / cpu) | first " + EARLY_STEPS
                        + " steps: max relative difference | mean of the last " + LATE_STEPS
                        + " (gpu / cpu): relative difference | all steps: max relative difference | |");
                lines.add("|---|---|---|---|---|---|---|---|");
                trajectory("full", false, steps, data);
                trajectory("LoRA r=1", true, steps, data);
                int layerSteps = quick ? 10 : 100;
                compareTrajectories("CNN (conv 32, conv 64, Linear 128; batch 16)",
                        layerSteps, be -> trainLayers(be, false, false, layerSteps));
                compareTrajectories("CNN, rank-4 LoRA on both convs and both Linears",
                        layerSteps, be -> trainLayers(be, false, true, layerSteps));
                compareTrajectories("GPT-2 block (B 2, T 32, C 64, 4 heads; MSE, AdamW)",
                        layerSteps, be -> trainLayers(be, true, false, layerSteps));
            });
        }
        if (only.contains("3")) {
            guarded("3. timings on the GPU (loss read back every step, as a training loop does)", () -> {
                lines.add("| run | batch | steps/s | samples/s | ms/step | epoch of 50,000 samples, s | driver allocations in the timed steps |");
                lines.add("|---|---|---|---|---|---|---|");
                for (boolean lora : new boolean[] {false, true}) {
                    for (int batch : batches(quick)) {
                        timing(lora, batch, quick ? 10 : (batch == 8 ? 1000 : 200), data);
                    }
                }
            });
        }
    }

    /** The batch sizes of sections 3 and 4: 8 (the blog's) and 256, or 8 alone with --quick. */
    private static int[] batches(boolean quick) {
        return quick ? new int[] {8} : new int[] {8, 256};
    }

    void section(String title) {
        lines.add("");
        lines.add("## " + title);
        lines.add("");
        System.out.println("== " + title);
    }

    private void result(String what, double error, double limit) {
        boolean ok = error <= limit; // NaN fails
        if (!ok) {
            failures++;
        }
        String line = String.format(Locale.ROOT, "| %s | %.3g | %.0g | %s |", what, error, limit, ok ? "ok" : "FAIL");
        lines.add(line);
        tsv.add(String.format(Locale.ROOT, "op\t%s\t%.6g\t%.6g\t%s", what, error, limit, ok ? "ok" : "FAIL"));
        System.out.println(line);
    }

    // ---- 1. ops --------------------------------------------------------------------------------

    /** Runs {@code op} on a backend and returns what it wrote; the buffers go back to the pool. */
    interface Op {
        float[] run(Backend be, List<Buffer> scratch);
    }

    private void compare(String name, double limit, Op op) {
        float[] want = runOp(cpu, op), got;
        try {
            got = runOp(gpu, op);
        } catch (RuntimeException e) {
            failures++;
            lines.add("| " + name + " | threw " + e + " | | FAIL |");
            System.out.println(name + " threw: " + e);
            e.printStackTrace(System.out);
            return;
        }
        result(name, dev.jrocm.runtime.device.SelfCheck.relativeError(got, want), limit);
    }

    private static float[] runOp(Backend be, Op op) {
        List<Buffer> scratch = new ArrayList<>();
        try {
            return op.run(be, scratch);
        } finally {
            scratch.forEach(be::release);
        }
    }

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static Buffer up(Backend be, List<Buffer> scratch, float[] data) {
        Buffer b = be.allocate((long) data.length * 4);
        scratch.add(b);
        try (Arena a = Arena.ofConfined()) {
            be.copyFromHost(a.allocateFrom(ValueLayout.JAVA_FLOAT, data), b);
        }
        return b;
    }

    static Buffer upInts(Backend be, List<Buffer> scratch, int[] data) {
        Buffer b = be.allocate((long) data.length * 4);
        scratch.add(b);
        try (Arena a = Arena.ofConfined()) {
            be.copyFromHost(a.allocateFrom(ValueLayout.JAVA_INT, data), b);
        }
        return b;
    }

    static Buffer empty(Backend be, List<Buffer> scratch, long elements) {
        Buffer b = be.allocate(elements * 4);
        scratch.add(b);
        return b;
    }

    static float[] down(Backend be, Buffer b) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Math.max(4, b.byteSize())).asSlice(0, b.byteSize());
            be.copyToHost(b, s);
            return s.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    static float[] downInts(Backend be, Buffer b) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Math.max(4, b.byteSize())).asSlice(0, b.byteSize());
            be.copyToHost(b, s);
            int[] ints = s.toArray(ValueLayout.JAVA_INT);
            float[] f = new float[ints.length];
            for (int i = 0; i < ints.length; i++) {
                f[i] = ints[i];
            }
            return f;
        }
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] all = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /** Section 1; {@code quick} leaves out the two largest cases (a 256×2048×4096 GEMM, a 1000×1000 loss). */
    private void ops(boolean quick) {
        int n = (1 << 20) + 3;
        float[] x = gaussian(n, 1), dy = gaussian(n, 2), acc = gaussian(n, 3);
        compare("copy host→device→device→host", ELEMENTWISE, (be, s) -> {
            Buffer a = up(be, s, x), b = empty(be, s, n);
            be.copy(a, b);
            return down(be, b);
        });
        compare("fill", ELEMENTWISE, (be, s) -> {
            Buffer a = empty(be, s, n);
            be.fill(a, -1.25f);
            return down(be, a);
        });
        compare("uniform (counter RNG)", 0.0, (be, s) -> {
            Buffer a = empty(be, s, n);
            be.uniform(a, -0.3f, 0.7f, 1234567L);
            return down(be, a);
        });
        compare("normal (counter RNG, Box–Muller in double)", ELEMENTWISE, (be, s) -> {
            Buffer a = empty(be, s, n);
            be.normal(a, 0.5f, 2f, -99L);
            return down(be, a);
        });
        int[][] shapes = quick ? new int[][] {{8, 4096, 3072}, {257, 129, 515}, {1, 10, 2048}}
                : new int[][] {{8, 4096, 3072}, {256, 2048, 4096}, {257, 129, 515}, {1, 10, 2048}};
        for (int[] mnk : shapes) {
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                int m = mnk[0], nn = mnk[1], k = mnk[2];
                float[] a = gaussian(m * k, 10 + t), b = gaussian(k * nn, 20 + t), c = gaussian(m * nn, 30 + t);
                compare(String.format("gemm %s%s m=%d n=%d k=%d, alpha 0.5, beta 1", ta ? "Aᵀ" : "A", tb ? "Bᵀ" : "B", m, nn, k),
                        GEMM_OR_LOSS, (be, s) -> {
                            Buffer cb = up(be, s, c);
                            be.gemm(ta, tb, m, nn, k, 0.5f, up(be, s, a), up(be, s, b), 1f, cb);
                            return down(be, cb);
                        });
            }
        }
        int rows = 256, cols = 4096;
        float[] y = gaussian(rows * cols, 5), bias = gaussian(cols, 6), start = gaussian(cols, 7);
        compare("addBias 256×4096", ELEMENTWISE, (be, s) -> {
            Buffer yb = up(be, s, y);
            be.addBias(yb, up(be, s, bias), rows, cols);
            return down(be, yb);
        });
        for (boolean accumulate : new boolean[] {false, true}) {
            compare("columnSums 256×4096" + (accumulate ? " accumulate" : ""), ELEMENTWISE, (be, s) -> {
                Buffer out = up(be, s, start);
                be.columnSums(up(be, s, y), rows, cols, out, accumulate);
                return down(be, out);
            });
        }
        compare("columnSums 8×10", ELEMENTWISE, (be, s) -> {
            Buffer out = empty(be, s, 10);
            be.columnSums(up(be, s, gaussian(80, 8)), 8, 10, out, false);
            return down(be, out);
        });
        compare("relu", ELEMENTWISE, (be, s) -> {
            Buffer a = up(be, s, x), b = empty(be, s, n);
            be.relu(a, b);
            be.relu(a, a); // in place
            return concat(down(be, b), down(be, a));
        });
        for (boolean accumulate : new boolean[] {false, true}) {
            compare("reluBackward" + (accumulate ? " accumulate" : ""), ELEMENTWISE, (be, s) -> {
                Buffer yb = up(be, s, x), dx = up(be, s, acc);
                be.relu(yb, yb);
                be.reluBackward(yb, up(be, s, dy), dx, accumulate);
                return down(be, dx);
            });
            compare("dropout p=0.3 + backward" + (accumulate ? " accumulate" : ""), ELEMENTWISE, (be, s) -> {
                Buffer yb = empty(be, s, n), dx = up(be, s, acc);
                be.dropout(up(be, s, x), yb, 0.3f, 77L);
                be.dropoutBackward(up(be, s, dy), dx, 0.3f, 77L, accumulate);
                return concat(down(be, yb), down(be, dx));
            });
        }
        compare("scale, axpy", ELEMENTWISE, (be, s) -> {
            Buffer a = up(be, s, x), b = up(be, s, dy);
            be.scale(a, -3f);
            be.axpy(0.25f, a, b);
            return down(be, b);
        });
        int[][] ce = quick ? new int[][] {{8, 10}, {256, 10}} : new int[][] {{8, 10}, {256, 10}, {1000, 1000}};
        for (int[] rc : ce) {
            int r = rc[0], c = rc[1];
            float[] logits = gaussian(r * c, 40 + r);
            for (int i = 0; i < logits.length; i++) {
                logits[i] *= 3;
            }
            int[] labels = new Random(r).ints(r, 0, c).toArray();
            compare("crossEntropy " + r + "×" + c + ": loss, correct", GEMM_OR_LOSS, (be, s) -> {
                Buffer out = empty(be, s, 2);
                be.crossEntropy(up(be, s, logits), upInts(be, s, labels), r, c, out, null);
                return down(be, out);
            });
            compare("crossEntropy " + r + "×" + c + ": dLogits", GEMM_OR_LOSS, (be, s) -> {
                Buffer out = empty(be, s, 2), d = empty(be, s, (long) r * c);
                be.crossEntropy(up(be, s, logits), upInts(be, s, labels), r, c, out, d);
                return down(be, d);
            });
            compare("argmaxRows " + r + "×" + c, 0.0, (be, s) -> {
                Buffer idx = empty(be, s, r);
                be.argmaxRows(up(be, s, logits), r, c, idx);
                return downInts(be, idx);
            });
        }
        compare("crossEntropy bad label → IllegalArgumentException at the next sync", 0.0, (be, s) -> {
            Buffer out = empty(be, s, 2);
            try {
                be.crossEntropy(up(be, s, gaussian(30, 1)), upInts(be, s, new int[] {0, 10, 1}), 3, 10, out, null);
                be.synchronize();
                return new float[] {0f};
            } catch (IllegalArgumentException e) {
                return new float[] {e.getMessage().equals("cross-entropy: label 10 of row 1 is outside [0, 10)") ? 1f : -1f};
            }
        });
        float[] v = gaussian(n, 9);
        for (int i = 0; i < n; i++) {
            v[i] *= v[i];
        }
        for (boolean decoupled : new boolean[] {false, true}) {
            AdamStep step = new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled, 5);
            compare("adam" + (decoupled ? "W" : " (L2)") + ": p, m, v", ELEMENTWISE, (be, s) -> {
                Buffer p = up(be, s, x), m = up(be, s, acc), vb = up(be, s, v);
                be.adam(p, up(be, s, dy), m, vb, step);
                return concat(down(be, p), down(be, m), down(be, vb));
            });
        }
        int batch = 8, out = 2048, in = 4096;
        float[] p0 = gaussian(out * in, 50), m0 = gaussian(out * in, 51), v0 = gaussian(out * in, 52);
        for (int i = 0; i < v0.length; i++) {
            v0[i] *= v0[i];
        }
        float[] dyb = gaussian(batch * out, 53), xb = gaussian(batch * in, 54);
        AdamStep step = new AdamStep(1e-3f, 0.9f, 0.999f, 1e-8f, 0f, false, 2);
        compare("adamFactored 8×2048×4096: p", GEMM_OR_LOSS, (be, s) -> {
            Buffer p = up(be, s, p0);
            be.adamFactored(p, up(be, s, m0), up(be, s, v0), up(be, s, dyb), up(be, s, xb), batch, out, in, step);
            return down(be, p);
        });
        float[] src = gaussian(1000 * 3072, 60);
        int[] idx = new Random(61).ints(256, 0, 1000).toArray();
        compare("gatherRows 256 of 1000×3072", 0.0, (be, s) -> {
            Buffer d = empty(be, s, 256L * 3072);
            be.gatherRows(up(be, s, src), 3072, upInts(be, s, idx), 256, d);
            return down(be, d);
        });
        transformerOps(quick);
        convolutionOps(quick);
    }

    /**
     * The ops of a GPT-2-style block (issue #14) at its benchmark's shapes (B = 8, T = 128, C = 256,
     * 4 heads), or a quarter of the rows with {@code quick}: element-wise functions with their
     * gradients, broadcasting, the sum that undoes it, softmax, layer norm, the strided copy of a
     * head split, scatter-add and max along a dim.
     */
    private void transformerOps(boolean quick) {
        int rows = quick ? 256 : 1024, c = 256, heads = 4, t = 128, b = quick ? 2 : 8;
        int n = rows * c;
        float[] x = gaussian(n, 70), dy = gaussian(n, 71), acc = gaussian(n, 72);
        for (Backend.UnaryOp op : Backend.UnaryOp.values()) {
            boolean positive = op == Backend.UnaryOp.LOG || op == Backend.UnaryOp.SQRT;
            float[] in = positive ? abs(x) : x;
            compare(op.name().toLowerCase(Locale.ROOT) + " " + rows + "×" + c + ": y, dx accumulated", ELEMENTWISE, (be, s) -> {
                Buffer xb = up(be, s, in), yb = empty(be, s, n), dx = up(be, s, acc);
                be.unary(op, xb, yb);
                be.unaryBackward(op, xb, yb, up(be, s, dy), dx, true);
                return concat(down(be, yb), down(be, dx));
            });
        }
        float[] bias = gaussian(c, 73);
        for (Backend.BinaryOp op : Backend.BinaryOp.values()) {
            float[] right = op == Backend.BinaryOp.DIV ? offset(bias, 3f) : bias;
            compare(op.name().toLowerCase(Locale.ROOT) + " (" + rows + ", " + c + ") with (" + c + ") broadcast", ELEMENTWISE,
                    (be, s) -> {
                        Buffer out = empty(be, s, n);
                        int[] shape = {rows, c};
                        be.binary(op, up(be, s, x), new long[] {c, 1}, up(be, s, right), new long[] {0, 1}, out, shape);
                        return down(be, out);
                    });
        }
        compare("sumTo (" + rows + ", " + c + ") → (1, " + c + "), alpha 0.5, beta 1", GEMM_OR_LOSS, (be, s) -> {
            Buffer out = up(be, s, bias);
            be.sumTo(0.5f, up(be, s, x), new int[] {rows, c}, 1f, out, new int[] {1, c});
            return down(be, out);
        });
        int scores = b * heads * t; // attention rows of t scores each
        float[] att = gaussian(scores * t, 74), datt = gaussian(scores * t, 75);
        for (boolean log : new boolean[] {false, true}) {
            compare((log ? "logSoftmax " : "softmax ") + scores + "×" + t + ": y, dx", ELEMENTWISE, (be, s) -> {
                Buffer y = empty(be, s, (long) scores * t), dx = empty(be, s, (long) scores * t);
                be.softmax(up(be, s, att), scores, t, 1, y, log);
                be.softmaxBackward(y, up(be, s, datt), scores, t, 1, dx, log, false);
                return concat(down(be, y), down(be, dx));
            });
        }
        compare("softmax along dim 1 of (" + b + ", " + t + ", " + c + ")", ELEMENTWISE, (be, s) -> {
            Buffer y = empty(be, s, (long) b * t * c);
            be.softmax(up(be, s, java.util.Arrays.copyOf(att, b * t * c)), b, t, c, y, false);
            return down(be, y);
        });
        float[] gamma = offset(gaussian(c, 76), 1f), beta = gaussian(c, 77);
        compare("layerNorm " + rows + "×" + c + ": y, dx, dweight, dbias", GEMM_OR_LOSS, (be, s) -> {
            Buffer xb = up(be, s, x), w = up(be, s, gamma), y = empty(be, s, n), mean = empty(be, s, rows), rstd = empty(be, s, rows);
            Buffer dx = empty(be, s, n), dw = empty(be, s, c), db = empty(be, s, c);
            be.layerNorm(xb, w, up(be, s, beta), rows, c, 1e-5f, y, mean, rstd);
            be.layerNormBackward(xb, w, mean, rstd, up(be, s, dy), rows, c, dx, dw, db);
            return concat(down(be, y), down(be, dx), down(be, dw), down(be, db));
        });
        int bt = rows / t * t, hd = c / heads; // (B, T, H, D) → (B, H, T, D): a head split
        int[] split = {bt / t, heads, t, hd};
        compare("copyStrided (B, T, H, D) → (B, H, T, D), accumulated", 0.0, (be, s) -> {
            Buffer out = up(be, s, java.util.Arrays.copyOf(acc, bt * c));
            be.copyStrided(up(be, s, java.util.Arrays.copyOf(x, bt * c)), new long[] {(long) t * c, hd, c, 1}, out,
                    new long[] {(long) heads * t * hd, (long) t * hd, hd, 1}, split, true);
            return down(be, out);
        });
        int[] picks = new Random(78).ints(rows, 0, 50).toArray();
        compare("scatterAddRows " + rows + " rows into 50×" + c + " (repeats)", ELEMENTWISE, (be, s) -> {
            Buffer out = up(be, s, java.util.Arrays.copyOf(acc, 50 * c));
            be.scatterAddRows(up(be, s, x), c, upInts(be, s, picks), rows, out);
            return down(be, out);
        });
        compare("maxAlong dim 1 of (" + rows + ", " + c + "): values, indices; scatterAlong back", 0.0, (be, s) -> {
            Buffer values = empty(be, s, rows), indices = empty(be, s, rows), dx = empty(be, s, n);
            be.maxAlong(up(be, s, x), rows, c, 1, values, indices);
            be.scatterAlong(up(be, s, java.util.Arrays.copyOf(dy, rows)), indices, rows, c, 1, dx, false);
            return concat(down(be, values), downInts(be, indices), down(be, dx));
        });
    }

    /**
     * Convolution, pooling and batch norm (issue #15): the CNN recipe's second convolution and its
     * pooling at batch 64 (4 with {@code quick}), and a small convolution with stride, padding,
     * dilation and a non-square kernel; each forward with its gradients.
     */
    private void convolutionOps(boolean quick) {
        int n = quick ? 4 : 64;
        for (Conv2dShape shape : new Conv2dShape[] {
                new Conv2dShape(n, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1),
                new Conv2dShape(3, 5, 11, 9, 4, 3, 2, 2, 1, 1, 0, 2, 1)}) {
            float[] x = gaussian((int) shape.inputSize(), 80), w = gaussian((int) shape.weightSize(), 81);
            float[] dy = gaussian((int) shape.outputSize(), 82), acc = gaussian((int) shape.inputSize(), 83);
            String what = "conv2d " + shape.n() + "×" + shape.c() + "×" + shape.h() + "×" + shape.w() + " → " + shape.k()
                    + ", " + shape.kh() + "×" + shape.kw() + " stride " + shape.strideH() + "," + shape.strideW() + " pad "
                    + shape.padH() + "," + shape.padW() + " dilation " + shape.dilH() + "," + shape.dilW();
            compare(what + ": y, dx accumulated, dweight", GEMM_OR_LOSS, (be, s) -> {
                Buffer xb = up(be, s, x), wb = up(be, s, w), y = empty(be, s, shape.outputSize());
                Buffer dx = up(be, s, acc), dw = empty(be, s, shape.weightSize()), dyb = up(be, s, dy);
                be.conv2dForward(xb, wb, shape, y);
                be.conv2dBackwardData(dyb, wb, shape, dx, true);
                be.conv2dBackwardWeight(dyb, xb, shape, dw, false);
                return concat(down(be, y), down(be, dx), down(be, dw));
            });
        }
        for (Pool2dShape shape : new Pool2dShape[] {
                new Pool2dShape(n, 32, 28, 28, 2, 2, 2, 2, 0, 0),
                new Pool2dShape(3, 4, 9, 10, 3, 3, 2, 2, 1, 1)}) {
            float[] x = gaussian((int) ((long) shape.n() * shape.c() * shape.h() * shape.w()), 84);
            long outSize = (long) shape.n() * shape.c() * shape.outH() * shape.outW();
            float[] dy = gaussian((int) outSize, 85);
            String what = shape.n() + "×" + shape.c() + "×" + shape.h() + "×" + shape.w() + ", " + shape.kh() + "×" + shape.kw()
                    + " stride " + shape.strideH() + " pad " + shape.padH();
            compare("maxPool2d " + what + ": y, indices, dx", ELEMENTWISE, (be, s) -> {
                Buffer y = empty(be, s, outSize), idx = empty(be, s, outSize), dx = empty(be, s, x.length);
                be.maxPool2dForward(up(be, s, x), shape, y, idx);
                be.maxPool2dBackward(up(be, s, dy), idx, shape, dx, false);
                return concat(down(be, y), downInts(be, idx), down(be, dx));
            });
            compare("avgPool2d " + what + ": y, dx", ELEMENTWISE, (be, s) -> {
                Buffer y = empty(be, s, outSize), dx = empty(be, s, x.length);
                be.avgPool2dForward(up(be, s, x), shape, y);
                be.avgPool2dBackward(up(be, s, dy), shape, dx, false);
                return concat(down(be, y), down(be, dx));
            });
        }
        int c = 32, hw = 14 * 14, size = n * c * hw;
        float[] x = gaussian(size, 86), dy = gaussian(size, 87), gamma = offset(gaussian(c, 88), 1f), beta = gaussian(c, 89);
        float[] runVar = offset(abs(gaussian(c, 91)), 0.5f);
        compare("batchNorm2d training " + n + "×" + c + "×14×14: y, running stats, dx, dweight, dbias", GEMM_OR_LOSS, (be, s) -> {
            Buffer xb = up(be, s, x), w = up(be, s, gamma), y = empty(be, s, size), mean = empty(be, s, c), rstd = empty(be, s, c);
            Buffer rm = up(be, s, gaussian(c, 90)), rv = up(be, s, runVar);
            Buffer dx = empty(be, s, size), dw = empty(be, s, c), db = empty(be, s, c);
            be.batchNorm2dTraining(xb, w, up(be, s, beta), n, c, hw, 1e-5f, 0.1f, rm, rv, y, mean, rstd);
            be.batchNorm2dBackward(xb, w, mean, rstd, up(be, s, dy), n, c, hw, true, dx, dw, db);
            return concat(down(be, y), down(be, rm), down(be, rv), down(be, dx), down(be, dw), down(be, db));
        });
        compare("batchNorm2d inference " + n + "×" + c + "×14×14", ELEMENTWISE, (be, s) -> {
            Buffer y = empty(be, s, size);
            be.batchNorm2dInference(up(be, s, x), up(be, s, gamma), up(be, s, beta), up(be, s, gaussian(c, 90)),
                    up(be, s, runVar), n, c, hw, 1e-5f, y);
            return down(be, y);
        });
    }

    static float[] abs(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.abs(x[i]) + 1e-3f;
        }
        return y;
    }

    static float[] offset(float[] x, float by) {
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) {
            y[i] += Math.signum(y[i] == 0 ? 1 : y[i]) * by;
        }
        return y;
    }

    // ---- 2. training trajectories --------------------------------------------------------------

    /** A learnable synthetic set: labels are the argmax of a fixed random projection of x. */
    static final class Data {
        final int count;
        final float[] x;  // (count, IN)
        final int[] y;    // (count)
        final long seed;

        Data(int count, long seed) {
            this.count = count;
            this.seed = seed;
            this.order = new int[count];
            x = gaussian(count * IN, seed);
            float[] projection = gaussian(IN * OUT, seed + 1);
            y = new int[count];
            for (int i = 0; i < count; i++) {
                int best = 0;
                double bestScore = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < OUT; c++) {
                    double score = 0;
                    for (int j = 0; j < IN; j++) {
                        score += (double) x[i * IN + j] * projection[j * OUT + c];
                    }
                    if (score > bestScore) {
                        bestScore = score;
                        best = c;
                    }
                }
                y[i] = best;
            }
        }

        private int orderEpoch = -1;
        private final int[] order;

        /** The indices of batch {@code step}: a seeded shuffle per epoch, the same on every backend. */
        int[] batch(int step, int size) {
            int perEpoch = count / size;
            int epoch = step / perEpoch, at = (step % perEpoch) * size;
            if (epoch != orderEpoch) { // shuffled once per epoch, as a data loader does
                for (int i = 0; i < count; i++) {
                    order[i] = i;
                }
                Random r = new Random(seed * 31 + epoch);
                for (int i = count - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
                orderEpoch = epoch;
            }
            int[] out = new int[size];
            System.arraycopy(order, at, out, 0, size);
            return out;
        }
    }

    /** The blog's model on {@code be}, and the parameters its optimizer trains. */
    record Model(Sequential net, List<Tensor> trainable) implements AutoCloseable {
        static Model of(Backend be, boolean lora) {
            Sequential net = new Sequential("fc1", new Linear(be, IN, H1, 1), "relu1", new ReLU(),
                    "fc2", new Linear(be, H1, H2, 2), "relu2", new ReLU(), "fc3", new Linear(be, H2, OUT, 3));
            if (!lora) {
                return new Model(net, net.trainableParameters());
            }
            LoraModel adapted = Lora.apply(net, LoraConfig.of(1, 1, "fc1", "fc2", "fc3"), 7L);
            adapted.freezeBase();
            return new Model(net, adapted.adapterParameters());
        }

        @Override
        public void close() {
            net.close();
        }
    }

    /** Trains {@code steps} steps on {@code be}; the dataset is uploaded once, batches gathered on the device. */
    static float[] train(Backend be, boolean lora, int steps, int batch, Data data, Function<Integer, Void> afterWarmup) {
        float[] losses = new float[steps];
        CrossEntropyLoss lossFn = new CrossEntropyLoss();
        try (Model model = Model.of(be, lora);
             Tensor xs = Tensor.of(be, data.x, data.count, IN);
             Tensor ys = Tensor.ofInts(be, data.y, data.count)) {
            Adam adam = new Adam(model.trainable(), 1e-3f);
            try {
                for (int step = 0; step < steps; step++) {
                    if (afterWarmup != null) {
                        afterWarmup.apply(step);
                    }
                    try (Scope s = Scope.open()) {
                        Tensor indices = Tensor.ofInts(be, data.batch(step, batch), batch);
                        adam.zeroGrad();
                        Tensor loss = lossFn.forward(model.net().forward(Ops.gatherRows(xs, indices)), Ops.gatherRows(ys, indices));
                        loss.backward();
                        adam.step();
                        losses[step] = loss.item();
                    }
                }
            } finally {
                adam.close();
            }
        }
        return losses;
    }

    private void trajectory(String name, boolean lora, int steps, Data data) {
        compareTrajectories(name, steps, be -> train(be, lora, steps, 8, data, null));
    }

    /**
     * The layers of issues #14 and #15 trained on random data, the same batches on every backend:
     * the CNN recipe's model on 1×28×28 images (batch 16, Adam 1e-3; with {@code lora}, rank-4
     * LoRA α 4 on both convolutions and both Linear layers, base frozen), or a GPT-2 block fitting
     * a random target with MSE (AdamW 1e-3, weight decay 0.01).
     */
    static float[] trainLayers(Backend be, boolean gpt, boolean lora, int steps) {
        float[] losses = new float[steps];
        Random r = new Random(gpt ? 1234 : 4321);
        try (Module model = gpt ? new dev.jrocm.runtime.nn.GptBlock(be, 64, 4, 11) : new Sequential(
                "conv1", new dev.jrocm.runtime.nn.Conv2d(be, 1, 32, 3, 1, 1, 1, true, 21), "relu1", new ReLU(),
                "pool1", new dev.jrocm.runtime.nn.MaxPool2d(2), "conv2", new dev.jrocm.runtime.nn.Conv2d(be, 32, 64, 3, 1, 1, 1, true, 22),
                "relu2", new ReLU(), "pool2", new dev.jrocm.runtime.nn.MaxPool2d(2), "flatten", new dev.jrocm.runtime.nn.Flatten(),
                "fc1", new Linear(be, 64 * 7 * 7, 128, 23), "relu3", new ReLU(), "fc2", new Linear(be, 128, 10, 24))) {
            List<Tensor> trainable = model.trainableParameters();
            if (lora) {
                LoraModel adapted = Lora.apply(model, LoraConfig.of(4, 4, "conv1", "conv2", "fc1", "fc2"), 25L);
                adapted.freezeBase();
                trainable = adapted.adapterParameters();
            }
            try (Adam adam = gpt ? Adam.adamW(trainable, 1e-3f, 0.01f) : new Adam(trainable, 1e-3f)) {
                CrossEntropyLoss ce = new CrossEntropyLoss();
                for (int step = 0; step < steps; step++) {
                    try (Scope s = Scope.open()) {
                        adam.zeroGrad();
                        Tensor loss;
                        if (gpt) {
                            Tensor x = Tensor.of(be, gaussianFrom(r, 2 * 32 * 64), 2, 32, 64);
                            loss = Ops.mseLoss(model.forward(x), Tensor.of(be, gaussianFrom(r, 2 * 32 * 64), 2, 32, 64));
                        } else {
                            Tensor x = Tensor.of(be, gaussianFrom(r, 16 * 28 * 28), 16, 1, 28, 28);
                            loss = ce.forward(model.forward(x), Tensor.ofInts(be, r.ints(16, 0, 10).toArray(), 16));
                        }
                        loss.backward();
                        adam.step();
                        losses[step] = loss.item();
                    }
                }
            }
        }
        return losses;
    }

    private static float[] gaussianFrom(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** One trajectory on the GPU beside the CPU's: the first steps close, the late means close. */
    private void compareTrajectories(String name, int steps, Function<Backend, float[]> run) {
        float[] g = run.apply(gpu);
        float[] c = run.apply(cpu);
        double early = 0, worst = 0;
        for (int i = 0; i < steps; i++) {
            double d = Math.abs(g[i] - c[i]) / Math.max(1e-3, Math.abs(c[i]));
            if (!Double.isFinite(g[i])) {
                d = Double.NaN;
            }
            worst = Double.isNaN(d) || Double.isNaN(worst) ? Double.NaN : Math.max(worst, d);
            if (i < EARLY_STEPS) {
                early = Double.isNaN(d) || Double.isNaN(early) ? Double.NaN : Math.max(early, d);
            }
        }
        int late = Math.min(LATE_STEPS, Math.max(1, steps / 2));
        double meanG = 0, meanC = 0;
        for (int i = steps - late; i < steps; i++) {
            meanG += g[i] / late;
            meanC += c[i] / late;
        }
        double lateDifference = Math.abs(meanG - meanC) / Math.max(1e-3, Math.abs(meanC));
        boolean ok = early <= EARLY && lateDifference <= LATE; // NaN fails
        failures += ok ? 0 : 1;
        String line = String.format(Locale.ROOT, "| %s | %d | %.5f / %.5f | %.5f / %.5f | %.3g (≤ %.0g) | %.5f / %.5f: %.3g (≤ %.0g) | %.3g | %s |",
                name, steps, g[0], c[0], g[steps - 1], c[steps - 1], early, EARLY, meanG, meanC, lateDifference, LATE,
                worst, ok ? "ok" : "FAIL");
        lines.add(line);
        System.out.println(line);
        StringBuilder row = new StringBuilder("trajectory\t" + name);
        for (int i = 0; i < steps; i++) {
            row.append(String.format(Locale.ROOT, "\t%.6f/%.6f", g[i], c[i]));
        }
        tsv.add(row.toString());
    }

    // ---- 3. timings ----------------------------------------------------------------------------

    private void timing(boolean lora, int batch, int steps, Data data) {
        int warmup = Math.min(20, steps);
        long[] started = new long[1];
        long[] allocations = new long[1];
        train(gpu, lora, warmup + steps, batch, data, step -> {
            if (step == warmup) {
                gpu.synchronize();
                allocations[0] = gpu.memoryStats().systemAllocations();
                started[0] = System.nanoTime();
            }
            return null;
        });
        double seconds = (System.nanoTime() - started[0]) / 1e9; // the last step read its loss: the work is done
        long madeDuring = gpu.memoryStats().systemAllocations() - allocations[0];
        double perSecond = steps / seconds;
        String line = String.format(Locale.ROOT, "| %s | %d | %.1f | %.0f | %.3f | %.2f | %d |", lora ? "LoRA r=1" : "full",
                batch, perSecond, perSecond * batch, 1000 / perSecond, 50_000.0 / batch / perSecond, madeDuring);
        stepsPerSecond.put((lora ? "LoRA r=1 " : "full ") + batch, perSecond);
        lines.add(line);
        tsv.add(String.format(Locale.ROOT, "timing\t%s\t%d\t%.3f", lora ? "lora" : "full", batch, perSecond));
        System.out.println(line);
        if (madeDuring != 0) {
            failures++;
            lines.add("FAIL: the caching allocator asked the driver for memory " + madeDuring + " time(s) in steady state");
        }
        if (gpu instanceof GpuBackend g) {
            tsv.add("launches\t" + g.kernelLaunches());
        }
    }

    // ---- 4. profile ----------------------------------------------------------------------------

    /**
     * Device time per kind of work in a training step (events around every launch, GEMM and copy,
     * on a backend of its own), and what one launch, one GEMM call and one read-back cost the host.
     */
    private void profile(DeviceSpec spec, boolean quick) {
        int warmup = 20, profiled = quick ? 10 : 50;
        ProfilingDriver driver = new ProfilingDriver(switch (spec.kind()) {
            case CUDA -> dev.jrocm.runtime.device.cuda.CudaDriver.open(spec.index());
            case HIP -> dev.jrocm.runtime.device.hip.HipDriver.open(spec.index());
            case CPU -> throw new IllegalStateException("not a GPU: " + spec);
        });
        try (GpuBackend be = new GpuBackend(driver)) {
            for (boolean lora : new boolean[] {false, true}) {
                for (int batch : batches(quick)) {
                    long[] launches = new long[1];
                    train(be, lora, warmup + profiled, batch, data, step -> {
                        if (step == warmup) {
                            be.synchronize();
                            driver.collect();
                            launches[0] = be.kernelLaunches();
                            driver.recording(true);
                        }
                        return null;
                    });
                    driver.recording(false);
                    long perStep = (be.kernelLaunches() - launches[0]) / profiled;
                    List<ProfilingDriver.Entry> entries = driver.collect();
                    double total = entries.stream().mapToDouble(ProfilingDriver.Entry::millis).sum();
                    String run = (lora ? "LoRA r=1" : "full") + " batch " + batch;
                    lines.add("");
                    lines.add(String.format(Locale.ROOT, "**%s**: %d kernel launches per step (GEMMs apart); "
                            + "device busy %.1f µs per step (sum of the bracketed work)", run, perStep, 1000 * total / profiled));
                    lines.add("");
                    lines.add("| work | calls/step | µs/step | share |");
                    lines.add("|---|---|---|---|");
                    for (ProfilingDriver.Entry e : entries) {
                        lines.add(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %.0f%% |", e.label(),
                                (double) e.calls() / profiled, 1000 * e.millis() / profiled, 100 * e.millis() / total));
                        tsv.add(String.format(Locale.ROOT, "profile\t%s\t%s\t%.2f\t%.3f", run, e.label(),
                                (double) e.calls() / profiled, 1000 * e.millis() / profiled));
                    }
                    System.out.printf(Locale.ROOT, "%s: device busy %.1f µs/step, %d launches/step%n", run,
                            1000 * total / profiled, perStep);
                }
            }
            hostCosts(be);
        }
    }

    /** Host microseconds per call for the three things a step does most: launch, GEMM, read back. */
    private void hostCosts(GpuBackend be) {
        int n = 20_000;
        Buffer one = be.allocate(4), a = be.allocate(4), b = be.allocate(4), c = be.allocate(4);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(4);
            lines.add("");
            lines.add("| host cost of | µs per call | device µs per call |");
            lines.add("|---|---|---|");
            for (int round = 0; round < 2; round++) { // the first round warms up
                long t0 = System.nanoTime();
                float[] device = {be.timeMillis(() -> {
                    for (int i = 0; i < n; i++) {
                        be.fill(one, i);
                    }
                })};
                double launch = (System.nanoTime() - t0) / 1e3 / n;
                t0 = System.nanoTime();
                float gemmDevice = be.timeMillis(() -> {
                    for (int i = 0; i < n; i++) {
                        be.gemm(false, false, 1, 1, 1, 1f, a, b, 0f, c);
                    }
                });
                double gemm = (System.nanoTime() - t0) / 1e3 / n;
                int reads = n / 10;
                t0 = System.nanoTime();
                for (int i = 0; i < reads; i++) {
                    be.copyToHost(one, host);
                }
                double read = (System.nanoTime() - t0) / 1e3 / reads;
                if (round == 1) {
                    hostRow("a kernel launch (jr_fill of 1 float, queued back to back)", launch, 1000.0 * device[0] / n);
                    hostRow("a GEMM call (1×1×1, queued back to back)", gemm, 1000.0 * gemmDevice / n);
                    hostRow("a 4-byte read-back (copy to host + wait)", read, Double.NaN);
                }
            }
        } finally {
            for (Buffer x : List.of(one, a, b, c)) {
                be.release(x);
            }
        }
    }

    private void hostRow(String what, double hostMicros, double deviceMicros) {
        lines.add(String.format(Locale.ROOT, "| %s | %.2f | %s |", what, hostMicros,
                Double.isNaN(deviceMicros) ? "" : String.format(Locale.ROOT, "%.2f", deviceMicros)));
        tsv.add(String.format(Locale.ROOT, "host\t%s\t%.3f\t%.3f", what, hostMicros, deviceMicros));
        System.out.printf(Locale.ROOT, "%s: host %.2f µs, device %.2f µs%n", what, hostMicros, deviceMicros);
    }

    // ---- 5. targets ----------------------------------------------------------------------------

    /** The GPU targets, against section 3's numbers and PyTorch's from the same machine. Reported, not failed. */
    private void targets(Path torchJson) {
        Map<String, Double> torch = new java.util.HashMap<>();
        String torchInfo = "no PyTorch results";
        if (torchJson != null && Files.isRegularFile(torchJson)) {
            try {
                com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(torchJson.toFile());
                for (com.fasterxml.jackson.databind.JsonNode r : root.get("results")) {
                    torch.put(r.get("run").asText() + " " + r.get("batch").asInt(), r.get("steps_per_s").asDouble());
                }
                torchInfo = "PyTorch " + root.get("torch").asText() + " on " + root.get("device_name").asText();
            } catch (java.io.IOException | RuntimeException e) {
                torchInfo = "PyTorch results unreadable: " + e;
            }
        }
        lines.add("Epoch = 6,250 steps at batch 8 (the blog's 50,000 images). PyTorch: " + torchInfo + ".");
        lines.add("");
        lines.add("| target | jrocm | goal | |");
        lines.add("|---|---|---|---|");
        Double full = stepsPerSecond.get("full 8"), lora = stepsPerSecond.get("LoRA r=1 8");
        target("full-training epoch at batch 8, s", full == null ? Double.NaN : 6250 / full, 2.0, false);
        target("LoRA epoch at batch 8, s", lora == null ? Double.NaN : 6250 / lora, 1.0, false);
        for (String run : List.of("full 8", "LoRA r=1 8", "full 256", "LoRA r=1 256")) {
            Double mine = stepsPerSecond.get(run), theirs = torch.get(run);
            if (mine != null && theirs != null) {
                target("steps/s vs PyTorch eager, " + run, mine / theirs, run.endsWith(" 8") ? 3.0 : 1.0, true);
            }
        }
    }

    private void target(String what, double value, double goal, boolean atLeast) {
        boolean met = atLeast ? value >= goal : value < goal;
        String line = String.format(Locale.ROOT, "| %s | %.3g%s | %s %.3g%s | %s |", what, value, atLeast ? "×" : "",
                atLeast ? "≥" : "<", goal, atLeast ? "×" : "", met ? "met" : "MISSED");
        lines.add(line);
        tsv.add(String.format(Locale.ROOT, "target\t%s\t%.4f\t%.4f\t%s", what, value, goal, met ? "met" : "missed"));
        System.out.println(line);
    }
}
