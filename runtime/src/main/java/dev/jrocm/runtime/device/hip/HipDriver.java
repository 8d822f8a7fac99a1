package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.hip.hip_h;
import dev.jrocm.bindings.hipblas.hipblas_h;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.Out;
import dev.jrocm.runtime.device.gpu.GpuDriver;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link GpuDriver} over HIP: hipMalloc, one hipStream, hipRTC code objects loaded with
 * hipModuleLoadData and launched with hipModuleLaunchKernel, hipBLAS for GEMM, hipEvents, and
 * MIOpen (ReLU, log-softmax, convolution, pooling, batch norm) where libMIOpen is present ({@link MIOpenDnn}).
 *
 * <p>Kernels are compiled for the device in-process (hipRTC picks the current device's
 * architecture). {@code JROCM_HIP_ARCH} (or {@code -Djrocm.hip.arch}) names another target; that
 * compile runs in a child process ({@link IsolatedHipRtc}), because an old hipRTC aborts its
 * process on a target it does not know.
 */
public final class HipDriver implements GpuDriver {
    public static final String ARCH_PROPERTY = "jrocm.hip.arch";
    public static final String ARCH_VARIABLE = "JROCM_HIP_ARCH";
    /** No contraction: a*b+c rounds as in Java (see kernels.cu). */
    static final List<String> OPTIONS = List.of("-ffp-contract=off");

    private final int device;
    private final String name;
    private final String archOverride;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment stream;
    private final MemorySegment blas;
    private final MemorySegment scalars;   // alpha, beta for hipBLAS (host pointer mode)
    private final MIOpenDnn dnn;           // null: no MIOpen, jrocm's kernels do everything
    private final List<MemorySegment> modules = new ArrayList<>();
    private Thread currentOn;
    private boolean closed;

    private HipDriver(int device, String name, String archOverride, MemorySegment stream, MemorySegment blas,
                      MIOpenDnn dnn) {
        this.device = device;
        this.name = name;
        this.archOverride = archOverride;
        this.stream = stream;
        this.blas = blas;
        this.dnn = dnn;
        this.scalars = arena.allocate(ValueLayout.JAVA_FLOAT, 2);
        this.currentOn = Thread.currentThread();
    }

    /** Opens device {@code index}: sets it current, creates the stream, the hipBLAS handle and MIOpen's, if present. */
    public static HipDriver open(int index) {
        Hip.requireLoaded();
        NativeLibrary.HIPRTC.probe().require();
        NativeLibrary.HIPBLAS.probe().require();
        int count = Hip.deviceCount();
        if (index < 0 || index >= count) {
            throw new IllegalArgumentException("hip:" + index + " was asked for, but HIP sees " + count + " device(s)");
        }
        Hip.check(hip_h.hipSetDevice(index), "hipSetDevice");
        String name = Hip.deviceName(index);
        MemorySegment stream = MemorySegment.NULL, blas = MemorySegment.NULL;
        MIOpenDnn dnn;
        try {
            stream = Out.pointer(Hip::check, "hipStreamCreate", (out, a) -> hip_h.hipStreamCreate(out));
            blas = Out.pointer(HipBlas::check, "hipblasCreate", (out, a) -> hipblas_h.hipblasCreate(out));
            HipBlas.check(hipblas_h.hipblasSetStream(blas, stream), "hipblasSetStream");
            dnn = MIOpenDnn.openIfPresent(stream);
        } catch (RuntimeException e) {
            if (!blas.equals(MemorySegment.NULL)) {
                hipblas_h.hipblasDestroy(blas);
            }
            if (!stream.equals(MemorySegment.NULL)) {
                hip_h.hipStreamDestroy(stream);
            }
            throw e;
        }
        return new HipDriver(index, name, archOverride(), stream, blas, dnn);
    }

    /** {@code -Djrocm.hip.arch} or {@code JROCM_HIP_ARCH}, or null. */
    static String archOverride() {
        String v = System.getProperty(ARCH_PROPERTY);
        if (v == null || v.isBlank()) {
            v = System.getenv(ARCH_VARIABLE);
        }
        return v == null || v.isBlank() ? null : v.strip();
    }

    /** Makes this driver's device current on the calling thread (HIP's current device is per thread). */
    private void current() {
        if (closed) {
            throw new IllegalStateException("the HIP driver of device " + device + " is closed");
        }
        Thread t = Thread.currentThread();
        if (t != currentOn) {
            Hip.check(hip_h.hipSetDevice(device), "hipSetDevice");
            currentOn = t;
        }
    }

    @Override
    public DeviceKind kind() { return DeviceKind.HIP; }

    @Override
    public String describe() {
        return "hip:" + device + " " + name + " (kernels for " + target() + "), HIP "
                + Hip.formatVersion(Hip.runtimeVersion()) + ", hipRTC " + HipRtc.version() + ", hipBLAS"
                + (dnn != null ? ", " + dnn.describe() : ", no MIOpen (jrocm's kernels for ReLU, softmax, convolution, pooling and batch norm)");
    }

    /** MIOpen, with this driver's device made current on the calling thread; null without it. */
    @Override
    public MIOpenDnn dnn() {
        if (dnn != null) {
            current();
        }
        return dnn;
    }

    @Override
    public String target() {
        return archOverride != null ? archOverride : "the device's own architecture (" + name + ")";
    }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public long malloc(long bytes) {
        current();
        return Out.pointer(Hip::check, "hipMalloc", (out, a) -> hip_h.hipMalloc(out, bytes)).address();
    }

    @Override
    public boolean isOutOfMemory(GpuException e) {
        return "HIP".equals(e.library()) && e.code() == hip_h.hipErrorOutOfMemory();
    }

    @Override
    public void free(long address) {
        current();
        Hip.check(hip_h.hipFree(MemorySegment.ofAddress(address)), "hipFree");
    }

    @Override
    public long[] memoryInfo() {
        current();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
            Hip.check(hip_h.hipMemGetInfo(free, total), "hipMemGetInfo");
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        }
    }

    /** Waits for the copy: the source is pageable host memory that the caller frees on return. */
    @Override
    public void copyToDevice(MemorySegment source, long target, long bytes) {
        current();
        Hip.check(hip_h.hipMemcpyAsync(MemorySegment.ofAddress(target), source, bytes, hip_h.hipMemcpyHostToDevice(), stream),
                "hipMemcpyAsync");
        Hip.check(hip_h.hipStreamSynchronize(stream), "hipStreamSynchronize");
    }

    @Override
    public void copyToHost(long source, MemorySegment target, long bytes) {
        current();
        Hip.check(hip_h.hipMemcpyAsync(target, MemorySegment.ofAddress(source), bytes, hip_h.hipMemcpyDeviceToHost(), stream),
                "hipMemcpyAsync");
        Hip.check(hip_h.hipStreamSynchronize(stream), "hipStreamSynchronize");
    }

    @Override
    public void copyOnDevice(long source, long target, long bytes) {
        current();
        Hip.check(hip_h.hipMemcpyAsync(MemorySegment.ofAddress(target), MemorySegment.ofAddress(source), bytes,
                hip_h.hipMemcpyDeviceToDevice(), stream), "hipMemcpyAsync");
    }

    @Override
    public void synchronize() {
        current();
        Hip.check(hip_h.hipStreamSynchronize(stream), "hipStreamSynchronize");
    }

    // ---- kernels ------------------------------------------------------------------------------

    @Override
    public byte[] compile(String source, String fileName) {
        current();
        return archOverride != null
                ? IsolatedHipRtc.compile(source, fileName, archOverride, OPTIONS)
                : HipRtc.compileForCurrentDevice(source, fileName, OPTIONS);
    }

    @Override
    public long loadModule(byte[] image) {
        current();
        MemorySegment module = Out.pointer(Hip::check, "hipModuleLoadData",
                (out, a) -> hip_h.hipModuleLoadData(out, a.allocateFrom(ValueLayout.JAVA_BYTE, image)));
        modules.add(module);
        return module.address();
    }

    @Override
    public long function(long module, String kernel) {
        current();
        return Out.pointer(Hip::check, "hipModuleGetFunction(" + kernel + ")",
                (out, a) -> hip_h.hipModuleGetFunction(out, MemorySegment.ofAddress(module), a.allocateFrom(kernel))).address();
    }

    @Override
    public void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params) {
        current();
        Hip.check(hip_h.hipModuleLaunchKernel(MemorySegment.ofAddress(function), gridX, gridY, 1, blockX, blockY, 1,
                sharedBytes, stream, params, MemorySegment.NULL), "hipModuleLaunchKernel");
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                      long b, int ldb, float beta, long c, int ldc) {
        current();
        scalars.setAtIndex(ValueLayout.JAVA_FLOAT, 0, alpha);
        scalars.setAtIndex(ValueLayout.JAVA_FLOAT, 1, beta);
        HipBlas.check(hipblas_h.hipblasSgemm(blas,
                transA ? hipblas_h.HIPBLAS_OP_T() : hipblas_h.HIPBLAS_OP_N(),
                transB ? hipblas_h.HIPBLAS_OP_T() : hipblas_h.HIPBLAS_OP_N(), m, n, k,
                scalars, MemorySegment.ofAddress(a), lda, MemorySegment.ofAddress(b), ldb,
                scalars.asSlice(Float.BYTES), MemorySegment.ofAddress(c), ldc), "hipblasSgemm");
    }

    // ---- timing -------------------------------------------------------------------------------

    @Override
    public long createEvent() {
        current();
        return Out.pointer(Hip::check, "hipEventCreate", (out, a) -> hip_h.hipEventCreate(out)).address();
    }

    @Override
    public void recordEvent(long event) {
        current();
        Hip.check(hip_h.hipEventRecord(MemorySegment.ofAddress(event), stream), "hipEventRecord");
    }

    @Override
    public float elapsedMillis(long start, long end) {
        current();
        Hip.check(hip_h.hipEventSynchronize(MemorySegment.ofAddress(end)), "hipEventSynchronize");
        return Out.float32(Hip::check, "hipEventElapsedTime",
                (out, a) -> hip_h.hipEventElapsedTime(out, MemorySegment.ofAddress(start), MemorySegment.ofAddress(end)));
    }

    @Override
    public void destroyEvent(long event) {
        current();
        Hip.check(hip_h.hipEventDestroy(MemorySegment.ofAddress(event)), "hipEventDestroy");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        current();
        closed = true;
        try {
            if (dnn != null) {
                dnn.close();
            }
            for (MemorySegment module : modules) {
                Hip.check(hip_h.hipModuleUnload(module), "hipModuleUnload");
            }
            HipBlas.check(hipblas_h.hipblasDestroy(blas), "hipblasDestroy");
            Hip.check(hip_h.hipStreamDestroy(stream), "hipStreamDestroy");
        } finally {
            modules.clear();
            arena.close();
        }
    }
}
