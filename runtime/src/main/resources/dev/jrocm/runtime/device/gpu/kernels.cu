// jrocm's GPU kernels: one source for HIP (hipRTC) and CUDA (NVRTC, nvcc). The two dialects agree
// on everything used here (__global__, __shared__, blockIdx, __syncthreads, atomics, the math
// functions), so the prelude only names the dialect and the integer types; no header is included
// (hipRTC and NVRTC bring their own builtins).
//
// Compiled without floating-point contraction (hipRTC -ffp-contract=off, NVRTC --fmad=false) so
// that a*b+c rounds twice, as in Java: the random initialisers then give the CPU backend's floats
// bit for bit, and the other ops stay within a few ulps of it.
//
// Every kernel is extern "C" (unmangled names, looked up by GpuBackend) and prefixed jr_. Element
// loops are grid-stride, so any grid size covers any n.

#if defined(__HIPCC_RTC__) || defined(__HIP__) || defined(__HIP_PLATFORM_AMD__)
#define JR_HIP 1
#else
#define JR_CUDA 1
#endif

typedef long long i64;
typedef unsigned long long u64;

#define JR_FOR(i, n) for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64) blockDim.x * gridDim.x)

// 2^-24: 24 random bits make a float in [0, 1), exactly as CounterRandom.uniform.
#define JR_TWO_TO_MINUS_24 5.9604644775390625e-8

// ---- the counter-based generator (CounterRandom): SplitMix64's finaliser over seed*phi + i ------

__device__ u64 jr_bits(u64 seed, u64 index) {
    u64 z = seed * 0x9E3779B97F4A7C15ULL + index;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__device__ float jr_uniform(u64 seed, u64 index) {
    return (float) (jr_bits(seed, index) >> 40) * (float) JR_TWO_TO_MINUS_24;
}

// Box-Muller over elements 2j, 2j+1 in double, cos for even i and sin for odd, as CounterRandom.normal.
__device__ float jr_normal(u64 seed, u64 index) {
    u64 pair = index & ~1ULL;
    double u1 = ((double) (jr_bits(seed, pair) >> 40) + 1.0) * JR_TWO_TO_MINUS_24;
    double u2 = (double) (jr_bits(seed, pair + 1) >> 40) * JR_TWO_TO_MINUS_24;
    double r = sqrt(-2.0 * log(u1));
    double angle = 6.283185307179586 * u2; // 2*pi in double, as Java's 2 * Math.PI
    return (float) (r * ((index & 1ULL) == 0 ? cos(angle) : sin(angle)));
}

// ---- initialisation ------------------------------------------------------------------------------

extern "C" __global__ void jr_fill(float* x, float value, i64 n) {
    JR_FOR(i, n) { x[i] = value; }
}

extern "C" __global__ void jr_uniform_init(float* x, float lo, float width, u64 seed, i64 n) {
    JR_FOR(i, n) { x[i] = lo + width * jr_uniform(seed, (u64) i); }
}

extern "C" __global__ void jr_normal_init(float* x, float mean, float stddev, u64 seed, i64 n) {
    JR_FOR(i, n) { x[i] = mean + stddev * jr_normal(seed, (u64) i); }
}

// ---- bias and column sums --------------------------------------------------------------------------

extern "C" __global__ void jr_add_bias(float* y, const float* bias, int cols, i64 n) {
    JR_FOR(i, n) { y[i] = y[i] + bias[i % cols]; }
}

// Block (32, 8): threadIdx.x picks a column, threadIdx.y a slice of the rows; the 8 partial sums
// meet in shared memory and are added in a fixed order, so the result does not depend on timing.
extern "C" __global__ void jr_column_sums(const float* x, int rows, int cols, float* out, int accumulate) {
    __shared__ float partial[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < cols) {
        for (int r = threadIdx.y; r < rows; r += 8) {
            s += x[(i64) r * cols + c];
        }
    }
    partial[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = accumulate ? out[c] : 0.0f;
        for (int k = 0; k < 8; k++) {
            total += partial[k][threadIdx.x];
        }
        out[c] = total;
    }
}

// ---- element-wise ------------------------------------------------------------------------------------

extern "C" __global__ void jr_relu(const float* x, float* y, i64 n) {
    JR_FOR(i, n) { float v = x[i]; y[i] = v > 0.0f ? v : 0.0f; }
}

extern "C" __global__ void jr_relu_backward(const float* y, const float* dy, float* dx, int accumulate, i64 n) {
    JR_FOR(i, n) {
        float g = y[i] > 0.0f ? dy[i] : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

extern "C" __global__ void jr_dropout(const float* x, float* y, float p, float keep, u64 seed, i64 n) {
    JR_FOR(i, n) { y[i] = jr_uniform(seed, (u64) i) >= p ? x[i] * keep : 0.0f; }
}

extern "C" __global__ void jr_dropout_backward(const float* dy, float* dx, float p, float keep, u64 seed,
                                               int accumulate, i64 n) {
    JR_FOR(i, n) {
        float g = jr_uniform(seed, (u64) i) >= p ? dy[i] * keep : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

extern "C" __global__ void jr_scale(float* x, float alpha, i64 n) {
    JR_FOR(i, n) { x[i] = alpha * x[i]; }
}

extern "C" __global__ void jr_axpy(float alpha, const float* x, float* y, i64 n) {
    JR_FOR(i, n) { y[i] = y[i] + alpha * x[i]; }
}

// Sum of squares in two launches, in double, in an order fixed by n (GpuBackend picks the grid from n
// alone): each block sums its grid-stride share then a tree in shared memory into partial[block];
// one block sums the partials the same way and rounds once to float.
#define JR_SUMSQ_THREADS 256

// The block's total of value, for every thread; shared may be used again as soon as it returns.
__device__ double jr_block_sum(double* shared, double value) {
    int t = threadIdx.x;
    shared[t] = value;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            shared[t] += shared[t + s];
        }
        __syncthreads();
    }
    double total = shared[0];
    __syncthreads();
    return total;
}

extern "C" __global__ void jr_sum_of_squares_blocks(const float* x, i64 n, double* partial) {
    __shared__ double shared[JR_SUMSQ_THREADS];
    double acc = 0.0;
    JR_FOR(i, n) {
        double v = x[i];
        acc += v * v;
    }
    double sum = jr_block_sum(shared, acc);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = sum;
    }
}

extern "C" __global__ void jr_sum_of_squares_reduce(const double* partial, int blocks, float* out) {
    __shared__ double shared[JR_SUMSQ_THREADS];
    double acc = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) {
        acc += partial[b];
    }
    double sum = jr_block_sum(shared, acc);
    if (threadIdx.x == 0) {
        out[0] = (float) sum;
    }
}

// ---- broadcasting binary ops and their reduction -----------------------------------------------------
// Shapes and strides come by value in one struct (GpuBackend.KernelArgs.longs): up to JR_MAX_RANK
// merged dimensions (Strides.walk), the extents and two operands' strides in elements.

#define JR_MAX_RANK 6

struct jr_dims {
    i64 shape[JR_MAX_RANK];
    i64 s0[JR_MAX_RANK];
    i64 s1[JR_MAX_RANK];
};

// op: 0 add, 1 sub, 2 mul, 3 div (Backend.BinaryOp's order). s0: a's strides, s1: b's.
extern "C" __global__ void jr_binary(int op, const float* a, const float* b, float* out, int rank, jr_dims g, i64 n) {
    JR_FOR(i, n) {
        i64 ao = 0, bo = 0, rest = i;
        for (int d = rank - 1; d > 0; d--) {
            i64 k = rest % g.shape[d];
            rest /= g.shape[d];
            ao += k * g.s0[d];
            bo += k * g.s1[d];
        }
        ao += rest * g.s0[0];
        bo += rest * g.s1[0];
        float x = a[ao], y = b[bo];
        out[i] = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
    }
}

// The offset of the index-th element of the dimensions of g whose flag (s1 != 0) is `kept`, by s0.
__device__ i64 jr_offset(const jr_dims& g, int rank, int kept, i64 index) {
    i64 o = 0;
    for (int d = rank - 1; d >= 0; d--) {
        if ((g.s1[d] != 0) == (kept != 0)) {
            o += index % g.shape[d] * g.s0[d];
            index /= g.shape[d];
        }
    }
    return o;
}

// out[j] = alpha * sum of x over the summed dimensions (s1 == 0) + beta * out[j]: one thread per output,
// the summed elements in order, as the CPU. s0: x's strides; s1: out's (0 where summed).
extern "C" __global__ void jr_sum_to(const float* x, float* out, float alpha, float beta, int rank, jr_dims g,
                                     i64 outputs, i64 count) {
    JR_FOR(j, outputs) {
        i64 base = jr_offset(g, rank, 1, j);
        float acc = 0.0f;
        for (i64 k = 0; k < count; k++) {
            acc += x[base + jr_offset(g, rank, 0, k)];
        }
        out[j] = alpha * acc + (beta != 0.0f ? out[j] : 0.0f);
    }
}

// The same with one block of JR_REDUCE_THREADS per output (few outputs of many elements each): partial
// sums in a fixed order, then a tree in shared memory.
#define JR_REDUCE_THREADS 256

extern "C" __global__ void jr_sum_to_blocks(const float* x, float* out, float alpha, float beta, int rank, jr_dims g,
                                            i64 outputs, i64 count) {
    __shared__ float partial[JR_REDUCE_THREADS];
    int t = threadIdx.x;
    for (i64 j = blockIdx.x; j < outputs; j += gridDim.x) {
        i64 base = jr_offset(g, rank, 1, j);
        float acc = 0.0f;
        for (i64 k = t; k < count; k += blockDim.x) {
            acc += x[base + jr_offset(g, rank, 0, k)];
        }
        partial[t] = acc;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (t < s) {
                partial[t] += partial[t + s];
            }
            __syncthreads();
        }
        if (t == 0) {
            out[j] = alpha * partial[0] + (beta != 0.0f ? out[j] : 0.0f);
        }
        __syncthreads();
    }
}

// ---- along one dimension: rows (o, i) of (outer, n, inner) -------------------------------------------
// Row r = o*inner + i has its n elements inner apart from base = o*n*inner + i. One thread per row,
// each reducing its row in order in float, as the CPU backend.

__device__ void jr_report(u64* errors, int slot, int position, int value, int bound); // below

// y = exp(x - max) / sum, or (log) x - max - log(sum); a NaN max (the row holds a NaN) makes the row NaN.
// exp and log in double rounded to float, as the CPU backend (and: expf/logf bring fused multiply-adds
// of their own, which --fmad=false cannot turn off).
extern "C" __global__ void jr_softmax(const float* x, float* y, int outer, int n, int inner, int takeLog) {
    JR_FOR(r, (i64) outer * inner) {
        i64 base = r / inner * n * inner + r % inner;
        float max = __int_as_float(0xff800000); // -infinity
        for (int k = 0; k < n; k++) {
            float v = x[base + (i64) k * inner];
            max = v > max || v != v ? v : max;
            if (max != max) {
                break;
            }
        }
        float sum = 0.0f;
        for (int k = 0; k < n; k++) {
            sum += (float) exp((double) (x[base + (i64) k * inner] - max));
        }
        float logSum = (float) log((double) sum);
        for (int k = 0; k < n; k++) {
            i64 at = base + (i64) k * inner;
            float shifted = x[at] - max;
            y[at] = takeLog ? shifted - logSum : (float) exp((double) shifted) / sum;
        }
    }
}

// ---- the same along contiguous rows (inner = 1), one block of JR_ROW_THREADS per row ---------------
// The threads of a block read a row's consecutive elements together (coalesced), where the kernels
// above give each thread a row of its own. Partial sums in double in a fixed order, then a tree.

#define JR_ROW_THREADS 128

// The block's largest v, a NaN if any thread holds one (every thread gets it). jr_block_sum is above.
__device__ float jr_block_max(float v, float* partial) {
    int t = threadIdx.x;
    partial[t] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            float m = partial[t], o = partial[t + s];
            partial[t] = m != m ? m : (o != o || o > m) ? o : m;
        }
        __syncthreads();
    }
    float max = partial[0];
    __syncthreads();
    return max;
}

extern "C" __global__ void jr_softmax_rows(const float* x, float* y, int rows, int n, int takeLog) {
    __shared__ double sums[JR_ROW_THREADS];
    __shared__ float maxima[JR_ROW_THREADS];
    int t = threadIdx.x;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * n;
        float m = __int_as_float(0xff800000); // -infinity
        for (int k = t; k < n; k += blockDim.x) {
            float v = xr[k];
            m = m != m ? m : (v != v || v > m) ? v : m;
        }
        float max = jr_block_max(m, maxima);
        double part = 0.0;
        for (int k = t; k < n; k += blockDim.x) {
            part += exp((double) (xr[k] - max));
        }
        double sum = jr_block_sum(sums, part);
        float logSum = (float) log(sum);
        float total = (float) sum;
        for (int k = t; k < n; k += blockDim.x) {
            float shifted = xr[k] - max;
            y[r * n + k] = takeLog ? shifted - logSum : (float) exp((double) shifted) / total;
        }
    }
}

extern "C" __global__ void jr_softmax_backward_rows(const float* y, const float* dy, float* dx, int rows, int n,
                                                    int takeLog, int accumulate) {
    __shared__ double sums[JR_ROW_THREADS];
    int t = threadIdx.x;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        i64 base = r * n;
        double part = 0.0;
        for (int k = t; k < n; k += blockDim.x) {
            part += takeLog ? (double) dy[base + k] : (double) dy[base + k] * y[base + k];
        }
        float dot = (float) jr_block_sum(sums, part);
        for (int k = t; k < n; k += blockDim.x) {
            i64 at = base + k;
            float d = takeLog ? dy[at] - (float) exp((double) y[at]) * dot : y[at] * (dy[at] - dot);
            dx[at] = accumulate ? dx[at] + d : d;
        }
    }
}

// dx = y * (dy - sum(dy * y)), or (log) dy - exp(y) * sum(dy); added to dx when accumulate.
extern "C" __global__ void jr_softmax_backward(const float* y, const float* dy, float* dx, int outer, int n, int inner,
                                               int takeLog, int accumulate) {
    JR_FOR(r, (i64) outer * inner) {
        i64 base = r / inner * n * inner + r % inner;
        float dot = 0.0f;
        for (int k = 0; k < n; k++) {
            i64 at = base + (i64) k * inner;
            dot += takeLog ? dy[at] : dy[at] * y[at];
        }
        for (int k = 0; k < n; k++) {
            i64 at = base + (i64) k * inner;
            float d = takeLog ? dy[at] - (float) exp((double) y[at]) * dot : y[at] * (dy[at] - dot);
            dx[at] = accumulate ? dx[at] + d : d;
        }
    }
}

// values[r], indices[r]: the row's largest element and its index, the first on ties; the first NaN wins.
extern "C" __global__ void jr_max_along(const float* x, float* values, int* indices, int outer, int n, int inner) {
    JR_FOR(r, (i64) outer * inner) {
        i64 base = r / inner * n * inner + r % inner;
        int best = 0;
        float max = x[base];
        for (int k = 1; k < n && max == max; k++) {
            float v = x[base + (i64) k * inner];
            if (v > max || v != v) {
                max = v;
                best = k;
            }
        }
        values[r] = max;
        indices[r] = best;
    }
}

// dx[o, k, i] = k == indices[r] ? dy[r] : 0 (added when accumulate); an index outside [0, n) is
// reported (errors slot 1) and its row gets nothing.
extern "C" __global__ void jr_scatter_along(const float* dy, const int* indices, float* dx, int outer, int n, int inner,
                                            int accumulate, u64* errors) {
    JR_FOR(r, (i64) outer * inner) {
        i64 base = r / inner * n * inner + r % inner;
        int pick = indices[r];
        if (pick < 0 || pick >= n) {
            jr_report(errors, 1, (int) r, pick, n);
        } else {
            float g = dy[r];
            for (int k = 0; k < n; k++) {
                i64 at = base + (i64) k * inner;
                float d = k == pick ? g : 0.0f;
                dx[at] = accumulate ? dx[at] + d : d;
            }
        }
    }
}

// ---- errors found on the device ------------------------------------------------------------------
// errors[0]: cross-entropy, errors[1]: gather; each the smallest (position << 32 | bad value) seen,
// all ones when none. errors[2], errors[3]: the bound (classes, source rows) for the message. The
// host reads them when it next synchronises (GpuBackend.checkDeviceErrors).

__device__ void jr_report(u64* errors, int slot, int position, int value, int bound) {
    atomicMin(&errors[slot], ((u64) (unsigned int) position << 32) | (u64) (unsigned int) value);
    errors[slot + 2] = (u64) bound;
}

// ---- fused log-softmax + NLL -------------------------------------------------------------------
// One block per row: the max (and its first index), then the sum of exponentials in double, as the
// CPU backend. scratch[2r] = the row's loss, scratch[2r+1] = 1 when its argmax is the label. When
// dlogits is not null it receives (softmax - onehot) / rows. A bad label marks the row NaN.

#define JR_CE_THREADS 128

// Every thread of the block gets the row's largest value and its index (the first of equal maxima,
// as the CPU). best and bestIndex are the block's shared arrays of JR_CE_THREADS.
__device__ int jr_block_argmax(const float* x, int classes, float* best, int* bestIndex) {
    int t = threadIdx.x;
    float m = __int_as_float(0xff800000); // -infinity
    int mi = classes;
    for (int c = t; c < classes; c += blockDim.x) {
        float v = x[c];
        if (v > m || mi == classes) { m = v; mi = c; }
    }
    best[t] = m;
    bestIndex[t] = mi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            float o = best[t + s];
            int oi = bestIndex[t + s];
            // larger wins; on ties the smaller index (the first, as the CPU); classes marks "none"
            if (oi != classes && (bestIndex[t] == classes || o > best[t] || (o == best[t] && oi < bestIndex[t]))) {
                best[t] = o;
                bestIndex[t] = oi;
            }
        }
        __syncthreads();
    }
    return bestIndex[0];
}

// A label outside [0, classes) is reported and marks its row NaN; uniform across the block, so
// when it returns true every thread returns.
__device__ bool jr_bad_label(int label, int r, int classes, double* scratch, u64* errors) {
    if (label >= 0 && label < classes) {
        return false;
    }
    if (threadIdx.x == 0) {
        jr_report(errors, 0, r, label, classes);
        scratch[2 * r] = __longlong_as_double(0x7ff8000000000000LL);
        scratch[2 * r + 1] = 0.0;
    }
    return true;
}

extern "C" __global__ void jr_cross_entropy_rows(const float* logits, const int* labels, int rows, int classes,
                                                 double* scratch, float* dlogits, u64* errors) {
    __shared__ float best[JR_CE_THREADS];
    __shared__ int bestIndex[JR_CE_THREADS];
    __shared__ double sums[JR_CE_THREADS];
    int r = blockIdx.x;
    int t = threadIdx.x;
    if (r >= rows) {
        return;
    }
    const float* x = logits + (i64) r * classes;
    int label = labels[r];
    if (jr_bad_label(label, r, classes, scratch, errors)) {
        return;
    }
    int argmax = jr_block_argmax(x, classes, best, bestIndex);
    float max = best[0];
    double sum = 0.0;
    for (int c = t; c < classes; c += blockDim.x) {
        sum += exp((double) x[c] - (double) max);
    }
    sums[t] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            sums[t] += sums[t + s];
        }
        __syncthreads();
    }
    double logSum = (double) max + log(sums[0]);
    if (t == 0) {
        scratch[2 * r] = logSum - (double) x[label];
        scratch[2 * r + 1] = argmax == label ? 1.0 : 0.0;
    }
    if (dlogits != 0) {
        float* d = dlogits + (i64) r * classes;
        for (int c = t; c < classes; c += blockDim.x) {
            double p = exp((double) x[c] - logSum);
            d[c] = (float) ((p - (c == label ? 1.0 : 0.0)) / rows);
        }
    }
}

// The same rows from log-probabilities a library computed (MIOpen's log-softmax on HIP): the loss is
// -logp[label], the correct flag compares the argmax of logp, the gradient is exp(logp) - onehot.
extern "C" __global__ void jr_nll_rows(const float* logp, const int* labels, int rows, int classes,
                                       double* scratch, float* dlogits, u64* errors) {
    __shared__ float best[JR_CE_THREADS];
    __shared__ int bestIndex[JR_CE_THREADS];
    int r = blockIdx.x;
    int t = threadIdx.x;
    if (r >= rows) {
        return;
    }
    const float* x = logp + (i64) r * classes;
    int label = labels[r];
    if (jr_bad_label(label, r, classes, scratch, errors)) {
        return;
    }
    int argmax = jr_block_argmax(x, classes, best, bestIndex);
    if (t == 0) {
        scratch[2 * r] = -(double) x[label];
        scratch[2 * r + 1] = argmax == label ? 1.0 : 0.0;
    }
    if (dlogits != 0) {
        float* d = dlogits + (i64) r * classes;
        for (int c = t; c < classes; c += blockDim.x) {
            d[c] = (float) ((exp((double) x[c]) - (c == label ? 1.0 : 0.0)) / rows);
        }
    }
}

// One block: out[0] = mean loss, out[1] = correct rows, summed in double in a fixed order.

extern "C" __global__ void jr_cross_entropy_reduce(const double* scratch, int rows, float* out) {
    __shared__ double loss[JR_REDUCE_THREADS];
    __shared__ double correct[JR_REDUCE_THREADS];
    int t = threadIdx.x;
    double l = 0.0, k = 0.0;
    for (int r = t; r < rows; r += blockDim.x) {
        l += scratch[2 * r];
        k += scratch[2 * r + 1];
    }
    loss[t] = l;
    correct[t] = k;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            loss[t] += loss[t + s];
            correct[t] += correct[t + s];
        }
        __syncthreads();
    }
    if (t == 0) {
        out[0] = (float) (loss[0] / rows);
        out[1] = (float) correct[0];
    }
}

// One thread per row; the first of equal maxima, as the CPU.
extern "C" __global__ void jr_argmax_rows(const float* x, int rows, int cols, int* out) {
    JR_FOR(r, rows) {
        const float* row = x + r * cols;
        int best = 0;
        for (int c = 1; c < cols; c++) {
            if (row[c] > row[best]) {
                best = c;
            }
        }
        out[r] = best;
    }
}

// ---- optimizer ---------------------------------------------------------------------------------------
// One pass over p, g, m, v: the CPU backend's adamChunk, operation for operation.
// flush: every 16th step m and v at most 2^-126 become 0, as the CPU does it (AdamStep's comment).
__device__ void jr_adam_at(float* p, float* m, float* v, i64 i, float grad0, float beta1, float beta2,
                           float eps, float stepSize, float bc2Sqrt, float decay, float l2, int flush) {
    float param = p[i] * decay;
    float grad = grad0 + l2 * p[i];
    float mi = m[i] + (1.0f - beta1) * (grad - m[i]);
    float vi = v[i] * beta2 + (1.0f - beta2) * grad * grad;
    if (flush) {
        const float t = 1.17549435e-38f; // FLT_MIN, 2^-126
        mi *= fminf(1.0f, fmaxf(0.0f, (fabsf(mi) - t) * 1.70141183e38f * 4194304.0f)); // 2^127 * 2^22: a factor of 0 or 1, see AdamStep
        vi *= fminf(1.0f, fmaxf(0.0f, (vi - t) * 1.70141183e38f * 4194304.0f));
    }
    m[i] = mi;
    v[i] = vi;
    p[i] = param - stepSize * (mi / (sqrtf(vi) / bc2Sqrt + eps));
}

extern "C" __global__ void jr_adam(float* p, const float* g, float* m, float* v, i64 n, float beta1, float beta2,
                                   float eps, float stepSize, float bc2Sqrt, float decay, float l2, int flush) {
    JR_FOR(i, n) { jr_adam_at(p, m, v, i, g[i], beta1, beta2, eps, stepSize, bc2Sqrt, decay, l2, flush); }
}

// Adam on W (out, in) whose gradient is the product dyᵀ·x of the batch (dy: batch × out, x: batch × in),
// never written out: each element forms its gradient from the batch's few rows (batch ≤ 16 in
// practice), in the CPU backend's order (groups of four added, then the rest), and steps at once.
// Saves the gradient's write and read (8 bytes of 32 per weight) and one launch. Grid: x over in
// (coalesced), y over out; dy[b, o] is the same for a whole block row and comes from cache.
extern "C" __global__ void jr_adam_factored(float* p, float* m, float* v, const float* dy, const float* x,
                                            int batch, int out, int in, float beta1, float beta2, float eps,
                                            float stepSize, float bc2Sqrt, float decay, float l2, int flush) {
    for (i64 o = blockIdx.y; o < out; o += gridDim.y) {
        for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < in; i += (i64) blockDim.x * gridDim.x) {
            float g = 0.0f;
            int b = 0;
            for (; b + 4 <= batch; b += 4) {
                g = g + (dy[b * (i64) out + o] * x[b * (i64) in + i] + dy[(b + 1) * (i64) out + o] * x[(b + 1) * (i64) in + i]
                         + dy[(b + 2) * (i64) out + o] * x[(b + 2) * (i64) in + i]
                         + dy[(b + 3) * (i64) out + o] * x[(b + 3) * (i64) in + i]);
            }
            for (; b < batch; b++) {
                g = g + dy[b * (i64) out + o] * x[b * (i64) in + i];
            }
            jr_adam_at(p, m, v, o * in + i, g, beta1, beta2, eps, stepSize, bc2Sqrt, decay, l2, flush);
        }
    }
}

// ---- data ------------------------------------------------------------------------------------------

// dst[i, c] = src[indices[i], c]; an index outside [0, sourceRows) is reported and its row left alone.
extern "C" __global__ void jr_gather_rows(const float* src, int cols, const int* indices, int count,
                                          i64 sourceRows, float* dst, u64* errors) {
    JR_FOR(i, (i64) count * cols) {
        i64 row = i / cols;
        i64 c = i - row * cols;
        int from = indices[row];
        if (from < 0 || from >= sourceRows) {
            if (c == 0) {
                jr_report(errors, 1, (int) row, from, (int) sourceRows);
            }
        } else {
            dst[i] = src[(i64) from * cols + c];
        }
    }
}

// dst[indices[i], c] += src[i, c]: one thread per column c, adding the rows in the order of i
// (as the CPU backend), so rows picked twice need no atomics and results are deterministic.
extern "C" __global__ void jr_scatter_add_rows(const float* src, int cols, const int* indices, int count,
                                               i64 dstRows, float* dst, u64* errors) {
    JR_FOR(c, (i64) cols) {
        for (int i = 0; i < count; i++) {
            int to = indices[i];
            if (to < 0 || to >= dstRows) {
                if (c == 0) {
                    jr_report(errors, 1, i, to, (int) dstRows);
                }
            } else {
                dst[(i64) to * cols + c] += src[(i64) i * cols + c];
            }
        }
    }
}

// dst[sum k_d * s1[d]] (+)= src[sum k_d * s0[d]] for the i-th index k of g's merged dimensions
// (Backend.copyStrided): the writes are distinct, so threads need no atomics. Plain copies move the
// 32-bit pattern, so ints pass unchanged.
extern "C" __global__ void jr_copy_strided(const float* src, float* dst, int rank, jr_dims g, int accumulate, i64 n) {
    JR_FOR(i, n) {
        i64 from = 0, to = 0, rest = i;
        for (int d = rank - 1; d > 0; d--) {
            i64 k = rest % g.shape[d];
            rest /= g.shape[d];
            from += k * g.s0[d];
            to += k * g.s1[d];
        }
        from += rest * g.s0[0];
        to += rest * g.s1[0];
        if (accumulate) {
            dst[to] += src[from];
        } else {
            ((unsigned int*) dst)[to] = ((const unsigned int*) src)[from];
        }
    }
}

// ---- layer normalisation: a block or a thread per row (forward, dx), a thread per column (dweight, dbias)

extern "C" __global__ void jr_layer_norm(const float* x, const float* w, const float* b, int rows, int cols,
                                         float eps, float* y, float* mean, float* rstd) {
    JR_FOR(r, (i64) rows) {
        const float* xr = x + r * cols;
        double sum = 0; // two passes in double, as the CPU backend
        for (int c = 0; c < cols; c++) {
            sum += xr[c];
        }
        float mu = (float) (sum / cols);
        double sq = 0;
        for (int c = 0; c < cols; c++) {
            double d = xr[c] - mu;
            sq += d * d;
        }
        float rs = (float) (1.0 / sqrt(sq / cols + eps));
        for (int c = 0; c < cols; c++) {
            float v = (xr[c] - mu) * rs;
            if (w) {
                v *= w[c];
            }
            if (b) {
                v += b[c];
            }
            y[r * cols + c] = v;
        }
        if (mean) {
            mean[r] = mu;
            rstd[r] = rs;
        }
    }
}

extern "C" __global__ void jr_layer_norm_dx(const float* x, const float* w, const float* mean, const float* rstd,
                                            const float* dy, int rows, int cols, float* dx) {
    JR_FOR(r, (i64) rows) {
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        float m = mean[r], s = rstd[r];
        double sumG = 0, sumGx = 0;
        for (int c = 0; c < cols; c++) {
            float g = dyr[c] * (w ? w[c] : 1.0f);
            sumG += g;
            sumGx += g * ((xr[c] - m) * s);
        }
        float meanG = (float) (sumG / cols), meanGx = (float) (sumGx / cols);
        for (int c = 0; c < cols; c++) {
            float g = dyr[c] * (w ? w[c] : 1.0f);
            float xhat = (xr[c] - m) * s;
            dx[r * cols + c] = s * (g - meanG - xhat * meanGx);
        }
    }
}

// One block of JR_ROW_THREADS per row: the forward and dx of the kernels above, with the row's sums
// formed by the block (coalesced reads), in double.
extern "C" __global__ void jr_layer_norm_rows(const float* x, const float* w, const float* b, int rows, int cols,
                                              float eps, float* y, float* mean, float* rstd) {
    __shared__ double sums[JR_ROW_THREADS];
    int t = threadIdx.x;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * cols;
        double part = 0.0;
        for (int c = t; c < cols; c += blockDim.x) {
            part += xr[c];
        }
        float mu = (float) (jr_block_sum(sums, part) / cols);
        part = 0.0;
        for (int c = t; c < cols; c += blockDim.x) {
            double d = xr[c] - mu;
            part += d * d;
        }
        float rs = (float) (1.0 / sqrt(jr_block_sum(sums, part) / cols + eps));
        for (int c = t; c < cols; c += blockDim.x) {
            float v = (xr[c] - mu) * rs;
            if (w) {
                v *= w[c];
            }
            if (b) {
                v += b[c];
            }
            y[r * cols + c] = v;
        }
        if (mean && t == 0) {
            mean[r] = mu;
            rstd[r] = rs;
        }
    }
}

extern "C" __global__ void jr_layer_norm_dx_rows(const float* x, const float* w, const float* mean, const float* rstd,
                                                 const float* dy, int rows, int cols, float* dx) {
    __shared__ double sums[JR_ROW_THREADS];
    int t = threadIdx.x;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        float m = mean[r], s = rstd[r];
        double partG = 0.0, partGx = 0.0;
        for (int c = t; c < cols; c += blockDim.x) {
            float g = dyr[c] * (w ? w[c] : 1.0f);
            partG += g;
            partGx += g * ((xr[c] - m) * s);
        }
        float meanG = (float) (jr_block_sum(sums, partG) / cols);
        float meanGx = (float) (jr_block_sum(sums, partGx) / cols);
        for (int c = t; c < cols; c += blockDim.x) {
            float g = dyr[c] * (w ? w[c] : 1.0f);
            float xhat = (xr[c] - m) * s;
            dx[r * cols + c] = s * (g - meanG - xhat * meanGx);
        }
    }
}

extern "C" __global__ void jr_layer_norm_dparams(const float* x, const float* mean, const float* rstd,
                                                 const float* dy, int rows, int cols, float* dw, float* db) {
    JR_FOR(c, (i64) cols) {
        float sw = 0, sb = 0;
        for (i64 r = 0; r < rows; r++) {
            float d = dy[r * cols + c];
            sw += d * ((x[r * cols + c] - mean[r]) * rstd[r]);
            sb += d;
        }
        if (dw) {
            dw[c] = sw;
        }
        if (db) {
            db[c] = sb;
        }
    }
}

// ---- element-wise functions (Backend.UnaryOp, by ordinal), in double as the CPU's UnaryMath -----

// Numerical Recipes' erfcc: fractional error below 1.2e-7 (the same fit as the CPU backend).
__device__ double jr_erfc(double x) {
    double z = fabs(x), t = 1.0 / (1.0 + 0.5 * z);
    double r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
            + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
            + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? r : 2.0 - r;
}

__device__ double jr_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

__device__ double jr_phi(double x) { return 0.5 * jr_erfc(-x * 0.7071067811865476); }

// EXP, LOG, SQRT, TANH, SIGMOID, GELU, SILU
__device__ double jr_unary_value(int op, double x) {
    switch (op) {
        case 0: return exp(x);
        case 1: return log(x);
        case 2: return sqrt(x);
        case 3: return tanh(x);
        case 4: return jr_sigmoid(x);
        case 5: return x * jr_phi(x);
        default: return x * jr_sigmoid(x);
    }
}

__device__ double jr_unary_derivative(int op, double x, double y) {
    switch (op) {
        case 0: return y;
        case 1: return 1.0 / x;
        case 2: return 0.5 / y;
        case 3: return 1.0 - y * y;
        case 4: return y * (1.0 - y);
        case 5: return jr_phi(x) + x * 0.3989422804014327 * exp(-0.5 * x * x);
        default: { double s = jr_sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    }
}

extern "C" __global__ void jr_unary(const float* x, float* y, i64 n, int op) {
    JR_FOR(i, n) { y[i] = (float) jr_unary_value(op, x[i]); }
}

extern "C" __global__ void jr_unary_backward(const float* x, const float* y, const float* dy, float* dx, i64 n, int op,
                                             int accumulate) {
    JR_FOR(i, n) {
        float g = (float) (dy[i] * jr_unary_derivative(op, x[i], y[i]));
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

// ---- convolution: im2col lowering (Im2col), pooling, batch normalisation ------------------------
// The geometry comes by value (GpuBackend.window): n, c, h, w, k (output channels; c for pooling),
// kh, kw, strides, paddings, dilations (1 for pooling), outH, outW. Sums run in an order fixed by
// the shape, as the CPU backend's, so every kernel here is deterministic and needs no atomics.

struct jr_window {
    i64 n, c, h, w, k, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};

// columns (c*kh*kw, count*L), L = oh*ow: entry (row (ch, p, q), column j*L + (oi, oj)) is x[first + j, ch]
// at (oi*sh - ph + p*dh, oj*sw - pw + q*dw), 0 outside. One thread per entry, writes coalesced.
extern "C" __global__ void jr_im2col(const float* x, float* columns, jr_window s, i64 first, i64 count) {
    i64 positions = s.oh * s.ow, width = count * positions;
    JR_FOR(e, s.c * s.kh * s.kw * width) {
        i64 row = e / width, col = e % width;
        i64 j = col / positions, pos = col % positions;
        i64 ch = row / (s.kh * s.kw), p = row / s.kw % s.kh, q = row % s.kw;
        i64 ih = pos / s.ow * s.sh - s.ph + p * s.dh, iw = pos % s.ow * s.sw - s.pw + q * s.dw;
        bool inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
        columns[e] = inside ? x[(((first + j) * s.c + ch) * s.h + ih) * s.w + iw] : 0.0f;
    }
}

// dx[first + j, ch, ih, iw] (+)= the entries of columns read from it, in the order of (p, q): a gather,
// one thread per element of dx.
extern "C" __global__ void jr_col2im(const float* columns, float* dx, jr_window s, i64 first, i64 count,
                                     int accumulate) {
    i64 positions = s.oh * s.ow, width = count * positions;
    JR_FOR(e, count * s.c * s.h * s.w) {
        i64 iw = e % s.w, ih = e / s.w % s.h, ch = e / (s.w * s.h) % s.c, j = e / (s.w * s.h * s.c);
        float sum = 0.0f;
        for (i64 p = 0; p < s.kh; p++) {
            i64 oi = ih + s.ph - p * s.dh;
            if (oi < 0 || oi % s.sh != 0 || oi / s.sh >= s.oh) {
                continue;
            }
            for (i64 q = 0; q < s.kw; q++) {
                i64 oj = iw + s.pw - q * s.dw;
                if (oj < 0 || oj % s.sw != 0 || oj / s.sw >= s.ow) {
                    continue;
                }
                sum += columns[((ch * s.kh + p) * s.kw + q) * width + j * positions + oi / s.sh * s.ow + oj / s.sw];
            }
        }
        i64 at = (first * s.c) * s.h * s.w + e;
        dx[at] = accumulate ? dx[at] + sum : sum;
    }
}

// out (b, a, inner) = in (a, b, inner).
extern "C" __global__ void jr_swap_leading(const float* in, float* out, i64 a, i64 b, i64 inner) {
    JR_FOR(e, a * b * inner) {
        i64 l = e % inner, ai = e / inner % a, bi = e / (inner * a);
        out[e] = in[(ai * b + bi) * inner + l];
    }
}

// The rows [h0, h1) and columns [w0, w1) of x that window (oi, oj) covers, padding left out.
__device__ void jr_pool_window(jr_window s, i64 oi, i64 oj, i64* h0, i64* h1, i64* w0, i64* w1) {
    i64 top = oi * s.sh - s.ph, left = oj * s.sw - s.pw;
    *h0 = top > 0 ? top : 0;
    *w0 = left > 0 ? left : 0;
    *h1 = top + s.kh < s.h ? top + s.kh : s.h;
    *w1 = left + s.kw < s.w ? left + s.kw : s.w;
}

// The largest element of each window (padding is -inf; a NaN wins, the first one) and its index ih*w + iw.
extern "C" __global__ void jr_max_pool(const float* x, float* y, int* indices, jr_window s) {
    JR_FOR(e, s.n * s.c * s.oh * s.ow) {
        i64 oj = e % s.ow, oi = e / s.ow % s.oh, h0, h1, w0, w1;
        jr_pool_window(s, oi, oj, &h0, &h1, &w0, &w1);
        const float* xp = x + e / (s.ow * s.oh) * s.h * s.w;
        float best = -__int_as_float(0x7f800000);
        i64 at = h0 * s.w + w0;
        for (i64 ih = h0; ih < h1; ih++) {
            for (i64 iw = w0; iw < w1; iw++) {
                float v = xp[ih * s.w + iw];
                if (v > best || (v != v && best == best)) {
                    best = v;
                    at = ih * s.w + iw;
                }
            }
        }
        y[e] = best;
        indices[e] = (int) at;
    }
}

// One thread per (image, channel) plane: dx's plane zeroed (unless accumulating), then each output's dy
// added at its index in the order of the outputs, as the CPU backend. A bad index is reported (slot 1).
extern "C" __global__ void jr_max_pool_backward(const float* dy, const int* indices, float* dx, jr_window s,
                                                int accumulate, u64* errors) {
    i64 planeIn = s.h * s.w, planeOut = s.oh * s.ow;
    JR_FOR(plane, s.n * s.c) {
        float* dxp = dx + plane * planeIn;
        if (!accumulate) {
            for (i64 i = 0; i < planeIn; i++) {
                dxp[i] = 0.0f;
            }
        }
        for (i64 o = plane * planeOut; o < (plane + 1) * planeOut; o++) {
            int at = indices[o];
            if (at < 0 || at >= planeIn) {
                jr_report(errors, 1, (int) o, at, (int) planeIn);
            } else {
                dxp[at] += dy[o];
            }
        }
    }
}

// The divisor of window (oi, oj) with count_include_pad: its size within the padded input (PyTorch's).
__device__ i64 jr_pool_divisor(jr_window s, i64 oi, i64 oj) {
    i64 h0 = oi * s.sh - s.ph, w0 = oj * s.sw - s.pw;
    i64 h1 = h0 + s.kh < s.h + s.ph ? h0 + s.kh : s.h + s.ph, w1 = w0 + s.kw < s.w + s.pw ? w0 + s.kw : s.w + s.pw;
    return (h1 - h0) * (w1 - w0);
}

extern "C" __global__ void jr_avg_pool(const float* x, float* y, jr_window s) {
    JR_FOR(e, s.n * s.c * s.oh * s.ow) {
        i64 oj = e % s.ow, oi = e / s.ow % s.oh, h0, h1, w0, w1;
        jr_pool_window(s, oi, oj, &h0, &h1, &w0, &w1);
        const float* xp = x + e / (s.ow * s.oh) * s.h * s.w;
        double sum = 0.0;
        for (i64 ih = h0; ih < h1; ih++) {
            for (i64 iw = w0; iw < w1; iw++) {
                sum += xp[ih * s.w + iw];
            }
        }
        y[e] = (float) (sum / (double) jr_pool_divisor(s, oi, oj));
    }
}

// dx[ih, iw] (+)= the dy of every window holding it over that window's divisor, summed in double.
extern "C" __global__ void jr_avg_pool_backward(const float* dy, float* dx, jr_window s, int accumulate) {
    JR_FOR(e, s.n * s.c * s.h * s.w) {
        i64 iw = e % s.w, ih = e / s.w % s.h, plane = e / (s.w * s.h);
        i64 oi0 = ih + s.ph - s.kh, oj0 = iw + s.pw - s.kw; // floor division of possibly negative numbers, then + 1
        oi0 = (oi0 >= 0 ? oi0 / s.sh : -((-oi0 + s.sh - 1) / s.sh)) + 1;
        oj0 = (oj0 >= 0 ? oj0 / s.sw : -((-oj0 + s.sw - 1) / s.sw)) + 1;
        oi0 = oi0 > 0 ? oi0 : 0;
        oj0 = oj0 > 0 ? oj0 : 0;
        i64 oi1 = (ih + s.ph) / s.sh, oj1 = (iw + s.pw) / s.sw;
        oi1 = oi1 < s.oh - 1 ? oi1 : s.oh - 1;
        oj1 = oj1 < s.ow - 1 ? oj1 : s.ow - 1;
        const float* dyp = dy + plane * s.oh * s.ow;
        double sum = 0.0;
        for (i64 oi = oi0; oi <= oi1; oi++) {
            for (i64 oj = oj0; oj <= oj1; oj++) {
                sum += (double) dyp[oi * s.ow + oj] / (double) jr_pool_divisor(s, oi, oj);
            }
        }
        dx[e] = (float) (accumulate ? dx[e] + sum : sum);
    }
}

// ---- batch normalisation over NCHW: one block of JR_REDUCE_THREADS per channel ---------------------
// Channel ch's N = n*hw elements lie at (b*c + ch)*hw + i. Sums in double (jr_block_sum's fixed tree).

__device__ i64 jr_bn_at(i64 e, i64 ch, int c, int hw) {
    return (e / hw * c + ch) * hw + e % hw;
}

extern "C" __global__ void jr_batch_norm_train(const float* x, const float* weight, const float* bias, int n, int c,
                                               int hw, float eps, float momentum, float* runningMean,
                                               float* runningVar, float* y, float* saveMean, float* saveRstd) {
    __shared__ double shared[JR_REDUCE_THREADS];
    i64 count = (i64) n * hw;
    for (i64 ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double acc = 0.0;
        for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
            acc += x[jr_bn_at(e, ch, c, hw)];
        }
        float mu = (float) (jr_block_sum(shared, acc) / (double) count);
        acc = 0.0;
        for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
            double d = x[jr_bn_at(e, ch, c, hw)] - mu;
            acc += d * d;
        }
        double sq = jr_block_sum(shared, acc);
        float rs = (float) (1.0 / sqrt(sq / (double) count + eps));
        float wc = weight ? weight[ch] : 1.0f, bc = bias ? bias[ch] : 0.0f;
        for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
            i64 at = jr_bn_at(e, ch, c, hw);
            y[at] = (x[at] - mu) * rs * wc + bc;
        }
        if (threadIdx.x == 0) {
            if (saveMean) {
                saveMean[ch] = mu;
                saveRstd[ch] = rs;
            }
            if (runningMean) {
                runningMean[ch] = (float) ((1.0 - momentum) * runningMean[ch] + (double) momentum * mu);
                runningVar[ch] = (float) ((1.0 - momentum) * runningVar[ch] + (double) momentum * (sq / (double) (count - 1)));
            }
        }
    }
}

extern "C" __global__ void jr_batch_norm_infer(const float* x, const float* weight, const float* bias,
                                               const float* runningMean, const float* runningVar, int n, int c, int hw,
                                               float eps, float* y) {
    JR_FOR(e, (i64) n * c * hw) {
        i64 ch = e / hw % c;
        float rs = (float) (1.0 / sqrt((double) runningVar[ch] + eps));
        y[e] = (x[e] - runningMean[ch]) * rs * (weight ? weight[ch] : 1.0f) + (bias ? bias[ch] : 0.0f);
    }
}

extern "C" __global__ void jr_batch_norm_backward(const float* x, const float* weight, const float* mean,
                                                  const float* rstd, const float* dy, int n, int c, int hw,
                                                  int training, float* dx, float* dweight, float* dbias) {
    __shared__ double shared[JR_REDUCE_THREADS];
    i64 count = (i64) n * hw;
    for (i64 ch = blockIdx.x; ch < c; ch += gridDim.x) {
        float mu = mean[ch], rs = rstd[ch];
        double accDy = 0.0, accDyXhat = 0.0;
        for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
            i64 at = jr_bn_at(e, ch, c, hw);
            float d = dy[at];
            accDy += d;
            accDyXhat += d * (double) ((x[at] - mu) * rs);
        }
        double sumDy = jr_block_sum(shared, accDy);
        double sumDyXhat = jr_block_sum(shared, accDyXhat);
        if (threadIdx.x == 0) {
            if (dweight) {
                dweight[ch] = (float) sumDyXhat;
            }
            if (dbias) {
                dbias[ch] = (float) sumDy;
            }
        }
        if (dx) {
            float scale = (weight ? weight[ch] : 1.0f) * rs;
            float meanDy = training ? (float) (sumDy / (double) count) : 0.0f;
            float meanDyXhat = training ? (float) (sumDyXhat / (double) count) : 0.0f;
            for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
                i64 at = jr_bn_at(e, ch, c, hw);
                float xhat = (x[at] - mu) * rs;
                dx[at] = scale * (dy[at] - meanDy - xhat * meanDyXhat);
            }
        }
    }
}
