package dev.jrocm.runtime.device.cuda;

import dev.jrocm.bindings.cuda.cuda_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.Out;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The safe layer over the CUDA driver API bindings: status checks, initialisation and the
 * queries that need no context. Every entry point first makes sure the probe loaded libcuda.
 */
public final class Cuda {
    private static volatile boolean initialised;

    private Cuda() {}

    /** Throws {@link GpuException} unless {@code status} is CUDA_SUCCESS. */
    public static void check(int status, String function) {
        if (status != cuda_h.CUDA_SUCCESS()) {
            throw new GpuException("CUDA", function, status,
                    errorText(status, true), errorText(status, false));
        }
    }

    private static String errorText(int status, boolean name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = name ? cuda_h.cuGetErrorName(status, out) : cuda_h.cuGetErrorString(status, out);
            if (rc != cuda_h.CUDA_SUCCESS()) {
                return name ? "CUresult#" + status : "";
            }
            return CStrings.read(out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** Loads the driver (if the probe has not yet) and calls {@code cuInit(0)} once. */
    public static void init() {
        NativeLibrary.CUDA.probe().require();
        if (!initialised) {
            synchronized (Cuda.class) {
                if (!initialised) {
                    check(cuda_h.cuInit(0), "cuInit");
                    initialised = true;
                }
            }
        }
    }

    /** Number of CUDA devices; {@link GpuException} (CUDA_ERROR_NO_DEVICE) when there is none. */
    public static int deviceCount() {
        init();
        return Out.int32(Cuda::check, "cuDeviceGetCount", (out, a) -> cuda_h.cuDeviceGetCount(out));
    }

    /** The name of device {@code ordinal}, e.g. {@code NVIDIA H200}. */
    public static String deviceName(int ordinal) {
        init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment device = arena.allocate(ValueLayout.JAVA_INT);
            check(cuda_h.cuDeviceGet(device, ordinal), "cuDeviceGet");
            MemorySegment name = arena.allocate(256);
            check(cuda_h.cuDeviceGetName(name, (int) name.byteSize(), device.get(ValueLayout.JAVA_INT, 0)), "cuDeviceGetName");
            return name.getString(0);
        }
    }

    /** Driver version as CUDA encodes it (major·1000 + minor·10), e.g. 12040. */
    public static int driverVersion() {
        NativeLibrary.CUDA.probe().require();
        return Out.int32(Cuda::check, "cuDriverGetVersion", (out, a) -> cuda_h.cuDriverGetVersion(out));
    }

    /** {@code 12040} → {@code "12.4"}. */
    public static String formatVersion(int version) {
        return (version / 1000) + "." + (version % 1000 / 10);
    }
}
