/*
 * A test double of the CUDA driver API, NVRTC and cuBLAS as jrocm's CudaDriver calls them, over
 * HOST memory, in one library (it holds the key symbol of all three: cuInit, nvrtcCreateProgram,
 * cublasSgemm_v2). This machine has CUDA's compiler but no driver, NVRTC or cuBLAS library, and the
 * lent GPU is used once per task: this is how CudaDriver's marshalling is checked on every CI run.
 *
 * Prototypes and enum values follow cuda.h of CUDA 13.0 and nvrtc.h / cublas_api.h of CUDA 12.6
 * (the headers the bindings were generated from). Like CUDA it insists on: cuInit first; a current
 * context (per thread) for memory, stream, module, event and launch calls; a retained primary
 * context for cuCtxSetCurrent; known handles; NVRTC options naming an architecture; cuBLAS's
 * leading-dimension rules. "Device" pointers are malloc'd host memory, capped at 1 GiB so that
 * out-of-memory can be provoked. NVRTC builds jrocm's kernel source for the host with g++ and
 * cuLaunchKernel runs it, unpacking kernelParams as the real driver does (fake_device.h); cuBLAS's
 * SGEMM is a column-major reference loop.
 *
 *   gcc -shared -fPIC -O1 -o libfake_cuda.so fake_cuda.c -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_device.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef long long i64;
enum {
    CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2, CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_INVALID_IMAGE = 200, CUDA_ERROR_INVALID_CONTEXT = 201, CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500
};
enum { ATTRIBUTE_CC_MAJOR = 75, ATTRIBUTE_CC_MINOR = 76 };

#define CAPACITY (1LL << 30)
#define MAGIC 0x6a726f63

static int initialised;
static int retained;                 /* primary context reference count */
static int context_magic = MAGIC;    /* the primary context is the address of this */
static __thread void* current;       /* the calling thread's current context */
static i64 used;
static long launches;

typedef struct { int magic; } stream_t;
typedef struct { int magic; char* image; void* library; } module_t;
typedef struct { int magic; char name[64]; fake_kernel kernel; } function_t;
typedef struct { int magic; long recorded; } event_t;
static long clock_ticks;

/* allocations: address -> size, for cuMemFree and the capacity */
#define MAX_BLOCKS 65536
static CUdeviceptr block_address[MAX_BLOCKS];
static i64 block_size[MAX_BLOCKS];

static CUresult need_context(void) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    return current == &context_magic && retained > 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* ---- errors ---------------------------------------------------------------------------------- */

CUresult cuGetErrorName(CUresult error, const char** out) {
    switch (error) {
        case CUDA_SUCCESS: *out = "CUDA_SUCCESS"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_VALUE: *out = "CUDA_ERROR_INVALID_VALUE"; return CUDA_SUCCESS;
        case CUDA_ERROR_OUT_OF_MEMORY: *out = "CUDA_ERROR_OUT_OF_MEMORY"; return CUDA_SUCCESS;
        case CUDA_ERROR_NOT_INITIALIZED: *out = "CUDA_ERROR_NOT_INITIALIZED"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_IMAGE: *out = "CUDA_ERROR_INVALID_IMAGE"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_CONTEXT: *out = "CUDA_ERROR_INVALID_CONTEXT"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_HANDLE: *out = "CUDA_ERROR_INVALID_HANDLE"; return CUDA_SUCCESS;
        case CUDA_ERROR_NOT_FOUND: *out = "CUDA_ERROR_NOT_FOUND"; return CUDA_SUCCESS;
        default: *out = NULL; return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuGetErrorString(CUresult error, const char** out) {
    switch (error) {
        case CUDA_ERROR_OUT_OF_MEMORY: *out = "out of memory (fake CUDA)"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_CONTEXT: *out = "invalid device context (fake CUDA)"; return CUDA_SUCCESS;
        case CUDA_ERROR_NOT_FOUND: *out = "named symbol not found (fake CUDA)"; return CUDA_SUCCESS;
        case CUDA_ERROR_INVALID_VALUE: *out = "invalid argument (fake CUDA)"; return CUDA_SUCCESS;
        default: return cuGetErrorName(error, out);
    }
}

/* ---- devices and the primary context --------------------------------------------------------- */

CUresult cuInit(unsigned int flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    initialised = 1;
    return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    if (version == NULL) return CUDA_ERROR_INVALID_VALUE;
    *version = 13000;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(int* device, int ordinal) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (ordinal != 0) return CUDA_ERROR_INVALID_VALUE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int length, int device) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0 || name == NULL || length <= 0) return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t) length, "Fake H200 (host memory)");
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, int device) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_VALUE;
    if (attribute == ATTRIBUTE_CC_MAJOR) { *value = 9; return CUDA_SUCCESS; }
    if (attribute == ATTRIBUTE_CC_MINOR) { *value = 0; return CUDA_SUCCESS; }
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuDevicePrimaryCtxRetain(void** context, int device) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_VALUE;
    retained++;
    *context = &context_magic;
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
    if (device != 0 || retained == 0) return CUDA_ERROR_INVALID_VALUE;
    retained--;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(void* context) {
    if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (context != NULL && (context != &context_magic || retained == 0)) return CUDA_ERROR_INVALID_CONTEXT;
    current = context;
    return CUDA_SUCCESS;
}

/* ---- streams --------------------------------------------------------------------------------- */

CUresult cuStreamCreate(stream_t** stream, unsigned int flags) {
    CUresult r = need_context();
    if (r) return r;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    *stream = calloc(1, sizeof(stream_t));
    (*stream)->magic = MAGIC;
    return CUDA_SUCCESS;
}

static int good_stream(const stream_t* s) { return s != NULL && s->magic == MAGIC; }

CUresult cuStreamSynchronize(stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    return good_stream(stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuStreamDestroy_v2(stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    if (!good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    stream->magic = 0;
    free(stream);
    return CUDA_SUCCESS;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static int find_block(CUdeviceptr address) {
    for (int i = 0; i < MAX_BLOCKS; i++) if (block_address[i] == address && address != 0) return i;
    return -1;
}

/* a range [address, address + bytes) inside one allocation */
static int inside(CUdeviceptr address, size_t bytes) {
    for (int i = 0; i < MAX_BLOCKS; i++) {
        if (block_address[i] != 0 && address >= block_address[i]
            && address + bytes <= block_address[i] + (CUdeviceptr) block_size[i]) return 1;
    }
    return 0;
}

CUresult cuMemAlloc_v2(CUdeviceptr* out, size_t bytes) {
    CUresult r = need_context();
    if (r) return r;
    if (out == NULL || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if (used + (i64) bytes > CAPACITY) return CUDA_ERROR_OUT_OF_MEMORY;
    int slot = 0;
    while (slot < MAX_BLOCKS && block_address[slot] != 0) slot++;
    if (slot == MAX_BLOCKS) return CUDA_ERROR_OUT_OF_MEMORY;
    void* p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (p == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
    block_address[slot] = (CUdeviceptr) p;
    block_size[slot] = (i64) bytes;
    used += (i64) bytes;
    *out = (CUdeviceptr) p;
    return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr address) {
    CUresult r = need_context();
    if (r) return r;
    int slot = find_block(address);
    if (slot < 0) return CUDA_ERROR_INVALID_VALUE;
    free((void*) address);
    used -= block_size[slot];
    block_address[slot] = 0;
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
    CUresult r = need_context();
    if (r) return r;
    *free_bytes = (size_t) (CAPACITY - used);
    *total = (size_t) CAPACITY;
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    if (!good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (!inside(dst, bytes) || src == NULL) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void*) dst, src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    if (!good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (!inside(src, bytes) || dst == NULL) return CUDA_ERROR_INVALID_VALUE;
    memcpy(dst, (const void*) src, bytes);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    if (!good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (!inside(src, bytes) || !inside(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
    memmove((void*) dst, (const void*) src, bytes);
    return CUDA_SUCCESS;
}

/* ---- modules and launches -------------------------------------------------------------------- */

#define CUBIN_TAG "FAKECUBIN\n"
#define PTX_TAG ".version fake\n"

CUresult cuModuleLoadData(module_t** module, const void* image) {
    CUresult r = need_context();
    if (r) return r;
    if (module == NULL || image == NULL) return CUDA_ERROR_INVALID_VALUE;
    if (strncmp(image, CUBIN_TAG, strlen(CUBIN_TAG)) != 0 && strncmp(image, PTX_TAG, strlen(PTX_TAG)) != 0) {
        return CUDA_ERROR_INVALID_IMAGE;
    }
    const char* path = (const char*) image + (strncmp(image, CUBIN_TAG, strlen(CUBIN_TAG)) == 0 ? strlen(CUBIN_TAG) : strlen(PTX_TAG));
    const char* end = strchr(path, '\n');
    if (end == NULL || end - path >= 255) return CUDA_ERROR_INVALID_IMAGE;
    char file[256];
    memcpy(file, path, (size_t) (end - path));
    file[end - path] = 0;
    void* library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return CUDA_ERROR_INVALID_IMAGE;
    module_t* m = calloc(1, sizeof(module_t));
    m->magic = MAGIC;
    m->image = strdup(image);
    m->library = library;
    *module = m;
    return CUDA_SUCCESS;
}

CUresult cuModuleUnload(module_t* module) {
    CUresult r = need_context();
    if (r) return r;
    if (module == NULL || module->magic != MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    module->magic = 0;
    dlclose(module->library);
    free(module->image);
    free(module);
    return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(function_t** function, module_t* module, const char* name) {
    CUresult r = need_context();
    if (r) return r;
    if (module == NULL || module->magic != MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    char pattern[80];
    snprintf(pattern, sizeof pattern, " %s(", name);
    if (strlen(name) >= 64 || strstr(module->image, pattern) == NULL) return CUDA_ERROR_NOT_FOUND;
    function_t* f = calloc(1, sizeof(function_t));
    if (fake_find(module->library, name, &f->kernel) != 0) {
        free(f);
        return CUDA_ERROR_NOT_FOUND;
    }
    f->magic = MAGIC;
    strcpy(f->name, name);
    *function = f;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(function_t* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, stream_t* stream, void** params, void** extra) {
    CUresult r = need_context();
    if (r) return r;
    if (f == NULL || f->magic != MAGIC || !good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx * by * bz > 1024
        || gy > 65535 || params == NULL || extra != NULL || shared > 48 * 1024) {
        return CUDA_ERROR_INVALID_VALUE;
    }
    launches++;
    if (fake_launch(&f->kernel, gx, gy, bx, by, params) < 0) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

/* ---- events ---------------------------------------------------------------------------------- */

CUresult cuEventCreate(event_t** event, unsigned int flags) {
    CUresult r = need_context();
    if (r) return r;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    *event = calloc(1, sizeof(event_t));
    (*event)->magic = MAGIC;
    (*event)->recorded = -1;
    return CUDA_SUCCESS;
}

CUresult cuEventRecord(event_t* event, stream_t* stream) {
    CUresult r = need_context();
    if (r) return r;
    if (event == NULL || event->magic != MAGIC || !good_stream(stream)) return CUDA_ERROR_INVALID_HANDLE;
    event->recorded = clock_ticks++ + launches; /* time passes with every launch */
    return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(event_t* event) {
    CUresult r = need_context();
    if (r) return r;
    return event != NULL && event->magic == MAGIC ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* a quarter of a millisecond per launch between the two records */
CUresult cuEventElapsedTime_v2(float* ms, event_t* start, event_t* end) {
    CUresult r = need_context();
    if (r) return r;
    if (start == NULL || end == NULL || start->magic != MAGIC || end->magic != MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    if (start->recorded < 0 || end->recorded < 0) return CUDA_ERROR_INVALID_VALUE;
    *ms = 0.25f * (float) (end->recorded - start->recorded - 1);
    return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(event_t* event) {
    CUresult r = need_context();
    if (r) return r;
    if (event == NULL || event->magic != MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    event->magic = 0;
    free(event);
    return CUDA_SUCCESS;
}

/* ---- NVRTC ----------------------------------------------------------------------------------- */

typedef int nvrtcResult;
enum { NVRTC_SUCCESS = 0, NVRTC_ERROR_INVALID_INPUT = 3, NVRTC_ERROR_INVALID_PROGRAM = 4,
       NVRTC_ERROR_INVALID_OPTION = 5, NVRTC_ERROR_COMPILATION = 6 };
typedef struct { int magic; char* source; char* name; char* log; char* output; size_t output_size; int cubin; } program_t;

const char* nvrtcGetErrorString(nvrtcResult result) {
    switch (result) {
        case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
        case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
        case NVRTC_ERROR_INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
        case NVRTC_ERROR_INVALID_OPTION: return "NVRTC_ERROR_INVALID_OPTION";
        case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
        default: return "NVRTC_ERROR unknown";
    }
}

nvrtcResult nvrtcCreateProgram(program_t** program, const char* source, const char* name, int headers,
                               const char* const* contents, const char* const* names) {
    if (program == NULL || source == NULL || headers != 0 || contents != NULL || names != NULL) {
        return NVRTC_ERROR_INVALID_INPUT;
    }
    program_t* p = calloc(1, sizeof(program_t));
    p->magic = MAGIC;
    p->source = strdup(source);
    p->name = strdup(name == NULL ? "default_program" : name);
    p->log = strdup("");
    *program = p;
    return NVRTC_SUCCESS;
}

static int good_program(const program_t* p) { return p != NULL && p->magic == MAGIC; }

static void set_log(program_t* p, const char* text) {
    free(p->log);
    p->log = strdup(text);
}

nvrtcResult nvrtcCompileProgram(program_t* p, int count, const char* const* options) {
    if (!good_program(p)) return NVRTC_ERROR_INVALID_PROGRAM;
    const char* arch = NULL;
    int no_fma = 0;
    for (int i = 0; i < count; i++) {
        if (strncmp(options[i], "--gpu-architecture=", 19) == 0) arch = options[i] + 19;
        else if (strcmp(options[i], "--fmad=false") == 0) no_fma = 1;
        else {
            char text[256];
            snprintf(text, sizeof text, "nvrtc: error: unrecognized option %s", options[i]);
            set_log(p, text);
            return NVRTC_ERROR_INVALID_OPTION;
        }
    }
    if (arch == NULL || (strncmp(arch, "sm_", 3) != 0 && strncmp(arch, "compute_", 8) != 0)) {
        set_log(p, "nvrtc: error: no --gpu-architecture=sm_XY or compute_XY");
        return NVRTC_ERROR_INVALID_OPTION;
    }
    (void) no_fma;
    char* library = NULL;
    char* messages = NULL;
    if (fake_build(p->source, p->name, &library, &messages) != 0) {
        set_log(p, messages);
        free(messages);
        return NVRTC_ERROR_COMPILATION;
    }
    /* the "image": a tag, the host library the kernels were built into, then the source */
    p->cubin = strncmp(arch, "sm_", 3) == 0;
    const char* tag = p->cubin ? CUBIN_TAG : PTX_TAG;
    p->output_size = strlen(tag) + strlen(library) + 1 + strlen(p->source) + (p->cubin ? 0 : 1);
    p->output = calloc(1, p->output_size + 1);
    strcpy(p->output, tag);
    strcat(p->output, library);
    strcat(p->output, "\n");
    strcat(p->output, p->source);
    free(library);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcDestroyProgram(program_t** program) {
    if (program == NULL || !good_program(*program)) return NVRTC_ERROR_INVALID_PROGRAM;
    program_t* p = *program;
    p->magic = 0;
    free(p->source); free(p->name); free(p->log); free(p->output); free(p);
    *program = NULL;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLogSize(program_t* p, size_t* size) {
    if (!good_program(p)) return NVRTC_ERROR_INVALID_PROGRAM;
    *size = strlen(p->log) + 1;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLog(program_t* p, char* log) {
    if (!good_program(p)) return NVRTC_ERROR_INVALID_PROGRAM;
    strcpy(log, p->log);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBINSize(program_t* p, size_t* size) {
    if (!good_program(p) || p->output == NULL || !p->cubin) return NVRTC_ERROR_INVALID_INPUT;
    *size = p->output_size;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBIN(program_t* p, char* cubin) {
    if (!good_program(p) || p->output == NULL || !p->cubin) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(cubin, p->output, p->output_size);
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetPTXSize(program_t* p, size_t* size) {
    if (!good_program(p) || p->output == NULL || p->cubin) return NVRTC_ERROR_INVALID_INPUT;
    *size = p->output_size;
    return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetPTX(program_t* p, char* ptx) {
    if (!good_program(p) || p->output == NULL || p->cubin) return NVRTC_ERROR_INVALID_INPUT;
    memcpy(ptx, p->output, p->output_size);
    return NVRTC_SUCCESS;
}

/* ---- cuBLAS ---------------------------------------------------------------------------------- */

typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_INVALID_VALUE = 7 };
typedef struct { int magic; stream_t* stream; } blas_t;

const char* cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

const char* cublasGetStatusString(cublasStatus_t status) {
    return status == CUBLAS_STATUS_INVALID_VALUE ? "an invalid numeric value was used as an argument (fake cuBLAS)"
                                                 : "see the status name (fake cuBLAS)";
}

cublasStatus_t cublasCreate_v2(blas_t** handle) {
    if (need_context() != CUDA_SUCCESS) return CUBLAS_STATUS_NOT_INITIALIZED;
    *handle = calloc(1, sizeof(blas_t));
    (*handle)->magic = MAGIC;
    return CUBLAS_STATUS_SUCCESS;
}

static int good_blas(const blas_t* h) { return h != NULL && h->magic == MAGIC; }

cublasStatus_t cublasDestroy_v2(blas_t* handle) {
    if (!good_blas(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->magic = 0;
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(blas_t* handle, stream_t* stream) {
    if (!good_blas(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (stream != NULL && !good_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetVersion_v2(blas_t* handle, int* version) {
    if (!good_blas(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    *version = 130001;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2(blas_t* handle, int transa, int transb, int m, int n, int k, const float* alpha,
                              const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
    if (!good_blas(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (need_context() != CUDA_SUCCESS || handle->stream == NULL) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((transa != 0 && transa != 1) || (transb != 0 && transb != 1) || alpha == NULL || beta == NULL
        || !fake_sgemm_args_ok(transa, transb, m, n, k, lda, ldb, ldc)) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    fake_sgemm(transa, transb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}
