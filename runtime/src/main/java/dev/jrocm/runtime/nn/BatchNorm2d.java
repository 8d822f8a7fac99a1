package dev.jrocm.runtime.nn;

import dev.jrocm.runtime.autograd.ConvOps;
import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.tensor.Scope;
import dev.jrocm.runtime.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Batch normalisation over the channels of (n, features, h, w), as PyTorch's
 * {@code nn.BatchNorm2d(features)}: eps 1e-5, momentum 0.1, an affine {@code weight} (ones) and
 * {@code bias} (zeros), and running statistics — buffers {@code running_mean} (zeros),
 * {@code running_var} (ones) and {@code num_batches_tracked} (0; int32 here, int64 in PyTorch) in
 * the state dict, in PyTorch's order. In training mode ({@link #train()}, the default) each call
 * normalises with the batch's statistics and updates the running ones; in evaluation mode
 * ({@link #eval()}) the running statistics normalise. Without tracking, the batch's statistics
 * are used in both modes and there are no buffers. See {@link ConvOps#batchNorm2d}.
 */
public final class BatchNorm2d extends Module {
    /** PyTorch's defaults. */
    public static final float DEFAULT_EPS = 1e-5f, DEFAULT_MOMENTUM = 0.1f;

    private final int features;
    private final float eps, momentum;
    private final Tensor weight, bias;                  // (features) or null
    private final Tensor runningMean, runningVar;       // (features) or null
    private final Tensor numBatchesTracked;             // (), int32, or null
    private long batches;                               // numBatchesTracked, mirrored on the host

    public BatchNorm2d(Backend backend, int features) {
        this(backend, features, DEFAULT_EPS, DEFAULT_MOMENTUM, true, true);
    }

    /**
     * @param affine whether there are a weight and a bias ({@code affine=False}: none)
     * @param trackRunningStats whether there are running statistics ({@code track_running_stats})
     * @throws IllegalArgumentException for features below 1, eps not positive and finite, or
     *     momentum outside [0, 1]
     */
    public BatchNorm2d(Backend backend, int features, float eps, float momentum, boolean affine, boolean trackRunningStats) {
        if (features < 1) {
            throw new IllegalArgumentException("BatchNorm2d needs features ≥ 1, got " + features);
        }
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("BatchNorm2d: eps must be a positive finite number, got " + eps);
        }
        if (!(momentum >= 0f && momentum <= 1f)) {
            throw new IllegalArgumentException("BatchNorm2d: momentum must be in [0, 1], got " + momentum);
        }
        this.features = features;
        this.eps = eps;
        this.momentum = momentum;
        this.weight = affine ? registerParameter("weight", Scope.detached(() -> Tensor.full(backend, 1f, features))) : null;
        this.bias = affine ? registerParameter("bias", Scope.detached(() -> Tensor.zeros(backend, features))) : null;
        if (trackRunningStats) {
            this.runningMean = registerBuffer("running_mean", Scope.detached(() -> Tensor.zeros(backend, features)));
            this.runningVar = registerBuffer("running_var", Scope.detached(() -> Tensor.full(backend, 1f, features)));
            this.numBatchesTracked = registerBuffer("num_batches_tracked",
                    Scope.detached(() -> Tensor.ofInts(backend, new int[] {0})));
        } else {
            this.runningMean = null;
            this.runningVar = null;
            this.numBatchesTracked = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 4 || x.dim(1) != features) {
            throw new IllegalArgumentException("BatchNorm2d(" + features + "): input is " + x.shapeString()
                    + " but needs to be (n, " + features + ", h, w)");
        }
        boolean batchStatistics = isTraining() || runningMean == null;
        Tensor y = ConvOps.batchNorm2d(x, runningMean, runningVar, weight, bias, batchStatistics, momentum, eps);
        if (isTraining() && numBatchesTracked != null) {
            batches++;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
                count.set(ValueLayout.JAVA_INT, 0, (int) Math.min(Integer.MAX_VALUE, batches));
                x.backend().copyFromHost(count, numBatchesTracked.buffer());
            }
        }
        return y;
    }

    /** The count in {@code num_batches_tracked}, read back after a state dict was loaded. */
    @Override
    protected void loaded() {
        if (numBatchesTracked != null) {
            batches = numBatchesTracked.toIntArray()[0];
        }
    }

    /** The scale, or null without affine parameters. */
    public Tensor weight() { return weight; }

    /** The shift, or null without affine parameters. */
    public Tensor bias() { return bias; }

    /** The running mean (a buffer), or null without tracking. */
    public Tensor runningMean() { return runningMean; }

    /** The running (unbiased) variance (a buffer), or null without tracking. */
    public Tensor runningVar() { return runningVar; }

    /** How many training batches updated the running statistics. */
    public long numBatchesTracked() { return batches; }

    @Override
    public String toString() {
        return "BatchNorm2d(" + features + ", eps=" + eps + ", momentum=" + momentum + ", affine=" + (weight != null)
                + ", track_running_stats=" + (runningMean != null) + ")";
    }
}
