package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.hiprtc.hiprtc_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Compiles HIP C++ kernel source to an AMD code object with hipRTC. Works without a GPU: the
 * target architecture is given, not asked of a device.
 */
public final class HipRtc {
    private HipRtc() {}

    /** Throws {@link GpuException} unless {@code status} is HIPRTC_SUCCESS. */
    public static void check(int status, String function) {
        if (status != hiprtc_h.HIPRTC_SUCCESS()) {
            throw error(status, function, null);
        }
    }

    private static GpuException error(int status, String function, String detail) {
        // hipRTC's error string is its enum name (HIPRTC_ERROR_COMPILATION); it has no other text.
        return new GpuException("hipRTC", function, status, CStrings.read(hiprtc_h.hiprtcGetErrorString(status)), null, detail);
    }

    /** hipRTC's version, e.g. {@code "5.2"}. */
    public static String version() {
        NativeLibrary.HIPRTC.probe().require();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment minor = arena.allocate(ValueLayout.JAVA_INT);
            check(hiprtc_h.hiprtcVersion(major, minor), "hiprtcVersion");
            return major.get(ValueLayout.JAVA_INT, 0) + "." + minor.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * Compiles {@code source} for {@code arch} (e.g. {@code gfx90a}) and returns the code object,
     * ready for {@code hipModuleLoadData}. A compile error throws {@link GpuException} whose message
     * holds the compiler's log. In-process: an old hipRTC (ROCm 5.2) aborts the whole process
     * when {@code arch} is a target it does not know, so for a target that is not the device's own
     * use {@link IsolatedHipRtc#compile}.
     *
     * @param fileName the name the compiler uses for the source in its messages
     * @param options extra compiler options, e.g. {@code -DTILE=16}
     */
    public static byte[] compile(String source, String fileName, String arch, List<String> options) {
        if (arch == null || arch.isBlank()) {
            throw new IllegalArgumentException("hipRTC needs a target architecture such as gfx90a, got '" + arch + "'");
        }
        return compileFor(source, fileName, arch, options);
    }

    /**
     * Compiles {@code source} for the current HIP device: with no {@code --offload-arch}, hipRTC
     * asks the runtime for the current device's architecture. Needs a device; the target is one
     * the loaded hipRTC knows (its runtime found the device), so this never meets the abort on
     * unknown targets that {@link IsolatedHipRtc} guards against.
     */
    public static byte[] compileForCurrentDevice(String source, String fileName, List<String> options) {
        return compileFor(source, fileName, null, options);
    }

    private static byte[] compileFor(String source, String fileName, String arch, List<String> options) {
        NativeLibrary.HIPRTC.probe().require();
        String target = arch == null ? "the current device" : arch;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ValueLayout.ADDRESS);
            check(hiprtc_h.hiprtcCreateProgram(programOut, arena.allocateFrom(source), arena.allocateFrom(fileName),
                    0, MemorySegment.NULL, MemorySegment.NULL), "hiprtcCreateProgram");
            MemorySegment program = programOut.get(ValueLayout.ADDRESS, 0);
            try {
                List<String> all = new ArrayList<>();
                if (arch != null) {
                    all.add("--offload-arch=" + arch);
                }
                all.add("-O3");
                all.addAll(options);
                MemorySegment argv = CStrings.array(arena, all);
                int status = hiprtc_h.hiprtcCompileProgram(program, all.size(), argv);
                if (status != hiprtc_h.HIPRTC_SUCCESS()) {
                    throw error(status, "hiprtcCompileProgram",
                            "compiling " + fileName + " for " + target + " " + all + ":\n" + log(program, arena));
                }
                MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
                check(hiprtc_h.hiprtcGetCodeSize(program, size), "hiprtcGetCodeSize");
                MemorySegment code = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0));
                check(hiprtc_h.hiprtcGetCode(program, code), "hiprtcGetCode");
                return code.toArray(ValueLayout.JAVA_BYTE);
            } finally {
                check(hiprtc_h.hiprtcDestroyProgram(programOut), "hiprtcDestroyProgram");
            }
        }
    }

    private static String log(MemorySegment program, Arena arena) {
        MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
        check(hiprtc_h.hiprtcGetProgramLogSize(program, size), "hiprtcGetProgramLogSize");
        long n = size.get(ValueLayout.JAVA_LONG, 0);
        if (n <= 1) {
            return "(the compiler wrote no log)";
        }
        // One byte more than asked, zeroed, because some hipRTC versions do not terminate the log.
        MemorySegment log = arena.allocate(n + 1);
        check(hiprtc_h.hiprtcGetProgramLog(program, log), "hiprtcGetProgramLog");
        return log.getString(0).strip();
    }
}
