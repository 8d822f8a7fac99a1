/*
 * A test double of the HIP runtime, hipRTC and hipBLAS as jrocm's HipDriver calls them, over HOST
 * memory, in one library (with the key symbol of all three: hipGetDeviceCount, hiprtcCreateProgram,
 * hipblasSgemm). Debian's libamdhip64 is real but finds no device here, and no AMD GPU is lent:
 * this is how HipDriver's marshalling is checked. It must run in a JVM of its own (HipDriverTest
 * starts one): two libraries defining hipMalloc in one JVM would leave the bindings' symbol lookup
 * to chance.
 *
 * Prototypes and enum values follow the HIP 6.3, hipRTC and hipBLAS 2.4 headers the bindings were
 * generated from. Like HIP it insists on known handles and streams, a valid device for
 * hipSetDevice, the right hipMemcpyKind for the pointers given, and hipBLAS's own operation codes
 * (111, 112) and leading-dimension rules. Device memory is malloc'd host memory capped at 1 GiB;
 * hipRTC builds jrocm's kernel source for the host with g++ and hipModuleLaunchKernel runs it
 * (fake_device.h).
 *
 *   gcc -shared -fPIC -O1 -o libfake_hip.so fake_hip.c -lm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_device.h"

typedef int hipError_t;
enum {
    hipSuccess = 0, hipErrorInvalidValue = 1, hipErrorOutOfMemory = 2, hipErrorInvalidDevice = 101,
    hipErrorInvalidImage = 200, hipErrorInvalidHandle = 400, hipErrorNotFound = 500
};
enum { hipMemcpyHostToDevice = 1, hipMemcpyDeviceToHost = 2, hipMemcpyDeviceToDevice = 3 };

#define CAPACITY (1LL << 30)
#define MAGIC 0x6a726f68
#define MAX_BLOCKS 65536

typedef struct { int magic; } stream_t;
typedef struct { int magic; char* image; void* library; } module_t;
typedef struct { int magic; char name[64]; fake_kernel kernel; } function_t;
typedef struct { int magic; long recorded; } event_t;

static __thread int current_device;   /* HIP: every thread starts on device 0 */
static fake_i64 used;
static long launches, ticks;
static char* block_address[MAX_BLOCKS];
static fake_i64 block_size[MAX_BLOCKS];

const char* hipGetErrorName(hipError_t e) {
    switch (e) {
        case hipSuccess: return "hipSuccess";
        case hipErrorInvalidValue: return "hipErrorInvalidValue";
        case hipErrorOutOfMemory: return "hipErrorOutOfMemory";
        case hipErrorInvalidDevice: return "hipErrorInvalidDevice";
        case hipErrorInvalidImage: return "hipErrorInvalidImage";
        case hipErrorInvalidHandle: return "hipErrorInvalidHandle";
        case hipErrorNotFound: return "hipErrorNotFound";
        default: return "hipErrorUnknown";
    }
}

const char* hipGetErrorString(hipError_t e) {
    switch (e) {
        case hipErrorInvalidValue: return "invalid argument (fake HIP)";
        case hipErrorOutOfMemory: return "out of memory (fake HIP)";
        case hipErrorInvalidDevice: return "invalid device ordinal (fake HIP)";
        default: return hipGetErrorName(e);
    }
}

/* ---- devices --------------------------------------------------------------------------------- */

hipError_t hipGetDeviceCount(int* count) {
    if (count == NULL) return hipErrorInvalidValue;
    *count = 1;
    return hipSuccess;
}

hipError_t hipSetDevice(int device) {
    if (device != 0) return hipErrorInvalidDevice;
    current_device = device;
    return hipSuccess;
}

hipError_t hipDeviceGetName(char* name, int length, int device) {
    if (device != 0) return hipErrorInvalidDevice;
    if (name == NULL || length <= 0) return hipErrorInvalidValue;
    snprintf(name, (size_t) length, "Fake MI210 (host memory)");
    return hipSuccess;
}

hipError_t hipRuntimeGetVersion(int* version) {
    if (version == NULL) return hipErrorInvalidValue;
    *version = 60342134; /* 6.3.42134 */
    return hipSuccess;
}

/* ---- streams and memory ---------------------------------------------------------------------- */

hipError_t hipStreamCreate(stream_t** stream) {
    if (stream == NULL) return hipErrorInvalidValue;
    *stream = calloc(1, sizeof(stream_t));
    (*stream)->magic = MAGIC;
    return hipSuccess;
}

static int good_stream(const stream_t* s) { return s != NULL && s->magic == MAGIC; }

hipError_t hipStreamSynchronize(stream_t* stream) { return good_stream(stream) ? hipSuccess : hipErrorInvalidHandle; }

hipError_t hipStreamDestroy(stream_t* stream) {
    if (!good_stream(stream)) return hipErrorInvalidHandle;
    stream->magic = 0;
    free(stream);
    return hipSuccess;
}

static int inside(const char* p, size_t bytes) {
    for (int i = 0; i < MAX_BLOCKS; i++) {
        if (block_address[i] != NULL && p >= block_address[i] && p + bytes <= block_address[i] + block_size[i]) return 1;
    }
    return 0;
}

hipError_t hipMalloc(void** out, size_t bytes) {
    if (out == NULL) return hipErrorInvalidValue;
    if (used + (fake_i64) bytes > CAPACITY) return hipErrorOutOfMemory;
    int slot = 0;
    while (slot < MAX_BLOCKS && block_address[slot] != NULL) slot++;
    if (slot == MAX_BLOCKS) return hipErrorOutOfMemory;
    char* p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (p == NULL) return hipErrorOutOfMemory;
    block_address[slot] = p;
    block_size[slot] = (fake_i64) bytes;
    used += (fake_i64) bytes;
    *out = p;
    return hipSuccess;
}

hipError_t hipFree(void* p) {
    if (p == NULL) return hipSuccess; /* as HIP: freeing NULL does nothing */
    for (int i = 0; i < MAX_BLOCKS; i++) {
        if (block_address[i] == p) {
            free(p);
            used -= block_size[i];
            block_address[i] = NULL;
            return hipSuccess;
        }
    }
    return hipErrorInvalidValue;
}

hipError_t hipMemGetInfo(size_t* free_bytes, size_t* total) {
    if (free_bytes == NULL || total == NULL) return hipErrorInvalidValue;
    *free_bytes = (size_t) (CAPACITY - used);
    *total = (size_t) CAPACITY;
    return hipSuccess;
}

hipError_t hipMemcpyAsync(void* dst, const void* src, size_t bytes, int kind, stream_t* stream) {
    if (!good_stream(stream)) return hipErrorInvalidHandle;
    if (dst == NULL || src == NULL) return hipErrorInvalidValue;
    int device_dst = inside(dst, bytes), device_src = inside(src, bytes);
    int ok = (kind == hipMemcpyHostToDevice && device_dst && !device_src)
             || (kind == hipMemcpyDeviceToHost && device_src && !device_dst)
             || (kind == hipMemcpyDeviceToDevice && device_src && device_dst);
    if (!ok) return hipErrorInvalidValue;
    memmove(dst, src, bytes);
    return hipSuccess;
}

/* ---- modules and launches -------------------------------------------------------------------- */

#define CODE_TAG "FAKECODEOBJECT\n"

hipError_t hipModuleLoadData(module_t** module, const void* image) {
    if (module == NULL || image == NULL) return hipErrorInvalidValue;
    if (strncmp(image, CODE_TAG, strlen(CODE_TAG)) != 0) return hipErrorInvalidImage;
    const char* path = (const char*) image + strlen(CODE_TAG);
    const char* end = strchr(path, '\n');
    if (end == NULL || end - path >= 255) return hipErrorInvalidImage;
    char file[256];
    memcpy(file, path, (size_t) (end - path));
    file[end - path] = 0;
    void* library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return hipErrorInvalidImage;
    module_t* m = calloc(1, sizeof(module_t));
    m->magic = MAGIC;
    m->image = strdup(image);
    m->library = library;
    *module = m;
    return hipSuccess;
}

hipError_t hipModuleUnload(module_t* module) {
    if (module == NULL || module->magic != MAGIC) return hipErrorInvalidHandle;
    module->magic = 0;
    dlclose(module->library);
    free(module->image);
    free(module);
    return hipSuccess;
}

hipError_t hipModuleGetFunction(function_t** function, module_t* module, const char* name) {
    if (module == NULL || module->magic != MAGIC) return hipErrorInvalidHandle;
    char pattern[80];
    snprintf(pattern, sizeof pattern, " %s(", name);
    if (strlen(name) >= 64 || strstr(module->image, pattern) == NULL) return hipErrorNotFound;
    function_t* f = calloc(1, sizeof(function_t));
    if (fake_find(module->library, name, &f->kernel) != 0) {
        free(f);
        return hipErrorNotFound;
    }
    f->magic = MAGIC;
    strcpy(f->name, name);
    *function = f;
    return hipSuccess;
}

hipError_t hipModuleLaunchKernel(function_t* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned shared, stream_t* stream, void** params, void** extra) {
    if (f == NULL || f->magic != MAGIC || !good_stream(stream)) return hipErrorInvalidHandle;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx * by * bz > 1024 || params == NULL
        || extra != NULL || shared > 64 * 1024) {
        return hipErrorInvalidValue;
    }
    launches++;
    return fake_launch(&f->kernel, gx, gy, bx, by, params) < 0 ? hipErrorInvalidValue : hipSuccess;
}

/* ---- events ---------------------------------------------------------------------------------- */

hipError_t hipEventCreate(event_t** event) {
    if (event == NULL) return hipErrorInvalidValue;
    *event = calloc(1, sizeof(event_t));
    (*event)->magic = MAGIC;
    (*event)->recorded = -1;
    return hipSuccess;
}

hipError_t hipEventRecord(event_t* event, stream_t* stream) {
    if (event == NULL || event->magic != MAGIC || !good_stream(stream)) return hipErrorInvalidHandle;
    event->recorded = ticks++ + launches;
    return hipSuccess;
}

hipError_t hipEventSynchronize(event_t* event) {
    return event != NULL && event->magic == MAGIC ? hipSuccess : hipErrorInvalidHandle;
}

/* a quarter of a millisecond per launch between the two records */
hipError_t hipEventElapsedTime(float* ms, event_t* start, event_t* stop) {
    if (ms == NULL) return hipErrorInvalidValue;
    if (start == NULL || stop == NULL || start->magic != MAGIC || stop->magic != MAGIC) return hipErrorInvalidHandle;
    if (start->recorded < 0 || stop->recorded < 0) return hipErrorInvalidValue;
    *ms = 0.25f * (float) (stop->recorded - start->recorded - 1);
    return hipSuccess;
}

hipError_t hipEventDestroy(event_t* event) {
    if (event == NULL || event->magic != MAGIC) return hipErrorInvalidHandle;
    event->magic = 0;
    free(event);
    return hipSuccess;
}

/* ---- hipRTC ---------------------------------------------------------------------------------- */

typedef int hiprtcResult;
enum { HIPRTC_SUCCESS = 0, HIPRTC_ERROR_INVALID_INPUT = 3, HIPRTC_ERROR_INVALID_PROGRAM = 4,
       HIPRTC_ERROR_INVALID_OPTION = 5, HIPRTC_ERROR_COMPILATION = 6 };
typedef struct { int magic; char* source; char* name; char* log; char* code; size_t code_size; } program_t;

const char* hiprtcGetErrorString(hiprtcResult r) {
    switch (r) {
        case HIPRTC_SUCCESS: return "HIPRTC_SUCCESS";
        case HIPRTC_ERROR_INVALID_INPUT: return "HIPRTC_ERROR_INVALID_INPUT";
        case HIPRTC_ERROR_INVALID_PROGRAM: return "HIPRTC_ERROR_INVALID_PROGRAM";
        case HIPRTC_ERROR_INVALID_OPTION: return "HIPRTC_ERROR_INVALID_OPTION";
        case HIPRTC_ERROR_COMPILATION: return "HIPRTC_ERROR_COMPILATION";
        default: return "HIPRTC_ERROR_INTERNAL_ERROR";
    }
}

hiprtcResult hiprtcVersion(int* major, int* minor) {
    if (major == NULL || minor == NULL) return HIPRTC_ERROR_INVALID_INPUT;
    *major = 6;
    *minor = 3;
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcCreateProgram(program_t** program, const char* source, const char* name, int headers,
                                 const char** contents, const char** names) {
    if (program == NULL || source == NULL || headers != 0 || contents != NULL || names != NULL) {
        return HIPRTC_ERROR_INVALID_INPUT;
    }
    program_t* p = calloc(1, sizeof(program_t));
    p->magic = MAGIC;
    p->source = strdup(source);
    p->name = strdup(name == NULL ? "default_program" : name);
    p->log = strdup("");
    *program = p;
    return HIPRTC_SUCCESS;
}

static int good_program(const program_t* p) { return p != NULL && p->magic == MAGIC; }

hiprtcResult hiprtcCompileProgram(program_t* p, int count, const char** options) {
    if (!good_program(p)) return HIPRTC_ERROR_INVALID_PROGRAM;
    for (int i = 0; i < count; i++) {
        if (strncmp(options[i], "--offload-arch=", 15) != 0 && strcmp(options[i], "-O3") != 0
            && strcmp(options[i], "-ffp-contract=off") != 0) {
            char text[256];
            snprintf(text, sizeof text, "error: unknown argument: '%s'", options[i]);
            free(p->log);
            p->log = strdup(text);
            return HIPRTC_ERROR_INVALID_OPTION;
        }
    }
    char* library = NULL;
    char* messages = NULL;
    if (fake_build(p->source, p->name, &library, &messages) != 0) {
        free(p->log);
        p->log = messages;
        return HIPRTC_ERROR_COMPILATION;
    }
    /* the "code object": a tag, the host library the kernels were built into, then the source */
    p->code_size = strlen(CODE_TAG) + strlen(library) + 1 + strlen(p->source) + 1;
    p->code = calloc(1, p->code_size);
    strcpy(p->code, CODE_TAG);
    strcat(p->code, library);
    strcat(p->code, "\n");
    strcat(p->code, p->source);
    free(library);
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcGetCodeSize(program_t* p, size_t* size) {
    if (!good_program(p) || p->code == NULL || size == NULL) return HIPRTC_ERROR_INVALID_INPUT;
    *size = p->code_size;
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcGetCode(program_t* p, char* code) {
    if (!good_program(p) || p->code == NULL || code == NULL) return HIPRTC_ERROR_INVALID_INPUT;
    memcpy(code, p->code, p->code_size);
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcGetProgramLogSize(program_t* p, size_t* size) {
    if (!good_program(p)) return HIPRTC_ERROR_INVALID_PROGRAM;
    *size = strlen(p->log) + 1;
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcGetProgramLog(program_t* p, char* log) {
    if (!good_program(p)) return HIPRTC_ERROR_INVALID_PROGRAM;
    strcpy(log, p->log);
    return HIPRTC_SUCCESS;
}

hiprtcResult hiprtcDestroyProgram(program_t** program) {
    if (program == NULL || !good_program(*program)) return HIPRTC_ERROR_INVALID_PROGRAM;
    program_t* p = *program;
    p->magic = 0;
    free(p->source); free(p->name); free(p->log); free(p->code); free(p);
    *program = NULL;
    return HIPRTC_SUCCESS;
}

/* ---- hipBLAS --------------------------------------------------------------------------------- */

typedef int hipblasStatus_t;
enum { HIPBLAS_STATUS_SUCCESS = 0, HIPBLAS_STATUS_NOT_INITIALIZED = 1, HIPBLAS_STATUS_INVALID_VALUE = 3,
       HIPBLAS_STATUS_HANDLE_IS_NULLPTR = 9 };
enum { HIPBLAS_OP_N = 111, HIPBLAS_OP_T = 112 };
typedef struct { int magic; stream_t* stream; } blas_t;

const char* hipblasStatusToString(hipblasStatus_t status) {
    switch (status) {
        case HIPBLAS_STATUS_SUCCESS: return "HIPBLAS_STATUS_SUCCESS";
        case HIPBLAS_STATUS_NOT_INITIALIZED: return "HIPBLAS_STATUS_NOT_INITIALIZED";
        case HIPBLAS_STATUS_INVALID_VALUE: return "HIPBLAS_STATUS_INVALID_VALUE";
        case HIPBLAS_STATUS_HANDLE_IS_NULLPTR: return "HIPBLAS_STATUS_HANDLE_IS_NULLPTR";
        default: return "HIPBLAS_STATUS_UNKNOWN";
    }
}

hipblasStatus_t hipblasCreate(blas_t** handle) {
    if (handle == NULL) return HIPBLAS_STATUS_HANDLE_IS_NULLPTR;
    *handle = calloc(1, sizeof(blas_t));
    (*handle)->magic = MAGIC;
    return HIPBLAS_STATUS_SUCCESS;
}

static int good_blas(const blas_t* h) { return h != NULL && h->magic == MAGIC; }

hipblasStatus_t hipblasDestroy(blas_t* handle) {
    if (!good_blas(handle)) return HIPBLAS_STATUS_NOT_INITIALIZED;
    handle->magic = 0;
    free(handle);
    return HIPBLAS_STATUS_SUCCESS;
}

hipblasStatus_t hipblasSetStream(blas_t* handle, stream_t* stream) {
    if (!good_blas(handle)) return HIPBLAS_STATUS_NOT_INITIALIZED;
    if (stream != NULL && !good_stream(stream)) return HIPBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return HIPBLAS_STATUS_SUCCESS;
}

hipblasStatus_t hipblasSgemm(blas_t* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                             const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
    if (!good_blas(handle) || handle->stream == NULL) return HIPBLAS_STATUS_NOT_INITIALIZED;
    if ((transa != HIPBLAS_OP_N && transa != HIPBLAS_OP_T) || (transb != HIPBLAS_OP_N && transb != HIPBLAS_OP_T)
        || alpha == NULL || beta == NULL) {
        return HIPBLAS_STATUS_INVALID_VALUE;
    }
    int ta = transa == HIPBLAS_OP_T, tb = transb == HIPBLAS_OP_T;
    if (!fake_sgemm_args_ok(ta, tb, m, n, k, lda, ldb, ldc)) return HIPBLAS_STATUS_INVALID_VALUE;
    fake_sgemm(ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
    return HIPBLAS_STATUS_SUCCESS;
}
