package dev.jrocm.runtime.device.gpu;

/**
 * Vendor library routines a {@link GpuDriver} may offer for some of the Backend's ops, in place of
 * jrocm's own kernels: MIOpen's on HIP. Addresses are device memory; the work is queued on the
 * driver's stream like everything else. Each method answers false when it does not take this case
 * (a size beyond the library's int dimensions), and {@link GpuBackend} then launches its kernel.
 */
public interface GpuDnn extends AutoCloseable {
    /** The library and what it is used for, e.g. {@code MIOpen (ReLU, log-softmax)}. */
    String describe();

    /** y = max(x, 0) over {@code n} floats; x and y may be the same. */
    boolean relu(long x, long y, long n);

    /** dx = dy where y &gt; 0, else 0, over {@code n} floats (dx is overwritten, not added to). */
    boolean reluBackward(long y, long dy, long dx, long n);

    /** y = log(softmax(x)) of each row of a row-major (rows, cols) matrix. */
    boolean logSoftmax(long x, long y, int rows, int cols);

    /** Frees the library's handle and descriptors. Idempotent. */
    @Override
    void close();
}
