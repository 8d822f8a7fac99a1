package dev.jrocm.benchmarks;

import dev.jrocm.runtime.autograd.Ops;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.GptBlock;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.optim.Optimizer;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the wall time of a CPU training step goes, per {@link Backend} call: the CPU backend
 * behind a proxy that times every call it forwards (the GEMM through OpenBLAS runs in native
 * threads a JFR sample never sees, so this is the breakdown that includes it). The calls are
 * synchronous on the CPU, so the sum of the labels plus "the rest" (Java code above the backend)
 * is the step. The second column is the CPU time of the calling thread alone (it runs one of the
 * two chunks of a parallel loop): less disturbed than wall time when other processes share the
 * cores. A proxy call costs about a microsecond: time whole steps with JMH, not with this.
 *
 * <pre>java -cp benchmarks.jar dev.jrocm.benchmarks.StepBreakdown gpt|cnn|cnn-lora|mlp [steps 30] [warm-up steps 60]</pre>
 */
public final class StepBreakdown {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private StepBreakdown() {}

    /** A training step of a model built on the given backend. */
    interface Step extends AutoCloseable {
        float run();

        @Override
        void close();
    }

    public static void main(String[] args) {
        String model = args.length > 0 ? args[0] : "gpt";
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 60;
        CpuBackend cpu = new CpuBackend();
        Map<String, long[]> times = new LinkedHashMap<>(); // label → {calls, nanos}
        boolean[] on = {false};
        Backend timed = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                timing(cpu, times, on));
        try (Step step = switch (model) {
            case "cnn" -> CnnStepBenchmark.step(timed, 64, false);
            case "cnn-lora" -> CnnStepBenchmark.step(timed, 64, true);
            case "mlp" -> mlpStep(timed, 8);
            default -> gptStep(timed, 8, 128, 256, 4);
        }) {
            for (int i = 0; i < warmup; i++) {
                step.run();
            }
            on[0] = true;
            long start = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                step.run();
            }
            long total = System.nanoTime() - start;
            on[0] = false;
            print(times, total, steps);
        }
        cpu.close();
    }

    private static InvocationHandler timing(CpuBackend cpu, Map<String, long[]> times, boolean[] on) {
        return (proxy, method, a) -> {
            long t0 = System.nanoTime(), c0 = THREADS.getCurrentThreadCpuTime();
            try {
                return method.invoke(cpu, a);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                if (on[0]) {
                    long dt = System.nanoTime() - t0, dc = THREADS.getCurrentThreadCpuTime() - c0;
                    long[] s = times.computeIfAbsent(label(method.getName(), a), k -> new long[3]);
                    s[0]++;
                    s[1] += dt;
                    s[2] += dc;
                }
            }
        };
    }

    /** The method's name, with the op of unary/binary calls and the shape of a GEMM. */
    private static String label(String name, Object[] a) {
        return switch (name) {
            case "unary", "unaryBackward", "binary" -> name + " " + a[0];
            case "gemm" -> "gemm " + a[2] + "x" + a[3] + "x" + a[4] + (Boolean.TRUE.equals(a[0]) ? " tA" : "")
                    + (Boolean.TRUE.equals(a[1]) ? " tB" : "");
            case "softmax" -> name + " " + a[1] + "x" + a[2] + "x" + a[3];
            case "softmaxBackward" -> name + " " + a[2] + "x" + a[3] + "x" + a[4];
            default -> name;
        };
    }

    private static void print(Map<String, long[]> times, long total, int steps) {
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(times.entrySet());
        rows.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
        long inBackend = 0;
        System.out.printf(Locale.ROOT, "%-40s %8s %10s %12s%n", "backend call", "calls", "ms/step", "caller CPU ms");
        for (Map.Entry<String, long[]> r : rows) {
            inBackend += r.getValue()[1];
            System.out.printf(Locale.ROOT, "%-40s %8d %10.3f %12.3f%n", r.getKey(), r.getValue()[0] / steps,
                    r.getValue()[1] / 1e6 / steps, r.getValue()[2] / 1e6 / steps);
        }
        System.out.printf(Locale.ROOT, "%-40s %8s %10.3f%n", "the rest (Java above the backend)", "",
                (total - inBackend) / 1e6 / steps);
        System.out.printf(Locale.ROOT, "%-40s %8s %10.3f%n", "step", "", total / 1e6 / steps);
    }

    /** {@link TrainStepBenchmark}'s step: the blog's MLP with Adam on one fixed random batch. */
    static Step mlpStep(Backend backend, int batch) {
        var model = BlogMlp.model(backend);
        Adam adam = new Adam(model.trainableParameters(), 1e-3f);
        BlogMlp.Batch data = BlogMlp.batch(backend, batch, 42);
        return new Step() {
            @Override
            public float run() {
                return BlogMlp.step(model, adam, data);
            }

            @Override
            public void close() {
                adam.close();
                model.close();
                data.close();
            }
        };
    }

    /**
     * {@link GptBlockBenchmark}'s step on the given backend: forward, MSE against a fixed target,
     * backward, clipping to norm 1, AdamW; the loss read back.
     */
    static Step gptStep(Backend backend, int batch, int time, int channels, int heads) {
        GptBlock block = new GptBlock(backend, channels, heads, 7);
        Adam adam = Adam.adamW(block.trainableParameters(), 3e-4f, 0.1f);
        Tensor x = Scope.detached(() -> Tensor.empty(backend, batch, time, channels));
        Tensor target = Scope.detached(() -> Tensor.empty(backend, batch, time, channels));
        backend.normal(x.buffer(), 0f, 1f, 1);
        backend.normal(target.buffer(), 0f, 1f, 2);
        return new Step() {
            @Override
            public float run() {
                try (Scope s = Scope.open()) {
                    adam.zeroGrad();
                    Tensor loss = Ops.mseLoss(block.forward(x), target);
                    loss.backward();
                    Optimizer.clipGradNorm(block.trainableParameters(), 1.0);
                    adam.step();
                    return loss.item();
                }
            }

            @Override
            public void close() {
                adam.close();
                block.close();
                x.close();
                target.close();
            }
        };
    }
}
