/*
 * Kernel benchmark (run by `make bench`, never asserted): GFLOP/s of
 * actrm_matmul per weight type and ISA on the layer shapes of
 * Qwen2.5-0.5B at 1, 16 and 512 tokens, OpenBLAS cblas_sgemm on the same
 * weights dequantized to fp32 with the same thread count as the reference
 * point, GB/s of weight bytes streamed at one token, and the vector ops.
 * F16/BF16 rows marked /g16 use the regrouped layout models get on x86.
 * An int8 multiply-add counts as 2 ops, like a float one.
 *
 * usage: bench_kernels [--threads N] [--quick] [--shape ROWSxCOLS]... [--gemv]
 *   --quick: skips the 151936-row output head (the slow part).
 *   --shape: these weight shapes instead of Qwen2.5-0.5B's (repeatable),
 *            e.g. --shape 8192x2048 --shape 2048x8192 for Llama-3.2-1B's FFN.
 *   --gemv:  one token only (generation), no vector ops.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels.h"
#include "matmul.h"

#define MAX_TABLES 8

typedef struct shape {
    const char *name;
    int rows, cols;
} shape;

static const shape qwen_shapes[] = {
    {"attn_q/o 896x896", 896, 896},
    {"attn_k/v 128x896", 128, 896},
    {"ffn_up 4864x896", 4864, 896},
    {"ffn_down 896x4864", 896, 4864},
    {"head 151936x896", 151936, 896},
};
#define MAX_SHAPES 16
static const int token_counts[] = {1, 16, 512};
static const int wtypes[] = {GGML_TYPE_Q8_0, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Median-free but robust enough: the best of reps after one warm-up, with
 * reps chosen so that one configuration takes about `budget` seconds. */
typedef void (*bench_fn)(void *ctx);

static double best_time(bench_fn fn, void *ctx, double budget)
{
    double t0 = now();
    fn(ctx);
    double first = now() - t0, best = first;
    int reps = first > budget ? 0 : (int)(budget / (first > 1e-6 ? first : 1e-6));
    if (reps > 50)
        reps = 50;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static uint64_t rng = 88172645463325252ull;

static float rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

typedef struct mm_ctx {
    const actrm_kernels *k;
    actrm_weight W;
    const float *x;
    int T, threads;
    float *y;
    void *scratch;
} mm_ctx;

static void run_matmul(void *p)
{
    mm_ctx *c = p;
    actrm_matmul(c->k, &c->W, c->x, c->T, c->y, c->W.rows, c->scratch, c->threads);
}

typedef struct blas_ctx {
    const float *W, *x;
    float *y;
    int N, K, T;
} blas_ctx;

static void run_sgemm(void *p)
{
    blas_ctx *c = p;
    /* y[T][N] = x[T][K] * W[N][K]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->T, c->N, c->K, 1.0f, c->x, c->K,
                c->W, c->K, 0.0f, c->y, c->N);
}

/* The fp32 weights of one shape in every weight type. */
typedef struct weights {
    float *f32;
    void *data[4]; /* indexed like wtypes */
    size_t stride[4];
    void *g16[4];  /* F16/BF16 data regrouped to the G16 layout (NULL otherwise) */
} weights;

/* BENCH_HUGE=1: weights in 2 MiB pages (fewer TLB misses), for comparison. */
static void *huge_alloc(size_t n)
{
    if (!getenv("BENCH_HUGE"))
        return malloc(n);
    void *p = aligned_alloc(2u << 20, (n + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1));
    madvise(p, n, MADV_HUGEPAGE);
    return p;
}

static void make_weights(weights *w, const shape *s, const actrm_kernels *best)
{
    size_t n = (size_t)s->rows * s->cols;
    w->f32 = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        w->f32[i] = rnd() * 0.05f;
    for (int ti = 0; ti < 4; ti++) {
        int type = wtypes[ti];
        size_t rs = type == GGML_TYPE_Q8_0 ? (size_t)s->cols / QK8_0 * sizeof(block_q8_0)
                  : type == GGML_TYPE_F32 ? (size_t)s->cols * 4 : (size_t)s->cols * 2;
        w->stride[ti] = rs;
        if (type == GGML_TYPE_F32) {
            w->data[ti] = w->f32;
            continue;
        }
        char *d = huge_alloc(rs * s->rows);
        #pragma omp parallel for
        for (int r = 0; r < s->rows; r++) {
            const float *src = w->f32 + (size_t)r * s->cols;
            char *dst = d + (size_t)r * rs;
            if (type == GGML_TYPE_Q8_0) {
                best->quantize_q8_0(src, (block_q8_0 *)dst, s->cols);
                continue;
            }
            for (int k = 0; k < s->cols; k++) {
                uint16_t h = type == GGML_TYPE_F16 ? actrm_f32_to_fp16(src[k]) : actrm_f32_to_bf16(src[k]);
                memcpy(dst + 2 * k, &h, 2);
            }
        }
        w->data[ti] = d;
    }
    for (int ti = 0; ti < 4; ti++) {
        w->g16[ti] = NULL;
        if ((wtypes[ti] == GGML_TYPE_F16 || wtypes[ti] == GGML_TYPE_BF16) && s->rows % ACTRM_G16 == 0) {
            size_t bytes = w->stride[ti] * s->rows;
            w->g16[ti] = huge_alloc(bytes);
            memcpy(w->g16[ti], w->data[ti], bytes);
            actrm_weight g = {wtypes[ti], s->rows, s->cols, w->stride[ti], w->g16[ti], 0};
            actrm_weight_regroup_g16(&g, 0);
        }
    }
    /* OpenBLAS gets exactly the values the Q8_0 kernels see */
    #pragma omp parallel for
    for (int r = 0; r < s->rows; r++)
        best->row_to_f32(GGML_TYPE_Q8_0, (char *)w->data[0] + (size_t)r * w->stride[0],
                         w->f32 + (size_t)r * s->cols, s->cols);
}

static void free_weights(weights *w)
{
    for (int ti = 0; ti < 4; ti++) {
        if (w->data[ti] != w->f32)
            free(w->data[ti]);
        free(w->g16[ti]);
    }
    free(w->f32);
}

/* True if table i's entry for slot differs from every lower table's. */
static int distinct_gemm(const actrm_kernels *tab, int i, int slot)
{
    for (int j = 0; j < i; j++)
        if (tab[j].gemm[slot] == tab[i].gemm[slot])
            return 0;
    return 1;
}

static void bench_matmuls(const actrm_kernels *tab, int n_tab, int threads, const shape *shapes,
                          int n_shapes, int n_counts)
{
    printf("\n== GEMM/GEMV via actrm_matmul, %d threads (GFLOP/s; at T=1 also GB/s of weights)\n", threads);
    printf("%-20s %4s %-8s %-13s %9s %8s %9s\n", "shape", "T", "type", "path", "ms", "GFLOP/s", "GB/s");
    for (int si = 0; si < n_shapes; si++) {
        const shape *s = &shapes[si];
        weights w;
        make_weights(&w, s, &tab[n_tab - 1]);
        int Tmax = token_counts[2];
        float *x = malloc(sizeof(float) * Tmax * s->cols);
        float *y = malloc(sizeof(float) * (size_t)Tmax * s->rows);
        for (size_t i = 0; i < (size_t)Tmax * s->cols; i++)
            x[i] = rnd();
        void *scratch = malloc(actrm_matmul_scratch_size(Tmax, s->cols));
        double budget = s->rows > 100000 ? 0.5 : 0.25;
        for (int tj = 0; tj < n_counts; tj++) {
            int T = token_counts[tj];
            double flops = 2.0 * s->rows * s->cols * T;
            for (int v = 0; v < 8; v++) /* the 4 types in row layout, then in G16 */
                for (int i = 0; i < n_tab; i++) {
                    int ti = v % 4, g16 = v >= 4, slot = actrm_wt_slot(wtypes[ti]);
                    if (g16 && !w.g16[ti])
                        break;
                    if (g16)
                        slot = slot == ACTRM_WT_F16 ? ACTRM_WT_F16_G16 : ACTRM_WT_BF16_G16;
                    if (!distinct_gemm(tab, i, slot))
                        continue;
                    /* the scalar reference is only timed where it is quick */
                    if (i == 0 && (T > 1 || s->rows > 10000))
                        continue;
                    mm_ctx c = {&tab[i],
                                {wtypes[ti], s->rows, s->cols, w.stride[ti], g16 ? w.g16[ti] : w.data[ti], g16},
                                x, T, threads, y, scratch};
                    double t = best_time(run_matmul, &c, budget);
                    char name[16];
                    snprintf(name, sizeof name, "%s%s", ggml_type_name(wtypes[ti]), g16 ? "/g16" : "");
                    printf("%-20s %4d %-8s %-13s %9.3f %8.1f", s->name, T, name,
                           tab[i].path, 1e3 * t, flops / t * 1e-9);
                    if (T == 1)
                        printf(" %9.1f", (double)w.stride[ti] * s->rows / t * 1e-9);
                    printf("\n");
                }
            blas_ctx b = {w.f32, x, y, s->rows, s->cols, T};
            double t = best_time(run_sgemm, &b, budget);
            printf("%-20s %4d %-8s %-13s %9.3f %8.1f", s->name, T, "f32", "openblas", 1e3 * t,
                   flops / t * 1e-9);
            if (T == 1)
                printf(" %9.1f", 4.0 * s->rows * s->cols / t * 1e-9);
            printf("\n");
            fflush(stdout);
            /* OpenBLAS threads spin a while after a call; let them park so
             * they do not steal the cores from the next measurement */
            usleep(300000);
        }
        free(scratch);
        free(x);
        free(y);
        free_weights(&w);
    }
}

typedef struct vec_ctx {
    const actrm_kernels *k;
    int op, n, reps;
    float *a, *b, *out;
} vec_ctx;

static const char *vec_names[] = {"rmsnorm", "softmax", "silu_mul", "dot", "axpy", "rope", "quantize_q8_0"};
enum { N_VEC_OPS = 7 };

static void run_vec(void *p)
{
    vec_ctx *c = p;
    volatile float sink = 0;
    for (int r = 0; r < c->reps; r++)
        switch (c->op) {
        case 0: c->k->rmsnorm(c->out, c->a, c->b, c->n, 1e-6f); break;
        case 1: memcpy(c->out, c->a, sizeof(float) * c->n); c->k->softmax(c->out, c->n); break;
        case 2: c->k->silu_mul(c->out, c->a, c->b, c->n); break;
        case 3: sink += c->k->dot(c->a, c->b, c->n); break;
        case 4: c->k->axpy(c->out, 0.5f, c->a, c->n); break;
        case 5:
            for (int h = 0; h + 64 <= c->n; h += 64)
                c->k->rope(c->out + h, c->b, 64, 1);
            break;
        case 6: c->k->quantize_q8_0(c->a, (block_q8_0 *)c->out, c->n); break;
        }
    (void)sink;
}

static void bench_vector_ops(const actrm_kernels *tab, int n_tab)
{
    const int n = 4864, reps = 2000;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        a[i] = rnd() * 4;
        b[i] = rnd();
        out[i] = 0;
    }
    printf("\n== vector ops, one thread, n = %d (Gelem/s)\n%-14s", n, "op");
    for (int i = 0; i < n_tab; i++)
        printf(" %12s", tab[i].path);
    printf("\n");
    for (int op = 0; op < N_VEC_OPS; op++) {
        printf("%-14s", vec_names[op]);
        for (int i = 0; i < n_tab; i++) {
            vec_ctx c = {&tab[i], op, n, reps, a, b, out};
            double t = best_time(run_vec, &c, 0.05);
            printf(" %12.2f", (double)n * reps / t * 1e-9);
        }
        printf("\n");
    }
    free(a);
    free(b);
    free(out);
}

/* What "near memory bandwidth" means here: a plain parallel read. */
typedef struct mem_ctx {
    const uint64_t *p;
    size_t n;
    int threads;
    uint64_t sum;
} mem_ctx;

static void run_read(void *p)
{
    mem_ctx *c = p;
    uint64_t s = 0;
    #pragma omp parallel for reduction(+ : s) num_threads(c->threads)
    for (size_t i = 0; i < c->n; i++)
        s += c->p[i];
    c->sum += s;
}

static void bench_memory(int threads)
{
    size_t n = (size_t)512 << 20 >> 3;
    uint64_t *p = malloc(n * sizeof(uint64_t));
    if (!p)
        return;
    #pragma omp parallel for num_threads(threads)
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    mem_ctx c = {p, n, threads, 0};
    double t = best_time(run_read, &c, 1.0);
    printf("\n== memory: parallel read of 512 MiB, %d threads: %.1f GB/s%s\n", threads,
           (double)n * 8 / t * 1e-9, c.sum == 1 ? " " : "");
    free(p);
}

int main(int argc, char **argv)
{
    int threads = omp_get_num_procs(), quick = 0, gemv = 0, n_shapes = 0;
    shape shapes[MAX_SHAPES];
    static char names[MAX_SHAPES][32];
    for (int i = 1; i < argc; i++) {
        int r, c;
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--gemv") == 0)
            gemv = 1;
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc && n_shapes < MAX_SHAPES &&
                 sscanf(argv[++i], "%dx%d", &r, &c) == 2 && r > 0 && c > 0) {
            snprintf(names[n_shapes], sizeof names[0], "%dx%d", r, c);
            shapes[n_shapes] = (shape){names[n_shapes], r, c};
            n_shapes++;
        } else {
            fprintf(stderr, "usage: %s [--threads N] [--quick] [--shape ROWSxCOLS]... [--gemv]\n", argv[0]);
            return 2;
        }
    }
    if (n_shapes == 0) {
        n_shapes = (int)(sizeof qwen_shapes / sizeof qwen_shapes[0]) - (quick ? 1 : 0);
        memcpy(shapes, qwen_shapes, sizeof(shape) * (size_t)n_shapes);
    }
    actrm_kernels tab[MAX_TABLES];
    int n_tab = actrm_kernels_all(tab, MAX_TABLES);
    openblas_set_num_threads(threads);
    printf("actrm kernel benchmark: %d threads; paths:", threads);
    for (int i = 0; i < n_tab; i++)
        printf(" %s", tab[i].path);
    printf("\nOpenBLAS: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
    bench_memory(threads);
    if (!gemv)
        bench_vector_ops(tab, n_tab);
    bench_matmuls(tab, n_tab, threads, shapes, n_shapes, gemv ? 1 : 3);
    return 0;
}
