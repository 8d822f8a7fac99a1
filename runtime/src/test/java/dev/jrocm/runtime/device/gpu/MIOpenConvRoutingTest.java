package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.FakeMIOpen;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.TestBuffers;
import dev.jrocm.runtime.device.TestDoubles;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.hip.MIOpenDnn;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.function.BiConsumer;

import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link GpuBackend}'s convolution, pooling and batch norm through {@link MIOpenDnn} over the C test
 * double of MIOpen ({@code src/test/c/fake_miopen.c}: reference loops in double), paired with
 * {@link FakeDriver} (host memory; kernels are recorded, not run, except the axpy played by a
 * hook). What is checked is what jrocm hands MIOpen — descriptors, algorithms from Find, workspaces,
 * alpha/beta — and that the results are the CPU backend's; MIOpen's own arithmetic needs an AMD GPU.
 */
class MIOpenConvRoutingTest {
    /** Stride 2×1, padding 1×0, dilation 2×1, a 3×2 kernel over 7×6: every descriptor field differs. */
    static final Conv2dShape CONV = new Conv2dShape(3, 2, 7, 6, 4, 3, 2, 2, 1, 1, 0, 2, 1);
    static final Pool2dShape POOL = new Pool2dShape(2, 3, 7, 6, 3, 2, 2, 1, 1, 1);

    FakeDriver driver;
    GpuBackend gpu;
    MIOpenDnn dnn;

    @BeforeAll
    static void loadTheTestDouble() throws Exception {
        System.load(TestDoubles.build("fake_miopen").toString());
    }

    @BeforeEach
    void open() {
        driver = new FakeDriver("fake-" + UUID.randomUUID());
        dnn = MIOpenDnn.open(MemorySegment.NULL);
        driver.dnn = dnn;
        gpu = new GpuBackend(driver);
        // jr_axpy (alpha, x, y, n) played on the host: the one kernel the accumulating paths launch
        driver.hooks.put("jr_axpy", a -> {
            float alpha = Float.intBitsToFloat((int) a[0]);
            MemorySegment x = FakeDriver.at(a[1], a[3] * 4), y = FakeDriver.at(a[2], a[3] * 4);
            for (long i = 0; i < a[3]; i++) {
                y.setAtIndex(ValueLayout.JAVA_FLOAT, i, y.getAtIndex(ValueLayout.JAVA_FLOAT, i)
                        + alpha * x.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            }
        });
    }

    @AfterEach
    void close() {
        gpu.close();
        dnn.close();
    }

    List<String> kernels() {
        return driver.launches.stream().map(FakeDriver.Launch::kernel).toList();
    }

    /** The op on the GPU backend and on the CPU backend over the same inputs: the GPU's and the CPU's last buffer. */
    float[][] both(List<float[]> inputs, BiConsumer<Backend, Buffer[]> op) {
        float[][] out = new float[2][];
        try (CpuBackend cpu = new CpuBackend()) {
            int i = 0;
            for (Backend be : List.of(gpu, cpu)) {
                Buffer[] b = inputs.stream().map(x -> TestBuffers.upload(be, x)).toArray(Buffer[]::new);
                op.accept(be, b);
                out[i++] = TestBuffers.download(be, b[b.length - 1]);
            }
        }
        return out;
    }

    static void close(float[] want, float[] got, double tolerance, String what) {
        assertEquals(want.length, got.length, what + ": lengths");
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance * (1 + Math.abs(want[i])), what + ": element " + i);
        }
    }

    @Test
    void theThreeConvolutionPassesGoThroughMIOpenWithTheShapesDescriptorAndGiveTheCpusValues() {
        float[] x = gaussian((int) CONV.inputSize(), 1), w = gaussian((int) CONV.weightSize(), 2);
        float[] dy = gaussian((int) CONV.outputSize(), 3);
        float[][] r = both(List.of(x, w, new float[(int) CONV.outputSize()]),
                (be, b) -> be.conv2dForward(b[0], b[1], CONV, b[2]));
        close(r[1], r[0], 1e-5, "forward");
        r = both(List.of(dy, w, gaussian((int) CONV.inputSize(), 4)),
                (be, b) -> be.conv2dBackwardData(b[0], b[1], CONV, b[2], false));
        close(r[1], r[0], 1e-5, "backward data");
        r = both(List.of(dy, x, gaussian((int) CONV.weightSize(), 5)),
                (be, b) -> be.conv2dBackwardWeight(b[0], b[1], CONV, b[2], false));
        close(r[1], r[0], 1e-5, "backward weight");
        assertEquals(List.of(), kernels(), "no jrocm kernel ran");
        // mode (cross-correlation), padding, stride, dilation
        assertArrayEquals(new int[] {0, 1, 0, 2, 1, 2, 1}, FakeMIOpen.lastConvolution());
    }

    @Test
    void findRunsOncePerShapeAndPassAndTheWorkspaceComesFromThePool() {
        String[] finds = {"miopenFindConvolutionForwardAlgorithm", "miopenFindConvolutionBackwardDataAlgorithm",
                "miopenFindConvolutionBackwardWeightsAlgorithm"};
        int[] before = Arrays.stream(finds).mapToInt(FakeMIOpen::calls).toArray();
        int sizesBefore = FakeMIOpen.calls("miopenConvolutionForwardGetWorkSpaceSize");
        Buffer x = TestBuffers.upload(gpu, gaussian((int) CONV.inputSize(), 1));
        Buffer w = TestBuffers.upload(gpu, gaussian((int) CONV.weightSize(), 2));
        Buffer y = gpu.allocate(CONV.outputSize() * 4), dx = gpu.allocate(CONV.inputSize() * 4);
        Buffer dw = gpu.allocate(CONV.weightSize() * 4);
        long workspaceBytes = (long) CONV.c() * CONV.kh() * CONV.kw() * CONV.outH() * CONV.outW() * 4; // the double's size
        int mallocs = 0;
        for (int step = 0; step < 3; step++) {
            gpu.conv2dForward(x, w, CONV, y);
            long workspace = FakeMIOpen.lastWorkspace();
            assertEquals(workspaceBytes, FakeMIOpen.lastWorkspaceBytes(), "the size GetWorkSpaceSize gave");
            for (Buffer operand : List.of(x, w, y)) {
                assertNotEquals(operand.memory().address(), workspace, "the workspace is a block of its own");
            }
            gpu.conv2dBackwardData(y, w, CONV, dx, true);
            gpu.conv2dBackwardWeight(y, x, CONV, dw, true);
            if (step == 0) {
                mallocs = driver.mallocs;
            } else {
                assertEquals(mallocs, driver.mallocs, "driver allocations at step " + step + ": workspaces come from the pool");
            }
        }
        for (int i = 0; i < finds.length; i++) {
            assertEquals(before[i] + 1, FakeMIOpen.calls(finds[i]), finds[i] + " once for three steps");
        }
        assertEquals(sizesBefore + 1, FakeMIOpen.calls("miopenConvolutionForwardGetWorkSpaceSize"));
        Conv2dShape other = new Conv2dShape(2, 2, 7, 6, 4, 3, 2, 2, 1, 1, 0, 2, 1); // another batch size
        gpu.conv2dForward(x, w, other, y);
        assertEquals(before[0] + 2, FakeMIOpen.calls(finds[0]), "a new shape is a new Find");
    }

    @Test
    void aOneByOneConvolutionNeedsNoWorkspaceAndGetsNone() {
        Conv2dShape pointwise = new Conv2dShape(2, 3, 4, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1);
        float[][] r = both(List.of(gaussian(120, 1), gaussian(18, 2), new float[240]),
                (be, b) -> be.conv2dForward(b[0], b[1], pointwise, b[2]));
        close(r[1], r[0], 1e-5, "1×1 forward");
        assertEquals(0L, FakeMIOpen.lastWorkspace());
        assertEquals(0L, FakeMIOpen.lastWorkspaceBytes());
    }

    @Test
    void accumulatingBackwardPassesAddMIOpensOverwritingResultToWhatIsThere() {
        float[] dy = gaussian((int) CONV.outputSize(), 3), w = gaussian((int) CONV.weightSize(), 2);
        float[] x = gaussian((int) CONV.inputSize(), 1);
        float[] oldDx = gaussian((int) CONV.inputSize(), 6), oldDw = gaussian((int) CONV.weightSize(), 7);
        float[][] r = both(List.of(dy, w, oldDx), (be, b) -> be.conv2dBackwardData(b[0], b[1], CONV, b[2], true));
        close(r[1], r[0], 1e-5, "dx += ");
        assertFalse(Arrays.equals(r[0], oldDx));
        r = both(List.of(dy, x, oldDw), (be, b) -> be.conv2dBackwardWeight(b[0], b[1], CONV, b[2], true));
        close(r[1], r[0], 1e-5, "dw += ");
        assertEquals(List.of("jr_axpy", "jr_axpy"), kernels(), "MIOpen overwrites a temporary, jr_axpy adds it");
    }

    @Test
    void maxPoolingStaysWithJrocmsKernelsForPyTorchsNaNAndInfinitySemantics() {
        Buffer x = gpu.allocate(POOL.inputSize() * 4), y = gpu.allocate(POOL.outputSize() * 4), i = gpu.allocate(POOL.outputSize() * 4);
        int before = FakeMIOpen.calls("miopenPoolingForward");
        gpu.maxPool2dForward(x, POOL, y, i);
        gpu.maxPool2dBackward(y, i, POOL, x, false);
        assertEquals(List.of("jr_max_pool", "jr_max_pool_backward"), kernels());
        assertEquals(before, FakeMIOpen.calls("miopenPoolingForward"));
    }

    @Test
    void averagePoolingForwardAndBackwardGoThroughMIOpenCountingThePadding() {
        float[] x = gaussian((int) POOL.inputSize(), 9), dy = gaussian((int) POOL.outputSize(), 10);
        float[][] r = both(List.of(x, new float[(int) POOL.outputSize()]), (be, b) -> be.avgPool2dForward(b[0], POOL, b[1]));
        close(r[1], r[0], 1e-6, "average forward");
        // inclusive average (PyTorch's count_include_pad=True), window, padding, stride
        assertArrayEquals(new int[] {2, 3, 2, 1, 1, 2, 1}, FakeMIOpen.lastPooling());
        r = both(List.of(dy, gaussian((int) POOL.inputSize(), 11)), (be, b) -> be.avgPool2dBackward(b[0], POOL, b[1], false));
        close(r[1], r[0], 1e-6, "average backward");
        r = both(List.of(dy, gaussian((int) POOL.inputSize(), 11)), (be, b) -> be.avgPool2dBackward(b[0], POOL, b[1], true));
        close(r[1], r[0], 1e-6, "average backward, accumulating");
        assertEquals(List.of("jr_axpy"), kernels());
    }

    @Test
    void batchNormTrainingInferenceAndTrainingBackwardGoThroughMIOpen() {
        int n = 3, c = 4, hw = 10, total = n * c * hw;
        float[] x = gaussian(total, 12), weight = gaussian(c, 13), bias = gaussian(c, 14), dy = gaussian(total, 15);
        float[] rm = gaussian(c, 16), rv = new float[c];
        Arrays.fill(rv, 0.7f);
        float[][] train = new float[2][], infer = new float[2][], grads = new float[2][];
        try (CpuBackend cpu = new CpuBackend()) {
            int i = 0;
            for (Backend be : List.of(gpu, cpu)) {
                Buffer bx = TestBuffers.upload(be, x), bw = TestBuffers.upload(be, weight), bb = TestBuffers.upload(be, bias);
                Buffer brm = TestBuffers.upload(be, rm), brv = TestBuffers.upload(be, rv), by = be.allocate(total * 4L);
                Buffer mean = be.allocate(c * 4L), rstd = be.allocate(c * 4L);
                be.batchNorm2dTraining(bx, bw, bb, n, c, hw, 1e-5f, 0.1f, brm, brv, by, mean, rstd);
                train[i] = concat(TestBuffers.download(be, by), TestBuffers.download(be, brm), TestBuffers.download(be, brv),
                        TestBuffers.download(be, mean), TestBuffers.download(be, rstd));
                Buffer bdy = TestBuffers.upload(be, dy), dx = be.allocate(total * 4L), dw = be.allocate(c * 4L), db = be.allocate(c * 4L);
                be.batchNorm2dBackward(bx, bw, mean, rstd, bdy, n, c, hw, true, dx, dw, db);
                grads[i] = concat(TestBuffers.download(be, dx), TestBuffers.download(be, dw), TestBuffers.download(be, db));
                be.batchNorm2dInference(bx, bw, bb, brm, brv, n, c, hw, 1e-3f, by);
                infer[i++] = TestBuffers.download(be, by);
            }
        }
        close(train[1], train[0], 1e-5, "training: y, running mean and variance, saved mean and rstd");
        close(grads[1], grads[0], 1e-4, "training backward: dx, dWeight, dBias");
        close(infer[1], infer[0], 1e-5, "inference");
        assertEquals(List.of(), kernels(), "no jrocm kernel ran");
    }

    static float[] concat(float[]... parts) {
        float[] out = new float[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @Test
    void whatMIOpenCannotTakeStaysWithJrocmsKernels() {
        int n = 2, c = 3, hw = 4, total = n * c * hw;
        Buffer x = TestBuffers.upload(gpu, gaussian(total, 1)), y = gpu.allocate(total * 4L), w = TestBuffers.upload(gpu, gaussian(c, 2));
        Buffer mean = gpu.allocate(c * 4L), rstd = gpu.allocate(c * 4L), dx = gpu.allocate(total * 4L);
        gpu.batchNorm2dTraining(x, null, null, n, c, hw, 1e-5f, 0.1f, null, null, y, mean, rstd);
        assertEquals("jr_batch_norm_train", kernels().getLast(), "MIOpen needs a weight and a bias");
        gpu.batchNorm2dBackward(x, w, mean, rstd, y, n, c, hw, false, dx, null, null);
        assertEquals("jr_batch_norm_backward", kernels().getLast(), "evaluation-mode backward has no MIOpen call");
        gpu.batchNorm2dBackward(x, w, mean, rstd, y, n, c, hw, true, dx, null, null);
        assertEquals("jr_batch_norm_backward", kernels().getLast(), "MIOpen computes dx, dWeight and dBias together");
        Conv2dShape empty = new Conv2dShape(0, 2, 7, 6, 4, 3, 2, 2, 1, 1, 0, 2, 1);
        int launches = kernels().size();
        gpu.conv2dBackwardWeight(y, x, empty, TestBuffers.upload(gpu, gaussian((int) empty.weightSize(), 3)), false);
        assertTrue(kernels().size() > launches, "an empty batch goes to the kernels (MIOpen's dimensions are ≥ 1)");
    }

    @Test
    void withoutMIOpenConvolutionAndPoolingRunJrocmsKernels() {
        int before = FakeMIOpen.calls("miopenConvolutionForward");
        driver.dnn = null;
        Buffer x = gpu.allocate(CONV.inputSize() * 4), w = gpu.allocate(CONV.weightSize() * 4), y = gpu.allocate(CONV.outputSize() * 4);
        gpu.conv2dForward(x, w, CONV, y);
        assertTrue(kernels().contains("jr_im2col"), kernels().toString());
        Buffer p = gpu.allocate(POOL.inputSize() * 4), q = gpu.allocate(POOL.outputSize() * 4), i = gpu.allocate(POOL.outputSize() * 4);
        gpu.maxPool2dForward(p, POOL, q, i);
        gpu.avgPool2dForward(p, POOL, q);
        assertEquals(List.of("jr_max_pool", "jr_avg_pool"), kernels().subList(kernels().size() - 2, kernels().size()));
        assertEquals(before, FakeMIOpen.calls("miopenConvolutionForward"));
    }

    @Test
    void aLibraryWithoutConvolutionPoolingOrBatchNormLeavesThemToTheKernels() {
        driver.dnn = new GpuDnn() { // only what GpuDnn requires: the defaults decline the rest
            @Override public String describe() { return "ReLU only"; }
            @Override public boolean relu(long x, long y, long n) { return false; }
            @Override public boolean reluBackward(long y, long dy, long dx, long n) { return false; }
            @Override public boolean logSoftmax(long x, long y, int rows, int cols) { return false; }
            @Override public void close() { }
        };
        Buffer x = gpu.allocate(CONV.inputSize() * 4), w = gpu.allocate(CONV.weightSize() * 4), y = gpu.allocate(CONV.outputSize() * 4);
        gpu.conv2dBackwardWeight(y, x, CONV, w, true);
        assertFalse(kernels().contains("jr_axpy"), "no temporary for a library that declines: " + kernels());
        Buffer p = gpu.allocate(POOL.inputSize() * 4), q = gpu.allocate(POOL.outputSize() * 4);
        gpu.avgPool2dBackward(q, POOL, p, true);
        gpu.batchNorm2dInference(x, w, w, w, w, 1, 2, 4, 1e-5f, x);
        assertEquals(List.of("jr_avg_pool_backward", "jr_batch_norm_infer"), kernels().subList(kernels().size() - 2, kernels().size()));
    }

    @Test
    void aRefusedCallThrowsNamingTheCallTheShapeAndMIOpensMessage() {
        GpuException e = assertThrows(GpuException.class, () -> dnn.conv2d(GpuDnn.ConvPass.FORWARD, CONV, 0L, 0L, 0L, 0L,
                dnn.conv2dWorkspace(GpuDnn.ConvPass.FORWARD, CONV)));
        assertTrue(e.getMessage().contains("miopenFindConvolutionForwardAlgorithm(3×2×7×6 ⋆ 4×2×3×2, stride 2×1, padding 1×0, dilation 2×1)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("miopenStatusBadParm"), e.getMessage());
        assertTrue(e.getMessage().contains("An incorrect parameter was detected (fake MIOpen)"), e.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> dnn.conv2d(GpuDnn.ConvPass.BACKWARD_DATA, CONV, 8L, 8L, 8L, 8L, 4L));
        assertTrue(small.getMessage().contains("a workspace of 4 bytes where "), small.getMessage());
    }

    @Test
    void theDoubleDefinesEveryFunctionTheBindingsBind() throws Exception {
        java.nio.file.Path args = java.nio.file.Path.of(System.getProperty("user.dir")).resolveSibling("scripts")
                .resolve("jextract").resolve("miopen.args");
        List<String> functions = java.nio.file.Files.readAllLines(args).stream()
                .filter(l -> l.startsWith("--include-function ")).map(l -> l.substring("--include-function ".length()).strip())
                .toList();
        assertTrue(functions.contains("miopenConvolutionBackwardWeights"), functions.toString());
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.SymbolLookup double_ = java.lang.foreign.SymbolLookup.libraryLookup(
                    TestDoubles.build("fake_miopen"), arena);
            List<String> missing = functions.stream().filter(f -> double_.find(f).isEmpty()).toList();
            assertEquals(List.of(), missing, "bound in miopen.args but not in fake_miopen.c");
        }
    }

    @Test
    void closeDestroysEveryDescriptorItMade() {
        int live = FakeMIOpen.live();
        try (MIOpenDnn other = MIOpenDnn.open(MemorySegment.NULL)) {
            FakeDriver d = new FakeDriver("fake-" + UUID.randomUUID());
            d.dnn = other;
            try (GpuBackend be = new GpuBackend(d)) {
                Buffer x = be.allocate(CONV.inputSize() * 4), w = be.allocate(CONV.weightSize() * 4), y = be.allocate(CONV.outputSize() * 4);
                be.conv2dForward(x, w, CONV, y);
                Buffer p = be.allocate(POOL.inputSize() * 4), q = be.allocate(POOL.outputSize() * 4);
                be.avgPool2dForward(p, POOL, q);
                be.avgPool2dBackward(q, POOL, p, false);
                assertEquals(live + 3 + 1 + 1 + 2, FakeMIOpen.live(), "x, w, y; the convolution; the pooling and its two tensors");
            }
        }
        assertEquals(live, FakeMIOpen.live());
        assertThrows(IllegalStateException.class, () -> {
            dnn.close();
            dnn.conv2dWorkspace(GpuDnn.ConvPass.FORWARD, CONV);
        });
    }
}
