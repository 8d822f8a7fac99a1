/* Stand-in for the CMake-generated miopen/export.h. */
#ifndef JROCM_SHIM_MIOPEN_EXPORT_H
#define JROCM_SHIM_MIOPEN_EXPORT_H
#define MIOPEN_EXPORT
#define MIOPEN_DEPRECATED(x)
#endif
