package dev.jrocm.runtime.device.gpu;

import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.Pool2dShape;

/**
 * Vendor library routines a {@link GpuDriver} may offer for some of the Backend's ops, in place of
 * jrocm's own kernels: MIOpen's on HIP. Addresses are device memory; the work is queued on the
 * driver's stream like everything else. Each method answers false when it does not take this case
 * (a size beyond the library's int dimensions), and {@link GpuBackend} then launches its kernel.
 * The convolution, pooling and batch-norm methods have defaults that take nothing, so a library
 * without them (or a test double of one) leaves those ops to jrocm's kernels. Each overwrites its
 * output (alpha = 1, beta = 0): {@link GpuBackend} turns an accumulating call into a temporary and
 * an axpy. An address of 0 stands for an absent (null) operand.
 */
public interface GpuDnn extends AutoCloseable {
    /** The library and what it is used for, e.g. {@code MIOpen (ReLU, log-softmax, convolution, pooling, batch norm)}. */
    String describe();

    /** y = max(x, 0) over {@code n} floats; x and y may be the same. */
    boolean relu(long x, long y, long n);

    /** dx = dy where y &gt; 0, else 0, over {@code n} floats (dx is overwritten, not added to). */
    boolean reluBackward(long y, long dy, long dx, long n);

    /** y = log(softmax(x)) of each row of a row-major (rows, cols) matrix. */
    boolean logSoftmax(long x, long y, int rows, int cols);

    /** The three passes of a convolution, each with its own algorithm and workspace. */
    enum ConvPass {
        /** y (n, k, outH, outW) from x and the weight. */
        FORWARD,
        /** dx (n, c, h, w) from dy and the weight. */
        BACKWARD_DATA,
        /** dw (k, c, kh, kw) from dy and x. */
        BACKWARD_WEIGHT
    }

    /**
     * The bytes of device workspace {@link #conv2d} needs for this pass and shape (0: none), or −1
     * when this library does not take the case and jrocm's kernels should.
     */
    default long conv2dWorkspace(ConvPass pass, Conv2dShape shape) {
        return -1;
    }

    /**
     * One pass of a convolution, overwriting {@code out}: FORWARD y = conv(a = x, b = weight),
     * BACKWARD_DATA dx from (a = dy, b = weight), BACKWARD_WEIGHT dw from (a = dy, b = x). The
     * workspace holds at least what {@link #conv2dWorkspace} said (0 and 0 when it said 0).
     */
    default boolean conv2d(ConvPass pass, Conv2dShape shape, long a, long b, long out, long workspace, long workspaceBytes) {
        return false;
    }

    /** Average pooling with the padding counted (PyTorch's {@code count_include_pad=True}). */
    default boolean avgPool2dForward(Pool2dShape shape, long x, long y) {
        return false;
    }

    /** The gradient of {@link #avgPool2dForward}: dx from dy, overwritten. */
    default boolean avgPool2dBackward(Pool2dShape shape, long dy, long dx) {
        return false;
    }

    /**
     * Batch normalisation in training mode as
     * {@link dev.jrocm.runtime.device.Backend#batchNorm2dTraining} over x (n, c, hw); runningMean
     * and runningVar, saveMean and saveRstd are each 0 together or given together.
     */
    default boolean batchNorm2dTraining(int n, int c, int hw, float eps, float momentum, long x, long weight, long bias,
                                        long runningMean, long runningVar, long y, long saveMean, long saveRstd) {
        return false;
    }

    /** Batch normalisation in evaluation mode, from the running statistics. */
    default boolean batchNorm2dInference(int n, int c, int hw, float eps, long x, long weight, long bias,
                                         long runningMean, long runningVar, long y) {
        return false;
    }

    /** The training-mode gradients of batch normalisation from the saved mean and rstd, each overwritten. */
    default boolean batchNorm2dBackward(int n, int c, int hw, long x, long weight, long mean, long rstd, long dy, long dx,
                                        long dWeight, long dBias) {
        return false;
    }

    /** Frees the library's handle and descriptors. Idempotent. */
    @Override
    void close();
}
