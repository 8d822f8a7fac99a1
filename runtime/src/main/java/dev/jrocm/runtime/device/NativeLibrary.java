package dev.jrocm.runtime.device;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The native libraries jrocm binds, each probed once: found on disk, loaded with
 * {@link System#load}, and checked for a key symbol, or a one-line reason why not.
 *
 * <p>The generated bindings name no library; they resolve symbols through the loader lookup of
 * the class loader that ran {@code System.load}. So a {@code dev.jrocm.bindings} class may be
 * touched only after {@link #probe()} of its library {@link Probe#isLoaded() is loaded} —
 * otherwise its static initialiser fails with {@code ExceptionInInitializerError}.
 *
 * <p>Search order: {@code -Djrocm.<lib>.library=/path} or {@code JROCM_<LIB>_LIBRARY=/path}
 * (the file itself), then {@code ROCM_PATH} / {@code CUDA_PATH} (defaults {@code /opt/rocm},
 * {@code /usr/local/cuda}), {@code LD_LIBRARY_PATH}, the system folders (those of
 * {@code /etc/ld.so.conf}), and for NVIDIA's libraries the {@code nvidia/*}{@code /lib} folders
 * of pip installs; each folder is tried with every versioned file name.
 */
public enum NativeLibrary {
    HIP("HIP runtime", Root.ROCM, "hipGetDeviceCount",
            "libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5"),
    /** ROCm 6+ ships {@code libhiprtc.so}; in ROCm 5 the same symbols are in libamdhip64. */
    HIPRTC("hipRTC", Root.ROCM, "hiprtcCreateProgram",
            "libhiprtc.so", "libhiprtc.so.7", "libhiprtc.so.6"),
    HIPBLAS("hipBLAS", Root.ROCM, "hipblasSgemm",
            "libhipblas.so", "libhipblas.so.3", "libhipblas.so.2", "libhipblas.so.1", "libhipblas.so.0"),
    MIOPEN("MIOpen", Root.ROCM, "miopenCreateWithStream",
            "libMIOpen.so", "libMIOpen.so.1"),
    CUDA("CUDA driver", Root.CUDA, "cuInit",
            "libcuda.so.1", "libcuda.so"),
    NVRTC("NVRTC", Root.CUDA, "nvrtcCreateProgram",
            "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"),
    CUBLAS("cuBLAS", Root.CUDA, "cublasSgemm_v2",
            "libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"),
    /** Any CBLAS; OpenBLAS first because it is the one whose threads jrocm can set. */
    CBLAS("CBLAS", Root.NONE, "cblas_sgemm",
            "libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libcblas.so", "libblis.so.4");

    /** Each library loaded, or why a file found could not be, at DEBUG (java.util.logging's FINE). */
    private static final System.Logger LOG = System.getLogger(NativeLibrary.class.getName());

    /** Which vendor install folder a library lives under. */
    enum Root { ROCM, CUDA, NONE }

    private final String displayName;
    private final Root root;
    private final String keySymbol;
    private final List<String> fileNames;
    private volatile Probe probe;

    NativeLibrary(String displayName, Root root, String keySymbol, String... fileNames) {
        this.displayName = displayName;
        this.root = root;
        this.keySymbol = keySymbol;
        this.fileNames = List.of(fileNames);
    }

    /** Human name, e.g. {@code "HIP runtime"}. */
    public String displayName() { return displayName; }

    /** The file names tried, most general first, e.g. {@code libamdhip64.so, libamdhip64.so.6, …}. */
    public List<String> fileNames() { return fileNames; }

    /** The symbol whose presence shows the loaded file is this library. */
    public String keySymbol() { return keySymbol; }

    /** {@code jrocm.hip.library}: the system property that names the file to load. */
    public String overrideProperty() { return "jrocm." + name().toLowerCase(Locale.ROOT) + ".library"; }

    /** {@code JROCM_HIP_LIBRARY}: the environment variable that names the file to load. */
    public String overrideVariable() { return "JROCM_" + name() + "_LIBRARY"; }

    /** Finds and loads the library the first time it is asked; the same answer afterwards. */
    public Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (this) {
                p = probe;
                if (p == null) {
                    probe = p = probe(System.getenv(), System::getProperty);
                }
            }
        }
        return p;
    }

    /**
     * Tests only: loads {@code file} as this library (as {@code -Djrocm.<lib>.library} would) and
     * answers it from {@link #probe()} until the returned action runs, which brings back the answer
     * there was before. The file stays loaded: the JVM cannot unload it.
     */
    Runnable substitute(Path file) {
        synchronized (this) {
            Probe before = probe;
            Probe loaded = probe(Map.of(), key -> key.equals(overrideProperty()) ? file.toString() : null);
            if (!loaded.isLoaded()) {
                throw new IllegalStateException("could not substitute " + file + " for " + displayName + ": " + loaded.problem());
            }
            probe = loaded;
            return () -> {
                synchronized (this) {
                    probe = before;
                }
            };
        }
    }

    /** Probes with the given environment and properties (tests pass their own). Loads on success. */
    Probe probe(Map<String, String> env, Function<String, String> properties) {
        String override = Optional.ofNullable(properties.apply(overrideProperty())).orElse(env.get(overrideVariable()));
        if (override != null && !override.isBlank()) {
            Path file = Path.of(override);
            String via = properties.apply(overrideProperty()) != null ? "-D" + overrideProperty() : overrideVariable();
            if (!Files.isRegularFile(file)) {
                return Probe.missing(this, via + "=" + override + " names no file", List.of(file));
            }
            return load(List.of(file), List.of(file), env);
        }
        List<Path> dirs = searchDirectories(env);
        List<Path> candidates = new ArrayList<>();
        for (Path dir : dirs) {
            for (String fileName : fileNames) {
                Path file = dir.resolve(fileName);
                if (Files.exists(file)) {
                    candidates.add(file);
                }
            }
        }
        if (candidates.isEmpty() && this == HIPRTC) {
            return hiprtcInsideHip(dirs, env);
        }
        return load(candidates, dirs, env);
    }

    private Probe hiprtcInsideHip(List<Path> searched, Map<String, String> env) {
        Probe hip = HIP.probe();
        if (hip.isLoaded() && hasSymbol(hip.path(), keySymbol)) {
            return new Probe(this, hip.path(), null, searched, "inside " + hip.path().getFileName() + " (ROCm 5 layout)");
        }
        return Probe.missing(this, notFound(env) + (hip.isLoaded()
                ? "; " + hip.path().getFileName() + " does not contain it either (ROCm 6+ ships libhiprtc.so)"
                : ""), searched);
    }

    private Probe load(List<Path> candidates, List<Path> searched, Map<String, String> env) {
        if (candidates.isEmpty()) {
            return Probe.missing(this, notFound(env), searched);
        }
        List<String> failures = new ArrayList<>();
        for (Path file : candidates) {
            Path real = file.toAbsolutePath();
            try {
                System.load(real.toString());
            } catch (UnsatisfiedLinkError e) {
                failures.add(real + ": " + e.getMessage());
                continue;
            }
            if (!hasSymbol(real, keySymbol)) {
                failures.add(real + " loaded but has no " + keySymbol);
                continue;
            }
            LOG.log(System.Logger.Level.DEBUG, "{0}: loaded {1}", displayName, real);
            return new Probe(this, real, null, searched, null);
        }
        String problem = displayName + " found but could not be loaded: " + String.join("; ", failures);
        LOG.log(System.Logger.Level.DEBUG, problem);
        return Probe.missing(this, problem, searched);
    }

    private String notFound(Map<String, String> env) {
        String where = switch (root) {
            case ROCM -> env.getOrDefault("ROCM_PATH", "/opt/rocm") + "/lib, ";
            case CUDA -> env.getOrDefault("CUDA_PATH", env.getOrDefault("CUDA_HOME", "/usr/local/cuda")) + "/lib64, ";
            case NONE -> "";
        };
        return displayName + " not found: no " + String.join(" or ", fileNames) + " in " + where
                + "LD_LIBRARY_PATH or the system library folders (set " + overrideVariable()
                + "=/path/to/" + fileNames.getFirst() + (root == Root.NONE ? "" : ", or " + root + "_PATH") + ")";
    }

    static boolean hasSymbol(Path library, String symbol) {
        // A lookup of this one file, not of everything the loader has loaded, so the answer is about it.
        try (Arena arena = Arena.ofConfined()) {
            return SymbolLookup.libraryLookup(library, arena).find(symbol).isPresent();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    List<Path> searchDirectories(Map<String, String> env) {
        Set<Path> dirs = new LinkedHashSet<>();
        switch (root) {
            case ROCM -> addRoot(dirs, env.getOrDefault("ROCM_PATH", "/opt/rocm"));
            case CUDA -> {
                addRoot(dirs, env.getOrDefault("CUDA_PATH", env.getOrDefault("CUDA_HOME", "/usr/local/cuda")));
                dirs.add(Path.of("/usr/lib/wsl/lib"));
            }
            case NONE -> { }
        }
        String ldPath = env.get("LD_LIBRARY_PATH");
        if (ldPath != null) {
            for (String dir : ldPath.split(":")) {
                if (!dir.isBlank()) {
                    dirs.add(Path.of(dir));
                }
            }
        }
        dirs.addAll(systemDirectories());
        if (root == Root.CUDA) {
            dirs.addAll(pipNvidiaDirectories(env));
        }
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    private static void addRoot(Set<Path> dirs, String root) {
        dirs.add(Path.of(root, "lib"));
        dirs.add(Path.of(root, "lib64"));
        dirs.add(Path.of(root, "targets", "x86_64-linux", "lib"));
    }

    /** The dynamic linker's folders: the standard ones and those listed in /etc/ld.so.conf.d. */
    static List<Path> systemDirectories() {
        String arch = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64-linux-gnu";
            case "aarch64" -> "aarch64-linux-gnu";
            default -> System.getProperty("os.arch") + "-linux-gnu";
        };
        Set<Path> dirs = new LinkedHashSet<>();
        for (String dir : List.of("/usr/local/lib", "/usr/lib/" + arch, "/lib/" + arch, "/usr/lib64", "/lib64", "/usr/lib", "/lib")) {
            dirs.add(Path.of(dir));
        }
        Path confDir = Path.of("/etc/ld.so.conf.d");
        if (Files.isDirectory(confDir)) {
            try (Stream<Path> confs = Files.list(confDir)) {
                for (Path conf : confs.filter(p -> p.toString().endsWith(".conf")).sorted().toList()) {
                    for (String line : Files.readAllLines(conf)) {
                        String dir = line.strip();
                        if (dir.startsWith("/")) {
                            dirs.add(Path.of(dir));
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // An unreadable linker config only narrows the search; the folders above remain.
            }
        }
        return List.copyOf(dirs);
    }

    /** pip's NVIDIA wheels put libraries in site-packages/nvidia/<component>/lib. */
    static List<Path> pipNvidiaDirectories(Map<String, String> env) {
        List<Path> sitePackages = new ArrayList<>();
        String venv = env.get("VIRTUAL_ENV");
        if (venv != null) {
            sitePackages.addAll(globPython(Path.of(venv, "lib"), "site-packages"));
        }
        String home = env.get("HOME");
        if (home != null) {
            sitePackages.addAll(globPython(Path.of(home, ".local", "lib"), "site-packages"));
        }
        sitePackages.addAll(globPython(Path.of("/usr/local/lib"), "dist-packages"));
        sitePackages.addAll(globPython(Path.of("/usr/local/lib"), "site-packages"));
        sitePackages.add(Path.of("/usr/lib/python3/dist-packages"));
        List<Path> dirs = new ArrayList<>();
        for (Path site : sitePackages) {
            Path nvidia = site.resolve("nvidia");
            if (Files.isDirectory(nvidia)) {
                try (Stream<Path> parts = Files.list(nvidia)) {
                    parts.map(p -> p.resolve("lib")).filter(Files::isDirectory).sorted().forEach(dirs::add);
                } catch (IOException e) {
                    // unreadable: nothing to add from this install
                }
            }
        }
        return dirs;
    }

    private static List<Path> globPython(Path lib, String leaf) {
        if (!Files.isDirectory(lib)) {
            return List.of();
        }
        try (Stream<Path> pythons = Files.list(lib)) {
            return pythons.filter(p -> p.getFileName().toString().startsWith("python3"))
                    .map(p -> p.resolve(leaf)).filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /**
     * The answer of one probe: the file that was loaded, or the reason nothing was.
     *
     * @param path the loaded file, or null
     * @param problem why nothing was loaded, or null when loaded
     * @param searched the folders (or the override file) looked in
     * @param note how it was found when that is unusual, or null
     */
    public record Probe(NativeLibrary library, Path path, String problem, List<Path> searched, String note) {
        public Probe {
            searched = List.copyOf(searched);
        }

        static Probe missing(NativeLibrary library, String problem, List<Path> searched) {
            return new Probe(library, null, problem, searched, null);
        }

        public boolean isLoaded() { return path != null; }

        /** Whether the loaded file exports {@code symbol} (false when nothing is loaded). */
        public boolean hasSymbol(String symbol) {
            return isLoaded() && NativeLibrary.hasSymbol(path, symbol);
        }

        /** Throws {@link IllegalStateException} with the problem when the library is not loaded. */
        public Probe require() {
            if (!isLoaded()) {
                throw new IllegalStateException(problem);
            }
            return this;
        }

        /** One line for people: where it was loaded from, or the problem. */
        public String describe() {
            return isLoaded()
                    ? library.displayName + " loaded from " + path + (note == null ? "" : " (" + note + ")")
                    : problem;
        }
    }
}
