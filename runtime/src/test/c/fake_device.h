/*
 * The "device" of the C test doubles of GPU runtimes (fake_cuda.c, fake_hip.c): jrocm's own kernel
 * source, compiled for the HOST and run there. The runtime compiler doubles (NVRTC, hipRTC) hand
 * the source to g++ with a prelude that gives it CUDA's vocabulary (blockIdx, __shared__,
 * __syncthreads, atomicMin, …) and, per kernel, a trampoline that unpacks a launch's kernelParams
 * by the kernel's declared parameter types, as a GPU runtime does. A launch runs every block in
 * turn; within a block, a kernel that shares memory (__shared__) runs its GPU threads as fibers
 * (ucontext) taking turns, each __syncthreads a switch to the next, so that all reach the barrier
 * before any passes it; any other kernel runs its threads one after another.
 *
 * So the doubles compute what the kernels compute, and a backend over them can be held to the CPU
 * backend's numbers. What they cannot show is the GPU's side: warps, memory ordering between
 * blocks, speed. Also here: BLAS's column-major reference SGEMM. Memory is host memory: the doubles
 * hand out malloc'd blocks as device pointers.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

typedef long long fake_i64;

/* The prelude compiled ahead of the kernel source (as C++). */
static const char FAKE_PRELUDE[] =
    "#include <cmath>\n"
    "#include <cstring>\n"
    "#include <math.h>\n"
    "#include <pthread.h>\n"
    "struct dim3 { unsigned x, y, z; };\n"
    "static dim3 gridDim, blockDim, blockIdx;\n"
    "static __thread dim3 threadIdx;\n"
    "static void (*jr__sync)(void);\n"
    "#define __global__\n"
    "#define __device__\n"
    "#define __shared__ static\n"
    "static inline void __syncthreads() { if (jr__sync) jr__sync(); }\n"
    "static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }\n"
    "static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }\n"
    "static inline unsigned long long atomicMin(unsigned long long* a, unsigned long long v) {\n"
    "    unsigned long long old = __atomic_load_n(a, __ATOMIC_SEQ_CST);\n"
    "    while (v < old && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) { }\n"
    "    return old;\n"
    "}\n"
    "extern \"C\" void jr__dims(unsigned gx, unsigned gy, unsigned bx, unsigned by) { gridDim = {gx, gy, 1}; blockDim = {bx, by, 1}; }\n"
    "extern \"C\" void jr__block(unsigned x, unsigned y) { blockIdx = {x, y, 0}; }\n"
    "extern \"C\" void jr__thread(unsigned x, unsigned y) { threadIdx = {x, y, 0}; }\n"
    "extern \"C\" void jr__set_sync(void (*sync)(void)) { jr__sync = sync; }\n";

/* A growing string. */
typedef struct { char* text; size_t length, capacity; } fake_text;

static void fake_append(fake_text* t, const char* s, size_t n) {
    if (t->length + n + 1 > t->capacity) {
        t->capacity = (t->length + n + 1) * 2;
        t->text = realloc(t->text, t->capacity);
    }
    memcpy(t->text + t->length, s, n);
    t->length += n;
    t->text[t->length] = 0;
}

static void fake_appends(fake_text* t, const char* s) { fake_append(t, s, strlen(s)); }

static int fake_identifier_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * For every `extern "C" __global__ void name(params) { body }` of the source: a trampoline
 * `name__launch(void** p)` that calls it with `*(TYPE*) p[i]` per parameter, and
 * `name__cooperative`, 1 when the body shares memory or synchronises.
 */
static void fake_trampolines(const char* source, fake_text* out) {
    const char* marker = "extern \"C\" __global__ void ";
    for (const char* at = strstr(source, marker); at != NULL; at = strstr(at + 1, marker)) {
        const char* name = at + strlen(marker);
        while (*name == ' ') name++;
        const char* name_end = name;
        while (fake_identifier_char(*name_end)) name_end++;
        const char* open = strchr(name_end, '(');
        const char* close = open == NULL ? NULL : strchr(open, ')');
        const char* body = close == NULL ? NULL : strchr(close, '{');
        if (body == NULL) return;
        int depth = 0;
        const char* body_end = body;
        for (; *body_end; body_end++) {
            if (*body_end == '{') depth++;
            if (*body_end == '}' && --depth == 0) break;
        }
        int cooperative = 0;
        for (const char* p = body; p < body_end && !cooperative; p++) {
            cooperative = strncmp(p, "__shared__", 10) == 0 || strncmp(p, "__syncthreads", 13) == 0;
        }
        fake_appends(out, "extern \"C\" void ");
        fake_append(out, name, (size_t) (name_end - name));
        fake_appends(out, "__launch(void** p) { ");
        fake_append(out, name, (size_t) (name_end - name));
        fake_appends(out, "(");
        int index = 0;
        const char* param = open + 1;
        while (param < close) {
            const char* comma = memchr(param, ',', (size_t) (close - param));
            const char* end = comma == NULL ? close : comma;
            const char* last = end;
            while (last > param && !fake_identifier_char(last[-1])) last--;   /* trailing spaces */
            while (last > param && fake_identifier_char(last[-1])) last--;    /* the parameter's name */
            const char* type = param;
            while (type < last && (*type == ' ' || *type == '\n')) type++;
            char slot[64];
            snprintf(slot, sizeof slot, "%s*(", index == 0 ? "" : ", ");
            fake_appends(out, slot);
            fake_append(out, type, (size_t) (last - type));
            snprintf(slot, sizeof slot, "*) p[%d]", index++);
            fake_appends(out, slot);
            param = end + 1;
        }
        fake_appends(out, "); }\nextern \"C\" const int ");
        fake_append(out, name, (size_t) (name_end - name));
        fake_appends(out, cooperative ? "__cooperative = 1;\n" : "__cooperative = 0;\n");
    }
}

/* The folders fake_build made, removed when the process exits (a loaded image names its library). */
#define FAKE_MAX_BUILDS 64
static char fake_builds[FAKE_MAX_BUILDS][64];
static int fake_build_count;

static void fake_remove_builds(void) {
    static const char* files[] = {"kernels.cpp", "kernels.so", "messages.txt"};
    for (int i = 0; i < fake_build_count; i++) {
        char path[128];
        for (int f = 0; f < 3; f++) {
            snprintf(path, sizeof path, "%.63s/%.15s", fake_builds[i], files[f]);
            unlink(path);
        }
        rmdir(fake_builds[i]);
    }
}

/*
 * Compiles {source} for the host with g++. Returns 0 and the shared library's path in *library,
 * or -1 and g++'s messages (about {name}, as #line names it) in *log. Both are malloc'd.
 */
static int fake_build(const char* source, const char* name, char** library, char** log) {
    char dir[] = "/tmp/jrocm-fake-device-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        *log = strdup("fake device: mkdtemp failed");
        return -1;
    }
    if (fake_build_count == 0) atexit(fake_remove_builds);
    if (fake_build_count < FAKE_MAX_BUILDS) strcpy(fake_builds[fake_build_count++], dir);
    fake_text text = {0};
    fake_appends(&text, FAKE_PRELUDE);
    fake_appends(&text, "#line 1 \"");
    fake_appends(&text, name);
    fake_appends(&text, "\"\n");
    fake_appends(&text, source);
    fake_appends(&text, "\n#line 1 \"fake_device_trampolines\"\n");
    fake_trampolines(source, &text);
    char path[256], out[256], messages[256], command[1024];
    snprintf(path, sizeof path, "%s/kernels.cpp", dir);
    snprintf(out, sizeof out, "%s/kernels.so", dir);
    snprintf(messages, sizeof messages, "%s/messages.txt", dir);
    FILE* f = fopen(path, "w");
    if (f == NULL) {
        free(text.text);
        *log = strdup("fake device: cannot write the source");
        return -1;
    }
    fputs(text.text, f);
    fclose(f);
    free(text.text);
    snprintf(command, sizeof command, "g++ -shared -fPIC -O1 -ffp-contract=off -w -o %s %s > %s 2>&1", out, path, messages);
    int status = system(command);
    if (status != 0) {
        fake_text found = {0};
        FILE* m = fopen(messages, "r");
        char line[1024];
        while (m != NULL && fgets(line, sizeof line, m) != NULL) fake_appends(&found, line);
        if (m != NULL) fclose(m);
        *log = found.text != NULL ? found.text : strdup("g++ failed and said nothing (is g++ installed?)");
        return -1;
    }
    *library = strdup(out);
    return 0;
}

/* One kernel of a loaded library. */
typedef struct {
    void (*launch)(void**);
    int cooperative;
    void (*dims)(unsigned, unsigned, unsigned, unsigned);
    void (*block)(unsigned, unsigned);
    void (*thread)(unsigned, unsigned);
    void (*set_sync)(void (*)(void));
} fake_kernel;

/* Finds kernel {name} in a library fake_build made (dlopen'd); 0, or -1 when it has no such kernel. */
static int fake_find(void* library, const char* name, fake_kernel* k) {
    char symbol[128];
    snprintf(symbol, sizeof symbol, "%s__launch", name);
    *(void**) &k->launch = dlsym(library, symbol);
    snprintf(symbol, sizeof symbol, "%s__cooperative", name);
    const int* cooperative = dlsym(library, symbol);
    *(void**) &k->dims = dlsym(library, "jr__dims");
    *(void**) &k->block = dlsym(library, "jr__block");
    *(void**) &k->thread = dlsym(library, "jr__thread");
    *(void**) &k->set_sync = dlsym(library, "jr__set_sync");
    if (k->launch == NULL || cooperative == NULL || k->dims == NULL || k->set_sync == NULL) return -1;
    k->cooperative = *cooperative;
    return 0;
}

/* The fibers of the block that runs now (one OS thread runs a launch at a time: the doubles' lock). */
#define FAKE_FIBER_STACK (64 * 1024)
static ucontext_t fake_scheduler;
static ucontext_t* fake_fibers;
static char* fake_stacks;
static int* fake_done;
static unsigned fake_capacity, fake_current;
static const fake_kernel* fake_running;
static void** fake_params;

static void fake_fiber_main(void) {
    fake_running->launch(fake_params);
    fake_done[fake_current] = 1; /* returning resumes the scheduler (uc_link) */
}

/* __syncthreads in a fiber: back to the scheduler, which runs the block's other threads first. */
static void fake_sync(void) {
    swapcontext(&fake_fibers[fake_current], &fake_scheduler);
}

/* Makes fiber i ready to start the kernel (its own function: getcontext returns twice, like setjmp). */
static __attribute__((noinline)) void fake_prepare_fiber(unsigned i) {
    getcontext(&fake_fibers[i]);
    fake_fibers[i].uc_stack.ss_sp = fake_stacks + (size_t) i * FAKE_FIBER_STACK;
    fake_fibers[i].uc_stack.ss_size = FAKE_FIBER_STACK;
    fake_fibers[i].uc_link = &fake_scheduler;
    makecontext(&fake_fibers[i], fake_fiber_main, 0);
    fake_done[i] = 0;
}

/* Runs a launch of grid (gx, gy) and block (bx, by); 0, or -1 when the fibers' memory could not be had. */
static int fake_launch(const fake_kernel* k, unsigned gx, unsigned gy, unsigned bx, unsigned by, void** params) {
    k->dims(gx, gy, bx, by);
    unsigned threads = bx * by;
    if (k->cooperative && threads > fake_capacity) {
        free(fake_fibers); free(fake_stacks); free(fake_done);
        fake_fibers = calloc(threads, sizeof(ucontext_t));
        fake_stacks = malloc((size_t) threads * FAKE_FIBER_STACK);
        fake_done = calloc(threads, sizeof(int));
        fake_capacity = fake_fibers && fake_stacks && fake_done ? threads : 0;
        if (fake_capacity == 0) return -1;
    }
    k->set_sync(k->cooperative ? fake_sync : NULL);
    for (unsigned y = 0; y < gy; y++) {
        for (unsigned x = 0; x < gx; x++) {
            k->block(x, y);
            if (!k->cooperative) {
                for (unsigned ty = 0; ty < by; ty++) {
                    for (unsigned tx = 0; tx < bx; tx++) {
                        k->thread(tx, ty);
                        k->launch(params);
                    }
                }
                continue;
            }
            fake_running = k;
            fake_params = params;
            for (unsigned i = 0; i < threads; i++) {
                fake_prepare_fiber(i);
            }
            unsigned remaining = threads;
            while (remaining > 0) { /* one round: every live thread runs to its next barrier or its end */
                for (unsigned i = 0; i < threads; i++) {
                    if (fake_done[i]) continue;
                    fake_current = i;
                    k->thread(i % bx, i / bx);
                    swapcontext(&fake_scheduler, &fake_fibers[i]);
                    if (fake_done[i]) remaining--;
                }
            }
        }
    }
    k->set_sync(NULL);
    return 0;
}

/*
 * Column-major C = alpha op(A) op(B) + beta C, op(A) m×k, op(B) k×n; beta = 0 ignores C (as BLAS).
 * Sums in double; loops in the order that reads A contiguously (the doubles also run big GEMMs).
 */
static void fake_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc) {
    double* column = calloc((size_t) (m > 0 ? m : 1), sizeof(double));
    for (int j = 0; j < n; j++) {
        if (transa) { /* op(A)(i, p) = A[p + i·lda]: a dot product over p per element */
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) A[p + (fake_i64) i * lda] * (transb ? B[j + (fake_i64) p * ldb] : B[p + (fake_i64) j * ldb]);
                }
                column[i] = s;
            }
        } else {      /* op(A)(i, p) = A[i + p·lda]: add column p of A, times B(p, j), to the sums */
            memset(column, 0, (size_t) m * sizeof(double));
            for (int p = 0; p < k; p++) {
                double b = transb ? B[j + (fake_i64) p * ldb] : B[p + (fake_i64) j * ldb];
                const float* a = A + (fake_i64) p * lda;
                for (int i = 0; i < m; i++) column[i] += (double) a[i] * b;
            }
        }
        for (int i = 0; i < m; i++) {
            fake_i64 c = i + (fake_i64) j * ldc;
            C[c] = (float) (alpha * column[i] + (beta == 0.0f ? 0.0 : (double) beta * C[c]));
        }
    }
    free(column);
}

/* BLAS's rules for the sizes and leading dimensions of a column-major SGEMM. */
static int fake_sgemm_args_ok(int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc) {
    int rows_a = transa ? k : m, rows_b = transb ? n : k;
    return m >= 0 && n >= 0 && k >= 0 && lda >= (rows_a > 1 ? rows_a : 1) && ldb >= (rows_b > 1 ? rows_b : 1)
           && ldc >= (m > 1 ? m : 1);
}
