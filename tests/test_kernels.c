/*
 * Kernels: every ISA table this CPU can run against the scalar reference,
 * bit for bit (the contract in simd/kernels.h), on random inputs whose sizes
 * are not multiples of vector widths, tiles or chunks; independence of the
 * row range, token count and thread count; the reference itself against
 * float64 within the error bound of its arithmetic; and the dispatcher.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "matmul.h"
#include "vmath.h"

#define MAX_TABLES 8

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Uniform in [-scale, scale). */
static float rng_float(float scale)
{
    return scale * ((float)(rng_u32() & 0xffffff) / 8388608.0f - 1.0f);
}

/* Values spread over a few decades, as activations are. */
static void fill_random(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rng_float(1.0f) * powf(10.0f, rng_float(1.5f));
}

static int all_tables(actrm_kernels *t)
{
    int n = actrm_kernels_all(t, MAX_TABLES);
    cr_assert(n >= 1 && strcmp(t[0].isa, "ref") == 0, "the first table must be ref");
    return n;
}

static const int wtypes[4] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0};

/* A random weight matrix [N][K] of a ggml type, plus its row stride. */
static void *make_weights(int type, int N, int K, size_t *stride)
{
    actrm_kernels ref;
    actrm_kernels_ref(&ref);
    float *row = malloc((size_t)K * sizeof(float));
    size_t rs = type == GGML_TYPE_F32 ? 4u * K
              : type == GGML_TYPE_Q8_0 ? (size_t)K / QK8_0 * sizeof(block_q8_0) : 2u * K;
    char *W = malloc(rs * (size_t)N + 1);
    for (int n = 0; n < N; n++) {
        fill_random(row, (size_t)K);
        char *dst = W + (size_t)n * rs;
        for (int k = 0; k < K; k++) {
            uint16_t h = type == GGML_TYPE_F16 ? actrm_f32_to_fp16(row[k]) : actrm_f32_to_bf16(row[k]);
            if (type == GGML_TYPE_F32)
                memcpy(dst + 4 * k, &row[k], 4);
            else if (type != GGML_TYPE_Q8_0)
                memcpy(dst + 2 * k, &h, 2);
        }
        if (type == GGML_TYPE_Q8_0)
            ref.quantize_q8_0(row, (block_q8_0 *)dst, K);
    }
    free(row);
    *stride = rs;
    return W;
}

/* Activations for a GEMM of type: floats, or Q8_0 blocks made by ref. */
static void *make_activations(int type, int T, int K, size_t *stride)
{
    actrm_kernels ref;
    actrm_kernels_ref(&ref);
    float *x = malloc((size_t)T * K * sizeof(float));
    fill_random(x, (size_t)T * K);
    if (type != GGML_TYPE_Q8_0) {
        *stride = (size_t)K * sizeof(float);
        return x;
    }
    block_q8_0 *q = malloc((size_t)T * (K / QK8_0) * sizeof(block_q8_0));
    for (int t = 0; t < T; t++)
        ref.quantize_q8_0(x + (size_t)t * K, q + (size_t)t * (K / QK8_0), K);
    free(x);
    *stride = (size_t)(K / QK8_0) * sizeof(block_q8_0);
    return q;
}

static int first_difference(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return (int)i;
    return -1;
}

/* Runs one GEMM into a fresh y [T][ldy] with a NaN canary around [n0,n1). */
static float *run_gemm(const actrm_kernels *k, int type, const void *W, size_t ws,
                       const void *x, size_t xs, int K, int T, int n0, int n1, int ldy)
{
    float *y = malloc((size_t)T * ldy * sizeof(float));
    for (size_t i = 0; i < (size_t)T * ldy; i++)
        y[i] = NAN;
    k->gemm[actrm_wt_slot(type)](W, ws, x, xs, K, T, n0, n1, y, ldy);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < ldy; n++)
            if (n < n0 || n >= n1)
                cr_assert(isnan(y[(size_t)t * ldy + n]), "%s gemm wrote outside its rows (t %d, n %d)",
                          k->path, t, n);
    return y;
}

Test(kernels, gemm_every_isa_equals_ref_bitwise)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    static const int Ns[] = {1, 3, 17, 33, 70}, Ts[] = {1, 2, 3, 4, 5, 17, 33};
    static const int Kq[] = {32, 96, 288, 544}, Kf[] = {1, 3, 17, 33, 130, 300};
    for (int ti = 0; ti < 4; ti++) {
        int type = wtypes[ti], q8 = type == GGML_TYPE_Q8_0;
        for (int ki = 0; ki < (q8 ? 4 : 6); ki++) {
            int K = q8 ? Kq[ki] : Kf[ki], Nmax = 70, Tmax = 33;
            size_t ws, xs;
            void *W = make_weights(type, Nmax, K, &ws), *x = make_activations(type, Tmax, K, &xs);
            for (int ni = 0; ni < 5; ni++)
                for (int tj = 0; tj < (int)(sizeof Ts / sizeof Ts[0]); tj++) {
                    int N = Ns[ni], T = Ts[tj], ldy = N + 3;
                    float *want = run_gemm(&tab[0], type, W, ws, x, xs, K, T, 0, N, ldy);
                    for (int i = 1; i < n_tab; i++) {
                        float *got = run_gemm(&tab[i], type, W, ws, x, xs, K, T, 0, N, ldy);
                        int d = first_difference(got, want, (size_t)T * ldy);
                        cr_assert(d < 0, "%s gemm %s N=%d T=%d K=%d: y[t=%d][n=%d] = %.9g, ref %.9g",
                                  tab[i].path, ggml_type_name(type), N, T, K, d / ldy, d % ldy,
                                  got[d], want[d]);
                        free(got);
                    }
                    free(want);
                }
            free(W);
            free(x);
        }
    }
}

/* Row-layout F16/BF16 weights [N][K] regrouped as kernels.h's G16 layout. */
static void *regroup_g16(const void *W, int N, int K)
{
    const uint16_t *src = W;
    uint16_t *dst = malloc((size_t)N * K * 2);
    for (int r = 0; r < N; r++)
        for (int k = 0; k < K; k++)
            dst[(size_t)(r / 16) * 16 * K + (size_t)k * 16 + r % 16] = src[(size_t)r * K + k];
    return dst;
}

/* The G16 GEMMs of every table give the row-layout reference's bits, over
 * row ranges that start and end inside the matrix. */
Test(kernels, g16_gemm_every_isa_equals_row_layout_ref_bitwise)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    static const int Ts[] = {1, 2, 3, 4, 5, 17, 33}, Ks[] = {1, 3, 17, 33, 130, 300};
    static const int ranges[][2] = {{0, 16}, {0, 48}, {16, 80}, {0, 160}, {32, 144}};
    const int N = 160;
    for (int h = 0; h < 2; h++) {
        int type = h ? GGML_TYPE_BF16 : GGML_TYPE_F16;
        int slot = h ? ACTRM_WT_BF16_G16 : ACTRM_WT_F16_G16;
        for (int ki = 0; ki < 6; ki++) {
            int K = Ks[ki];
            size_t ws, xs;
            void *W = make_weights(type, N, K, &ws), *x = make_activations(type, 33, K, &xs);
            void *G = regroup_g16(W, N, K);
            for (int ri = 0; ri < 5; ri++)
                for (int tj = 0; tj < 7; tj++) {
                    int n0 = ranges[ri][0], n1 = ranges[ri][1], T = Ts[tj], ldy = N + 3;
                    float *want = run_gemm(&tab[0], type, W, ws, x, xs, K, T, n0, n1, ldy);
                    for (int i = 0; i < n_tab; i++) {
                        float *got = malloc(sizeof(float) * T * ldy);
                        for (int j = 0; j < T * ldy; j++)
                            got[j] = NAN;
                        tab[i].gemm[slot](G, ws, x, xs, K, T, n0, n1, got, ldy);
                        int d = first_difference(got, want, (size_t)T * ldy);
                        cr_assert(d < 0, "%s G16 gemm %s rows [%d,%d) T=%d K=%d: y[t=%d][n=%d] = %.9g, ref %.9g",
                                  tab[i].path, ggml_type_name(type), n0, n1, T, K, d / ldy, d % ldy,
                                  got[d], want[d]);
                        free(got);
                    }
                    free(want);
                }
            free(G);
            free(W);
            free(x);
        }
    }
}

/* The same outputs computed over other row ranges and token subsets. */
Test(kernels, gemm_independent_of_row_range_and_tokens)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    const int N = 150, T = 21, ldy = N;
    for (int i = 0; i < n_tab; i++)
        for (int ti = 0; ti < 4; ti++) {
            int type = wtypes[ti], K = type == GGML_TYPE_Q8_0 ? 320 : 200;
            size_t ws, xs;
            void *W = make_weights(type, N, K, &ws), *x = make_activations(type, T, K, &xs);
            actrm_gemm_fn gemm = tab[i].gemm[actrm_wt_slot(type)];
            float *full = run_gemm(&tab[i], type, W, ws, x, xs, K, T, 0, N, ldy);
            float *y = malloc(sizeof(float) * T * ldy);
            static const int cuts[][4] = {{0, 1, 2, 150}, {0, 5, 69, 150}, {0, 64, 128, 150}, {0, 33, 34, 150}};
            static const int tsplit[] = {1, 4, 7, 20};
            for (int c = 0; c < 4; c++) {
                int t1 = tsplit[c];
                memset(y, 0, sizeof(float) * T * ldy);
                for (int s = 0; s < 3; s++) {
                    gemm(W, ws, x, xs, K, t1, cuts[c][s], cuts[c][s + 1], y, ldy);
                    gemm(W, ws, (const char *)x + t1 * xs, xs, K, T - t1, cuts[c][s], cuts[c][s + 1],
                         y + (size_t)t1 * ldy, ldy);
                }
                int d = first_difference(y, full, (size_t)T * ldy);
                cr_assert(d < 0, "%s gemm %s: split %d changes y[t=%d][n=%d]", tab[i].path,
                          ggml_type_name(type), c, d / ldy, d % ldy);
            }
            free(full);
            free(y);
            free(W);
            free(x);
        }
}

Test(kernels, matmul_same_bits_for_any_thread_count)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    const int N = 200, T = 9;
    for (int i = 0; i < n_tab; i++)
        for (int ti = 0; ti < 4; ti++) {
            int type = wtypes[ti], K = type == GGML_TYPE_Q8_0 ? 96 : 100;
            size_t ws, unused;
            void *data = make_weights(type, N, K, &ws);
            float *x = make_activations(GGML_TYPE_F32, T, K, &unused);
            actrm_weight W = {type, N, K, ws, data, 0};
            void *scratch = malloc(actrm_matmul_scratch_size(T, K) + 1);
            float *y1 = malloc(sizeof(float) * T * N), *yn = malloc(sizeof(float) * T * N);
            actrm_matmul(&tab[i], &W, x, T, y1, N, scratch, 1);
            for (int threads = 2; threads <= 3; threads++) {
                actrm_matmul(&tab[i], &W, x, T, yn, N, scratch, threads);
                int d = first_difference(yn, y1, (size_t)T * N);
                cr_assert(d < 0, "%s matmul %s: %d threads change y[%d]", tab[i].path,
                          ggml_type_name(type), threads, d);
            }
            free(y1);
            free(yn);
            free(scratch);
            free(x);
            free(data);
        }
}

/* actrm_weight_regroup_g16 + actrm_matmul: the same bits as the row layout
 * for any thread count, and row lookups that give back the rows. */
Test(kernels, regrouped_matmul_and_rows_equal_row_layout)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    const int N = 208, T = 6, K = 100;
    for (int h = 0; h < 2; h++) {
        int type = h ? GGML_TYPE_BF16 : GGML_TYPE_F16;
        size_t ws, unused;
        void *data = make_weights(type, N, K, &ws), *copy = malloc(ws * N);
        memcpy(copy, data, ws * N);
        float *x = make_activations(GGML_TYPE_F32, T, K, &unused);
        actrm_weight rows = {type, N, K, ws, data, 0}, groups = {type, N, K, ws, copy, 0};
        cr_assert_eq(actrm_weight_regroup_g16(&groups, 3), 1);
        cr_expect(groups.g16 && memcmp(copy, data, ws * N) != 0, "the data is regrouped");
        actrm_weight odd = {type, N - 8, K, ws, data, 0};
        cr_expect_eq(actrm_weight_regroup_g16(&odd, 1), 0, "200 rows are not regrouped");
        float a[100], b[100];
        for (int r = 0; r < N; r += 37) {
            actrm_weight_row_f32(&tab[0], &rows, r, a);
            actrm_weight_row_f32(&tab[0], &groups, r, b);
            cr_expect(memcmp(a, b, sizeof a) == 0, "row %d differs after regrouping", r);
        }
        void *scratch = malloc(actrm_matmul_scratch_size(T, K) + 1);
        float *want = malloc(sizeof(float) * T * N), *got = malloc(sizeof(float) * T * N);
        for (int i = 0; i < n_tab; i++) {
            for (int t1 = 1; t1 <= T; t1 += T - 1) /* one token (GEMV) and six (GEMM) */
                for (int threads = 1; threads <= 3; threads++) {
                    actrm_matmul(&tab[0], &rows, x, t1, want, N, scratch, 1);
                    actrm_matmul(&tab[i], &groups, x, t1, got, N, scratch, threads);
                    int d = first_difference(got, want, (size_t)t1 * N);
                    cr_assert(d < 0, "%s regrouped %s matmul, T=%d, %d threads: y[%d] differs", tab[i].path,
                              ggml_type_name(type), t1, threads, d);
                }
        }
        free(want);
        free(got);
        free(scratch);
        free(x);
        free(copy);
        free(data);
    }
}

/* actrm_matmul_shared (q/k/v, gate/up) gives the bits of separate calls,
 * for each weight type and for a mix of types (case 4). */
Test(kernels, shared_input_matmul_equals_separate_calls)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    const int rows[3] = {208, 48, 80}, T = 5, K = 96;
    static const int mixed[3] = {GGML_TYPE_Q8_0, GGML_TYPE_F16, GGML_TYPE_F32};
    for (int ti = 0; ti < 5; ti++) {
        size_t ws, unused;
        void *data[3];
        actrm_weight w[3];
        const actrm_weight *wp[3];
        float *sep[3], *got[3];
        int ldy[3];
        for (int i = 0; i < 3; i++) {
            int type = ti < 4 ? wtypes[ti] : mixed[i];
            data[i] = make_weights(type, rows[i], K, &ws);
            w[i] = (actrm_weight){type, rows[i], K, ws, data[i], 0};
            wp[i] = &w[i];
            sep[i] = malloc(sizeof(float) * T * rows[i]);
            got[i] = malloc(sizeof(float) * T * rows[i]);
            ldy[i] = rows[i];
        }
        float *x = make_activations(GGML_TYPE_F32, T, K, &unused);
        void *scratch = malloc(actrm_matmul_scratch_size(T, K) + 1);
        for (int i = 0; i < n_tab; i++)
            for (int t1 = 1; t1 <= T; t1 += T - 1)
                for (int threads = 1; threads <= 3; threads++) {
                    for (int j = 0; j < 3; j++)
                        actrm_matmul(&tab[0], &w[j], x, t1, sep[j], rows[j], scratch, 1);
                    actrm_matmul_shared(&tab[i], wp, got, ldy, 3, x, t1, scratch, threads);
                    for (int j = 0; j < 3; j++) {
                        int d = first_difference(got[j], sep[j], (size_t)t1 * rows[j]);
                        cr_assert(d < 0, "%s shared %s matmul (case %d), weight %d, T=%d, %d threads: y[%d] differs",
                                  tab[i].path, ggml_type_name(w[j].type), ti, j, t1, threads, d);
                    }
                }
        for (int i = 0; i < 3; i++) {
            free(data[i]);
            free(sep[i]);
            free(got[i]);
        }
        free(x);
        free(scratch);
    }
}

/* The reference GEMMs against float64 on the same (rounded) inputs: within
 * the bound of K sequential roundings, K * 2^-24 * sum |w*x| (plus one
 * rounding per block and two per block scale product for Q8_0). */
Test(kernels, ref_gemm_within_float_error_bound)
{
    actrm_kernels ref;
    actrm_kernels_ref(&ref);
    const int N = 7, T = 3, K = 512;
    for (int ti = 0; ti < 4; ti++) {
        int type = wtypes[ti];
        size_t ws, xs;
        void *W = make_weights(type, N, K, &ws), *x = make_activations(type, T, K, &xs);
        float y[T * N], w[K], xf[K];
        ref.gemm[actrm_wt_slot(type)](W, ws, x, xs, K, T, 0, N, y, N);
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                ref.row_to_f32(type, (const char *)W + n * ws, w, K);
                ref.row_to_f32(type == GGML_TYPE_Q8_0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32,
                               (const char *)x + t * xs, xf, K);
                double exact = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    exact += (double)w[k] * xf[k];
                    mag += fabs((double)w[k] * xf[k]);
                }
                double bound = (K + 3) * ldexp(1.0, -24) * mag;
                cr_assert(fabs(y[t * N + n] - exact) <= bound, "ref gemm %s: %.9g vs exact %.9g (bound %.3g)",
                          ggml_type_name(type), y[t * N + n], exact, bound);
            }
        free(W);
        free(x);
    }
}

/* Blocks that exercise the rounding: exact halves (ties go away from
 * zero), zeros, tiny scales (subnormal fp16) and huge values. */
static void quantize_inputs(float *x, int K)
{
    fill_random(x, (size_t)K);
    for (int j = 0; j < QK8_0; j++) /* block 0: amax 127 -> id 1, x = m + 0.5 */
        x[j] = j == 0 ? 127.0f : (float)(j - 16) + 0.5f;
    for (int j = QK8_0; j < 2 * QK8_0; j++)
        x[j] = 0.0f;
    for (int j = 2 * QK8_0; j < 3 * QK8_0; j++)
        x[j] = rng_float(1e-6f);
    for (int j = 3 * QK8_0; j < 4 * QK8_0; j++)
        x[j] = rng_float(3e4f);
}

Test(kernels, quantize_equals_ref_bitwise)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    const int K = 32 * 20;
    float x[K];
    block_q8_0 want[K / QK8_0], got[K / QK8_0];
    for (int rep = 0; rep < 20; rep++) {
        quantize_inputs(x, K);
        tab[0].quantize_q8_0(x, want, K);
        for (int i = 1; i < n_tab; i++) {
            tab[i].quantize_q8_0(x, got, K);
            for (int b = 0; b < K / QK8_0; b++)
                cr_assert(memcmp(&got[b], &want[b], sizeof(block_q8_0)) == 0,
                          "%s quantize_q8_0: block %d differs from ref", tab[i].path, b);
        }
    }
    /* ref itself: ties away from zero, and d the fp16 of amax/127 */
    cr_assert_eq(want[0].qs[1], -15, "x=-14.5 must round to -15");
    cr_assert_eq(want[0].qs[31], 16, "x=15.5 must round to 16");
    cr_assert_eq(actrm_fp16_to_f32(want[0].d), 1.0f);
    for (int j = 0; j < QK8_0; j++)
        cr_assert_eq(want[1].qs[j], 0);
}

Test(kernels, row_to_f32_equals_ref_bitwise)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    enum { N = 65536 + 5 };
    static uint16_t h[N];
    static float want[N], got[N];
    for (int i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    for (int ti = 1; ti < 3; ti++) {
        tab[0].row_to_f32(wtypes[ti], h, want, N);
        for (int i = 1; i < n_tab; i++) {
            tab[i].row_to_f32(wtypes[ti], h, got, N);
            for (int j = 0; j < N; j++) {
                if (isnan(want[j]))
                    cr_assert(isnan(got[j]), "%s %s: 0x%04x must give NaN", tab[i].path,
                              ggml_type_name(wtypes[ti]), j);
                else
                    cr_assert(memcmp(&got[j], &want[j], 4) == 0, "%s %s: 0x%04x -> %.9g, ref %.9g",
                              tab[i].path, ggml_type_name(wtypes[ti]), j, got[j], want[j]);
            }
        }
    }
    size_t ws;
    void *W = make_weights(GGML_TYPE_Q8_0, 1, 32 * 9, &ws);
    tab[0].row_to_f32(GGML_TYPE_Q8_0, W, want, 32 * 9);
    for (int i = 1; i < n_tab; i++) {
        tab[i].row_to_f32(GGML_TYPE_Q8_0, W, got, 32 * 9);
        cr_assert(first_difference(got, want, 32 * 9) < 0, "%s row_to_f32 q8_0 differs", tab[i].path);
    }
    free(W);
}

/* Runs op(table, a, b, out) for every table and compares with ref. */
typedef void (*vec_op)(const actrm_kernels *k, float *out, const float *a, const float *b, int n);

static void op_rmsnorm(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    k->rmsnorm(out, a, b, n, 1e-6f);
}
static void op_softmax(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    (void)b;
    memcpy(out, a, sizeof(float) * n);
    if (n > 2)
        out[1] = -INFINITY; /* a masked score */
    if (n > 5)
        out[4] = NAN; /* skipped by the max, weighs 0 */
    k->softmax(out, n);
}
static void op_silu_mul(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    k->silu_mul(out, a, b, n);
}
static void op_dot(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    out[0] = k->dot(a, b, n);
}
static void op_axpy(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    memcpy(out, b, sizeof(float) * n);
    k->axpy(out, a[0] * 0.7f, a, n);
}
static void op_rope_neox(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    memcpy(out, a, sizeof(float) * n);
    k->rope(out, b, n & ~1, 1);
}
static void op_rope_norm(const actrm_kernels *k, float *out, const float *a, const float *b, int n)
{
    memcpy(out, a, sizeof(float) * n);
    k->rope(out, b, n & ~1, 0);
}

Test(kernels, vector_ops_equal_ref_bitwise)
{
    actrm_kernels tab[MAX_TABLES];
    int n_tab = all_tables(tab);
    static const struct { const char *name; vec_op op; } ops[] = {
        {"rmsnorm", op_rmsnorm}, {"softmax", op_softmax}, {"silu_mul", op_silu_mul},
        {"dot", op_dot}, {"axpy", op_axpy}, {"rope neox", op_rope_neox}, {"rope norm", op_rope_norm},
    };
    static const int ns[] = {1, 2, 3, 6, 16, 17, 33, 64, 100, 128, 896, 4867};
    enum { NMAX = 4867 };
    static float a[NMAX], b[NMAX], want[NMAX], got[NMAX];
    for (int ni = 0; ni < (int)(sizeof ns / sizeof ns[0]); ni++) {
        int n = ns[ni];
        fill_random(a, n);
        fill_random(b, n);
        a[0] = 120.0f; /* exp overflow and underflow in silu */
        if (n > 3)
            a[3] = -120.0f;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            ops[o].op(&tab[0], want, a, b, n);
            for (int i = 1; i < n_tab; i++) {
                memset(got, 0, sizeof(float) * n);
                ops[o].op(&tab[i], got, a, b, n);
                int d = first_difference(got, want, o == 3 ? 1 : (size_t)n);
                cr_assert(d < 0, "%s %s n=%d: [%d] = %.9g, ref %.9g", tab[i].path, ops[o].name, n, d,
                          got[d], want[d]);
            }
        }
    }
}

static double ulp_distance(float a, double exact)
{
    float e = (float)exact;
    return fabs((double)a - exact) / (double)(nextafterf(fabsf(e), INFINITY) - fabsf(e));
}

Test(kernels, exp_accurate_to_two_ulp)
{
    double worst = 0;
    for (float x = -103.0f; x < 88.7f; x += 0.0137f) {
        double u = ulp_distance(vm_exp(x), exp((double)x));
        if (exp((double)x) > 1.2e-38 && u > worst) /* ulps are meaningless in the subnormals */
            worst = u;
    }
    cr_assert(worst <= 2.0, "vm_exp is off by %.2f ulp", worst);
    cr_assert_eq(vm_exp(-INFINITY), 0.0f);
    cr_assert_eq(vm_exp(NAN), 0.0f, "NaN is clamped to the bottom of the range");
    cr_assert(isinf(vm_exp(89.0f)) && isinf(vm_exp(INFINITY)));
    cr_assert_eq(vm_exp(0.0f), 1.0f);
    cr_assert(fabsf(vm_exp(-100.0f) - (float)exp(-100.0)) <= 1.5e-45f, "subnormal results round once");
}

Test(kernels, ref_vector_ops_against_float64)
{
    actrm_kernels ref;
    actrm_kernels_ref(&ref);
    enum { N = 300 };
    float x[N], g[N], u[N], out[N];
    fill_random(x, N);
    fill_random(g, N);
    fill_random(u, N);
    memcpy(out, x, sizeof x);
    ref.softmax(out, N);
    /* x - max is rounded to float first, as the kernel's input to exp is */
    float mx = -INFINITY;
    double e[N], sum = 0;
    for (int i = 0; i < N; i++)
        mx = fmaxf(mx, x[i]);
    for (int i = 0; i < N; i++)
        sum += e[i] = exp((double)(x[i] - mx));
    for (int i = 0; i < N; i++)
        cr_assert(fabs(out[i] - e[i] / sum) <= 1e-6 * e[i] / sum + 1e-38, "softmax[%d] = %.9g vs %.9g",
                  i, out[i], e[i] / sum);
    ref.silu_mul(out, g, u, N);
    for (int i = 0; i < N; i++) {
        double want = g[i] / (1 + exp(-(double)g[i])) * u[i];
        cr_assert(fabs(out[i] - want) <= 4e-7 * fabs(want), "silu_mul[%d] = %.9g vs %.9g", i, out[i], want);
    }
    double dot = 0, mag = 0;
    for (int i = 0; i < N; i++) {
        dot += (double)x[i] * g[i];
        mag += fabs((double)x[i] * g[i]);
    }
    cr_assert(fabs(ref.dot(x, g, N) - dot) <= N * ldexp(1.0, -24) * mag);
}

Test(kernels, fp16_conversions_round_trip_and_round_to_even)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = actrm_fp16_to_f32((uint16_t)h);
        if (!isnan(f))
            cr_assert_eq(actrm_f32_to_fp16(f), h, "fp16 0x%04x does not round trip", h);
    }
    cr_assert_eq(actrm_f32_to_fp16(1.0f + 0x1p-11f), 0x3c00, "tie rounds to even (down)");
    cr_assert_eq(actrm_f32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02, "tie rounds to even (up)");
    cr_assert_eq(actrm_f32_to_fp16(65520.0f), 0x7c00, "overflow gives inf");
    cr_assert_eq(actrm_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    cr_assert_eq(actrm_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
}

Test(kernels, dispatch_forcing_and_errors)
{
    actrm_kernels tab[MAX_TABLES], k;
    int n_tab = all_tables(tab);
    actrm_error err = {0};
    cr_assert_eq(actrm_kernels_select(&k, "ref", &err), ACTRM_OK);
    cr_assert_str_eq(k.isa, "ref");
    cr_assert_eq(actrm_kernels_select(&k, "mmx", &err), ACTRM_ERR_CPU);
    cr_assert(strstr(err.msg, "ACTRM_ISA=mmx") && strstr(err.msg, "ref"), "message: %s", err.msg);
    cr_assert_str_eq(k.isa, "ref", "a failed select leaves the reference table");
    for (int i = 1; i < n_tab; i++) {
        cr_assert_eq(actrm_kernels_select(&k, tab[i].isa, &err), ACTRM_OK, "%s", err.msg);
        cr_assert_str_eq(k.isa, tab[i].isa);
    }
    /* forcing an ISA selects its best variant: the last table of that isa */
    cr_assert_eq(actrm_kernels_select(&k, tab[n_tab - 1].isa, &err), ACTRM_OK);
    cr_assert_str_eq(k.path, tab[n_tab - 1].path);
#if defined(__x86_64__)
    cr_assert_eq(actrm_kernels_select(&k, "neon", &err), ACTRM_ERR_CPU);
    unsigned f = actrm_cpu_flags();
    if ((f & ACTRM_CPU_AVX2) && (f & ACTRM_CPU_FMA) && (f & ACTRM_CPU_F16C))
        cr_assert(n_tab >= 2 && strcmp(tab[1].isa, "avx2") == 0, "an AVX2 CPU gets the avx2 table");
    if (!(f & ACTRM_CPU_AVX512F))
        cr_assert_eq(actrm_kernels_select(&k, "avx512", &err), ACTRM_ERR_CPU);
#elif defined(__aarch64__)
    cr_assert_eq(actrm_kernels_select(&k, "avx2", &err), ACTRM_ERR_CPU);
    cr_assert(n_tab >= 2 && strcmp(tab[1].isa, "neon") == 0, "every AArch64 CPU has NEON");
#endif
}
