package dev.jrocm.runtime.device.cuda;

import dev.jrocm.runtime.device.gpu.GpuKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * jrocm's kernel source compiles for NVIDIA too: nvcc (where installed) turns the same file into
 * PTX for sm_90 (H100/H200) with the CUDA driver's options, and assembles it into a CUBIN. NVRTC, which the CUDA backend uses,
 * runs the same front end; it is exercised on a real GPU by scripts/device/check.sh.
 */
class CudaKernelsTest {
    static Optional<Path> nvcc() {
        List<Path> candidates = new ArrayList<>();
        for (String var : List.of("CUDA_PATH", "CUDA_HOME")) {
            String root = System.getenv(var);
            if (root != null) {
                candidates.add(Path.of(root, "bin", "nvcc"));
            }
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(":")) {
                if (!dir.isBlank()) {
                    candidates.add(Path.of(dir, "nvcc"));
                }
            }
        }
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        try (var dirs = Files.list(Path.of("/usr/local"))) {
            dirs.filter(d -> d.getFileName().toString().startsWith("cuda-")).sorted(java.util.Comparator.reverseOrder())
                    .forEach(d -> candidates.add(d.resolve("bin/nvcc")));
        } catch (IOException e) {
            // no /usr/local listing: the other candidates remain
        }
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    @Test
    void everyKernelCompilesToPtxForSm90WithNvcc(@TempDir Path dir) throws Exception {
        Optional<Path> nvcc = nvcc();
        assumeTrue(nvcc.isPresent(), "needs nvcc (CUDA toolkit) on PATH, in CUDA_PATH or /usr/local/cuda*: not found");
        Path source = dir.resolve(GpuKernels.FILE_NAME), ptx = dir.resolve("kernels.ptx");
        Files.writeString(source, GpuKernels.source());
        List<String> command = new ArrayList<>(List.of(nvcc.get().toString(), "-ptx", "-arch=sm_90"));
        command.addAll(CudaDriver.OPTIONS);
        command.addAll(List.of(source.toString(), "-o", ptx.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "nvcc took more than 300 s");
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + output);
        String text = Files.readString(ptx);
        assertTrue(text.contains(".target sm_90"), "not PTX for sm_90");
        for (String kernel : GpuKernels.names()) {
            assertTrue(text.contains(".entry " + kernel + "("), "kernel " + kernel + " is not an entry of the PTX");
        }
        assertFalse(text.contains("fma.rn.f32"), "float multiply-adds were contracted despite --fmad=false");
    }

    /**
     * What the CUDA driver loads by default is a CUBIN for the device's sm_XY (NVRTC's, at run time);
     * nvcc's ptxas here assembles the same source for sm_90, and no kernel spills registers.
     */
    @Test
    void everyKernelAssemblesToACubinForSm90WithoutSpills(@TempDir Path dir) throws Exception {
        Optional<Path> nvcc = nvcc();
        assumeTrue(nvcc.isPresent(), "needs nvcc (CUDA toolkit) on PATH, in CUDA_PATH or /usr/local/cuda*: not found");
        Path source = dir.resolve(GpuKernels.FILE_NAME), cubin = dir.resolve("kernels.cubin");
        Files.writeString(source, GpuKernels.source());
        List<String> command = new ArrayList<>(List.of(nvcc.get().toString(), "-cubin", "-arch=sm_90", "-Xptxas", "-v"));
        command.addAll(CudaDriver.OPTIONS);
        command.addAll(List.of(source.toString(), "-o", cubin.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "nvcc took more than 300 s");
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + output);
        byte[] elf = Files.readAllBytes(cubin);
        assertTrue(elf.length > 4 && elf[0] == 0x7f && elf[1] == 'E' && elf[2] == 'L' && elf[3] == 'F', "not an ELF cubin");
        for (String kernel : GpuKernels.names()) {
            assertTrue(output.contains("Compiling entry function '" + kernel + "' for 'sm_90'"),
                    "ptxas did not assemble " + kernel + ":\n" + output);
        }
        java.util.regex.Matcher spills = java.util.regex.Pattern.compile("(\\d+) bytes spill stores").matcher(output);
        int reports = 0;
        while (spills.find()) {
            reports++;
            assertEquals("0", spills.group(1), "a kernel spills registers:\n" + output);
        }
        assertTrue(reports >= GpuKernels.names().size(), "ptxas -v reported no spill counts:\n" + output);
    }

    @Test
    void realArchitecturesGiveCubinsAndVirtualOnesPtx() {
        assertEquals("sm_90", CudaDriver.normalise("sm_90"));
        assertEquals("compute_90", CudaDriver.normalise("compute_90"));
        assertEquals("sm_90", CudaDriver.normalise(" 90 "));
        assertEquals("sm_90a", CudaDriver.normalise("SM_90a"));
        assertEquals("compute_100f", CudaDriver.normalise("Compute_100f"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaDriver.normalise("hopper"));
        assertTrue(e.getMessage().contains("sm_XY"), e.getMessage());
    }
}
