package dev.jrocm.runtime.device.hip;

import dev.jrocm.bindings.hipblas.hipblas_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;

/** Status checks for hipBLAS. The GEMM itself belongs to the HIP backend. */
public final class HipBlas {
    private HipBlas() {}

    /** Throws {@link GpuException} unless {@code status} is HIPBLAS_STATUS_SUCCESS. */
    public static void check(int status, String function) {
        if (status != hipblas_h.HIPBLAS_STATUS_SUCCESS()) {
            // hipblasStatusToString gives the enum name; hipBLAS has no longer description.
            throw new GpuException("hipBLAS", function, status, CStrings.read(hipblas_h.hipblasStatusToString(status)), null);
        }
    }
}
