/*
 * The smallest library the hipBLAS probe accepts: its key symbol, hipblasSgemm, and nothing else.
 * Debian 12 has no hipBLAS, and HipDriver.open requires one before it asks HIP for a device; with
 * this stub in its place, HipDriverTest reaches Debian's real libamdhip64 and its hipErrorNoDevice.
 * It is never called there: open fails at the device count first. If it were, it answers
 * HIPBLAS_STATUS_NOT_INITIALIZED (1).
 *
 *   gcc -shared -fPIC -O1 -o libstub_hipblas.so stub_hipblas.c
 */
int hipblasSgemm(void) {
    return 1;
}
