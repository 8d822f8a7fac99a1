package dev.jrocm.runtime.device.gpu;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * jrocm's kernel source ({@code kernels.cu}, one file for HIP and CUDA) and the compiled images,
 * cached per process: each (driver kind, target) is compiled once, at the first launch.
 */
public final class GpuKernels {
    /** The name compilers use for the source in their messages. */
    public static final String FILE_NAME = "jrocm_kernels.cu";

    private static final String SOURCE = load();
    private static final List<String> NAMES = names(SOURCE);
    private static final Map<String, byte[]> IMAGES = new ConcurrentHashMap<>();

    private GpuKernels() {}

    /** The kernel source. */
    public static String source() { return SOURCE; }

    /** The names of every kernel in the source ({@code extern "C" __global__}), in source order. */
    public static List<String> names() { return NAMES; }

    /** The driver's image of the kernels, compiled on the first call for its kind and target. */
    static byte[] image(GpuDriver driver) {
        return IMAGES.computeIfAbsent(driver.kind().id() + ":" + driver.target(), k -> driver.compile(SOURCE, FILE_NAME));
    }

    private static String load() {
        try (InputStream in = GpuKernels.class.getResourceAsStream("kernels.cu")) {
            if (in == null) {
                throw new IllegalStateException("kernels.cu is missing from the jrocm-runtime jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading kernels.cu", e);
        }
    }

    static List<String> names(String source) {
        Matcher m = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)\\s*\\(").matcher(source);
        List<String> names = new ArrayList<>();
        while (m.find()) {
            names.add(m.group(1));
        }
        return List.copyOf(names);
    }
}
