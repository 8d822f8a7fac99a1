package dev.jrocm.runtime.device.hip;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.Buffer;
import dev.jrocm.runtime.device.DeviceKind;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.GpuException;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import dev.jrocm.runtime.device.gpu.GpuBackend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

import static dev.jrocm.runtime.device.TestBuffers.download;
import static dev.jrocm.runtime.device.TestBuffers.gaussian;
import static dev.jrocm.runtime.device.TestBuffers.upload;

/**
 * HipDriver (with hipRTC, hipBLAS and MIOpen) against the C test doubles, run by {@link HipDriverTest}
 * in a JVM of its own whose {@code jrocm.<lib>.library} properties name the doubles: a library
 * defining hipMalloc must not share a JVM with Debian's real libamdhip64. Prints {@code PASS name}
 * or {@code FAIL name} with the stack for each scenario; exits with the number of failures.
 */
public final class HipDriverScenarios {
    private HipDriverScenarios() {}

    /** The scenarios, by name; HipDriverTest expects a PASS line for each. */
    static final List<String> NAMES = List.of("open", "kernels", "cross-entropy through MIOpen", "gemm", "copies",
            "out of memory", "errors", "events", "compile error", "miopen off", "close", "devices");

    public static void main(String[] args) {
        Map<String, Runnable> scenarios = new LinkedHashMap<>();
        scenarios.put("open", HipDriverScenarios::open);
        scenarios.put("kernels", HipDriverScenarios::kernels);
        scenarios.put("cross-entropy through MIOpen", HipDriverScenarios::crossEntropyThroughMIOpen);
        scenarios.put("gemm", HipDriverScenarios::gemm);
        scenarios.put("copies", HipDriverScenarios::copies);
        scenarios.put("out of memory", HipDriverScenarios::outOfMemory);
        scenarios.put("errors", HipDriverScenarios::errors);
        scenarios.put("events", HipDriverScenarios::events);
        scenarios.put("compile error", HipDriverScenarios::compileError);
        scenarios.put("miopen off", HipDriverScenarios::miopenOff);
        scenarios.put("close", HipDriverScenarios::close);
        scenarios.put("devices", HipDriverScenarios::devices);
        if (!scenarios.keySet().equals(new java.util.LinkedHashSet<>(NAMES))) {
            throw new IllegalStateException("NAMES is out of date: " + scenarios.keySet());
        }
        int failures = 0;
        for (Map.Entry<String, Runnable> s : scenarios.entrySet()) {
            try {
                s.getValue().run();
                System.out.println("PASS " + s.getKey());
            } catch (Throwable e) {
                failures++;
                System.out.println("FAIL " + s.getKey() + ": " + e);
                e.printStackTrace(System.out);
            }
        }
        System.exit(Math.min(failures, 100));
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static void contains(String text, String part) {
        check(text != null && text.contains(part), "'" + part + "' is not in: " + text);
    }

    static GpuBackend backend() {
        return new GpuBackend(HipDriver.open(0));
    }

    /** Runs {@code op} on the HIP backend and the CPU backend over the same inputs; both results of the last buffer. */
    static float[][] both(List<float[]> inputs, BiConsumer<Backend, Buffer[]> op) {
        float[][] out = new float[2][];
        try (GpuBackend hip = backend(); CpuBackend cpu = new CpuBackend()) {
            int i = 0;
            for (Backend be : List.of(hip, cpu)) {
                Buffer[] b = inputs.stream().map(x -> upload(be, x)).toArray(Buffer[]::new);
                op.accept(be, b);
                out[i++] = download(be, b[b.length - 1]);
            }
        }
        return out;
    }

    static void close(float[] want, float[] got, float tolerance, String what) {
        check(want.length == got.length, what + ": lengths " + want.length + " and " + got.length);
        for (int i = 0; i < want.length; i++) {
            check(Math.abs(want[i] - got[i]) <= tolerance * (1 + Math.abs(want[i])),
                    what + ": element " + i + " is " + got[i] + ", want " + want[i]);
        }
    }

    static void open() {
        try (GpuBackend hip = backend()) {
            String d = hip.describe();
            contains(d, "hip:0 Fake MI210 (host memory)");
            contains(d, "HIP 6.3.42134");
            contains(d, "hipRTC 6.3");
            contains(d, "MIOpen (ReLU, log-softmax, convolution, pooling, batch norm)");
        }
    }

    static void kernels() {
        float[] x = gaussian(1000, 1), y = gaussian(1000, 2);
        float[][] r = both(List.of(x, y), (be, b) -> {
            be.scale(b[0], -1.5f);
            be.axpy(0.25f, b[0], b[1]);
            be.relu(b[1], b[1]); // through the MIOpen double
        });
        check(Arrays.equals(r[1], r[0]), "scale, axpy, relu differ from the CPU backend");
        r = both(List.of(new float[77]), (be, b) -> be.fill(b[0], 3.25f));
        check(Arrays.equals(r[1], r[0]), "fill differs");
        float[] bias = gaussian(40, 3), m = gaussian(25 * 40, 4);
        r = both(List.of(bias, m), (be, b) -> be.addBias(b[1], b[0], 25, 40));
        check(Arrays.equals(r[1], r[0]), "addBias differs");
        r = both(List.of(m, bias), (be, b) -> be.columnSums(b[0], 25, 40, b[1], true));
        close(r[1], r[0], 1e-5f, "columnSums");
    }

    /** MIOpen's log-softmax (the double's), then jr_nll_rows and the reduction: the CPU's loss, count and gradient. */
    static void crossEntropyThroughMIOpen() {
        int rows = 37, classes = 10;
        float[] logits = gaussian(rows * classes, 6);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= 3;
        }
        int[] labels = new java.util.Random(7).ints(rows, 0, classes).toArray();
        float[][] loss = new float[2][], grad = new float[2][];
        try (GpuBackend hip = backend(); CpuBackend cpu = new CpuBackend()) {
            contains(hip.describe(), "MIOpen");
            int i = 0;
            for (Backend be : List.of(hip, cpu)) {
                Buffer out = be.allocate(8), d = be.allocate((long) rows * classes * 4);
                be.crossEntropy(upload(be, logits), dev.jrocm.runtime.device.TestBuffers.uploadInts(be, labels), rows, classes,
                        out, d);
                loss[i] = download(be, out);
                grad[i++] = download(be, d);
            }
        }
        close(loss[1], loss[0], 1e-5f, "loss and correct count");
        close(grad[1], grad[0], 1e-5f, "dLogits");
    }

    static void gemm() {
        int m = 7, n = 5, k = 3;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            float[][] r = both(List.of(gaussian(m * k, 10 + t), gaussian(k * n, 20 + t), gaussian(m * n, 30 + t)),
                    (be, x) -> be.gemm(ta, tb, m, n, k, 0.5f, x[0], x[1], 1f, x[2]));
            close(r[1], r[0], 1e-5f, "gemm transA " + ta + " transB " + tb);
        }
    }

    static void copies() {
        try (GpuBackend hip = backend()) {
            float[] x = gaussian(300, 5);
            Buffer a = upload(hip, x), b = hip.allocate(300 * 4);
            hip.copy(a, b);
            check(Arrays.equals(x, download(hip, b)), "host → device → device → host changed the data");
        }
    }

    static void outOfMemory() {
        try (GpuBackend hip = backend()) {
            try {
                hip.allocate(3L << 30);
                throw new AssertionError("3 GiB from a 1 GiB device");
            } catch (GpuException e) {
                contains(e.getMessage(), "hipErrorOutOfMemory");
                contains(e.getMessage(), "out of memory (fake HIP)");
                contains(e.getMessage(), "asked for 3.0 GiB");
                contains(e.getMessage(), "free of 1.0 GiB");
            }
        }
    }

    static void errors() {
        try (GpuBackend hip = backend()) {
            try {
                hip.driver().free(12345L);
                throw new AssertionError("freeing what was never allocated");
            } catch (GpuException e) {
                contains(e.getMessage(), "hipFree");
                contains(e.getMessage(), "hipErrorInvalidValue");
                contains(e.getMessage(), "invalid argument (fake HIP)");
            }
        }
    }

    static void events() {
        try (GpuBackend hip = backend()) {
            Buffer x = hip.allocate(16);
            float ms = hip.timeMillis(() -> {
                for (int i = 0; i < 4; i++) {
                    hip.fill(x, i);
                }
            });
            check(ms == 1.0f, "4 launches at a quarter of a millisecond each took " + ms + " ms");
        }
    }

    static void compileError() {
        try {
            HipRtc.compileForCurrentDevice("#error the kernel is broken\n", "broken.hip", HipDriver.OPTIONS);
            throw new AssertionError("a broken source compiled");
        } catch (GpuException e) {
            contains(e.getMessage(), "HIPRTC_ERROR_COMPILATION");
            contains(e.getMessage(), "broken.hip:1:2: error: #error the kernel is broken");
        }
    }

    static void miopenOff() {
        System.setProperty(MIOpenDnn.PROPERTY, "off");
        try (GpuBackend hip = backend()) {
            contains(hip.describe(), "no MIOpen (jrocm's kernels for ReLU, softmax, convolution, pooling and batch norm)");
            check(hip.driver().dnn() == null, "MIOpen is in use although switched off");
        } finally {
            System.clearProperty(MIOpenDnn.PROPERTY);
        }
    }

    static void close() {
        GpuBackend hip = backend();
        Buffer x = hip.allocate(16);
        hip.close();
        try {
            hip.fill(x, 1f);
            throw new AssertionError("a closed backend took work");
        } catch (IllegalStateException e) {
            contains(e.getMessage(), "closed");
        }
        try (GpuBackend again = backend()) {
            Buffer b = again.allocate(8);
            again.fill(b, 5f);
            check(Arrays.equals(new float[] {5f, 5f}, download(again, b)), "the reopened device did not work");
        }
    }

    static void devices() {
        List<String> seen = new ArrayList<>();
        BackendStatus hip = Devices.describe().stream().filter(s -> s.kind() == DeviceKind.HIP).findFirst().orElseThrow();
        seen.add(hip.summary());
        check(hip.available(), "HIP not available: " + seen);
        contains(hip.summary(), "Fake MI210");
        try (Backend be = Devices.open(new DeviceSpec(DeviceKind.HIP, 0))) {
            check(be instanceof GpuBackend, "Devices.open(hip) gave " + be);
        }
    }
}
