package dev.jrocm.samples;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;
import dev.jrocm.runtime.device.SelfCheck;

import java.io.PrintStream;
import java.util.List;

/**
 * {@code scripts/jrocm-info.sh [--check]}: every backend, whether it can run here and why (not),
 * the native libraries behind it, and the device jrocm would use; with {@code --check}, that
 * device also runs {@link SelfCheck} (a second of ops against the CPU backend) and the exit status
 * says whether it passed.
 */
public final class Info {
    private Info() {}

    public static void main(String[] args) {
        PrintStream out = System.out;
        out.println("jrocm devices (Java " + Runtime.version() + ", " + System.getProperty("os.name") + " "
                + System.getProperty("os.arch") + ")");
        List<BackendStatus> statuses = Devices.describe();
        for (BackendStatus status : statuses) {
            out.println("  " + status.summary());
            for (String library : status.libraries()) {
                if (!library.equals(status.reason())) {
                    out.println("        " + library);
                }
            }
        }
        DeviceSpec spec;
        try {
            spec = Devices.requested();
            out.println("selected: " + Devices.select(spec).kind().id() + " (" + Devices.PROPERTY + " / "
                    + Devices.VARIABLE + ": " + spec + ")");
        } catch (IllegalArgumentException | IllegalStateException e) {
            out.println("selected: none — " + e.getMessage());
            System.exit(1);
            return;
        }
        if (List.of(args).contains("--check")) {
            System.exit(check(spec, out) ? 0 : 1);
        }
    }

    /** Opens the device and runs {@link SelfCheck} on it; true when every op passed. */
    static boolean check(DeviceSpec spec, PrintStream out) {
        try (Backend backend = Devices.open(spec)) {
            out.println("check of " + backend.describe() + " against the CPU backend:");
            List<SelfCheck.Result> results = SelfCheck.run(backend);
            results.forEach(r -> out.println("  " + r));
            long failed = results.stream().filter(r -> !r.ok()).count();
            out.println(failed == 0 ? "check passed" : "check FAILED: " + failed + " of " + results.size() + " ops");
            return failed == 0;
        } catch (RuntimeException e) {
            out.println("check FAILED: the device could not be opened: " + e.getMessage());
            return false;
        }
    }
}
