package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.AdamStep;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.MemoryStats;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.TestBuffers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link GpuBackend}'s own logic — the caching pool, the operand swap for column-major BLAS,
 * launch geometry and arguments, device-side error reporting, closing — over {@link FakeDriver}
 * (host memory). What kernels compute is not tested here: that needs a GPU (scripts/device).
 */
class GpuBackendTest {
    static final long SEED = 11L;
    FakeDriver driver;
    GpuBackend gpu;

    @BeforeEach
    void open() {
        driver = new FakeDriver("fake-" + UUID.randomUUID()); // own target: own entry in the image cache
        gpu = new GpuBackend(driver);
    }

    @AfterEach
    void close() {
        gpu.close();
    }

    Buffer upload(float[] data) {
        return TestBuffers.upload(gpu, data);
    }

    float[] download(Buffer b) {
        return TestBuffers.download(gpu, b);
    }

    // ---- the caching pool ---------------------------------------------------------------------

    @Test
    void aSteadyTrainingLoopMakesNoDriverAllocationAfterTheFirstStep() {
        long[] sizes = {3072L * 4096 * 4, 4096 * 4, 8 * 3072 * 4, 8 * 4096 * 4, 8 * 10 * 4, 8, 13};
        for (int step = 0; step < 5; step++) {
            List<Buffer> temporaries = new ArrayList<>();
            for (long size : sizes) {
                temporaries.add(gpu.allocate(size));
            }
            temporaries.forEach(gpu::release);
            assertEquals(sizes.length, driver.mallocs, "driver allocations after step " + step);
        }
        MemoryStats stats = gpu.memoryStats();
        assertEquals(sizes.length, stats.systemAllocations());
        assertEquals(0, stats.bytesInUse());
        assertEquals(driver.used, stats.bytesReserved());
    }

    @Test
    void sizesRoundUpToTheGranuleAndTheAccountingAddsUp() {
        Buffer a = gpu.allocate(1), b = gpu.allocate(GpuBackend.GRANULE + 1), c = gpu.allocate(0);
        assertEquals(1, a.byteSize());
        assertEquals(0, c.byteSize());
        MemoryStats s = gpu.memoryStats();
        assertEquals(3, s.systemAllocations());
        assertEquals(4 * GpuBackend.GRANULE, s.bytesInUse());
        assertEquals(4 * GpuBackend.GRANULE, s.bytesReserved());
        gpu.release(b);
        Buffer d = gpu.allocate(2 * GpuBackend.GRANULE); // same rounded size as b: reused
        assertEquals(3, gpu.memoryStats().systemAllocations());
        gpu.release(a);
        gpu.release(c);
        gpu.release(d);
        assertEquals(0, gpu.memoryStats().bytesInUse());
        gpu.emptyCache();
        assertEquals(0, gpu.memoryStats().bytesReserved());
        assertEquals(0, driver.liveBlocks());
        assertEquals(3, driver.frees);
    }

    @Test
    void releasedBuffersThrowOnUseAndReleaseIsIdempotent() {
        Buffer a = gpu.allocate(64);
        Buffer view = a.slice(4, 8);
        gpu.release(a);
        gpu.release(a);
        gpu.release(view); // views die with their allocation
        assertThrows(IllegalStateException.class, a::memory);
        assertThrows(IllegalStateException.class, view::memory);
        assertEquals(1, driver.mallocs);
    }

    @Test
    void outOfMemoryHandsTheCacheBackAndTriesAgain() {
        driver.capacity = 4 * GpuBackend.GRANULE;
        Buffer a = gpu.allocate(GpuBackend.GRANULE), b = gpu.allocate(GpuBackend.GRANULE);
        gpu.release(a);
        gpu.release(b); // 2 granules cached, 2 free on the "device"
        Buffer big = gpu.allocate(3 * GpuBackend.GRANULE); // fits only once the cache is handed back
        assertEquals(2, driver.frees);
        assertEquals(3 * GpuBackend.GRANULE, gpu.memoryStats().bytesReserved());
        gpu.release(big);
    }

    @Test
    void outOfMemorySaysHowMuchWasAskedForAndHowMuchIsFree() {
        driver.capacity = 1 << 20;
        Buffer held = gpu.allocate(600_000);
        GpuException e = assertThrows(GpuException.class, () -> gpu.allocate(700_000));
        assertEquals("fakeErrorOutOfMemory", e.codeName());
        assertTrue(e.getMessage().contains("asked for 683.6 KiB"), e.getMessage());
        assertTrue(e.getMessage().contains("free of 1.0 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("live buffers hold 586.0 KiB"), e.getMessage());
        gpu.release(held);
    }

    @Test
    void otherDriverErrorsAreNotRetried() {
        driver.failNextMallocOtherwise = true;
        GpuException e = assertThrows(GpuException.class, () -> gpu.allocate(100));
        assertEquals("fakeErrorLaunchFailed", e.codeName());
        assertEquals(0, driver.mallocs);
    }

    @Test
    void closeFreesEveryBlockAndThenRefusesWork() {
        Buffer live = gpu.allocate(100);
        gpu.release(gpu.allocate(5000));
        gpu.close();
        gpu.close();
        assertEquals(0, driver.liveBlocks());
        assertTrue(driver.closed);
        assertTrue(live.isReleased());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.allocate(4));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    // ---- memory views and copies --------------------------------------------------------------

    @Test
    void slicesAreDeviceAddressesWithBoundsChecked() {
        Buffer a = gpu.allocate(400);
        MemorySegment s = gpu.slice(a.memory(), 40, 80);
        assertEquals(a.memory().address() + 40, s.address());
        assertEquals(80, s.byteSize());
        assertThrows(IndexOutOfBoundsException.class, () -> gpu.slice(a.memory(), 360, 80));
        gpu.release(a);
    }

    @Test
    void copiesRoundTripAndCheckSizes() {
        float[] data = gaussian(300, SEED);
        Buffer a = upload(data), b = gpu.allocate(a.byteSize()), small = gpu.allocate(16);
        gpu.copy(a, b);
        assertArrayEquals(data, download(b));
        assertThrows(IllegalArgumentException.class, () -> gpu.copy(a, small));
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> gpu.copyToHost(a, arena.allocate(8)));
        }
    }

    // ---- GEMM: row-major over column-major BLAS -----------------------------------------------

    @Test
    void gemmSwapsOperandsForColumnMajorBlasInAllFourTransposes() {
        int m = 5, n = 7, k = 3;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            float[] a = gaussian(m * k, SEED + t), b = gaussian(k * n, SEED + 10 + t), c = gaussian(m * n, SEED + 20 + t);
            Buffer ab = upload(a), bb = upload(b), cb = upload(c);
            gpu.gemm(ta, tb, m, n, k, 0.5f, ab, bb, 2f, cb);
            float[] got = download(cb);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                    }
                    assertEquals(0.5 * s + 2.0 * c[i * n + j], got[i * n + j], 1e-5,
                            "C[" + i + "," + j + "] ta=" + ta + " tb=" + tb + " (seed " + SEED + ")");
                }
            }
        }
    }

    // ---- launches -----------------------------------------------------------------------------

    @Test
    void kernelsCompileOnceAtTheFirstLaunchAndLoadOncePerBackend() {
        Buffer x = gpu.allocate(4000);
        gpu.gemm(false, false, 1, 1, 1, 1f, x, x, 0f, x);
        assertEquals(0, driver.compiles, "a GEMM needs no kernel");
        gpu.fill(x, 1f);
        gpu.scale(x, 2f);
        assertEquals(1, driver.compiles);
        assertEquals(1, driver.moduleLoads);
        try (GpuBackend second = new GpuBackend(driver)) { // same kind and target: the image is cached
            Buffer y = second.allocate(4);
            second.fill(y, 0f);
            assertEquals(1, driver.compiles);
            assertEquals(2, driver.moduleLoads);
        }
    }

    @Test
    void elementwiseGridsCoverEveryElementWithTheirArguments() {
        Buffer x = gpu.allocate(1_000_001L * 4);
        gpu.fill(x, 2.5f);
        FakeDriver.Launch fill = driver.launches.getLast();
        assertEquals("jr_fill", fill.kernel());
        assertEquals(256, fill.blockX());
        assertEquals((1_000_001 + 255) / 256, fill.gridX());
        assertEquals(x.memory().address(), fill.args()[0]);
        assertEquals(2.5f, Float.intBitsToFloat((int) fill.args()[1]));
        assertEquals(1_000_001L, fill.args()[2]);
        Buffer huge = gpu.allocate(100_000_000L * 4);
        gpu.uniform(huge, -1f, 3f, -5L);
        FakeDriver.Launch u = driver.launches.getLast();
        assertEquals(65_535, u.gridX(), "grid-stride kernels cap the grid");
        assertEquals(4f, Float.intBitsToFloat((int) u.args()[2]), "width = hi - lo");
        assertEquals(-5L, u.args()[3]);
        gpu.relu(gpu.allocate(0), gpu.allocate(0));
        assertEquals(u, driver.launches.getLast(), "nothing to do launches nothing");
    }

    @Test
    void adamPassesTheCpuBackendsScalars() {
        Buffer p = gpu.allocate(40), g = gpu.allocate(40), m = gpu.allocate(40), v = gpu.allocate(40);
        AdamStep step = new AdamStep(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, true, 3);
        gpu.adam(p, g, m, v, step);
        long[] a = driver.launches.getLast().args();
        assertEquals(10, a[4]);
        // lr / (1 − β1ᵗ) and √(1 − β2ᵗ) for t = 3, written out rather than taken from the step under test
        assertEquals((float) (0.01f / (1 - Math.pow(0.9f, 3))), Float.intBitsToFloat((int) a[8]));
        assertEquals((float) Math.sqrt(1 - Math.pow(0.999f, 3)), Float.intBitsToFloat((int) a[9]));
        assertEquals(1f - 0.01f * 0.1f, Float.intBitsToFloat((int) a[10]));
        assertEquals(0f, Float.intBitsToFloat((int) a[11]));
    }

    @Test
    void adamFactoredIsOneKernelOverTheWeightsWithTheBatchRowsAsArguments() {
        int batch = 8, out = 300, in = 700;
        Buffer p = gpu.allocate(4L * out * in), m = gpu.allocate(4L * out * in), v = gpu.allocate(4L * out * in);
        Buffer dy = gpu.allocate(4L * batch * out), x = gpu.allocate(4L * batch * in);
        AdamStep step = new AdamStep(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, false, 3);
        int before = driver.launches.size();
        gpu.adamFactored(p, m, v, dy, x, batch, out, in, step);
        assertEquals(before + 1, driver.launches.size(), "one launch, no GEMM into a temporary");
        FakeDriver.Launch l = driver.launches.getLast();
        assertEquals("jr_adam_factored", l.kernel());
        assertEquals((in + 255) / 256, l.gridX());
        assertEquals(out, l.gridY());
        long[] a = l.args();
        assertArrayEquals(new long[] {p.memory().address(), m.memory().address(), v.memory().address(),
                dy.memory().address(), x.memory().address(), batch, out, in}, java.util.Arrays.copyOf(a, 8));
        assertEquals((float) (0.01f / (1 - Math.pow(0.9f, 3))), Float.intBitsToFloat((int) a[11]), "lr / (1 − β1³)");
        assertEquals(1f, Float.intBitsToFloat((int) a[13]), "no decoupled decay for L2 Adam");
        assertEquals(0.1f, Float.intBitsToFloat((int) a[14]), "L2 weight decay goes into the gradient");
    }

    @Test
    void everyLaunchedKernelIsInTheKernelSource() {
        Buffer x = gpu.allocate(4 * 64), y = gpu.allocate(4 * 64), out = gpu.allocate(8), idx = gpu.allocate(4 * 8);
        gpu.fill(x, 0f);
        gpu.uniform(x, 0f, 1f, 1);
        gpu.normal(x, 0f, 1f, 1);
        gpu.addBias(x, y, 8, 8);
        gpu.columnSums(x, 8, 8, y, false);
        gpu.relu(x, y);
        gpu.reluBackward(x, y, x, true);
        gpu.dropout(x, y, 0.5f, 3);
        gpu.dropoutBackward(x, y, 0.5f, 3, false);
        gpu.scale(x, 2f);
        gpu.axpy(1f, x, y);
        gpu.sumOfSquares(x, out);
        gpu.crossEntropy(x, idx, 8, 8, out, y);
        gpu.argmaxRows(x, 8, 8, idx);
        gpu.adam(x, y, x, y, new AdamStep(0.1f, 0.9f, 0.99f, 1e-8f, 0f, false, 1));
        gpu.adamFactored(x, y, x, y, x, 2, 4, 8, new AdamStep(0.1f, 0.9f, 0.99f, 1e-8f, 0f, false, 1));
        gpu.gatherRows(x, 8, idx, 8, y);
        gpu.scatterAddRows(x, 8, idx, 8, y);
        gpu.copyStrided(x, new long[] {1, 8}, y, new long[] {8, 1}, new int[] {8, 8}, false); // a transpose
        gpu.unary(Backend.UnaryOp.GELU, x, y);
        gpu.unaryBackward(Backend.UnaryOp.GELU, x, y, x, y, true);
        gpu.layerNorm(x, null, null, 8, 8, 1e-5f, y, idx, idx);
        gpu.layerNormBackward(x, null, idx, idx, x, 8, 8, y, idx, idx);
        gpu.layerNorm(x, null, null, 2, 32, 1e-5f, y, idx, idx);            // rows of ≥ 32: a block per row
        gpu.layerNormBackward(x, null, idx, idx, x, 2, 32, y, null, null);
        gpu.binary(Backend.BinaryOp.MUL, x, new long[] {8, 1}, y, new long[] {0, 1}, x, new int[] {8, 8});
        gpu.sumTo(1f, x, new int[] {8, 8}, 0f, y, new int[] {1, 8});  // few elements per output: a thread each
        gpu.sumTo(1f, x, new int[] {1, 64}, 0f, y, new int[] {1, 1}); // one output of many: a block
        gpu.softmax(x, 2, 4, 8, y, false);
        gpu.softmaxBackward(x, y, 2, 4, 8, x, true, true);
        gpu.softmax(x, 2, 32, 1, y, true);                                  // contiguous rows of ≥ 32: a block per row
        gpu.softmaxBackward(x, y, 2, 32, 1, x, false, false);
        gpu.maxAlong(x, 2, 4, 4, y, idx);
        gpu.scatterAlong(x, idx, 2, 4, 4, y, false);
        Conv2dShape conv = new Conv2dShape(2, 1, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1); // groups of 2: im2col, GEMM, swap
        gpu.conv2dForward(x, x, conv, y);
        gpu.conv2dBackwardData(y, x, conv, x, true);
        gpu.conv2dBackwardWeight(y, x, conv, x, true);
        Pool2dShape pool = new Pool2dShape(2, 2, 4, 4, 2, 2, 2, 2, 0, 0);
        Buffer poolIdx = gpu.allocate(4 * 16);
        gpu.maxPool2dForward(x, pool, y, poolIdx);
        gpu.maxPool2dBackward(y, poolIdx, pool, x, false);
        gpu.avgPool2dForward(x, pool, y);
        gpu.avgPool2dBackward(y, pool, x, true);
        gpu.batchNorm2dTraining(x, null, null, 2, 2, 16, 1e-5f, 0.1f, null, null, y, null, null);
        gpu.batchNorm2dInference(x, null, null, y, y, 2, 2, 16, 1e-5f, y);
        gpu.batchNorm2dBackward(x, null, y, y, x, 2, 2, 16, true, y, null, null);
        driver.dnn = new GpuDnn() { // a library that takes the log-softmax (MIOpen on HIP): then jr_nll_rows
            @Override public String describe() { return "log-softmax only"; }
            @Override public boolean relu(long in, long out, long n) { return false; }
            @Override public boolean reluBackward(long in, long dyIn, long dxOut, long n) { return false; }
            @Override public boolean logSoftmax(long in, long out, int rows, int cols) { return true; }
            @Override public void close() { }
        };
        gpu.crossEntropy(x, idx, 8, 8, out, y);
        List<String> launched = driver.launches.stream().map(FakeDriver.Launch::kernel).distinct().toList();
        assertEquals(GpuKernels.names().size(), launched.size(), "launched " + launched + ", source has " + GpuKernels.names());
        assertTrue(GpuKernels.names().containsAll(launched));
    }

    @Test
    void columnSumsRunOneBlockOf32By8PerThirtyTwoColumns() {
        Buffer x = gpu.allocate(4L * 300 * 257), out = gpu.allocate(4L * 257);
        gpu.columnSums(x, 300, 257, out, true);
        FakeDriver.Launch l = driver.launches.getLast();
        assertEquals(9, l.gridX());
        assertEquals(32, l.blockX());
        assertEquals(8, l.blockY());
        assertEquals(1, l.args()[4], "accumulate");
    }

    // ---- errors found by kernels, thrown at the next read-back --------------------------------

    /** Plays the kernel's report: errors[slot] = position << 32 | value, errors[slot + 2] = bound. */
    static void report(long errorsAddress, int slot, int position, int value, int bound) {
        MemorySegment e = FakeDriver.at(errorsAddress, 32);
        e.setAtIndex(ValueLayout.JAVA_LONG, slot, ((long) position << 32) | (value & 0xffffffffL));
        e.setAtIndex(ValueLayout.JAVA_LONG, slot + 2, bound);
    }

    @Test
    void aBadLabelFoundOnTheDeviceIsThrownAtTheNextSynchronisation() {
        driver.hooks.put("jr_cross_entropy_rows", args -> report(args[6], 0, 2, 10, 10));
        Buffer logits = gpu.allocate(4 * 130), labels = gpu.allocate(4 * 13), out = gpu.allocate(8);
        gpu.crossEntropy(logits, labels, 13, 10, out, null); // queued: no throw, no wait
        int syncs = driver.syncs;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, gpu::synchronize);
        assertEquals("cross-entropy: label 10 of row 2 is outside [0, 10)", e.getMessage());
        assertTrue(driver.syncs > syncs);
        gpu.synchronize(); // reported once, then cleared
        driver.hooks.clear();
        gpu.crossEntropy(logits, labels, 13, 10, out, null);
        gpu.synchronize();
    }

    @Test
    void aBadGatherIndexIsThrownWhenAValueIsReadBack() {
        driver.hooks.put("jr_gather_rows", args -> report(args[6], 1, 1, -3, 50));
        Buffer src = gpu.allocate(4L * 50 * 33), idx = gpu.allocate(8), dst = gpu.allocate(4L * 2 * 33);
        gpu.gatherRows(src, 33, idx, 2, dst);
        assertEquals(50, driver.launches.getLast().args()[4], "source rows");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> download(dst));
        assertEquals("gatherRows: index -3 at position 1 is outside [0, 50)", e.getMessage());
    }

    @Test
    void noDeviceErrorCheckCostsAReadBackWhenNoKernelCouldReport() {
        Buffer x = gpu.allocate(40);
        gpu.fill(x, 1f);
        int syncs = driver.syncs;
        download(x);
        assertEquals(syncs + 1, driver.syncs, "one copy, no error check");
        assertFalse(x.isReleased());
    }

    @Test
    void timingUsesTwoEventsAroundTheWork() {
        int[] ran = {0};
        float ms = gpu.timeMillis(() -> ran[0]++);
        assertEquals(1, ran[0]);
        assertEquals(0.5f, ms);
    }
}
