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
 * Convolution, pooling and batch norm (below the activations) are reference loops in double over
 * the descriptors' values, with MIOpen's rules: alpha = 1 and beta = 0 only; a workspace no smaller
 * than the GetWorkSpaceSize call said (the double scribbles over it, so a workspace that overlaps
 * live data shows); a Find call overwrites its output (MIOpen's find runs the candidates there) and
 * returns one algorithm, which the convolution call must then be given; pooling is the averages
 * only (jrocm keeps max pooling on its kernels), and its backward reads neither x nor y (as
 * MIOpen's PoolingDescriptor::Backward). Each entry point counts its calls and the last
 * workspace and descriptors are kept, for the tests: fake_miopen_calls(name), fake_miopen_live(),
 * fake_miopen_last_workspace(), fake_miopen_last_conv(), fake_miopen_last_pool().
 *
 *   gcc -shared -fPIC -O1 -o libfake_miopen.so fake_miopen.c -lm
 */
#include <stdbool.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef int miopenStatus_t;
enum { miopenStatusSuccess = 0, miopenStatusBadParm = 3, miopenStatusInternalError = 5, miopenStatusNotImplemented = 6 };

/* A stream the tests use to make MIOpen fail to start, as a broken install would. */
#define FAKE_BROKEN_STREAM ((void*) 0xdead0)
enum { miopenFloat = 1, miopenActivationRELU = 3, MIOPEN_SOFTMAX_LOG = 2, MIOPEN_SOFTMAX_MODE_CHANNEL = 1 };

/* Descriptors created and not yet destroyed (tensor, convolution, pooling). */
static int fake_live;
int fake_miopen_live(void) { return fake_live; }

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
    fake_live++;
    return miopenStatusSuccess;
}

miopenStatus_t miopenSet4dTensorDescriptor(tensor_t* d, int type, int n, int c, int h, int w) {
    if (d == NULL || n <= 0 || c <= 0 || h <= 0 || w <= 0) return miopenStatusBadParm;
    d->set = 1; d->type = type; d->n = n; d->c = c; d->h = h; d->w = w;
    return miopenStatusSuccess;
}

miopenStatus_t miopenDestroyTensorDescriptor(tensor_t* d) {
    if (d == NULL) return miopenStatusBadParm;
    fake_live--;
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

/* ---- call records, for the tests ---------------------------------------------------------- */

#define FAKE_NAMES 32
static struct { const char* name; int calls; } fake_calls[FAKE_NAMES];

static void called(const char* name) {
    for (int i = 0; i < FAKE_NAMES; i++) {
        if (fake_calls[i].name == NULL) fake_calls[i].name = name;
        if (strcmp(fake_calls[i].name, name) == 0) { fake_calls[i].calls++; return; }
    }
}

/* How many times the entry point `name` was called since the library was loaded. */
int fake_miopen_calls(const char* name) {
    for (int i = 0; i < FAKE_NAMES && fake_calls[i].name != NULL; i++) {
        if (strcmp(fake_calls[i].name, name) == 0) return fake_calls[i].calls;
    }
    return 0;
}

static void* last_workspace;
static size_t last_workspace_size;
/* The workspace (address and bytes) of the last call that took one. */
void* fake_miopen_last_workspace(void) { return last_workspace; }
size_t fake_miopen_last_workspace_size(void) { return last_workspace_size; }

/* Writes over a workspace, so that one overlapping live data would show in the results. */
static void use_workspace(void* ws, size_t bytes) {
    last_workspace = ws;
    last_workspace_size = bytes;
    if (ws != NULL) memset(ws, 0x7f, bytes);
}

/* ---- convolution ---------------------------------------------------------------------------- */

enum { miopenConvolution = 0 };
/* The algorithms the double's Find returns for each direction; the convolution calls insist on them. */
enum { FAKE_FWD_ALGO = 5 /* ImplicitGEMM */, FAKE_BWD_DATA_ALGO = 1 /* Direct */, FAKE_BWD_WEIGHTS_ALGO = 3 /* Winograd */ };

typedef struct { int set; int mode, padH, padW, strideH, strideW, dilH, dilW; } conv_t;
typedef struct { int algo; float time; size_t memory; } perf_t; /* miopenConvAlgoPerf_t: the union is one int */

static int last_conv[7];
/* The last convolution descriptor a convolution call used: mode, padH, padW, strideH, strideW, dilH, dilW. */
const int* fake_miopen_last_conv(void) { return last_conv; }

miopenStatus_t miopenCreateConvolutionDescriptor(conv_t** desc) {
    called("miopenCreateConvolutionDescriptor");
    if (desc == NULL) return miopenStatusBadParm;
    *desc = calloc(1, sizeof(conv_t));
    fake_live++;
    return miopenStatusSuccess;
}

miopenStatus_t miopenInitConvolutionDescriptor(conv_t* d, int mode, int padH, int padW, int strideH, int strideW,
                                               int dilH, int dilW) {
    called("miopenInitConvolutionDescriptor");
    if (d == NULL || mode != miopenConvolution || padH < 0 || padW < 0 || strideH < 1 || strideW < 1 || dilH < 1
        || dilW < 1) {
        return miopenStatusBadParm;
    }
    d->set = 1; d->mode = mode; d->padH = padH; d->padW = padW; d->strideH = strideH; d->strideW = strideW;
    d->dilH = dilH; d->dilW = dilW;
    return miopenStatusSuccess;
}

miopenStatus_t miopenDestroyConvolutionDescriptor(conv_t* d) {
    called("miopenDestroyConvolutionDescriptor");
    if (d == NULL) return miopenStatusBadParm;
    fake_live--;
    free(d);
    return miopenStatusSuccess;
}

static int out_size(int size, int kernel, int stride, int pad, int dil) {
    return (size + 2 * pad - dil * (kernel - 1) - 1) / stride + 1;
}

/* x (n, c, h, w), w (k, c, kh, kw), y (n, k, outH, outW) as the convolution descriptor makes them. */
static int conv_ok(const handle_t* h, const tensor_t* x, const tensor_t* w, const conv_t* cv, const tensor_t* y) {
    if (h == NULL || h->magic != HANDLE_MAGIC || x == NULL || w == NULL || y == NULL || cv == NULL || !cv->set
        || !x->set || !w->set || !y->set || x->type != miopenFloat || w->type != miopenFloat || y->type != miopenFloat) {
        return 0;
    }
    return w->c == x->c && y->n == x->n && y->c == w->n
           && y->h == out_size(x->h, w->h, cv->strideH, cv->padH, cv->dilH)
           && y->w == out_size(x->w, w->w, cv->strideW, cv->padW, cv->dilW);
}

/* One image's im2col matrix in floats; a 1×1 kernel with stride 1 and no padding needs none going forward. */
static size_t conv_workspace(const tensor_t* x, const tensor_t* w, const conv_t* cv, const tensor_t* y, int forward) {
    if (forward && w->h == 1 && w->w == 1 && cv->strideH == 1 && cv->strideW == 1 && cv->padH == 0 && cv->padW == 0) {
        return 0;
    }
    return (size_t) x->c * w->h * w->w * y->h * y->w * sizeof(float);
}

static int unit_scales(const void* alpha, const void* beta) {
    return alpha != NULL && beta != NULL && *(const float*) alpha == 1.0f && *(const float*) beta == 0.0f;
}

static void remember(const conv_t* cv) {
    int v[7] = {cv->mode, cv->padH, cv->padW, cv->strideH, cv->strideW, cv->dilH, cv->dilW};
    memcpy(last_conv, v, sizeof v);
}

/* The three passes in double, each overwriting its output. pass 0: y = x ⋆ w; 1: dx from dy, w; 2: dw from dy, x. */
static void convolve(int pass, const tensor_t* xd, const tensor_t* wd, const conv_t* cv, const tensor_t* yd,
                     const float* x, const float* w, const float* y, float* out) {
    int n = xd->n, c = xd->c, H = xd->h, W = xd->w, k = wd->n, kh = wd->h, kw = wd->w, oh = yd->h, ow = yd->w;
    long outCount = pass == 0 ? (long) n * k * oh * ow : pass == 1 ? (long) n * c * H * W : (long) k * c * kh * kw;
    double* acc = calloc(outCount, sizeof(double));
    for (int b = 0; b < n; b++)
        for (int o = 0; o < k; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    long yi = (((long) b * k + o) * oh + i) * ow + j;
                    for (int ch = 0; ch < c; ch++)
                        for (int p = 0; p < kh; p++) {
                            int ih = i * cv->strideH - cv->padH + p * cv->dilH;
                            if (ih < 0 || ih >= H) continue;
                            for (int q = 0; q < kw; q++) {
                                int iw = j * cv->strideW - cv->padW + q * cv->dilW;
                                if (iw < 0 || iw >= W) continue;
                                long xi = (((long) b * c + ch) * H + ih) * W + iw;
                                long wi = (((long) o * c + ch) * kh + p) * kw + q;
                                if (pass == 0) acc[yi] += (double) x[xi] * w[wi];
                                else if (pass == 1) acc[xi] += (double) y[yi] * w[wi];
                                else acc[wi] += (double) y[yi] * x[xi];
                            }
                        }
                }
    for (long i = 0; i < outCount; i++) out[i] = (float) acc[i];
    free(acc);
}

static long tensor_bytes(const tensor_t* d) { return elements(d) * (long) sizeof(float); }

static miopenStatus_t find(const char* name, int algo, const handle_t* h, const tensor_t* xd, const tensor_t* wd,
                           const conv_t* cv, const tensor_t* yd, const tensor_t* outDesc, void* out, int requested,
                           int* returned, perf_t* perf, void* ws, size_t wsSize, size_t needed) {
    called(name);
    if (!conv_ok(h, xd, wd, cv, yd) || out == NULL || requested < 1 || returned == NULL || perf == NULL
        || (needed > 0 && (ws == NULL || wsSize < needed))) {
        return miopenStatusBadParm;
    }
    use_workspace(ws, wsSize);
    float* o = out;
    for (long i = 0; i < elements(outDesc); i++) o[i] = NAN; /* MIOpen's find runs the candidates in the output */
    (void) tensor_bytes;
    *returned = 1;
    perf[0].algo = algo; perf[0].time = 0.25f; perf[0].memory = needed;
    return miopenStatusSuccess;
}

miopenStatus_t miopenConvolutionForwardGetWorkSpaceSize(handle_t* h, const tensor_t* wd, const tensor_t* xd,
                                                        const conv_t* cv, const tensor_t* yd, size_t* size) {
    called("miopenConvolutionForwardGetWorkSpaceSize");
    if (!conv_ok(h, xd, wd, cv, yd) || size == NULL) return miopenStatusBadParm;
    *size = conv_workspace(xd, wd, cv, yd, 1);
    return miopenStatusSuccess;
}

miopenStatus_t miopenFindConvolutionForwardAlgorithm(handle_t* h, const tensor_t* xd, const void* x, const tensor_t* wd,
                                                     const void* w, const conv_t* cv, const tensor_t* yd, void* y,
                                                     int requested, int* returned, perf_t* perf, void* ws,
                                                     size_t wsSize, bool exhaustive) {
    (void) exhaustive;
    if (x == NULL || w == NULL) return miopenStatusBadParm;
    return find("miopenFindConvolutionForwardAlgorithm", FAKE_FWD_ALGO, h, xd, wd, cv, yd, yd, y, requested, returned,
                perf, ws, wsSize, conv_workspace(xd, wd, cv, yd, 1));
}

miopenStatus_t miopenConvolutionForward(handle_t* h, const void* alpha, const tensor_t* xd, const void* x,
                                        const tensor_t* wd, const void* w, const conv_t* cv, int algo,
                                        const void* beta, const tensor_t* yd, void* y, void* ws, size_t wsSize) {
    called("miopenConvolutionForward");
    size_t needed;
    if (!conv_ok(h, xd, wd, cv, yd) || !unit_scales(alpha, beta) || x == NULL || w == NULL || y == NULL
        || algo != FAKE_FWD_ALGO || ((needed = conv_workspace(xd, wd, cv, yd, 1)) > 0 && (ws == NULL || wsSize < needed))) {
        return miopenStatusBadParm;
    }
    use_workspace(ws, wsSize);
    remember(cv);
    convolve(0, xd, wd, cv, yd, x, w, NULL, y);
    return miopenStatusSuccess;
}

miopenStatus_t miopenConvolutionBackwardDataGetWorkSpaceSize(handle_t* h, const tensor_t* dyd, const tensor_t* wd,
                                                             const conv_t* cv, const tensor_t* dxd, size_t* size) {
    called("miopenConvolutionBackwardDataGetWorkSpaceSize");
    if (!conv_ok(h, dxd, wd, cv, dyd) || size == NULL) return miopenStatusBadParm;
    *size = conv_workspace(dxd, wd, cv, dyd, 0);
    return miopenStatusSuccess;
}

miopenStatus_t miopenFindConvolutionBackwardDataAlgorithm(handle_t* h, const tensor_t* dyd, const void* dy,
                                                          const tensor_t* wd, const void* w, const conv_t* cv,
                                                          const tensor_t* dxd, void* dx, int requested, int* returned,
                                                          perf_t* perf, void* ws, size_t wsSize, bool exhaustive) {
    (void) exhaustive;
    if (dy == NULL || w == NULL) return miopenStatusBadParm;
    return find("miopenFindConvolutionBackwardDataAlgorithm", FAKE_BWD_DATA_ALGO, h, dxd, wd, cv, dyd, dxd, dx,
                requested, returned, perf, ws, wsSize, conv_workspace(dxd, wd, cv, dyd, 0));
}

miopenStatus_t miopenConvolutionBackwardData(handle_t* h, const void* alpha, const tensor_t* dyd, const void* dy,
                                             const tensor_t* wd, const void* w, const conv_t* cv, int algo,
                                             const void* beta, const tensor_t* dxd, void* dx, void* ws, size_t wsSize) {
    called("miopenConvolutionBackwardData");
    size_t needed;
    if (!conv_ok(h, dxd, wd, cv, dyd) || !unit_scales(alpha, beta) || dy == NULL || w == NULL || dx == NULL
        || algo != FAKE_BWD_DATA_ALGO
        || ((needed = conv_workspace(dxd, wd, cv, dyd, 0)) > 0 && (ws == NULL || wsSize < needed))) {
        return miopenStatusBadParm;
    }
    use_workspace(ws, wsSize);
    remember(cv);
    convolve(1, dxd, wd, cv, dyd, NULL, w, dy, dx);
    return miopenStatusSuccess;
}

miopenStatus_t miopenConvolutionBackwardWeightsGetWorkSpaceSize(handle_t* h, const tensor_t* dyd, const tensor_t* xd,
                                                                const conv_t* cv, const tensor_t* dwd, size_t* size) {
    called("miopenConvolutionBackwardWeightsGetWorkSpaceSize");
    if (!conv_ok(h, xd, dwd, cv, dyd) || size == NULL) return miopenStatusBadParm;
    *size = conv_workspace(xd, dwd, cv, dyd, 0);
    return miopenStatusSuccess;
}

miopenStatus_t miopenFindConvolutionBackwardWeightsAlgorithm(handle_t* h, const tensor_t* dyd, const void* dy,
                                                             const tensor_t* xd, const void* x, const conv_t* cv,
                                                             const tensor_t* dwd, void* dw, int requested,
                                                             int* returned, perf_t* perf, void* ws, size_t wsSize,
                                                             bool exhaustive) {
    (void) exhaustive;
    if (dy == NULL || x == NULL) return miopenStatusBadParm;
    return find("miopenFindConvolutionBackwardWeightsAlgorithm", FAKE_BWD_WEIGHTS_ALGO, h, xd, dwd, cv, dyd, dwd, dw,
                requested, returned, perf, ws, wsSize, conv_workspace(xd, dwd, cv, dyd, 0));
}

miopenStatus_t miopenConvolutionBackwardWeights(handle_t* h, const void* alpha, const tensor_t* dyd, const void* dy,
                                                const tensor_t* xd, const void* x, const conv_t* cv, int algo,
                                                const void* beta, const tensor_t* dwd, void* dw, void* ws,
                                                size_t wsSize) {
    called("miopenConvolutionBackwardWeights");
    size_t needed;
    if (!conv_ok(h, xd, dwd, cv, dyd) || !unit_scales(alpha, beta) || dy == NULL || x == NULL || dw == NULL
        || algo != FAKE_BWD_WEIGHTS_ALGO
        || ((needed = conv_workspace(xd, dwd, cv, dyd, 0)) > 0 && (ws == NULL || wsSize < needed))) {
        return miopenStatusBadParm;
    }
    use_workspace(ws, wsSize);
    remember(cv);
    convolve(2, xd, dwd, cv, dyd, x, NULL, dy, dw);
    return miopenStatusSuccess;
}

/* ---- pooling ---------------------------------------------------------------------------------- */

/* jrocm keeps max pooling on its own kernels (MIOpen's never lets a NaN win), so the double takes the averages only. */
enum { miopenPoolingMax = 0, miopenPoolingAverage = 1, miopenPoolingAverageInclusive = 2 };

typedef struct { int set; int mode, kh, kw, padH, padW, strideH, strideW; } pool_t;

static int last_pool[7];
/* The last pooling descriptor a pooling call used: mode, kh, kw, padH, padW, strideH, strideW. */
const int* fake_miopen_last_pool(void) { return last_pool; }

miopenStatus_t miopenCreatePoolingDescriptor(pool_t** desc) {
    called("miopenCreatePoolingDescriptor");
    if (desc == NULL) return miopenStatusBadParm;
    *desc = calloc(1, sizeof(pool_t));
    fake_live++;
    return miopenStatusSuccess;
}

miopenStatus_t miopenSet2dPoolingDescriptor(pool_t* d, int mode, int kh, int kw, int padH, int padW, int strideH,
                                            int strideW) {
    called("miopenSet2dPoolingDescriptor");
    if (d == NULL || mode < miopenPoolingMax || mode > miopenPoolingAverageInclusive || kh < 1 || kw < 1 || padH < 0
        || padW < 0 || strideH < 1 || strideW < 1) {
        return miopenStatusBadParm;
    }
    d->set = 1; d->mode = mode; d->kh = kh; d->kw = kw; d->padH = padH; d->padW = padW;
    d->strideH = strideH; d->strideW = strideW;
    return miopenStatusSuccess;
}

miopenStatus_t miopenDestroyPoolingDescriptor(pool_t* d) {
    called("miopenDestroyPoolingDescriptor");
    if (d == NULL) return miopenStatusBadParm;
    fake_live--;
    free(d);
    return miopenStatusSuccess;
}

static int pool_ok(const handle_t* h, const pool_t* d, const tensor_t* x, const tensor_t* y) {
    return h != NULL && h->magic == HANDLE_MAGIC && d != NULL && d->set && d->mode != miopenPoolingMax && x != NULL
           && y != NULL && x->set && y->set && x->type == miopenFloat && y->type == miopenFloat && x->n == y->n
           && x->c == y->c && y->h == out_size(x->h, d->kh, d->strideH, d->padH, 1)
           && y->w == out_size(x->w, d->kw, d->strideW, d->padW, 1);
}

static void remember_pool(const pool_t* d) {
    int v[7] = {d->mode, d->kh, d->kw, d->padH, d->padW, d->strideH, d->strideW};
    memcpy(last_pool, v, sizeof v);
}

/* The divisor of one window: its whole size (inclusive) or the elements of x in it. */
static int window_size(const pool_t* d, int h0, int w0, int H, int W) {
    if (d->mode == miopenPoolingAverageInclusive) return d->kh * d->kw;
    int count = 0;
    for (int p = 0; p < d->kh; p++)
        for (int q = 0; q < d->kw; q++)
            if (h0 + p >= 0 && h0 + p < H && w0 + q >= 0 && w0 + q < W) count++;
    return count > 0 ? count : 1;
}

miopenStatus_t miopenPoolingForward(handle_t* h, const pool_t* d, const void* alpha, const tensor_t* xd, const void* x,
                                    const void* beta, const tensor_t* yd, void* y, bool doBackward, void* ws,
                                    size_t wsSize) {
    called("miopenPoolingForward");
    (void) doBackward;
    if (!pool_ok(h, d, xd, yd) || !unit_scales(alpha, beta) || x == NULL || y == NULL) return miopenStatusBadParm;
    remember_pool(d);
    last_workspace = ws;
    last_workspace_size = wsSize;
    const float* in = x;
    float* out = y;
    int H = xd->h, W = xd->w, oh = yd->h, ow = yd->w;
    for (long plane = 0; plane < (long) xd->n * xd->c; plane++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int h0 = i * d->strideH - d->padH, w0 = j * d->strideW - d->padW;
                double sum = 0;
                for (int p = 0; p < d->kh; p++)
                    for (int q = 0; q < d->kw; q++) {
                        int ih = h0 + p, iw = w0 + q;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) sum += in[(plane * H + ih) * W + iw];
                    }
                out[(plane * oh + i) * ow + j] = (float) (sum / window_size(d, h0, w0, H, W));
            }
    return miopenStatusSuccess;
}

/* Reads neither y nor x, as MIOpen's PoolingDescriptor::Backward (their pointers must still be given). */
miopenStatus_t miopenPoolingBackward(handle_t* h, const pool_t* d, const void* alpha, const tensor_t* yd, const void* y,
                                     const tensor_t* dyd, const void* dy, const tensor_t* xd, const void* x,
                                     const void* beta, const tensor_t* dxd, void* dx, void* ws) {
    called("miopenPoolingBackward");
    (void) ws;
    if (!pool_ok(h, d, xd, yd) || !pool_ok(h, d, dxd, dyd) || !unit_scales(alpha, beta) || y == NULL || dy == NULL
        || x == NULL || dx == NULL) {
        return miopenStatusBadParm;
    }
    remember_pool(d);
    const float* g = dy;
    int H = dxd->h, W = dxd->w, oh = dyd->h, ow = dyd->w;
    long planes = (long) dxd->n * dxd->c;
    double* acc = calloc((size_t) planes * H * W, sizeof(double));
    for (long plane = 0; plane < planes; plane++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int h0 = i * d->strideH - d->padH, w0 = j * d->strideW - d->padW;
                double share = (double) g[(plane * oh + i) * ow + j] / window_size(d, h0, w0, H, W);
                for (int p = 0; p < d->kh; p++)
                    for (int q = 0; q < d->kw; q++) {
                        int ih = h0 + p, iw = w0 + q;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc[(plane * H + ih) * W + iw] += share;
                    }
            }
    float* out = dx;
    for (long i = 0; i < planes * H * W; i++) out[i] = (float) acc[i];
    free(acc);
    return miopenStatusSuccess;
}

/* ---- batch normalisation (spatial) --------------------------------------------------------- */

enum { miopenBNPerActivation = 0, miopenBNSpatial = 1 };

/* x (n, c, h, w) and the per-channel (1, c, 1, 1) descriptor. */
static int bn_ok(const handle_t* h, int mode, const tensor_t* x, const tensor_t* y, const tensor_t* bn) {
    return h != NULL && h->magic == HANDLE_MAGIC && mode == miopenBNSpatial && x != NULL && y != NULL && bn != NULL
           && x->set && y->set && bn->set && x->type == miopenFloat && same(x, y) && bn->n == 1 && bn->c == x->c
           && bn->h == 1 && bn->w == 1;
}

#define AT(b, ch, p) ((((long) (b) * c + (ch)) * hw) + (p))

miopenStatus_t miopenBatchNormalizationForwardTraining(handle_t* h, int mode, void* alpha, void* beta,
                                                       const tensor_t* xd, const void* x, const tensor_t* yd, void* y,
                                                       const tensor_t* bnd, void* scale, void* bias, double factor,
                                                       void* runningMean, void* runningVar, double eps, void* saveMean,
                                                       void* saveInvVar) {
    called("miopenBatchNormalizationForwardTraining");
    if (!bn_ok(h, mode, xd, yd, bnd) || !unit_scales(alpha, beta) || x == NULL || y == NULL || scale == NULL
        || bias == NULL) {
        return miopenStatusBadParm;
    }
    int n = xd->n, c = xd->c;
    long hw = (long) xd->h * xd->w, count = (long) n * hw;
    const float *in = x, *g = scale, *b = bias;
    float* out = y;
    for (int ch = 0; ch < c; ch++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) for (long p = 0; p < hw; p++) sum += in[AT(i, ch, p)];
        double mean = sum / count;
        for (int i = 0; i < n; i++) for (long p = 0; p < hw; p++) { double d = in[AT(i, ch, p)] - mean; sq += d * d; }
        double var = sq / count, inv = 1 / sqrt(var + eps);
        for (int i = 0; i < n; i++)
            for (long p = 0; p < hw; p++) out[AT(i, ch, p)] = (float) ((in[AT(i, ch, p)] - mean) * inv * g[ch] + b[ch]);
        if (runningMean != NULL && runningVar != NULL) {
            double unbiased = count == 1 ? var : var * count / (count - 1);
            float *rm = runningMean, *rv = runningVar;
            rm[ch] = (float) ((1 - factor) * rm[ch] + factor * mean);
            rv[ch] = (float) ((1 - factor) * rv[ch] + factor * unbiased);
        }
        if (saveMean != NULL && saveInvVar != NULL) {
            ((float*) saveMean)[ch] = (float) mean;
            ((float*) saveInvVar)[ch] = (float) inv;
        }
    }
    return miopenStatusSuccess;
}

miopenStatus_t miopenBatchNormalizationForwardInference(handle_t* h, int mode, void* alpha, void* beta,
                                                        const tensor_t* xd, const void* x, const tensor_t* yd, void* y,
                                                        const tensor_t* bnd, void* scale, void* bias, void* mean,
                                                        void* var, double eps) {
    called("miopenBatchNormalizationForwardInference");
    if (!bn_ok(h, mode, xd, yd, bnd) || !unit_scales(alpha, beta) || x == NULL || y == NULL || scale == NULL
        || bias == NULL || mean == NULL || var == NULL) {
        return miopenStatusBadParm;
    }
    int n = xd->n, c = xd->c;
    long hw = (long) xd->h * xd->w;
    const float *in = x, *g = scale, *b = bias, *m = mean, *v = var;
    float* out = y;
    for (int ch = 0; ch < c; ch++) {
        double inv = 1 / sqrt((double) v[ch] + eps);
        for (int i = 0; i < n; i++)
            for (long p = 0; p < hw; p++) out[AT(i, ch, p)] = (float) ((in[AT(i, ch, p)] - m[ch]) * inv * g[ch] + b[ch]);
    }
    return miopenStatusSuccess;
}

/* Training-mode gradients; with the saved mean and inverse deviation given, epsilon is not used. */
miopenStatus_t miopenBatchNormalizationBackward(handle_t* h, int mode, const void* alphaData, const void* betaData,
                                                const void* alphaParam, const void* betaParam, const tensor_t* xd,
                                                const void* x, const tensor_t* dyd, const void* dy,
                                                const tensor_t* dxd, void* dx, const tensor_t* bnd, const void* scale,
                                                void* dScale, void* dBias, double eps, const void* savedMean,
                                                const void* savedInvVar) {
    called("miopenBatchNormalizationBackward");
    if (!bn_ok(h, mode, xd, dyd, bnd) || dxd == NULL || !dxd->set || !same(xd, dxd) || !unit_scales(alphaData, betaData)
        || !unit_scales(alphaParam, betaParam) || x == NULL || dy == NULL || dx == NULL || scale == NULL
        || dScale == NULL || dBias == NULL || (savedMean == NULL) != (savedInvVar == NULL)) {
        return miopenStatusBadParm;
    }
    int n = xd->n, c = xd->c;
    long hw = (long) xd->h * xd->w, count = (long) n * hw;
    const float *in = x, *g = dy, *s = scale;
    float* out = dx;
    for (int ch = 0; ch < c; ch++) {
        double mean, inv;
        if (savedMean != NULL) {
            mean = ((const float*) savedMean)[ch];
            inv = ((const float*) savedInvVar)[ch];
        } else {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++) for (long p = 0; p < hw; p++) sum += in[AT(i, ch, p)];
            mean = sum / count;
            for (int i = 0; i < n; i++) for (long p = 0; p < hw; p++) { double d = in[AT(i, ch, p)] - mean; sq += d * d; }
            inv = 1 / sqrt(sq / count + eps);
        }
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++)
            for (long p = 0; p < hw; p++) {
                double xhat = (in[AT(i, ch, p)] - mean) * inv;
                sdy += g[AT(i, ch, p)];
                sdyx += g[AT(i, ch, p)] * xhat;
            }
        ((float*) dScale)[ch] = (float) sdyx;
        ((float*) dBias)[ch] = (float) sdy;
        for (int i = 0; i < n; i++)
            for (long p = 0; p < hw; p++) {
                double xhat = (in[AT(i, ch, p)] - mean) * inv;
                out[AT(i, ch, p)] = (float) (s[ch] * inv * (g[AT(i, ch, p)] - sdy / count - xhat * sdyx / count));
            }
    }
    return miopenStatusSuccess;
}
