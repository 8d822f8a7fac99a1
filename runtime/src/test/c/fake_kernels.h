/*
 * Shared by the C test doubles of GPU runtimes (fake_cuda.c, fake_hip.c): a few of jrocm's kernels
 * run on the host by name, reading the launch's kernelParams (an array of pointers to each
 * argument's value) as a GPU runtime does, and a column-major reference SGEMM as BLAS defines it.
 * Memory is host memory: the doubles hand out malloc'd blocks as device pointers.
 */
#include <string.h>

typedef long long fake_i64;

#define ARG(T, i) (*(T*) params[i])

/*
 * Runs kernel {name} when it is one the doubles know, with the launch's block shape (bx, by) and
 * grid width gx. Returns 1 when it ran, 0 when the kernel is not emulated (the launch is only
 * counted) and -1 when the launch geometry is one the kernel cannot have been given.
 */
static int fake_run_kernel(const char* name, unsigned gx, unsigned bx, unsigned by, void** params) {
    if (strcmp(name, "jr_fill") == 0) {
        float* x = ARG(float*, 0);
        for (fake_i64 i = 0; i < ARG(fake_i64, 2); i++) x[i] = ARG(float, 1);
    } else if (strcmp(name, "jr_scale") == 0) {
        float* x = ARG(float*, 0);
        for (fake_i64 i = 0; i < ARG(fake_i64, 2); i++) x[i] = ARG(float, 1) * x[i];
    } else if (strcmp(name, "jr_axpy") == 0) {
        const float* x = ARG(float*, 1);
        float* y = ARG(float*, 2);
        for (fake_i64 i = 0; i < ARG(fake_i64, 3); i++) y[i] = y[i] + ARG(float, 0) * x[i];
    } else if (strcmp(name, "jr_relu") == 0) {
        const float* x = ARG(float*, 0);
        float* y = ARG(float*, 1);
        for (fake_i64 i = 0; i < ARG(fake_i64, 2); i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    } else if (strcmp(name, "jr_add_bias") == 0) {
        float* y = ARG(float*, 0);
        const float* bias = ARG(float*, 1);
        int cols = ARG(int, 2);
        for (fake_i64 i = 0; i < ARG(fake_i64, 3); i++) y[i] = y[i] + bias[i % cols];
    } else if (strcmp(name, "jr_column_sums") == 0) {
        const float* x = ARG(float*, 0);
        int rows = ARG(int, 1), cols = ARG(int, 2), accumulate = ARG(int, 4);
        float* out = ARG(float*, 3);
        if (bx != 32 || by != 8 || gx * 32 < (unsigned) cols) return -1;
        for (int c = 0; c < cols; c++) {
            float partial[8] = {0};
            for (int r8 = 0; r8 < 8; r8++) for (int row = r8; row < rows; row += 8) partial[r8] += x[(fake_i64) row * cols + c];
            float total = accumulate ? out[c] : 0.0f;
            for (int k = 0; k < 8; k++) total += partial[k];
            out[c] = total;
        }
    } else {
        return 0;
    }
    return 1;
}

/* Column-major C = alpha op(A) op(B) + beta C, op(A) m×k, op(B) k×n; beta = 0 ignores C (as BLAS). */
static void fake_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc) {
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float a = transa ? A[p + (fake_i64) i * lda] : A[i + (fake_i64) p * lda];
                float b = transb ? B[j + (fake_i64) p * ldb] : B[p + (fake_i64) j * ldb];
                s += (double) a * b;
            }
            fake_i64 c = i + (fake_i64) j * ldc;
            C[c] = (float) (alpha * s + (beta == 0.0f ? 0.0 : (double) beta * C[c]));
        }
    }
}

/* BLAS's rules for the sizes and leading dimensions of a column-major SGEMM. */
static int fake_sgemm_args_ok(int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc) {
    int rows_a = transa ? k : m, rows_b = transb ? n : k;
    return m >= 0 && n >= 0 && k >= 0 && lda >= (rows_a > 1 ? rows_a : 1) && ldb >= (rows_b > 1 ? rows_b : 1)
           && ldc >= (m > 1 ? m : 1);
}
