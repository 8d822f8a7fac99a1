package dev.jrocm.runtime.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Where datasets are looked for, in this order: the directory named by {@code -Djrocm.data=DIR},
 * then by the environment variable {@code JROCM_DATA}, then {@code ./data}, then
 * {@code ~/.jrocm/data}. Each dataset looks for its own subdirectory in each of them
 * ({@code cifar-10-batches-bin}, {@code fashion-mnist}); Fashion-MNIST also looks where Debian's
 * {@code dataset-fashion-mnist} package puts it.
 */
public final class DataPaths {
    /** The system property naming a data directory. */
    public static final String PROPERTY = "jrocm.data";
    /** The environment variable naming a data directory. */
    public static final String ENVIRONMENT = "JROCM_DATA";

    private DataPaths() {}

    /** The data directories, most specific first, without repeats. */
    public static List<Path> roots() {
        Set<Path> roots = new LinkedHashSet<>();
        configured().forEach(roots::add);
        roots.add(Path.of("data").toAbsolutePath().normalize());
        roots.add(home());
        return new ArrayList<>(roots);
    }

    /** Where a downloader puts a dataset by default: the configured directory, else {@code ~/.jrocm/data}. */
    public static Path downloadRoot() {
        List<Path> configured = configured();
        return configured.isEmpty() ? home() : configured.getFirst();
    }

    private static List<Path> configured() {
        List<Path> out = new ArrayList<>();
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isBlank()) {
            out.add(Path.of(property).toAbsolutePath().normalize());
        }
        String env = System.getenv(ENVIRONMENT);
        if (env != null && !env.isBlank()) {
            out.add(Path.of(env).toAbsolutePath().normalize());
        }
        return out;
    }

    private static Path home() {
        return Path.of(System.getProperty("user.home"), ".jrocm", "data");
    }
}
