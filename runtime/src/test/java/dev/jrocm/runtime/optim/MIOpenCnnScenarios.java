package dev.jrocm.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.FakeMIOpen;
import dev.jrocm.runtime.device.TestBuffers;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.gpu.GpuBackend;
import dev.jrocm.runtime.device.hip.HipDriver;
import dev.jrocm.runtime.device.hip.MIOpenDnn;
import dev.jrocm.runtime.nn.CrossEntropyLoss;
import dev.jrocm.runtime.nn.Sequential;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.fixture;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.floats;
import static dev.jrocm.runtime.optim.PyTorchAgreementTest.ints;

/**
 * The HIP backend on the emulated AMD device (the HIP, hipRTC and hipBLAS double
 * {@code fake_hip.c}, which runs jrocm's kernels on the host) with the MIOpen double
 * ({@code fake_miopen.c}) doing convolution, pooling and batch norm, run by {@link MIOpenCnnTest}
 * in a JVM of its own whose {@code jrocm.<lib>.library} properties name the doubles. Prints
 * {@code PASS name} or {@code FAIL name} with the stack for each scenario; exits with the number
 * of failures.
 */
public final class MIOpenCnnScenarios {
    private MIOpenCnnScenarios() {}

    static final List<String> NAMES = List.of("cnn follows pytorch through miopen", "a steady step allocates nothing",
            "accumulating convolution backward", "miopen off");

    public static void main(String[] args) {
        Map<String, Runnable> scenarios = new LinkedHashMap<>();
        scenarios.put("cnn follows pytorch through miopen", MIOpenCnnScenarios::cnnFollowsPyTorch);
        scenarios.put("a steady step allocates nothing", MIOpenCnnScenarios::steadyStep);
        scenarios.put("accumulating convolution backward", MIOpenCnnScenarios::accumulating);
        scenarios.put("miopen off", MIOpenCnnScenarios::miopenOff);
        if (!scenarios.keySet().equals(new java.util.LinkedHashSet<>(NAMES))) {
            throw new IllegalStateException("NAMES is out of date: " + scenarios.keySet());
        }
        // the probe loads the MIOpen double (named by jrocm.miopen.library), whose records FakeMIOpen reads
        check(dev.jrocm.runtime.device.NativeLibrary.MIOPEN.probe().isLoaded(), "the MIOpen double did not load");
        int failures = 0;
        for (Map.Entry<String, Runnable> s : scenarios.entrySet()) {
            try {
                s.getValue().run();
                System.out.println("PASS " + s.getKey());
            } catch (Throwable e) {
                failures++;
                System.out.println("FAIL " + s.getKey() + ": " + e);
                e.printStackTrace(System.out);
            }
        }
        System.exit(Math.min(failures, 100));
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static GpuBackend hip() {
        return new GpuBackend(HipDriver.open(0));
    }

    static final String[] MIOPEN_CALLS = {"miopenConvolutionForward", "miopenConvolutionBackwardData",
            "miopenConvolutionBackwardWeights", "miopenPoolingForward", "miopenPoolingBackward",
            "miopenBatchNormalizationForwardTraining", "miopenBatchNormalizationBackward",
            "miopenBatchNormalizationForwardInference"};

    static final String[] FINDS = {"miopenFindConvolutionForwardAlgorithm", "miopenFindConvolutionBackwardDataAlgorithm",
            "miopenFindConvolutionBackwardWeightsAlgorithm"};

    static int[] counts(String... names) {
        return java.util.Arrays.stream(names).mapToInt(FakeMIOpen::calls).toArray();
    }

    /**
     * CnnPyTorchAgreementTest's model and fixture (20 Adam steps' losses to 1e-4, the trained
     * parameters, running statistics, evaluation logits) with every convolution, pooling and batch
     * norm of the model going to MIOpen, and one Find per convolution shape and pass.
     */
    static void cnnFollowsPyTorch() {
        int[] before = counts(MIOPEN_CALLS), findsBefore = counts(FINDS);
        try (GpuBackend be = hip()) {
            check(be.describe().contains("MIOpen (ReLU, log-softmax, convolution, pooling, batch norm)"), be.describe());
            new CnnPyTorchAgreementTest().aSmallCnnFollowsPyTorchsLossTrajectoryRunningStatisticsAndEvaluationOutput(be);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        int[] after = counts(MIOPEN_CALLS), finds = counts(FINDS);
        for (int i = 0; i < MIOPEN_CALLS.length; i++) {
            check(after[i] > before[i], MIOPEN_CALLS[i] + " was not called");
        }
        check(after[0] - before[0] == 2 * 21, "two convolutions forward in 20 steps and one evaluation: "
                + (after[0] - before[0]));
        // c1 and c2 forward and backward-weights; backward-data only for c2 (the input needs no gradient)
        int[] want = {2, 1, 2};
        for (int i = 0; i < FINDS.length; i++) {
            check(finds[i] - findsBefore[i] == want[i], FINDS[i] + " ran " + (finds[i] - findsBefore[i]) + " times, want " + want[i]);
        }
    }

    /** After the first steps, a training step of the CNN makes no driver allocation: workspaces come from the pool. */
    static void steadyStep() {
        try (GpuBackend be = hip(); Sequential model = CnnPyTorchAgreementTest.cnn(be)) {
            JsonNode root = fixture("cnn_train.json");
            CrossEntropyLoss lossFn = new CrossEntropyLoss();
            long[] allocations = new long[4];
            try (Adam adam = new Adam(model.trainableParameters(), 1e-3f)) {
                for (int step = 0; step < allocations.length; step++) {
                    JsonNode batch = root.get("batches").get(step);
                    try (Scope s = Scope.open()) {
                        Tensor x = Tensor.of(be, floats(batch.get("x")), 8, 1, 8, 8);
                        Tensor y = Tensor.ofInts(be, ints(batch.get("y")), 8);
                        adam.zeroGrad();
                        lossFn.forward(model.forward(x), y).backward();
                        adam.step();
                    }
                    be.synchronize();
                    allocations[step] = be.memoryStats().systemAllocations();
                }
            }
            check(allocations[3] == allocations[2] && allocations[2] == allocations[1],
                    "driver allocations after each step: " + java.util.Arrays.toString(allocations));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** dx += and dw += with jrocm's own axpy kernel (run by the emulated device) after MIOpen's overwriting passes. */
    static void accumulating() {
        Conv2dShape s = new Conv2dShape(2, 3, 6, 5, 4, 3, 3, 1, 2, 1, 1, 1, 1);
        float[] dy = gaussian((int) s.outputSize(), 1), w = gaussian((int) s.weightSize(), 2), x = gaussian((int) s.inputSize(), 3);
        float[] dx0 = gaussian((int) s.inputSize(), 4), dw0 = gaussian((int) s.weightSize(), 5);
        float[][] dx = new float[2][], dw = new float[2][];
        try (GpuBackend hip = hip(); CpuBackend cpu = new CpuBackend()) {
            int i = 0;
            for (Backend be : List.of(hip, cpu)) {
                Buffer bdx = TestBuffers.upload(be, dx0), bdw = TestBuffers.upload(be, dw0);
                Buffer bdy = TestBuffers.upload(be, dy), bw = TestBuffers.upload(be, w), bx = TestBuffers.upload(be, x);
                be.conv2dBackwardData(bdy, bw, s, bdx, true);
                be.conv2dBackwardWeight(bdy, bx, s, bdw, true);
                dx[i] = TestBuffers.download(be, bdx);
                dw[i++] = TestBuffers.download(be, bdw);
            }
        }
        close(dx[1], dx[0], "dx +=");
        close(dw[1], dw[0], "dw +=");
    }

    static void close(float[] want, float[] got, String what) {
        check(want.length == got.length, what + ": lengths");
        for (int i = 0; i < want.length; i++) {
            check(Math.abs(want[i] - got[i]) <= 1e-5 * (1 + Math.abs(want[i])), what + ": element " + i + " is " + got[i]
                    + ", want " + want[i]);
        }
    }

    /** Switched off, the same CNN trains on jrocm's kernels alone and MIOpen is not called. */
    static void miopenOff() {
        System.setProperty(MIOpenDnn.PROPERTY, "off");
        int[] before = counts(MIOPEN_CALLS);
        try (GpuBackend be = hip()) {
            check(be.driver().dnn() == null, "MIOpen is in use although switched off");
            check(be.describe().contains("no MIOpen (jrocm's kernels for ReLU, softmax, convolution, pooling and batch norm)"),
                    be.describe());
            new CnnPyTorchAgreementTest().aSmallCnnFollowsPyTorchsLossTrajectoryRunningStatisticsAndEvaluationOutput(be);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            System.clearProperty(MIOpenDnn.PROPERTY);
        }
        check(java.util.Arrays.equals(before, counts(MIOPEN_CALLS)), "MIOpen was called although switched off");
    }
}
