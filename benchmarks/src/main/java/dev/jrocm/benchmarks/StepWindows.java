package dev.jrocm.benchmarks;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.optim.Adam;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The long-run view a JMH trial cannot give: the blog MLP trained for many steps on random
 * CIFAR-shaped batches, timed in windows of steps, with the share of Adam's moments that are
 * subnormal at the end of each window. A step that gets slower as training goes on shows here.
 * {@code benchmarks/pytorch/step_windows.py} times the same windows in PyTorch.
 *
 * <pre>java -cp benchmarks.jar dev.jrocm.benchmarks.StepWindows [batch 8] [steps 1500] [window 250]</pre>
 */
public final class StepWindows {
    private static final CrossEntropyLoss LOSS = new CrossEntropyLoss();

    private StepWindows() {}

    public static void main(String[] args) {
        int batch = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 1500;
        int window = args.length > 2 ? Integer.parseInt(args[2]) : 250;
        try (Backend backend = new CpuBackend();
             Sequential model = BlogMlp.model(backend);
             Adam adam = new Adam(model.trainableParameters(), 1e-3f)) {
            List<BlogMlp.Batch> batches = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                batches.add(BlogMlp.batch(backend, batch, 100 + i));
            }
            System.out.println("jrocm " + backend.describe() + ", batch " + batch);
            System.out.println("steps       ms/step  samples/s  of it Adam ms  subnormal m  subnormal v");
            long start = System.nanoTime(), inAdam = 0;
            for (int step = 0; step < steps; step++) {
                BlogMlp.Batch b = batches.get(step % batches.size());
                try (Scope scope = Scope.open()) {
                    adam.zeroGrad();
                    Tensor loss = LOSS.forward(model.forward(b.x()), b.y());
                    loss.backward();
                    long t = System.nanoTime();
                    adam.step();
                    loss.item(); // waits for the step on a GPU
                    inAdam += System.nanoTime() - t;
                }
                if ((step + 1) % window == 0) {
                    double ms = (System.nanoTime() - start) / 1e6 / window;
                    double[] sub = subnormalShares(model, adam);
                    System.out.printf(Locale.ROOT, "%5d–%-5d %7.2f  %9.1f  %13.2f  %10.2f%%  %10.2f%%%n", step + 1 - window,
                            step + 1, ms, batch * 1000 / ms, inAdam / 1e6 / window, 100 * sub[0], 100 * sub[1]);
                    start = System.nanoTime();
                    inAdam = 0;
                }
            }
            if (args.length > 3 && args[3].equals("--ab")) {
                compareWithFlushedState(model, adam, batches.getFirst());
            }
            batches.forEach(BlogMlp.Batch::close);
        }
    }

    /**
     * A/B in one process, alternating so that a noisy machine slows both alike: Adam's step
     * from the aged state as it is, and from the same state with its subnormal values set to 0.
     */
    static void compareWithFlushedState(Sequential model, Adam adam, BlogMlp.Batch batch) {
        List<Tensor> params = model.trainableParameters();
        List<float[]> saved = new ArrayList<>(), flushed = new ArrayList<>();
        for (Tensor p : params) {
            saved.add(p.toArray());
            flushed.add(p.toArray());
            for (Tensor s : adam.stateOf(p)) {
                float[] x = s.toArray();
                saved.add(x);
                float[] f = x.clone();
                for (int i = 0; i < f.length; i++) {
                    f[i] = Math.abs(f[i]) < Float.MIN_NORMAL ? 0f : f[i];
                }
                flushed.add(f);
            }
        }
        long[] nanos = new long[2];
        for (int round = 0; round < 20; round++) {
            for (int mode = 0; mode < 2; mode++) {
                List<float[]> state = mode == 0 ? saved : flushed;
                int k = 0;
                for (Tensor p : params) {
                    p.copyFrom(state.get(k++));
                    for (Tensor s : adam.stateOf(p)) {
                        s.copyFrom(state.get(k++));
                    }
                }
                try (Scope scope = Scope.open()) {
                    adam.zeroGrad();
                    Tensor loss = LOSS.forward(model.forward(batch.x()), batch.y());
                    loss.backward();
                    long t = System.nanoTime();
                    adam.step();
                    loss.item();
                    if (round >= 4) {
                        nanos[mode] += System.nanoTime() - t;
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "Adam step from the aged state: %.2f ms; from it with subnormals set to 0: %.2f ms (%.2fx)%n",
                nanos[0] / 16e6, nanos[1] / 16e6, nanos[0] / (double) nanos[1]);
    }

    /** The share of m's and of v's elements over all parameters that are subnormal (0 < |x| < 2⁻¹²⁶). */
    static double[] subnormalShares(Sequential model, Adam adam) {
        long[] subnormal = new long[2];
        long total = 0;
        for (Tensor p : model.trainableParameters()) {
            Tensor[] state = adam.stateOf(p);
            if (state == null) {
                continue;
            }
            total += p.size();
            for (int s = 0; s < 2; s++) {
                for (float x : state[s].toArray()) {
                    if (x != 0f && Math.abs(x) < Float.MIN_NORMAL) {
                        subnormal[s]++;
                    }
                }
            }
        }
        return new double[] {subnormal[0] / (double) Math.max(1, total), subnormal[1] / (double) Math.max(1, total)};
    }
}
