package dev.jrocm.runtime.device;

import java.util.List;

/**
 * Whether one backend can run here, and why (not).
 *
 * @param kind the backend
 * @param available whether it can be used
 * @param reason one line: what it would run on, or what is missing
 * @param libraries one line per native library it needs: where it was loaded from, or why not
 */
public record BackendStatus(DeviceKind kind, boolean available, String reason, List<String> libraries) {
    public BackendStatus {
        libraries = List.copyOf(libraries);
    }

    /** {@code "hip   unavailable  no device: hipGetDeviceCount …"}. */
    public String summary() {
        return String.format("%-5s %-12s %s", kind.id(), available ? "available" : "unavailable", reason);
    }
}
