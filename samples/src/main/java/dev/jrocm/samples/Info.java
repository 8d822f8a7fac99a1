package dev.jrocm.samples;

import dev.jrocm.runtime.device.BackendStatus;
import dev.jrocm.runtime.device.DeviceSpec;
import dev.jrocm.runtime.device.Devices;

import java.io.PrintStream;
import java.util.List;

/**
 * {@code scripts/jrocm-info.sh}: every backend, whether it can run here and why (not), the
 * native libraries behind it, and the device jrocm would use.
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
        }
    }
}
