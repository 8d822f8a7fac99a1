package dev.jrocm.runtime.device.cuda;

import dev.jrocm.bindings.cublas.cublas_h;
import dev.jrocm.bindings.cuda.cuda_h;
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
import java.util.Locale;

/**
 * {@link GpuDriver} over the CUDA driver API: the device's primary context, cuMemAlloc, one
 * stream, NVRTC's output loaded with cuModuleLoadData and launched with cuLaunchKernel, cuBLAS for
 * GEMM, CUDA events.
 *
 * <p>Kernels compile to a CUBIN for {@code sm_XY} of the device's compute capability, or for
 * {@code JROCM_CUDA_ARCH} / {@code -Djrocm.cuda.arch}: {@code sm_90} or {@code 90} (CUBIN), or
 * {@code compute_90} (PTX, which the driver JIT-compiles; see {@link Nvrtc}).
 * cuBLAS runs in its default math mode: full float32, no TF32.
 */
public final class CudaDriver implements GpuDriver {
    public static final String ARCH_PROPERTY = "jrocm.cuda.arch";
    public static final String ARCH_VARIABLE = "JROCM_CUDA_ARCH";
    /** No contraction into FMA: a*b+c rounds as in Java (see kernels.cu). */
    static final List<String> OPTIONS = List.of("--fmad=false");

    private final int ordinal;
    private final int device;
    private final String name;
    private final String target;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment context;
    private final MemorySegment stream;
    private final MemorySegment blas;
    private final MemorySegment scalars;
    private final List<MemorySegment> modules = new ArrayList<>();
    private Thread currentOn;
    private boolean closed;

    private CudaDriver(int ordinal, int device, String name, String target, MemorySegment context,
                       MemorySegment stream, MemorySegment blas) {
        this.ordinal = ordinal;
        this.device = device;
        this.name = name;
        this.target = target;
        this.context = context;
        this.stream = stream;
        this.blas = blas;
        this.scalars = arena.allocate(ValueLayout.JAVA_FLOAT, 2);
        this.currentOn = Thread.currentThread();
    }

    /** Opens device {@code index}: retains its primary context, creates the stream and the cuBLAS handle. */
    public static CudaDriver open(int index) {
        Cuda.init();
        NativeLibrary.NVRTC.probe().require();
        NativeLibrary.CUBLAS.probe().require();
        int count = Cuda.deviceCount();
        if (index < 0 || index >= count) {
            throw new IllegalArgumentException("cuda:" + index + " was asked for, but CUDA sees " + count + " device(s)");
        }
        int device = Out.int32(Cuda::check, "cuDeviceGet", (out, a) -> cuda_h.cuDeviceGet(out, index));
        int major = attribute(device, cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR());
        int minor = attribute(device, cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR());
        String target = archOverride();
        target = target != null ? normalise(target) : "sm_" + major + minor;
        MemorySegment context = Out.pointer(Cuda::check, "cuDevicePrimaryCtxRetain",
                (out, a) -> cuda_h.cuDevicePrimaryCtxRetain(out, device));
        MemorySegment stream = MemorySegment.NULL;
        MemorySegment blas = MemorySegment.NULL;
        try {
            Cuda.check(cuda_h.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            stream = Out.pointer(Cuda::check, "cuStreamCreate", (out, a) -> cuda_h.cuStreamCreate(out, cuda_h.CU_STREAM_DEFAULT()));
            blas = Out.pointer(CuBlas::check, "cublasCreate_v2", (out, a) -> cublas_h.cublasCreate_v2(out));
            CuBlas.check(cublas_h.cublasSetStream_v2(blas, stream), "cublasSetStream_v2");
        } catch (RuntimeException e) {
            if (!blas.equals(MemorySegment.NULL)) {
                cublas_h.cublasDestroy_v2(blas);
            }
            if (!stream.equals(MemorySegment.NULL)) {
                cuda_h.cuStreamDestroy_v2(stream);
            }
            cuda_h.cuDevicePrimaryCtxRelease_v2(device);
            throw e;
        }
        return new CudaDriver(index, device, Cuda.deviceName(index), target, context, stream, blas);
    }

    private static int attribute(int device, int attribute) {
        return Out.int32(Cuda::check, "cuDeviceGetAttribute", (out, a) -> cuda_h.cuDeviceGetAttribute(out, attribute, device));
    }

    /** {@code -Djrocm.cuda.arch} or {@code JROCM_CUDA_ARCH}, or null. */
    static String archOverride() {
        String v = System.getProperty(ARCH_PROPERTY);
        if (v == null || v.isBlank()) {
            v = System.getenv(ARCH_VARIABLE);
        }
        return v == null || v.isBlank() ? null : v.strip();
    }

    /**
     * {@code sm_90} or {@code 90} → {@code sm_90} (a CUBIN for that chip); {@code compute_90} stays
     * (PTX for that virtual architecture).
     */
    public static String normalise(String arch) {
        String a = arch.strip().toLowerCase(Locale.ROOT);
        boolean virtual = a.startsWith("compute_");
        String digits = a.startsWith("sm_") ? a.substring(3) : virtual ? a.substring(8) : a;
        if (!digits.matches("\\d{2,3}[af]?")) {
            throw new IllegalArgumentException("CUDA architecture '" + arch + "' is not sm_XY, compute_XY or XY");
        }
        return (virtual ? "compute_" : "sm_") + digits;
    }

    private void current() {
        if (closed) {
            throw new IllegalStateException("the CUDA driver of device " + ordinal + " is closed");
        }
        Thread t = Thread.currentThread();
        if (t != currentOn) {
            Cuda.check(cuda_h.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            currentOn = t;
        }
    }

    @Override
    public DeviceKind kind() { return DeviceKind.CUDA; }

    @Override
    public String describe() {
        String cublas;
        try {
            cublas = " " + Out.int32(CuBlas::check, "cublasGetVersion_v2", (out, a) -> cublas_h.cublasGetVersion_v2(blas, out));
        } catch (GpuException e) {
            cublas = "";
        }
        return "cuda:" + ordinal + " " + name + " (kernels for " + target + "), CUDA driver "
                + Cuda.formatVersion(Cuda.driverVersion()) + ", NVRTC, cuBLAS" + cublas;
    }

    @Override
    public String target() { return target; }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public long malloc(long bytes) {
        current();
        return Out.int64(Cuda::check, "cuMemAlloc_v2", (out, a) -> cuda_h.cuMemAlloc_v2(out, bytes));
    }

    @Override
    public boolean isOutOfMemory(GpuException e) {
        return "CUDA".equals(e.library()) && e.code() == cuda_h.CUDA_ERROR_OUT_OF_MEMORY();
    }

    @Override
    public void free(long address) {
        current();
        Cuda.check(cuda_h.cuMemFree_v2(address), "cuMemFree_v2");
    }

    @Override
    public long[] memoryInfo() {
        current();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
            Cuda.check(cuda_h.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        }
    }

    /** From pageable memory the driver stages the source before it returns, so no wait is needed. */
    @Override
    public void copyToDevice(MemorySegment source, long target, long bytes) {
        current();
        Cuda.check(cuda_h.cuMemcpyHtoDAsync_v2(target, source, bytes, stream), "cuMemcpyHtoDAsync_v2");
    }

    @Override
    public void copyToHost(long source, MemorySegment target, long bytes) {
        current();
        Cuda.check(cuda_h.cuMemcpyDtoHAsync_v2(target, source, bytes, stream), "cuMemcpyDtoHAsync_v2");
        Cuda.check(cuda_h.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    @Override
    public void copyOnDevice(long source, long target, long bytes) {
        current();
        Cuda.check(cuda_h.cuMemcpyDtoDAsync_v2(target, source, bytes, stream), "cuMemcpyDtoDAsync_v2");
    }

    @Override
    public void synchronize() {
        current();
        Cuda.check(cuda_h.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    // ---- kernels ------------------------------------------------------------------------------

    @Override
    public byte[] compile(String source, String fileName) {
        return Nvrtc.compile(source, fileName, target, OPTIONS);
    }

    @Override
    public long loadModule(byte[] image) {
        current();
        MemorySegment module = Out.pointer(Cuda::check, "cuModuleLoadData", (out, a) -> {
            // PTX must end in NUL (NVRTC's does; one more costs nothing); a CUBIN carries its own size.
            MemorySegment code = a.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, code, ValueLayout.JAVA_BYTE, 0, image.length);
            return cuda_h.cuModuleLoadData(out, code);
        });
        modules.add(module);
        return module.address();
    }

    @Override
    public long function(long module, String kernel) {
        current();
        return Out.pointer(Cuda::check, "cuModuleGetFunction(" + kernel + ")",
                (out, a) -> cuda_h.cuModuleGetFunction(out, MemorySegment.ofAddress(module), a.allocateFrom(kernel))).address();
    }

    @Override
    public void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params) {
        current();
        Cuda.check(cuda_h.cuLaunchKernel(MemorySegment.ofAddress(function), gridX, gridY, 1, blockX, blockY, 1,
                sharedBytes, stream, params, MemorySegment.NULL), "cuLaunchKernel");
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
                      long b, int ldb, float beta, long c, int ldc) {
        current();
        scalars.setAtIndex(ValueLayout.JAVA_FLOAT, 0, alpha);
        scalars.setAtIndex(ValueLayout.JAVA_FLOAT, 1, beta);
        CuBlas.check(cublas_h.cublasSgemm_v2(blas,
                transA ? cublas_h.CUBLAS_OP_T() : cublas_h.CUBLAS_OP_N(),
                transB ? cublas_h.CUBLAS_OP_T() : cublas_h.CUBLAS_OP_N(), m, n, k,
                scalars, MemorySegment.ofAddress(a), lda, MemorySegment.ofAddress(b), ldb,
                scalars.asSlice(Float.BYTES), MemorySegment.ofAddress(c), ldc), "cublasSgemm_v2");
    }

    // ---- timing -------------------------------------------------------------------------------

    @Override
    public long createEvent() {
        current();
        return Out.pointer(Cuda::check, "cuEventCreate", (out, a) -> cuda_h.cuEventCreate(out, cuda_h.CU_EVENT_DEFAULT())).address();
    }

    @Override
    public void recordEvent(long event) {
        current();
        Cuda.check(cuda_h.cuEventRecord(MemorySegment.ofAddress(event), stream), "cuEventRecord");
    }

    @Override
    public float elapsedMillis(long start, long end) {
        current();
        Cuda.check(cuda_h.cuEventSynchronize(MemorySegment.ofAddress(end)), "cuEventSynchronize");
        return Out.float32(Cuda::check, "cuEventElapsedTime_v2",
                (out, a) -> cuda_h.cuEventElapsedTime_v2(out, MemorySegment.ofAddress(start), MemorySegment.ofAddress(end)));
    }

    @Override
    public void destroyEvent(long event) {
        current();
        Cuda.check(cuda_h.cuEventDestroy_v2(MemorySegment.ofAddress(event)), "cuEventDestroy_v2");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        current();
        closed = true;
        try {
            for (MemorySegment module : modules) {
                Cuda.check(cuda_h.cuModuleUnload(module), "cuModuleUnload");
            }
            CuBlas.check(cublas_h.cublasDestroy_v2(blas), "cublasDestroy_v2");
            Cuda.check(cuda_h.cuStreamDestroy_v2(stream), "cuStreamDestroy_v2");
        } finally {
            modules.clear();
            arena.close();
            cuda_h.cuDevicePrimaryCtxRelease_v2(device);
        }
    }
}
