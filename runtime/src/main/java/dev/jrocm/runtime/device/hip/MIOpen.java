package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.miopen.miopen_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;

import java.util.Map;

/** Status checks for MIOpen. */
public final class MIOpen {
    private MIOpen() {}

    /** Throws {@link GpuException} unless {@code status} is miopenStatusSuccess. */
    public static void check(int status, String function) {
        if (status != miopen_h.miopenStatusSuccess()) {
            throw new GpuException("MIOpen", function, status, statusName(status),
                    CStrings.read(miopen_h.miopenGetErrorString(status)));
        }
    }

    /** MIOpen has no function for its enum names; these are the ones its API returns. */
    static String statusName(int status) {
        Map<Integer, String> names = Map.of(
                miopen_h.miopenStatusNotInitialized(), "miopenStatusNotInitialized",
                miopen_h.miopenStatusInvalidValue(), "miopenStatusInvalidValue",
                miopen_h.miopenStatusBadParm(), "miopenStatusBadParm",
                miopen_h.miopenStatusAllocFailed(), "miopenStatusAllocFailed",
                miopen_h.miopenStatusInternalError(), "miopenStatusInternalError",
                miopen_h.miopenStatusNotImplemented(), "miopenStatusNotImplemented",
                miopen_h.miopenStatusUnknownError(), "miopenStatusUnknownError",
                miopen_h.miopenStatusUnsupportedOp(), "miopenStatusUnsupportedOp");
        return names.getOrDefault(status, "miopenStatus#" + status);
    }
}
