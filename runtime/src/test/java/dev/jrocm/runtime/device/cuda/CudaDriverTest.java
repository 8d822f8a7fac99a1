package dev.jrocm.runtime.device.cuda;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.TestDoubles;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.gpu.GpuBackend;
import dev.jrocm.runtime.device.gpu.GpuKernels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CudaDriver}, {@link Nvrtc} and {@link CuBlas} through the real bindings against a C test
 * double of the CUDA driver API, NVRTC and cuBLAS ({@code src/test/c/fake_cuda.c}, built here with
 * gcc): host memory for device memory, a column-major reference SGEMM, and jrocm's own kernel
 * source built for the host and run there, from kernelParams as the driver reads them
 * ({@code fake_device.h}). It holds jrocm to what CUDA
 * insists on — cuInit first, a current context on every calling thread, the primary context
 * retained, known handles, cuBLAS's leading dimensions — so the call sequence and argument order
 * are checked on every CI run. What the GPU computes is the device check's (scripts/device).
 */
class CudaDriverTest {
    static final List<Runnable> restore = new ArrayList<>();

    GpuBackend gpu;
    CpuBackend cpu;

    @BeforeAll
    static void substituteTheTestDouble() throws Exception {
        Path fake = TestDoubles.build("fake_cuda");
        for (NativeLibrary library : List.of(NativeLibrary.CUDA, NativeLibrary.NVRTC, NativeLibrary.CUBLAS)) {
            restore.add(TestDoubles.substitute(library, fake));
        }
    }

    @AfterAll
    static void restoreTheProbes() {
        restore.forEach(Runnable::run);
    }

    @BeforeEach
    void open() {
        gpu = new GpuBackend(CudaDriver.open(0));
        cpu = new CpuBackend();
    }

    @AfterEach
    void close() {
        gpu.close();
        cpu.close();
    }

    /** Runs {@code op} on both backends over the same inputs; returns {gpu, cpu} of the last input's buffer. */
    float[][] both(List<float[]> inputs, BiConsumer<Backend, Buffer[]> op) {
        float[][] out = new float[2][];
        int i = 0;
        for (Backend be : List.of(gpu, cpu)) {
            Buffer[] b = inputs.stream().map(x -> upload(be, x)).toArray(Buffer[]::new);
            op.accept(be, b);
            out[i++] = download(be, b[b.length - 1]);
        }
        return out;
    }

    @Test
    void openRetainsThePrimaryContextAndNamesTheDeviceItsTargetAndLibraries() {
        String d = gpu.describe();
        assertTrue(d.startsWith("cuda:0 Fake H200 (host memory) (kernels for sm_90)"), d);
        assertTrue(d.contains("CUDA driver 13.0") && d.contains("cuBLAS 130001"), d);
        assertEquals("sm_90", gpu.driver().target(), "the device's compute capability 9.0 → a CUBIN for sm_90");
    }

    @Test
    void kernelsGetTheirArgumentsAsTheSourceDeclaresThem() {
        float[] x = gaussian(1000, 1), y = gaussian(1000, 2);
        float[][] r = both(List.of(x, y), (be, b) -> {
            be.scale(b[0], -1.5f);
            be.axpy(0.25f, b[0], b[1]);
            be.relu(b[1], b[1]);
        });
        assertArrayEquals(r[1], r[0]);
        r = both(List.of(new float[77]), (be, b) -> be.fill(b[0], 3.25f));
        assertArrayEquals(r[1], r[0]);
        float[] bias = gaussian(40, 3), m = gaussian(25 * 40, 4);
        r = both(List.of(bias, m), (be, b) -> be.addBias(b[1], b[0], 25, 40));
        assertArrayEquals(r[1], r[0]);
        for (boolean accumulate : new boolean[] {false, true}) {
            r = both(List.of(m, bias), (be, b) -> be.columnSums(b[0], 25, 40, b[1], accumulate));
            for (int c = 0; c < 40; c++) {
                assertEquals(r[1][c], r[0][c], 1e-5f * (1 + Math.abs(r[1][c])), "column " + c);
            }
        }
    }

    @Test
    void gemmThroughCublasMatchesTheCpuBackendForAllFourTransposes() {
        int m = 7, n = 5, k = 3;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            float[] a = gaussian(m * k, 10 + t), b = gaussian(k * n, 20 + t), c = gaussian(m * n, 30 + t);
            float[][] r = both(List.of(a, b, c), (be, x) -> be.gemm(ta, tb, m, n, k, 0.5f, x[0], x[1], 1f, x[2]));
            for (int i = 0; i < r[0].length; i++) {
                assertEquals(r[1][i], r[0][i], 1e-5f, "transA " + ta + ", transB " + tb + ", element " + i);
            }
        }
    }

    @Test
    void copiesGoTheRightWay() {
        float[] x = gaussian(300, 5);
        Buffer a = upload(gpu, x), b = gpu.allocate(300 * 4);
        gpu.copy(a, b);
        assertArrayEquals(x, download(gpu, b));
    }

    @Test
    void outOfMemoryComesFromTheDriverWithWhatWasAskedAndWhatIsFree() {
        GpuException e = assertThrows(GpuException.class, () -> gpu.allocate(3L << 30));
        assertEquals("CUDA", e.library());
        assertTrue(e.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY") && e.getMessage().contains("out of memory (fake CUDA)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("asked for 3.0 GiB") && e.getMessage().contains("free of 1.0 GiB"), e.getMessage());
    }

    @Test
    void aRefusedCallNamesTheFunctionAndCarriesCudasOwnMessage() {
        GpuException e = assertThrows(GpuException.class, () -> gpu.driver().free(12345L));
        assertTrue(e.getMessage().contains("cuMemFree_v2"), e.getMessage());
        assertTrue(e.getMessage().contains("CUDA_ERROR_INVALID_VALUE") && e.getMessage().contains("invalid argument (fake CUDA)"),
                e.getMessage());
    }

    @Test
    void anotherThreadFindsTheContextMadeCurrentForIt() throws Exception {
        Buffer x = gpu.allocate(64 * 4);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                gpu.fill(x, 2f);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        if (failure.get() != null) {
            throw new AssertionError("the other thread had no current context", failure.get());
        }
        float[] want = new float[64];
        java.util.Arrays.fill(want, 2f);
        assertArrayEquals(want, download(gpu, x));
    }

    @Test
    void eventsTimeTheWorkBetweenThem() {
        Buffer x = gpu.allocate(16);
        float ms = gpu.timeMillis(() -> {
            for (int i = 0; i < 4; i++) {
                gpu.fill(x, i);
            }
        });
        assertEquals(1.0f, ms, "the test double counts a quarter of a millisecond per launch");
    }

    @Test
    void nvrtcBuildsACubinForARealArchitectureAndPtxForAVirtualOne() {
        byte[] cubin = Nvrtc.compile(GpuKernels.source(), GpuKernels.FILE_NAME, "sm_90", CudaDriver.OPTIONS);
        assertTrue(new String(cubin, StandardCharsets.US_ASCII).startsWith("FAKECUBIN\n"));
        byte[] ptx = Nvrtc.compile(GpuKernels.source(), GpuKernels.FILE_NAME, "compute_90", CudaDriver.OPTIONS);
        assertTrue(new String(ptx, StandardCharsets.US_ASCII).startsWith(".version fake\n"));
        assertEquals(0, ptx[ptx.length - 1], "PTX ends in NUL for cuModuleLoadData");
    }

    @Test
    void aCompileErrorCarriesNvrtcsLog() {
        GpuException e = assertThrows(GpuException.class,
                () -> Nvrtc.compile("#error the kernel is broken\n", "broken.cu", "sm_90", CudaDriver.OPTIONS));
        assertEquals("NVRTC", e.library());
        assertTrue(e.getMessage().contains("NVRTC_ERROR_COMPILATION"), e.getMessage());
        assertTrue(e.getMessage().contains("broken.cu:1:2: error: #error the kernel is broken"), e.getMessage());
    }

    @Test
    void afterCloseTheBackendRefusesWorkAndTheDeviceOpensAgain() {
        Buffer x = gpu.allocate(16);
        gpu.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.fill(x, 1f));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        gpu = new GpuBackend(CudaDriver.open(0)); // the primary context was released and is retained again
        assertArrayEquals(new float[] {5f, 5f}, fillAndRead(gpu, 5f));
    }

    static float[] fillAndRead(GpuBackend be, float value) {
        Buffer b = be.allocate(8);
        be.fill(b, value);
        return download(be, b);
    }

    @Test
    void theSelfCheckPassesOnTheEmulatedDevice() {
        List<dev.jrocm.runtime.device.SelfCheck.Result> results = dev.jrocm.runtime.device.SelfCheck.run(gpu);
        assertEquals(16, results.size(), "every op is checked, as on the CPU: " + results); // allMatch holds for none
        assertTrue(results.stream().allMatch(dev.jrocm.runtime.device.SelfCheck.Result::ok), results.toString());
    }

    @Test
    void devicesSeeTheCudaBackendAndOpenIt() {
        BackendStatus cuda = Devices.describe().stream().filter(s -> s.kind() == DeviceKind.CUDA).findFirst().orElseThrow();
        assertTrue(cuda.available(), cuda.summary());
        assertTrue(cuda.summary().contains("Fake H200"), cuda.summary());
        try (Backend be = Devices.open(new DeviceSpec(DeviceKind.CUDA, 0))) {
            assertInstanceOf(GpuBackend.class, be);
            assertArrayEquals(new float[] {7f, 7f}, fillAndRead((GpuBackend) be, 7f));
        }
    }
}
