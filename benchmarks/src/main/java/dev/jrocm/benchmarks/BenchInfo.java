package dev.jrocm.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jrocm.runtime.device.cpu.Cblas;
import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.device.cpu.SkinnyGemm;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What scripts/bench.sh records beside the figures: the JDK, the BLAS library jrocm loaded, whether
 * the skinny Vector API kernels run (and why not), and whether a GPU backend is there (and why
 * not). Writes one JSON object to the file given, and prints the GPU backend there
 * ({@code hip}, {@code cuda}) or {@code none}.
 *
 * <pre>java -cp benchmarks.jar dev.jrocm.benchmarks.BenchInfo target/bench/info.json</pre>
 */
public final class BenchInfo {
    private BenchInfo() {}

    public static void main(String[] args) throws IOException {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        info.put("blas", CpuGemm.cblas().map(Cblas::description).orElse(null));
        info.put("blas_library", CpuGemm.cblas().map(c -> c.library().toString()).orElse(null));
        info.put("skinny", SkinnyGemm.vectorAvailable());
        info.put("skinny_reason", SkinnyGemm.whyUnavailable());
        info.put("cpu_gemm_default", CpuGemm.defaultPath().name());
        String noGpu = GpuGemmBenchmark.whyNoGpu();
        String kind = GpuGemmBenchmark.gpuKind();
        info.put("gpu", kind);
        info.put("gpu_reason", noGpu);
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(Path.of(args[0]).toFile(), info);
        System.out.println(kind == null ? "none" : kind);
    }
}
