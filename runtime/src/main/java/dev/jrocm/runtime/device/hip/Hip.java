package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.hip.hip_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import dev.jrocm.runtime.device.Out;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The safe layer over the HIP runtime bindings: status checks and the few queries that need no
 * device object. Every entry point first makes sure the probe loaded libamdhip64, so the
 * generated class is never initialised without its library.
 */
public final class Hip {
    private Hip() {}

    /** Throws {@link IllegalStateException} with the probe's reason when HIP is not loaded. */
    public static void requireLoaded() {
        NativeLibrary.HIP.probe().require();
    }

    /** Throws {@link GpuException} unless {@code status} is hipSuccess. */
    public static void check(int status, String function) {
        if (status != hip_h.hipSuccess()) {
            throw error(status, function);
        }
    }

    /** The exception for a failed call: HIP's own enum name and message for the status. */
    public static GpuException error(int status, String function) {
        return new GpuException("HIP", function, status, errorName(status), errorString(status));
    }

    /** HIP's enum name for a status, e.g. {@code hipErrorNoDevice}. */
    public static String errorName(int status) {
        requireLoaded();
        return CStrings.read(hip_h.hipGetErrorName(status));
    }

    /** HIP's description of a status, e.g. {@code no ROCm-capable device is detected}. */
    public static String errorString(int status) {
        requireLoaded();
        return CStrings.read(hip_h.hipGetErrorString(status));
    }

    /** Number of HIP devices; {@link GpuException} (hipErrorNoDevice) when there is none. */
    public static int deviceCount() {
        requireLoaded();
        return Out.int32(Hip::check, "hipGetDeviceCount", (out, a) -> hip_h.hipGetDeviceCount(out));
    }

    /** The marketing name of device {@code device}, e.g. {@code AMD Instinct MI210}. */
    public static String deviceName(int device) {
        requireLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            check(hip_h.hipDeviceGetName(name, (int) name.byteSize(), device), "hipDeviceGetName");
            return name.getString(0);
        }
    }

    /** HIP runtime version as HIP encodes it (major·10⁷ + minor·10⁵ + patch). */
    public static int runtimeVersion() {
        requireLoaded();
        return Out.int32(Hip::check, "hipRuntimeGetVersion", (out, a) -> hip_h.hipRuntimeGetVersion(out));
    }

    /** {@code 50221153} → {@code "5.2.21153"}. */
    public static String formatVersion(int version) {
        return (version / 10_000_000) + "." + (version / 100_000 % 100) + "." + (version % 100_000);
    }

}
