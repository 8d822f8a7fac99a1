package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.miopen.miopen_h;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.Out;
import dev.jrocm.runtime.device.gpu.GpuDnn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * MIOpen's ReLU (forward and backward) and log-softmax, on the HIP driver's stream: what
 * {@link HipDriver} offers {@link dev.jrocm.runtime.device.gpu.GpuBackend} when libMIOpen is
 * present. {@code -Djrocm.miopen=off} or {@code JROCM_MIOPEN=off} leaves them to jrocm's kernels.
 *
 * <p>MIOpen's activations take alpha = 1 and beta = 0 only, so they overwrite; an accumulating ReLU
 * backward stays with jrocm's kernel. Tensors are described as packed 4-D float tensors: (n, 1, 1, 1)
 * for element-wise work, (rows, cols, 1, 1) with the channel mode for a row-wise log-softmax.
 * Descriptors are made once per shape and kept until {@link #close}.
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
        return "MIOpen (ReLU, log-softmax)";
    }

    /** The packed float tensor (n, c, h, w), described once. */
    private MemorySegment tensor(int n, int c, int h, int w) {
        if (closed) {
            throw new IllegalStateException("MIOpen's handle is closed");
        }
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
            MIOpen.check(miopen_h.miopenDestroyActivationDescriptor(reluDescriptor), "miopenDestroyActivationDescriptor");
            MIOpen.check(miopen_h.miopenDestroy(handle), "miopenDestroy");
        } finally {
            tensors.clear();
            arena.close();
        }
    }
}
