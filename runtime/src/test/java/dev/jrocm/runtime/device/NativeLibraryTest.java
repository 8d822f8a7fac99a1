package dev.jrocm.runtime.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class NativeLibraryTest {
    /** Debian's libopenblas0 (installed by .ci/run): a real library to point probes at. */
    static final Path OPENBLAS = Path.of("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");

    static void assumeOpenBlas() {
        assumeTrue(Files.exists(OPENBLAS), "needs Debian's libopenblas0 at " + OPENBLAS);
    }

    @Test
    void overrideNamingNoFileSaysWhichVariableAndPath() {
        NativeLibrary.Probe probe = NativeLibrary.HIP.probe(Map.of("JROCM_HIP_LIBRARY", "/nowhere/libamdhip64.so"), k -> null);
        assertFalse(probe.isLoaded());
        assertTrue(probe.problem().contains("JROCM_HIP_LIBRARY=/nowhere/libamdhip64.so names no file"), probe.problem());
        IllegalStateException e = assertThrows(IllegalStateException.class, probe::require);
        assertEquals(probe.problem(), e.getMessage());
    }

    @Test
    void propertyOverrideWinsOverTheVariable() {
        NativeLibrary.Probe probe = NativeLibrary.CBLAS.probe(Map.of("JROCM_CBLAS_LIBRARY", OPENBLAS.toString()),
                k -> k.equals("jrocm.cblas.library") ? "/nowhere/libcblas.so" : null);
        assertFalse(probe.isLoaded());
        assertTrue(probe.problem().startsWith("-Djrocm.cblas.library=/nowhere/libcblas.so"), probe.problem());
    }

    @Test
    void aLibraryWithoutTheKeySymbolIsRejected() {
        assumeOpenBlas();
        NativeLibrary.Probe probe = NativeLibrary.HIPBLAS.probe(Map.of("JROCM_HIPBLAS_LIBRARY", OPENBLAS.toString()), k -> null);
        assertFalse(probe.isLoaded());
        assertTrue(probe.problem().contains("has no hipblasSgemm"), probe.problem());
    }

    @Test
    void aFileThatIsNotALibraryCannotBeLoadedAndSaysWhy(@TempDir Path dir) throws IOException {
        Path fake = Files.writeString(dir.resolve("libcublas.so.12"), "not an ELF file");
        NativeLibrary.Probe probe = NativeLibrary.CUBLAS.probe(Map.of("JROCM_CUBLAS_LIBRARY", fake.toString()), k -> null);
        assertFalse(probe.isLoaded());
        assertTrue(probe.problem().startsWith("cuBLAS found but could not be loaded: " + fake), probe.problem());
    }

    @Test
    void ldLibraryPathIsSearchedBeforeTheSystemFolders(@TempDir Path dir) throws IOException {
        assumeOpenBlas();
        Path link = Files.createSymbolicLink(dir.resolve("libcblas.so.3"), OPENBLAS);
        NativeLibrary.Probe probe = NativeLibrary.CBLAS.probe(Map.of("LD_LIBRARY_PATH", "/nonexistent:" + dir), k -> null);
        assertTrue(probe.isLoaded(), probe.describe());
        assertEquals(link.toAbsolutePath(), probe.path());
        assertTrue(probe.hasSymbol("cblas_sgemm"));
    }

    @Test
    void rocmPathComesFirstInTheSearch(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("lib"));
        assertEquals(dir.resolve("lib"), NativeLibrary.HIP.searchDirectories(Map.of("ROCM_PATH", dir.toString())).getFirst());
    }

    @Test
    void pipNvidiaFoldersAreSearchedForCudaLibraries(@TempDir Path venv) throws IOException {
        Path lib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/cublas/lib"));
        assertTrue(NativeLibrary.CUBLAS.searchDirectories(Map.of("VIRTUAL_ENV", venv.toString())).contains(lib));
        assertFalse(NativeLibrary.HIPBLAS.searchDirectories(Map.of("VIRTUAL_ENV", venv.toString())).contains(lib));
    }

    @Test
    void aMissingLibraryNamesTheFilesAndHowToPointAtOne(@TempDir Path empty) {
        NativeLibrary.Probe probe = NativeLibrary.CUDA.probe(Map.of("CUDA_PATH", empty.toString()), k -> null);
        assumeTrue(!probe.isLoaded(), "this machine has a CUDA driver: " + probe.describe());
        assertTrue(probe.problem().startsWith("CUDA driver not found: no libcuda.so.1 or libcuda.so in " + empty + "/lib64"),
                probe.problem());
        assertTrue(probe.problem().contains("JROCM_CUDA_LIBRARY=/path/to/libcuda.so.1"), probe.problem());
    }

    @Test
    void debiansHipRuntimeLoadsAndBringsHipRtcAlong() {
        Path debian = Path.of("/usr/lib/x86_64-linux-gnu/libamdhip64.so.5");
        assumeTrue(Files.exists(debian), "needs Debian's libamdhip64-5 (installed by .ci/run)");
        NativeLibrary.Probe hip = NativeLibrary.HIP.probe();
        assertTrue(hip.isLoaded(), hip.describe());
        NativeLibrary.Probe hiprtc = NativeLibrary.HIPRTC.probe();
        assertTrue(hiprtc.isLoaded(), hiprtc.describe());
        assertTrue(hiprtc.hasSymbol("hiprtcCompileProgram"));
    }
}
