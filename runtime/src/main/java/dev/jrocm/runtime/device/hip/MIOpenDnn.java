package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.miopen.miopenConvAlgoPerf_t;
import dev.jrocm.bindings.miopen.miopen_h;
import dev.jrocm.runtime.device.Conv2dShape;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.Out;
import dev.jrocm.runtime.device.Pool2dShape;
import dev.jrocm.runtime.device.gpu.GpuDnn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * MIOpen on the HIP driver's stream: what {@link HipDriver} offers
 * {@link dev.jrocm.runtime.device.gpu.GpuBackend} when libMIOpen is present.
 * {@code -Djrocm.miopen=off} or {@code JROCM_MIOPEN=off} leaves everything to jrocm's kernels.
 *
 * <p>Through MIOpen (alpha = 1, beta = 0 everywhere: MIOpen's activations, convolutions and pooling
 * take no other; GpuBackend turns an accumulating call into a pooled temporary and an axpy):
 * <ul>
 * <li>ReLU forward and its overwriting backward; the row-wise log-softmax of the cross-entropy.</li>
 * <li>Convolution forward, backward-data and backward-weights. The algorithm of each (shape, pass)
 *     is chosen once by {@code miopenFind…Algorithm} (not exhaustive) on the first call and kept
 *     for this handle's life, with the workspace size its {@code …GetWorkSpaceSize} gave; the
 *     workspace itself comes from GpuBackend's pool on each call, so a steady training step makes
 *     no driver allocation. Find writes into the output, which the call then overwrites.</li>
 * <li>Max pooling stays with jrocm's kernels, forward and backward: MIOpen's kernel starts each
 *     window from the lowest float and keeps a strictly larger element, so a NaN never wins and an
 *     all −∞ window gives −FLT_MAX (at index 0), where Backend's contract is PyTorch's (NaN wins,
 *     −∞ stays); and the kernel's backward checks every index, where MIOpen's would write where it
 *     points.</li>
 * <li>Average pooling forward and backward ({@code miopenPoolingAverageInclusive}: PyTorch's
 *     {@code count_include_pad=True}). MIOpen's pooling backward reads neither x nor y
 *     ({@code PoolingDescriptor::Backward} ignores them), which Backend does not carry: dy and dx
 *     are passed in their places.</li>
 * <li>Spatial batch norm: training forward (running statistics with expAvgFactor = momentum and
 *     MIOpen's unbiased variance, saved mean and inverse deviation = Backend's rstd), inference,
 *     and the training-mode backward from the saved statistics (so its epsilon is not read). A
 *     call without weight or bias, or a backward that skips one of dx, dWeight, dBias, is left to
 *     the kernel (MIOpen needs them all); so is the evaluation-mode backward, which has no MIOpen
 *     call (dx = weight·rstd·dy).</li>
 * </ul>
 * Tensors are packed 4-D float NCHW descriptors ((n, 1, 1, 1) element-wise, (rows, cols, 1, 1) for
 * the log-softmax, (n, c, hw, 1) and (1, c, 1, 1) for batch norm); an empty batch, which they
 * cannot describe (MIOpen's dimensions are ≥ 1), is left to the kernels. Descriptors are made once
 * per shape and destroyed in {@link #close}.
 */
public final class MIOpenDnn implements GpuDnn {
    public static final String PROPERTY = "jrocm.miopen";
    public static final String VARIABLE = "JROCM_MIOPEN";

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment reluDescriptor;
    private final MemorySegment one;
    private final MemorySegment zero;
    private final Map<List<Integer>, MemorySegment> tensors = new HashMap<>();
    private final Map<List<Integer>, MemorySegment> convolutions = new HashMap<>(); // by pad, stride, dilation
    private final Map<List<Integer>, MemorySegment> poolings = new HashMap<>();     // by window, pad, stride
    private final Map<ConvKey, ConvPlan> plans = new HashMap<>();
    private boolean closed;

    private MIOpenDnn(MemorySegment handle, MemorySegment reluDescriptor) {
        this.handle = handle;
        this.reluDescriptor = reluDescriptor;
        this.one = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
        this.zero = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
    }

    /** False when {@code -Djrocm.miopen} or {@code JROCM_MIOPEN} is off, false or 0. */
    static boolean enabled() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) {
            v = System.getenv(VARIABLE);
        }
        return v == null || !List.of("off", "false", "0", "no").contains(v.strip().toLowerCase(Locale.ROOT));
    }

    /** MIOpen on {@code stream} when its library was found and it is not switched off; otherwise null. */
    static MIOpenDnn openIfPresent(MemorySegment stream) {
        if (!enabled() || !NativeLibrary.MIOPEN.probe().isLoaded()) {
            return null;
        }
        try {
            return open(stream);
        } catch (GpuException e) {
            throw new GpuException(e.library(), e.function(), e.code(), e.codeName(), e.libraryMessage(),
                    "MIOpen was found (" + NativeLibrary.MIOPEN.probe().path() + ") but could not start; -D"
                            + PROPERTY + "=off or " + VARIABLE + "=off uses jrocm's own kernels instead");
        }
    }

    /**
     * A handle on {@code stream} (a hipStream_t; NULL is the default stream) and the ReLU descriptor.
     * The caller has made sure libMIOpen is loaded.
     */
    public static MIOpenDnn open(MemorySegment stream) {
        MemorySegment handle = Out.pointer(MIOpen::check, "miopenCreateWithStream",
                (out, a) -> miopen_h.miopenCreateWithStream(out, stream));
        MemorySegment relu = MemorySegment.NULL;
        try {
            relu = Out.pointer(MIOpen::check, "miopenCreateActivationDescriptor",
                    (out, a) -> miopen_h.miopenCreateActivationDescriptor(out));
            MIOpen.check(miopen_h.miopenSetActivationDescriptor(relu, miopen_h.miopenActivationRELU(), 0, 0, 0),
                    "miopenSetActivationDescriptor");
            return new MIOpenDnn(handle, relu);
        } catch (RuntimeException e) {
            if (!relu.equals(MemorySegment.NULL)) {
                miopen_h.miopenDestroyActivationDescriptor(relu);
            }
            miopen_h.miopenDestroy(handle);
            throw e;
        }
    }

    @Override
    public String describe() {
        return "MIOpen (ReLU, log-softmax, convolution, pooling, batch norm)";
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("MIOpen's handle is closed");
        }
    }

    /** The packed float tensor (n, c, h, w), described once. */
    private MemorySegment tensor(int n, int c, int h, int w) {
        requireOpen();
        List<Integer> shape = List.of(n, c, h, w);
        MemorySegment d = tensors.get(shape);
        if (d == null) {
            d = Out.pointer(MIOpen::check, "miopenCreateTensorDescriptor", (out, a) -> miopen_h.miopenCreateTensorDescriptor(out));
            try {
                MIOpen.check(miopen_h.miopenSet4dTensorDescriptor(d, miopen_h.miopenFloat(), n, c, h, w),
                        "miopenSet4dTensorDescriptor(" + n + ", " + c + ", " + h + ", " + w + ")");
            } catch (RuntimeException e) {
                miopen_h.miopenDestroyTensorDescriptor(d);
                throw e;
            }
            tensors.put(shape, d);
        }
        return d;
    }

    private static MemorySegment at(long address) {
        return MemorySegment.ofAddress(address);
    }

    @Override
    public boolean relu(long x, long y, long n) {
        if (n <= 0 || n > Integer.MAX_VALUE) {
            return false;
        }
        MemorySegment d = tensor((int) n, 1, 1, 1);
        MIOpen.check(miopen_h.miopenActivationForward(handle, reluDescriptor, one, d, at(x), zero, d, at(y)),
                "miopenActivationForward(ReLU, " + n + ")");
        return true;
    }

    /** MIOpen's backward also asks for the forward input x; for ReLU, y &gt; 0 exactly where x &gt; 0, so y serves. */
    @Override
    public boolean reluBackward(long y, long dy, long dx, long n) {
        if (n <= 0 || n > Integer.MAX_VALUE) {
            return false;
        }
        MemorySegment d = tensor((int) n, 1, 1, 1);
        MIOpen.check(miopen_h.miopenActivationBackward(handle, reluDescriptor, one, d, at(y), d, at(dy), d, at(y),
                zero, d, at(dx)), "miopenActivationBackward(ReLU, " + n + ")");
        return true;
    }

    @Override
    public boolean logSoftmax(long x, long y, int rows, int cols) {
        if (rows <= 0 || cols <= 0) {
            return false;
        }
        MemorySegment d = tensor(rows, cols, 1, 1);
        MIOpen.check(miopen_h.miopenSoftmaxForward_V2(handle, one, d, at(x), zero, d, at(y),
                miopen_h.MIOPEN_SOFTMAX_LOG(), miopen_h.MIOPEN_SOFTMAX_MODE_CHANNEL()),
                "miopenSoftmaxForward_V2(log, " + rows + "×" + cols + ")");
        return true;
    }


    // ---- convolution --------------------------------------------------------------------------

    private record ConvKey(ConvPass pass, Conv2dShape shape) {}

    /** A (shape, pass)'s workspace size and, once Find has run, its algorithm. */
    private static final class ConvPlan {
        final long workspace;
        int algorithm = -1;

        ConvPlan(long workspace) {
            this.workspace = workspace;
        }
    }

    private static String geometry(Conv2dShape s) {
        return s.n() + "×" + s.c() + "×" + s.h() + "×" + s.w() + " ⋆ " + s.k() + "×" + s.c() + "×" + s.kh() + "×" + s.kw()
                + ", stride " + s.strideH() + "×" + s.strideW() + ", padding " + s.padH() + "×" + s.padW()
                + ", dilation " + s.dilH() + "×" + s.dilW();
    }

    /** The cross-correlation descriptor of the shape's padding, stride and dilation, made once. */
    private MemorySegment convolution(Conv2dShape s) {
        requireOpen();
        List<Integer> key = List.of(s.padH(), s.padW(), s.strideH(), s.strideW(), s.dilH(), s.dilW());
        MemorySegment d = convolutions.get(key);
        if (d == null) {
            d = Out.pointer(MIOpen::check, "miopenCreateConvolutionDescriptor",
                    (out, a) -> miopen_h.miopenCreateConvolutionDescriptor(out));
            try {
                MIOpen.check(miopen_h.miopenInitConvolutionDescriptor(d, miopen_h.miopenConvolution(), s.padH(), s.padW(),
                        s.strideH(), s.strideW(), s.dilH(), s.dilW()), "miopenInitConvolutionDescriptor(" + geometry(s) + ")");
            } catch (RuntimeException e) {
                miopen_h.miopenDestroyConvolutionDescriptor(d);
                throw e;
            }
            convolutions.put(key, d);
        }
        return d;
    }

    private MemorySegment input(Conv2dShape s) { return tensor(s.n(), s.c(), s.h(), s.w()); }

    private MemorySegment filter(Conv2dShape s) { return tensor(s.k(), s.c(), s.kh(), s.kw()); }

    private MemorySegment output(Conv2dShape s) { return tensor(s.n(), s.k(), s.outH(), s.outW()); }

    private ConvPlan plan(ConvPass pass, Conv2dShape s) {
        ConvKey key = new ConvKey(pass, s);
        ConvPlan plan = plans.get(key);
        if (plan == null) {
            MemorySegment x = input(s), w = filter(s), y = output(s), conv = convolution(s);
            String where = "(" + geometry(s) + ")";
            long bytes = switch (pass) {
                case FORWARD -> Out.int64(MIOpen::check, "miopenConvolutionForwardGetWorkSpaceSize" + where,
                        (out, a) -> miopen_h.miopenConvolutionForwardGetWorkSpaceSize(handle, w, x, conv, y, out));
                case BACKWARD_DATA -> Out.int64(MIOpen::check, "miopenConvolutionBackwardDataGetWorkSpaceSize" + where,
                        (out, a) -> miopen_h.miopenConvolutionBackwardDataGetWorkSpaceSize(handle, y, w, conv, x, out));
                case BACKWARD_WEIGHT -> Out.int64(MIOpen::check, "miopenConvolutionBackwardWeightsGetWorkSpaceSize" + where,
                        (out, a) -> miopen_h.miopenConvolutionBackwardWeightsGetWorkSpaceSize(handle, y, x, conv, w, out));
            };
            plan = new ConvPlan(bytes);
            plans.put(key, plan);
        }
        return plan;
    }

    /** The workspace MIOpen said this (shape, pass) needs; asked once per shape and pass. */
    @Override
    public long conv2dWorkspace(ConvPass pass, Conv2dShape shape) {
        return shape.n() == 0 ? -1 : plan(pass, shape).workspace;
    }

    @Override
    public boolean conv2d(ConvPass pass, Conv2dShape s, long a, long b, long out, long workspace, long workspaceBytes) {
        if (s.n() == 0) {
            return false;
        }
        ConvPlan plan = plan(pass, s);
        if (workspaceBytes < plan.workspace) {
            throw new IllegalArgumentException("MIOpen convolution " + pass + ": a workspace of " + workspaceBytes
                    + " bytes where " + plan.workspace + " are needed");
        }
        MemorySegment x = input(s), w = filter(s), y = output(s), conv = convolution(s), ws = at(workspace);
        String where = "(" + geometry(s) + ")";
        if (plan.algorithm < 0) {
            plan.algorithm = find(pass, s, x, w, y, conv, a, b, out, ws, workspaceBytes, where);
        }
        int algo = plan.algorithm;
        switch (pass) {
            case FORWARD -> MIOpen.check(miopen_h.miopenConvolutionForward(handle, one, x, at(a), w, at(b), conv, algo, zero,
                    y, at(out), ws, workspaceBytes), "miopenConvolutionForward" + where);
            case BACKWARD_DATA -> MIOpen.check(miopen_h.miopenConvolutionBackwardData(handle, one, y, at(a), w, at(b), conv,
                    algo, zero, x, at(out), ws, workspaceBytes), "miopenConvolutionBackwardData" + where);
            case BACKWARD_WEIGHT -> MIOpen.check(miopen_h.miopenConvolutionBackwardWeights(handle, one, y, at(a), x, at(b),
                    conv, algo, zero, w, at(out), ws, workspaceBytes), "miopenConvolutionBackwardWeights" + where);
        }
        return true;
    }

    /** MIOpen's fastest algorithm for the pass, timed on these very buffers (their output is overwritten). */
    private int find(ConvPass pass, Conv2dShape s, MemorySegment x, MemorySegment w, MemorySegment y, MemorySegment conv,
                     long a, long b, long out, MemorySegment ws, long workspaceBytes, String where) {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment returned = local.allocate(ValueLayout.JAVA_INT);
            MemorySegment perf = miopenConvAlgoPerf_t.allocate(local);
            switch (pass) {
                case FORWARD -> MIOpen.check(miopen_h.miopenFindConvolutionForwardAlgorithm(handle, x, at(a), w, at(b), conv,
                        y, at(out), 1, returned, perf, ws, workspaceBytes, false), "miopenFindConvolutionForwardAlgorithm" + where);
                case BACKWARD_DATA -> MIOpen.check(miopen_h.miopenFindConvolutionBackwardDataAlgorithm(handle, y, at(a), w,
                        at(b), conv, x, at(out), 1, returned, perf, ws, workspaceBytes, false),
                        "miopenFindConvolutionBackwardDataAlgorithm" + where);
                case BACKWARD_WEIGHT -> MIOpen.check(miopen_h.miopenFindConvolutionBackwardWeightsAlgorithm(handle, y, at(a), x,
                        at(b), conv, w, at(out), 1, returned, perf, ws, workspaceBytes, false),
                        "miopenFindConvolutionBackwardWeightsAlgorithm" + where);
            }
            if (returned.get(ValueLayout.JAVA_INT, 0) < 1) {
                throw new GpuException("MIOpen", "miopenFind…Algorithm(" + pass + ")" + where, 0, "miopenStatusSuccess",
                        "no algorithm found", "MIOpen found no convolution algorithm for " + geometry(s)
                                + "; -D" + PROPERTY + "=off uses jrocm's kernels instead");
            }
            // the anonymous union of the three algorithm enums is the struct's first member (no jextract accessor)
            return perf.get(ValueLayout.JAVA_INT, 0);
        }
    }

    // ---- pooling ------------------------------------------------------------------------------

    /** The 2-d inclusive-average pooling descriptor of the shape's window, made once. */
    private MemorySegment pooling(Pool2dShape s) {
        requireOpen();
        List<Integer> key = List.of(s.kh(), s.kw(), s.padH(), s.padW(), s.strideH(), s.strideW());
        MemorySegment d = poolings.get(key);
        if (d == null) {
            d = Out.pointer(MIOpen::check, "miopenCreatePoolingDescriptor", (out, a) -> miopen_h.miopenCreatePoolingDescriptor(out));
            try {
                MIOpen.check(miopen_h.miopenSet2dPoolingDescriptor(d, miopen_h.miopenPoolingAverageInclusive(), s.kh(), s.kw(),
                        s.padH(), s.padW(), s.strideH(), s.strideW()), "miopenSet2dPoolingDescriptor(" + s.kh() + "×" + s.kw()
                        + ", padding " + s.padH() + "×" + s.padW() + ", stride " + s.strideH() + "×" + s.strideW() + ")");
            } catch (RuntimeException e) {
                miopen_h.miopenDestroyPoolingDescriptor(d);
                throw e;
            }
            poolings.put(key, d);
        }
        return d;
    }

    private MemorySegment poolInput(Pool2dShape s) { return tensor(s.n(), s.c(), s.h(), s.w()); }

    private MemorySegment poolOutput(Pool2dShape s) { return tensor(s.n(), s.c(), s.outH(), s.outW()); }

    @Override
    public boolean avgPool2dForward(Pool2dShape s, long x, long y) {
        if (s.n() == 0) {
            return false;
        }
        MemorySegment pool = pooling(s), xd = poolInput(s), yd = poolOutput(s);
        MIOpen.check(miopen_h.miopenPoolingForward(handle, pool, one, xd, at(x), zero, yd, at(y), false, MemorySegment.NULL, 0L),
                "miopenPoolingForward(average)");
        return true;
    }

    /** MIOpen's pooling backward reads neither y nor x: dy and dx stand in for them. */
    @Override
    public boolean avgPool2dBackward(Pool2dShape s, long dy, long dx) {
        if (s.n() == 0) {
            return false;
        }
        MemorySegment pool = pooling(s), xd = poolInput(s), yd = poolOutput(s);
        MIOpen.check(miopen_h.miopenPoolingBackward(handle, pool, one, yd, at(dy), yd, at(dy), xd, at(dx), zero, xd, at(dx),
                MemorySegment.NULL), "miopenPoolingBackward(average)");
        return true;
    }

    // ---- batch normalisation ------------------------------------------------------------------

    /** Spatial batch norm needs the weight and the bias (MIOpen's bnScale, bnBias) and a non-empty batch. */
    private static boolean batchNormTakes(int n, int c, int hw, long weight, long bias) {
        return n > 0 && c > 0 && hw > 0 && weight != 0 && bias != 0;
    }

    @Override
    public boolean batchNorm2dTraining(int n, int c, int hw, float eps, float momentum, long x, long weight, long bias,
                                       long runningMean, long runningVar, long y, long saveMean, long saveRstd) {
        if (!batchNormTakes(n, c, hw, weight, bias)) {
            return false;
        }
        MemorySegment xd = tensor(n, c, hw, 1), bn = tensor(1, c, 1, 1);
        MIOpen.check(miopen_h.miopenBatchNormalizationForwardTraining(handle, miopen_h.miopenBNSpatial(), one, zero, xd, at(x),
                xd, at(y), bn, at(weight), at(bias), momentum, at(runningMean), at(runningVar), eps, at(saveMean),
                at(saveRstd)), "miopenBatchNormalizationForwardTraining(" + n + "×" + c + "×" + hw + ")");
        return true;
    }

    @Override
    public boolean batchNorm2dInference(int n, int c, int hw, float eps, long x, long weight, long bias, long runningMean,
                                        long runningVar, long y) {
        if (!batchNormTakes(n, c, hw, weight, bias)) {
            return false;
        }
        MemorySegment xd = tensor(n, c, hw, 1), bn = tensor(1, c, 1, 1);
        MIOpen.check(miopen_h.miopenBatchNormalizationForwardInference(handle, miopen_h.miopenBNSpatial(), one, zero, xd, at(x),
                xd, at(y), bn, at(weight), at(bias), at(runningMean), at(runningVar), eps),
                "miopenBatchNormalizationForwardInference(" + n + "×" + c + "×" + hw + ")");
        return true;
    }

    /** Epsilon is not read: MIOpen uses the saved mean and inverse deviation when both are given. */
    @Override
    public boolean batchNorm2dBackward(int n, int c, int hw, long x, long weight, long mean, long rstd, long dy, long dx,
                                       long dWeight, long dBias) {
        if (n <= 0 || c <= 0 || hw <= 0 || weight == 0 || dx == 0 || dWeight == 0 || dBias == 0) {
            return false;
        }
        MemorySegment xd = tensor(n, c, hw, 1), bn = tensor(1, c, 1, 1);
        MIOpen.check(miopen_h.miopenBatchNormalizationBackward(handle, miopen_h.miopenBNSpatial(), one, zero, one, zero, xd,
                at(x), xd, at(dy), xd, at(dx), bn, at(weight), at(dWeight), at(dBias), UNREAD_EPSILON, at(mean), at(rstd)),
                "miopenBatchNormalizationBackward(" + n + "×" + c + "×" + hw + ")");
        return true;
    }

    /** What the backward passes as epsilon, which MIOpen does not read given the saved statistics. */
    private static final double UNREAD_EPSILON = 1e-5;

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            for (MemorySegment d : tensors.values()) {
                MIOpen.check(miopen_h.miopenDestroyTensorDescriptor(d), "miopenDestroyTensorDescriptor");
            }
            for (MemorySegment d : convolutions.values()) {
                MIOpen.check(miopen_h.miopenDestroyConvolutionDescriptor(d), "miopenDestroyConvolutionDescriptor");
            }
            for (MemorySegment d : poolings.values()) {
                MIOpen.check(miopen_h.miopenDestroyPoolingDescriptor(d), "miopenDestroyPoolingDescriptor");
            }
            MIOpen.check(miopen_h.miopenDestroyActivationDescriptor(reluDescriptor), "miopenDestroyActivationDescriptor");
            MIOpen.check(miopen_h.miopenDestroy(handle), "miopenDestroy");
        } finally {
            tensors.clear();
            convolutions.clear();
            poolings.clear();
            plans.clear();
            arena.close();
        }
    }
}
