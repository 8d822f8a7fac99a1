package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.GpuException;

import java.lang.foreign.MemorySegment;

/**
 * The little a {@link GpuBackend} needs from a GPU vendor's libraries: device memory, copies, one
 * stream, kernels compiled from source and launched, a column-major SGEMM and timing events.
 * {@code HipDriver} fills it from HIP, hipRTC and hipBLAS; {@code CudaDriver} from the CUDA driver
 * API, NVRTC and cuBLAS. Everything above (the kernels, the memory pool, the ops) is shared.
 *
 * <p>Addresses are device addresses as {@code long}s; they are never dereferenced on the host.
 * Everything that is queued goes onto the driver's one stream, in call order; a call that hands
 * data to the host ({@link #copyToHost}, {@link #elapsedMillis}) waits for the work queued
 * before it. Every failed status throws {@link GpuException} with the library's own message.
 * A driver is used from one thread at a time (it makes its device current on the calling thread).
 */
public interface GpuDriver extends AutoCloseable {

    DeviceKind kind();

    /** One line: the device, its target and the library versions. */
    String describe();

    /** The compile target of this device, e.g. {@code gfx90a} or {@code compute_90}. */
    String target();

    // ---- memory -------------------------------------------------------------------------------

    /** A fresh driver allocation (hipMalloc / cuMemAlloc) of {@code bytes} bytes. */
    long malloc(long bytes);

    /** Whether {@code e} (thrown by {@link #malloc}) says the device is out of memory. */
    boolean isOutOfMemory(GpuException e);

    void free(long address);

    /** {free, total} bytes of device memory, as the driver reports them. */
    long[] memoryInfo();

    /** Copies {@code bytes} from host memory; returns once {@code source} may be reused. */
    void copyToDevice(MemorySegment source, long target, long bytes);

    /** Copies {@code bytes} to host memory after all queued work; returns when they are there. */
    void copyToHost(long source, MemorySegment target, long bytes);

    /** Queues a device-to-device copy. */
    void copyOnDevice(long source, long target, long bytes);

    /** Waits for all queued work. */
    void synchronize();

    // ---- kernels ------------------------------------------------------------------------------

    /** Compiles kernel source for {@link #target()} (hipRTC / NVRTC) into an image for {@link #loadModule}. */
    byte[] compile(String source, String fileName);

    /** Loads a compiled image; returns the module handle. */
    long loadModule(byte[] image);

    /** The kernel {@code name} of a loaded module; returns the function handle. */
    long function(long module, String name);

    /**
     * Queues a launch. {@code params} is the {@code void**} kernelParams array, one pointer per
     * kernel argument to its value; the driver reads it before it returns.
     */
    void launch(long function, int gridX, int gridY, int blockX, int blockY, int sharedBytes, MemorySegment params);

    // ---- GEMM ---------------------------------------------------------------------------------

    /**
     * Column-major {@code C = alpha·op(A)·op(B) + beta·C} (BLAS's {@code sgemm}), queued on the
     * stream; op(A) m×k, op(B) k×n.
     */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
               long b, int ldb, float beta, long c, int ldc);

    // ---- vendor routines ----------------------------------------------------------------------

    /** The vendor library this driver routes some ops through (MIOpen on HIP), or null: jrocm's kernels. */
    default GpuDnn dnn() {
        return null;
    }

    // ---- timing -------------------------------------------------------------------------------

    long createEvent();

    /** Queues the event on the stream. */
    void recordEvent(long event);

    /** Milliseconds between two recorded events; waits for the later one. */
    float elapsedMillis(long start, long end);

    void destroyEvent(long event);

    /** Unloads modules and destroys the stream and library handles (the backend has freed the memory). */
    @Override
    void close();
}
