/* Stand-in for the CMake-generated hipblas-export.h: symbols are plain C exports. */
#ifndef JROCM_SHIM_HIPBLAS_EXPORT_H
#define JROCM_SHIM_HIPBLAS_EXPORT_H
#define HIPBLAS_EXPORT
#endif
