/*
 * A test double of the slice of MIOpen's C API that jrocm calls (MIOpenDnn), over HOST memory: the
 * tests pair it with FakeDriver, whose "device" memory is host memory. Debian 12 has no MIOpen,
 * so this is how the marshalling (argument order, descriptors, host-side alpha/beta, statuses and
 * their messages) is checked here; the arithmetic of real MIOpen is checked on an AMD GPU only.
 *
 * Prototypes follow miopen.h of MIOpen 3.3 (the header the bindings were generated from). Like
 * MIOpen it refuses, with miopenStatusBadParm: NULL handles, descriptors or data, unset or
 * mismatched descriptors, a non-float type, activation alpha/beta other than 1/0, and softmax
 * algorithms or modes other than the ones jrocm uses (log, channel).
 *
 *   gcc -shared -fPIC -O1 -o libfake_miopen.so fake_miopen.c -lm
 */
#include <math.h>
#include <stdlib.h>

typedef int miopenStatus_t;
enum { miopenStatusSuccess = 0, miopenStatusBadParm = 3, miopenStatusInternalError = 5, miopenStatusNotImplemented = 6 };

/* A stream the tests use to make MIOpen fail to start, as a broken install would. */
#define FAKE_BROKEN_STREAM ((void*) 0xdead0)
enum { miopenFloat = 1, miopenActivationRELU = 3, MIOPEN_SOFTMAX_LOG = 2, MIOPEN_SOFTMAX_MODE_CHANNEL = 1 };

#define HANDLE_MAGIC 0x6d696f70
typedef struct { int magic; void* stream; } handle_t;
typedef struct { int set; int type; int n, c, h, w; } tensor_t;
typedef struct { int set; int mode; } activation_t;

const char* miopenGetErrorString(miopenStatus_t error) {
    switch (error) {
        case miopenStatusSuccess: return "No error (fake MIOpen)";
        case miopenStatusBadParm: return "An incorrect parameter was detected (fake MIOpen)";
        case miopenStatusNotImplemented: return "Not implemented (fake MIOpen)";
        case miopenStatusInternalError: return "MIOpen failure (fake MIOpen: no kernel database)";
        default: return "Unknown error (fake MIOpen)";
    }
}

miopenStatus_t miopenCreateWithStream(handle_t** handle, void* stream) {
    if (handle == NULL) return miopenStatusBadParm;
    if (stream == FAKE_BROKEN_STREAM) return miopenStatusInternalError;
    handle_t* h = calloc(1, sizeof(handle_t));
    h->magic = HANDLE_MAGIC;
    h->stream = stream;
    *handle = h;
    return miopenStatusSuccess;
}

miopenStatus_t miopenDestroy(handle_t* handle) {
    if (handle == NULL || handle->magic != HANDLE_MAGIC) return miopenStatusBadParm;
    handle->magic = 0;
    free(handle);
    return miopenStatusSuccess;
}

miopenStatus_t miopenCreateTensorDescriptor(tensor_t** desc) {
    if (desc == NULL) return miopenStatusBadParm;
    *desc = calloc(1, sizeof(tensor_t));
    return miopenStatusSuccess;
}

miopenStatus_t miopenSet4dTensorDescriptor(tensor_t* d, int type, int n, int c, int h, int w) {
    if (d == NULL || n <= 0 || c <= 0 || h <= 0 || w <= 0) return miopenStatusBadParm;
    d->set = 1; d->type = type; d->n = n; d->c = c; d->h = h; d->w = w;
    return miopenStatusSuccess;
}

miopenStatus_t miopenSetTensorDescriptor(tensor_t* d, int type, int nbDims, const int* dims, const int* strides) {
    (void) d; (void) type; (void) nbDims; (void) dims; (void) strides;
    return miopenStatusNotImplemented; /* jrocm uses the 4-D form */
}

miopenStatus_t miopenDestroyTensorDescriptor(tensor_t* d) {
    if (d == NULL) return miopenStatusBadParm;
    free(d);
    return miopenStatusSuccess;
}

miopenStatus_t miopenCreateActivationDescriptor(activation_t** desc) {
    if (desc == NULL) return miopenStatusBadParm;
    *desc = calloc(1, sizeof(activation_t));
    return miopenStatusSuccess;
}

miopenStatus_t miopenSetActivationDescriptor(activation_t* d, int mode, double alpha, double beta, double gamma) {
    (void) alpha; (void) beta; (void) gamma;
    if (d == NULL) return miopenStatusBadParm;
    d->set = 1; d->mode = mode;
    return miopenStatusSuccess;
}

miopenStatus_t miopenDestroyActivationDescriptor(activation_t* d) {
    if (d == NULL) return miopenStatusBadParm;
    free(d);
    return miopenStatusSuccess;
}

static long elements(const tensor_t* d) { return (long) d->n * d->c * d->h * d->w; }

static int same(const tensor_t* a, const tensor_t* b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

static int good(const handle_t* h, const tensor_t* d, const void* data) {
    return h != NULL && h->magic == HANDLE_MAGIC && d != NULL && d->set && d->type == miopenFloat && data != NULL;
}

static int relu_ok(const activation_t* a, const void* alpha, const void* beta) {
    return a != NULL && a->set && a->mode == miopenActivationRELU && alpha != NULL && beta != NULL
           && *(const float*) alpha == 1.0f && *(const float*) beta == 0.0f;
}

miopenStatus_t miopenActivationForward(handle_t* h, const activation_t* a, const void* alpha, const tensor_t* xDesc,
                                       const void* x, const void* beta, const tensor_t* yDesc, void* y) {
    if (!relu_ok(a, alpha, beta) || !good(h, xDesc, x) || !good(h, yDesc, y) || !same(xDesc, yDesc)) {
        return miopenStatusBadParm;
    }
    const float* in = x;
    float* out = y;
    for (long i = 0; i < elements(xDesc); i++) {
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
    }
    return miopenStatusSuccess;
}

miopenStatus_t miopenActivationBackward(handle_t* h, const activation_t* a, const void* alpha,
                                        const tensor_t* yDesc, const void* y, const tensor_t* dyDesc, const void* dy,
                                        const tensor_t* xDesc, const void* x, const void* beta,
                                        const tensor_t* dxDesc, void* dx) {
    if (!relu_ok(a, alpha, beta) || !good(h, yDesc, y) || !good(h, dyDesc, dy) || !good(h, xDesc, x)
        || !good(h, dxDesc, dx) || !same(yDesc, dyDesc) || !same(yDesc, xDesc) || !same(yDesc, dxDesc)) {
        return miopenStatusBadParm;
    }
    const float* in = x;
    const float* g = dy;
    float* out = dx;
    for (long i = 0; i < elements(xDesc); i++) {
        out[i] = in[i] > 0.0f ? g[i] : 0.0f;
    }
    return miopenStatusSuccess;
}

/* Channel mode: a softmax over c for every (n, h, w) of a packed NCHW tensor. */
miopenStatus_t miopenSoftmaxForward_V2(handle_t* h, const void* alpha, const tensor_t* xDesc, const void* x,
                                       const void* beta, const tensor_t* yDesc, void* y, int algorithm, int mode) {
    if (!good(h, xDesc, x) || !good(h, yDesc, y) || !same(xDesc, yDesc) || alpha == NULL || beta == NULL
        || *(const float*) alpha != 1.0f || *(const float*) beta != 0.0f
        || algorithm != MIOPEN_SOFTMAX_LOG || mode != MIOPEN_SOFTMAX_MODE_CHANNEL) {
        return miopenStatusBadParm;
    }
    const float* in = x;
    float* out = y;
    long hw = (long) xDesc->h * xDesc->w, c = xDesc->c;
    for (long n = 0; n < xDesc->n; n++) {
        for (long p = 0; p < hw; p++) {
            const float* row = in + n * c * hw + p;
            double max = row[0], sum = 0;
            for (long k = 1; k < c; k++) if (row[k * hw] > max) max = row[k * hw];
            for (long k = 0; k < c; k++) sum += exp(row[k * hw] - max);
            for (long k = 0; k < c; k++) out[n * c * hw + p + k * hw] = (float) (row[k * hw] - max - log(sum));
        }
    }
    return miopenStatusSuccess;
}
