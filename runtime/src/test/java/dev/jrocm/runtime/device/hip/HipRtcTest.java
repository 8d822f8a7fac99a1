package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.NativeLibrary;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * hipRTC compiling for AMD targets offline, with no GPU: Debian's libamdhip64-5,
 * libhiprtc-builtins5, libamd-comgr2 and rocm-device-libs in CI.
 */
class HipRtcTest {
    static final String SCALE = """
            extern "C" __global__ void jrocm_scale(float* x, float s, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) x[i] *= s;
            }
            """;

    @BeforeAll
    static void needsHipRtc() {
        NativeLibrary.Probe hiprtc = NativeLibrary.HIPRTC.probe();
        assumeTrue(hiprtc.isLoaded(), "needs hipRTC (Debian: libamdhip64-5): " + hiprtc.problem());
    }

    @ParameterizedTest
    @ValueSource(strings = {"gfx90a", "gfx1030"})
    void compilesAKernelToAnAmdCodeObject(String arch) {
        byte[] code = HipRtc.compile(SCALE, "scale.hip", arch, List.of());
        // An ELF for amdgcn, or a clang offload bundle wrapping one.
        boolean elf = code.length > 4 && code[0] == 0x7f && code[1] == 'E' && code[2] == 'L' && code[3] == 'F';
        boolean bundle = new String(code, 0, Math.min(24, code.length), StandardCharsets.ISO_8859_1)
                .equals("__CLANG_OFFLOAD_BUNDLE__");
        assertTrue(elf || bundle, "not a code object: starts with " + Arrays.toString(Arrays.copyOf(code, 8)));
        assertTrue(contains(code, "jrocm_scale"), "the kernel's symbol is not in the code object");
        assertTrue(contains(code, arch), "the code object does not name its target " + arch);
    }

    @Test
    void aSyntaxErrorRaisesGpuExceptionWithTheCompilerLog() {
        String broken = "extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_name; }";
        GpuException e = assertThrows(GpuException.class, () -> HipRtc.compile(broken, "broken.hip", "gfx90a", List.of()));
        assertEquals("hiprtcCompileProgram", e.function());
        assertEquals("HIPRTC_ERROR_COMPILATION", e.codeName());
        assertTrue(e.getMessage().contains("compiling broken.hip for gfx90a"), e.getMessage());
        assertTrue(e.getMessage().contains("undeclared_name"), e.getMessage());
        assertTrue(e.getMessage().contains("error"), e.getMessage());
    }

    @Test
    void optionsReachTheCompiler() {
        String source = "extern \"C\" __global__ void k(float* x) { x[0] = JROCM_VALUE; }";
        assertThrows(GpuException.class, () -> HipRtc.compile(source, "k.hip", "gfx90a", List.of()));
        byte[] code = HipRtc.compile(source, "k.hip", "gfx90a", List.of("-DJROCM_VALUE=2.0f"));
        assertTrue(code.length > 0);
    }

    @Test
    void aMissingArchitectureIsRejectedBeforeCompiling() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HipRtc.compile(SCALE, "scale.hip", " ", List.of()));
        assertTrue(e.getMessage().contains("target architecture"), e.getMessage());
    }

    static boolean contains(byte[] haystack, String needle) {
        byte[] n = needle.getBytes(StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + n.length <= haystack.length; i++) {
            for (int j = 0; j < n.length; j++) {
                if (haystack[i + j] != n[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}
