package dev.jrocm.runtime.device.cuda;

import dev.jrocm.bindings.cublas.cublas_h;
import dev.jrocm.runtime.device.CStrings;
import dev.jrocm.runtime.device.GpuException;


/** Status checks for cuBLAS. The GEMM itself belongs to the CUDA backend. */
public final class CuBlas {
    private CuBlas() {}

    /** Throws {@link GpuException} unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    public static void check(int status, String function) {
        if (status != cublas_h.CUBLAS_STATUS_SUCCESS()) {
            throw new GpuException("cuBLAS", function, status,
                    CStrings.read(cublas_h.cublasGetStatusName(status)), CStrings.read(cublas_h.cublasGetStatusString(status)));
        }
    }

}
