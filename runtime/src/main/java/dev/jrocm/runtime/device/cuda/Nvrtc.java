package dev.jrocm.runtime.device.cuda;

import dev.jrocm.bindings.nvrtc.nvrtc_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Compiles CUDA C++ kernel source with NVRTC, for {@code cuModuleLoadData}: to a CUBIN for a real
 * architecture ({@code sm_90}), to PTX for a virtual one ({@code compute_90}).
 *
 * <p>A CUBIN is the default because it loads on any driver of the same major CUDA version (minor
 * version compatibility); PTX from an NVRTC newer than the driver fails to load
 * ({@code CUDA_ERROR_UNSUPPORTED_PTX_VERSION}), though PTX runs on future architectures.
 */
public final class Nvrtc {
    private Nvrtc() {}

    /** Throws {@link GpuException} unless {@code status} is NVRTC_SUCCESS. */
    public static void check(int status, String function) {
        if (status != nvrtc_h.NVRTC_SUCCESS()) {
            throw error(status, function, null);
        }
    }

    private static GpuException error(int status, String function, String detail) {
        // nvrtcGetErrorString returns the enum name (NVRTC_ERROR_COMPILATION) and nothing more.
        return new GpuException("NVRTC", function, status, CStrings.read(nvrtc_h.nvrtcGetErrorString(status)), null, detail);
    }

    /**
     * Compiles {@code source} for {@code arch}: {@code sm_90} gives a CUBIN, {@code compute_90}
     * NUL-terminated PTX. A compile error throws {@link GpuException} whose message holds the
     * compiler's log.
     */
    public static byte[] compile(String source, String fileName, String arch, List<String> options) {
        NativeLibrary.NVRTC.probe().require();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ValueLayout.ADDRESS);
            check(nvrtc_h.nvrtcCreateProgram(programOut, arena.allocateFrom(source), arena.allocateFrom(fileName),
                    0, MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment program = programOut.get(ValueLayout.ADDRESS, 0);
            try {
                List<String> all = new ArrayList<>();
                all.add("--gpu-architecture=" + arch);
                all.addAll(options);
                MemorySegment argv = CStrings.array(arena, all);
                int status = nvrtc_h.nvrtcCompileProgram(program, all.size(), argv);
                if (status != nvrtc_h.NVRTC_SUCCESS()) {
                    throw error(status, "nvrtcCompileProgram",
                            "compiling " + fileName + " for " + arch + " " + all + ":\n" + log(program, arena));
                }
                MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
                if (arch.startsWith("sm_")) {
                    check(nvrtc_h.nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
                    MemorySegment cubin = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0));
                    check(nvrtc_h.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
                    return cubin.toArray(ValueLayout.JAVA_BYTE);
                }
                check(nvrtc_h.nvrtcGetPTXSize(program, size), "nvrtcGetPTXSize");
                MemorySegment ptx = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0));
                check(nvrtc_h.nvrtcGetPTX(program, ptx), "nvrtcGetPTX");
                return ptx.toArray(ValueLayout.JAVA_BYTE);
            } finally {
                check(nvrtc_h.nvrtcDestroyProgram(programOut), "nvrtcDestroyProgram");
            }
        }
    }

    private static String log(MemorySegment program, Arena arena) {
        MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
        check(nvrtc_h.nvrtcGetProgramLogSize(program, size), "nvrtcGetProgramLogSize");
        MemorySegment log = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0) + 1);
        check(nvrtc_h.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog");
        return log.getString(0).strip();
    }
}
