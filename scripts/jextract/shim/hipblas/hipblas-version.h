/* Stand-in for the CMake-generated hipblas-version.h (ROCm/hipBLAS 2.4, ROCm 6.3). */
#ifndef JROCM_SHIM_HIPBLAS_VERSION_H
#define JROCM_SHIM_HIPBLAS_VERSION_H
#define hipblasVersionMajor 2
#define hipblaseVersionMinor 4
#define hipblasVersionMinor 4
#define hipblasVersionPatch 0
#define hipblasVersionTweak 0
#endif
