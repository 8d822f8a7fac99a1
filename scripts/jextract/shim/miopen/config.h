/* Stand-in for the CMake-generated miopen/config.h: the HIP backend, as ROCm ships it. */
#ifndef JROCM_SHIM_MIOPEN_CONFIG_H
#define JROCM_SHIM_MIOPEN_CONFIG_H
#define MIOPEN_BACKEND_OPENCL 0
#define MIOPEN_BACKEND_HIP 1
#endif
