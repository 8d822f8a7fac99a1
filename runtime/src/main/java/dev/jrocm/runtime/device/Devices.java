package dev.jrocm.runtime.device;

import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.cpu.CpuGemm;
import dev.jrocm.runtime.device.cpu.Sgemm;
import dev.jrocm.runtime.device.cuda.Cuda;
import dev.jrocm.runtime.device.cuda.CudaDriver;
import dev.jrocm.runtime.device.gpu.GpuBackend;
import dev.jrocm.runtime.device.hip.Hip;
import dev.jrocm.runtime.device.hip.HipDriver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Which backends can run here and which one jrocm uses. HIP is preferred, then CUDA, then the CPU;
 * {@code -Djrocm.device=} or {@code JROCM_DEVICE=} ({@code auto|cpu|hip|cuda[:N]}) overrides.
 */
public final class Devices {
    /** The device each {@link #open} chose and why, at DEBUG (java.util.logging's FINE). */
    private static final System.Logger LOG = System.getLogger(Devices.class.getName());

    /** The system property that chooses the device; the environment variable is {@link #VARIABLE}. */
    public static final String PROPERTY = "jrocm.device";
    public static final String VARIABLE = "JROCM_DEVICE";

    private Devices() {}

    /** Every backend with whether it is available and why (not), in order of preference. */
    public static List<BackendStatus> describe() {
        return List.of(hip(), cuda(), cpu());
    }

    /**
     * {@link #describe()} as automatic selection needs it: without an AMD GPU device node
     * ({@code /dev/kfd}, or {@code /dev/dxg} under WSL) no HIP device can exist, so the HIP runtime
     * is not loaded to ask (loading it makes the JVM print stack-guard warnings on some ROCm
     * builds); {@link #describe()} and {@link #status} load it to say more.
     */
    private static List<BackendStatus> candidates() {
        return List.of(amdDeviceNode() ? hip() : NO_AMD_DEVICE, cuda(), cpu());
    }

    private static final BackendStatus NO_AMD_DEVICE = new BackendStatus(DeviceKind.HIP, false,
            "no device: no /dev/kfd (no AMD GPU driver), the HIP runtime was not loaded", List.of());

    private static boolean amdDeviceNode() {
        return Files.exists(Path.of("/dev/kfd")) || Files.exists(Path.of("/dev/dxg"));
    }

    /** The status of one backend. */
    public static BackendStatus status(DeviceKind kind) {
        return switch (kind) {
            case HIP -> hip();
            case CUDA -> cuda();
            case CPU -> cpu();
        };
    }

    /** The device asked for by the property or the variable, {@code auto} when neither is set. */
    public static DeviceSpec requested() {
        String value = System.getProperty(PROPERTY);
        return DeviceSpec.parse(value != null ? value : System.getenv(VARIABLE));
    }

    /**
     * The backend to use for {@code spec}: for auto the first available in order of preference;
     * for an explicit kind that one, or {@link IllegalStateException} saying why it cannot run.
     */
    public static BackendStatus select(DeviceSpec spec) {
        if (spec.kind() != null) {
            BackendStatus status = status(spec.kind());
            if (!status.available()) {
                throw new IllegalStateException("device " + spec + " was asked for but cannot be used: " + status.reason());
            }
            return status;
        }
        return candidates().stream().filter(BackendStatus::available).findFirst().orElseThrow();
    }

    /**
     * Opens the backend for {@code spec} ({@link #select} decides which; {@code hip:N} and
     * {@code cuda:N} pick the device). The caller closes it, and says what was chosen with
     * {@link #explain} where a person reads along (the demo prints it as its first line).
     */
    public static Backend open(DeviceSpec spec) {
        BackendStatus chosen = select(spec);
        int index = spec.kind() == null ? 0 : spec.index();
        Backend backend = switch (chosen.kind()) {
            case HIP -> new GpuBackend(HipDriver.open(index));
            case CUDA -> new GpuBackend(CudaDriver.open(index));
            case CPU -> new CpuBackend();
        };
        LOG.log(System.Logger.Level.DEBUG, () -> explain(spec));
        return backend;
    }

    /** {@link #open} of {@link #requested()}: the best device, or the one the property/variable names. */
    public static Backend best() {
        return open(requested());
    }

    /**
     * One line saying what {@link #select} chose and why the ones before it were not (the first
     * clause of each reason, such as {@code hip: no device}; {@link #describe()} has them whole).
     */
    public static String explain(DeviceSpec spec) {
        BackendStatus chosen = select(spec);
        StringBuilder line = new StringBuilder("device: ").append(chosen.kind().id());
        if (spec.kind() != null) {
            line.append(" (asked for ").append(spec).append(")");
        } else {
            List<String> skipped = new ArrayList<>();
            for (BackendStatus s : candidates()) {
                if (s.kind() == chosen.kind()) {
                    break;
                }
                int clause = s.reason().indexOf(": ");
                skipped.add(s.kind().id() + ": " + (clause > 0 ? s.reason().substring(0, clause) : s.reason()));
            }
            if (!skipped.isEmpty()) {
                line.append(" (").append(String.join("; ", skipped)).append(")");
            }
        }
        return line.append(" — ").append(chosen.reason()).toString();
    }

    private static BackendStatus hip() {
        List<String> libs = libraries(NativeLibrary.HIP, NativeLibrary.HIPRTC, NativeLibrary.HIPBLAS, NativeLibrary.MIOPEN);
        NativeLibrary.Probe runtime = NativeLibrary.HIP.probe();
        if (!runtime.isLoaded()) {
            return new BackendStatus(DeviceKind.HIP, false, runtime.problem(), libs);
        }
        String version = attempt(() -> "HIP " + Hip.formatVersion(Hip.runtimeVersion())).orElse("HIP (version unknown)");
        int count;
        try {
            count = Hip.deviceCount();
        } catch (GpuException e) {
            return new BackendStatus(DeviceKind.HIP, false,
                    "no device: " + version + " runtime loaded, " + e.getMessage(), libs);
        }
        if (count == 0) {
            return new BackendStatus(DeviceKind.HIP, false, "no device: " + version + " runtime reports 0 devices", libs);
        }
        Optional<String> missing = firstMissing(NativeLibrary.HIPRTC, NativeLibrary.HIPBLAS);
        if (missing.isPresent()) {
            return new BackendStatus(DeviceKind.HIP, false, missing.get(), libs);
        }
        String name = attempt(() -> Hip.deviceName(0)).orElse("device 0");
        return new BackendStatus(DeviceKind.HIP, true, count + " device(s), " + name + ", " + version
                + (NativeLibrary.MIOPEN.probe().isLoaded() ? ", MIOpen" : ", no MIOpen (jrocm kernels instead)"), libs);
    }

    private static BackendStatus cuda() {
        List<String> libs = libraries(NativeLibrary.CUDA, NativeLibrary.NVRTC, NativeLibrary.CUBLAS);
        NativeLibrary.Probe driver = NativeLibrary.CUDA.probe();
        if (!driver.isLoaded()) {
            return new BackendStatus(DeviceKind.CUDA, false, driver.problem(), libs);
        }
        int count;
        try {
            count = Cuda.deviceCount();
        } catch (GpuException e) {
            return new BackendStatus(DeviceKind.CUDA, false, "no device: " + e.getMessage(), libs);
        }
        if (count == 0) {
            return new BackendStatus(DeviceKind.CUDA, false, "no device: the CUDA driver reports 0 devices", libs);
        }
        Optional<String> missing = firstMissing(NativeLibrary.NVRTC, NativeLibrary.CUBLAS);
        if (missing.isPresent()) {
            return new BackendStatus(DeviceKind.CUDA, false, missing.get(), libs);
        }
        String version = attempt(() -> "CUDA driver " + Cuda.formatVersion(Cuda.driverVersion())).orElse("CUDA driver");
        String name = attempt(() -> Cuda.deviceName(0)).orElse("device 0");
        return new BackendStatus(DeviceKind.CUDA, true, count + " device(s), " + name + ", " + version, libs);
    }

    private static BackendStatus cpu() {
        int cores = Runtime.getRuntime().availableProcessors();
        Sgemm path = CpuGemm.defaultPath();
        String why = CpuGemm.cblas().isEmpty() ? " (" + NativeLibrary.CBLAS.probe().problem() + ")" : "";
        return new BackendStatus(DeviceKind.CPU, true, cores + " cores, GEMM: " + CpuGemm.describe(path) + why,
                libraries(NativeLibrary.CBLAS));
    }

    private static List<String> libraries(NativeLibrary... libs) {
        List<String> lines = new ArrayList<>();
        for (NativeLibrary lib : libs) {
            lines.add(lib.probe().describe());
        }
        return lines;
    }

    private static Optional<String> firstMissing(NativeLibrary... libs) {
        for (NativeLibrary lib : libs) {
            if (!lib.probe().isLoaded()) {
                return Optional.of(lib.probe().problem());
            }
        }
        return Optional.empty();
    }

    /** A detail worth showing but not worth failing for (a version, a name). */
    private static Optional<String> attempt(Supplier<String> detail) {
        try {
            return Optional.of(detail.get());
        } catch (GpuException e) {
            return Optional.empty();
        }
    }
}
