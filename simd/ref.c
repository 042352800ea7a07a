/* Portable scalar reference of every kernel (see kernels.h). The ISA files
 * are tested against these and must match them bit for bit, so the
 * accumulation orders here are the ones the contract in kernels.h fixes. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#include "vmath.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* gcc: -ffp-contract=off from the Makefile */
#endif

float actrm_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t actrm_f32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal or zero in half */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which is the right result */
    return (uint16_t)(sign | half);
}

float actrm_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t actrm_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) /* nan: keep it quiet */
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int actrm_wt_slot(int ggml_type)
{
    switch (ggml_type) {
    case GGML_TYPE_F32: return ACTRM_WT_F32;
    case GGML_TYPE_F16: return ACTRM_WT_F16;
    case GGML_TYPE_BF16: return ACTRM_WT_BF16;
    case GGML_TYPE_Q8_0: return ACTRM_WT_Q8_0;
    default: return -1;
    }
}

/* ---- GEMM: one scalar dot product per output element, K in order ----
 * Float weights accumulate with fmaf, one k after the other: the order a
 * vector unit gets when its lanes hold rows (the SIMD GEMMs do).
 *
 * Only for speed (ref also runs whole models in tests): a weight row is
 * converted to fp32 a chunk at a time and reused by every token, the
 * running sums waiting in y between chunks (which leaves each value as it
 * was), and on x86-64 a copy built with FMA is picked at run time so that
 * fmaf is one instruction instead of a libm call. */

#define REF_KC 256

static void row_to_f32_ref(int type, const void *src, float *dst, int n);

#if defined(__x86_64__) && !defined(__FMA__) && defined(__GNUC__)
#define REF_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define REF_FMA_CLONES
#endif

/* Token t's sum over k in [k0, k0+kn) continued from *y (or 0 at k0 = 0). */
static inline __attribute__((always_inline)) void dot1_ref(const float *w, int kn, const void *x, size_t xs, int t, int k0, float *y)
{
    const float *xr = (const float *)((const char *)x + (size_t)t * xs) + k0;
    float acc = k0 ? *y : 0.0f;
    for (int k = 0; k < kn; k++)
        acc = fmaf(w[k], xr[k], acc);
    *y = acc;
}

/* The same for tokens t..t+3, whose y are ldy apart. */
static inline __attribute__((always_inline)) void dot4_ref(const float *w, int kn, const void *x, size_t xs, int t, int k0,
                            float *y, int ldy)
{
    const float *x0 = (const float *)((const char *)x + (size_t)t * xs) + k0;
    const float *x1 = (const float *)((const char *)x0 + xs), *x2 = (const float *)((const char *)x1 + xs);
    const float *x3 = (const float *)((const char *)x2 + xs);
    float a0 = k0 ? y[0] : 0.0f, a1 = k0 ? y[ldy] : 0.0f;
    float a2 = k0 ? y[2 * (size_t)ldy] : 0.0f, a3 = k0 ? y[3 * (size_t)ldy] : 0.0f;
    for (int k = 0; k < kn; k++) {
        a0 = fmaf(w[k], x0[k], a0);
        a1 = fmaf(w[k], x1[k], a1);
        a2 = fmaf(w[k], x2[k], a2);
        a3 = fmaf(w[k], x3[k], a3);
    }
    y[0] = a0;
    y[ldy] = a1;
    y[2 * (size_t)ldy] = a2;
    y[3 * (size_t)ldy] = a3;
}

/* Every token's sum over the chunk w[kn] at k0, continued in y[t*ldy]. */
static inline __attribute__((always_inline)) void dot_tokens_ref(const float *w, int kn, const void *x, size_t xs,
                                                                 int T, int k0, float *y, int ldy)
{
    int t = 0;
    for (; t + 4 <= T; t += 4) /* four independent chains of fmaf */
        dot4_ref(w, kn, x, xs, t, k0, y + (size_t)t * ldy, ldy);
    for (; t < T; t++)
        dot1_ref(w, kn, x, xs, t, k0, y + (size_t)t * ldy);
}

REF_FMA_CLONES
static void gemm_float_ref(int type, const void *W, size_t ws, const void *x, size_t xs,
                           int K, int T, int n0, int n1, float *y, int ldy)
{
    size_t esize = type == GGML_TYPE_F32 ? 4 : 2;
    float w[REF_KC];
    for (int n = n0; n < n1; n++)
        for (int k0 = 0; k0 < K; k0 += REF_KC) {
            int kn = K - k0 < REF_KC ? K - k0 : REF_KC;
            row_to_f32_ref(type, (const char *)W + (size_t)n * ws + (size_t)k0 * esize, w, kn);
            dot_tokens_ref(w, kn, x, xs, T, k0, y + n, ldy);
        }
}

void actrm_g16_row_to_f32(int type, const void *W, size_t ws, int row, int k0, int n, float *dst)
{
    const uint16_t *g = (const uint16_t *)((const char *)W + (size_t)(row - row % ACTRM_G16) * ws);
    for (int k = 0; k < n; k++) {
        uint16_t h = g[(size_t)(k0 + k) * ACTRM_G16 + row % ACTRM_G16];
        dst[k] = type == GGML_TYPE_F16 ? actrm_fp16_to_f32(h) : actrm_bf16_to_f32(h);
    }
}

/* G16 layout (kernels.h): row n's chunk gathered from its group, then the
 * same dot products as the row layout. */
REF_FMA_CLONES
static void gemm_g16_ref(int type, const void *W, size_t ws, const void *x, size_t xs,
                         int K, int T, int n0, int n1, float *y, int ldy)
{
    float w[REF_KC];
    for (int n = n0; n < n1; n++)
        for (int k0 = 0; k0 < K; k0 += REF_KC) {
            int kn = K - k0 < REF_KC ? K - k0 : REF_KC;
            actrm_g16_row_to_f32(type, W, ws, n, k0, kn, w);
            dot_tokens_ref(w, kn, x, xs, T, k0, y + n, ldy);
        }
}

static void gemm_f16_g16_ref(const void *W, size_t ws, const void *x, size_t xs,
                             int K, int T, int n0, int n1, float *y, int ldy)
{
    gemm_g16_ref(GGML_TYPE_F16, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

static void gemm_bf16_g16_ref(const void *W, size_t ws, const void *x, size_t xs,
                              int K, int T, int n0, int n1, float *y, int ldy)
{
    gemm_g16_ref(GGML_TYPE_BF16, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

static void gemm_f32_ref(const void *W, size_t ws, const void *x, size_t xs,
                         int K, int T, int n0, int n1, float *y, int ldy)
{
    gemm_float_ref(GGML_TYPE_F32, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

static void gemm_f16_ref(const void *W, size_t ws, const void *x, size_t xs,
                         int K, int T, int n0, int n1, float *y, int ldy)
{
    gemm_float_ref(GGML_TYPE_F16, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

static void gemm_bf16_ref(const void *W, size_t ws, const void *x, size_t xs,
                          int K, int T, int n0, int n1, float *y, int ldy)
{
    gemm_float_ref(GGML_TYPE_BF16, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

/* Per block: exact int32 dot product, then one float multiply-add with the
 * two scales, blocks in order. SIMD versions must keep this order. */
static void gemm_q8_0_ref(const void *W, size_t ws, const void *x, size_t xs,
                          int K, int T, int n0, int n1, float *y, int ldy)
{
    int nb = K / QK8_0;
    for (int t = 0; t < T; t++) {
        const block_q8_0 *xb = (const block_q8_0 *)((const char *)x + (size_t)t * xs);
        for (int n = n0; n < n1; n++) {
            const block_q8_0 *wb = (const block_q8_0 *)((const char *)W + (size_t)n * ws);
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int j = 0; j < QK8_0; j++)
                    isum += (int32_t)wb[b].qs[j] * (int32_t)xb[b].qs[j];
                acc += actrm_fp16_to_f32(wb[b].d) * actrm_fp16_to_f32(xb[b].d) * (float)isum;
            }
            y[(size_t)t * ldy + n] = acc;
        }
    }
}

static void quantize_q8_0_ref(const float *x, block_q8_0 *y, int K)
{
    for (int b = 0; b < K / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = actrm_f32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++)
            y[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

static void row_to_f32_ref(int type, const void *src, float *dst, int n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case GGML_TYPE_F16:
        for (int i = 0; i < n; i++)
            dst[i] = actrm_fp16_to_f32(((const uint16_t *)src)[i]);
        break;
    case GGML_TYPE_BF16:
        for (int i = 0; i < n; i++)
            dst[i] = actrm_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case GGML_TYPE_Q8_0:
        for (int i = 0; i < n; i++) {
            const block_q8_0 *b = (const block_q8_0 *)src + i / QK8_0;
            dst[i] = actrm_fp16_to_f32(b->d) * (float)b->qs[i % QK8_0];
        }
        break;
    }
}

/* ---- vector ops ---- */

/* sum_i a[i]*b[i] in VM_LANES partial sums (see vmath.h). */
static float dot_lanes(const float *a, const float *b, int n)
{
    float lane[VM_LANES] = {0};
    for (int i = 0; i < n; i++)
        lane[i % VM_LANES] = fmaf(a[i], b[i], lane[i % VM_LANES]);
    return vm_lanes_sum(lane);
}

static void rmsnorm_ref(float *out, const float *x, const float *w, int n, float eps)
{
    float ss = dot_lanes(x, x, n);
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

static void softmax_ref(float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = fmaxf(mx, x[i]);
    float lane[VM_LANES] = {0};
    for (int i = 0; i < n; i++) {
        x[i] = vm_exp(x[i] - mx);
        lane[i % VM_LANES] += x[i];
    }
    float inv = 1.0f / vm_lanes_sum(lane);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

static void silu_mul_ref(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = vm_silu_mul(gate[i], up[i]);
}

static float dot_ref(const float *a, const float *b, int n)
{
    return dot_lanes(a, b, n);
}

static void axpy_ref(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

static void rope_ref(float *x, const float *cs, int hd, int neox)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1], a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = a * s + b * c;
    }
}

void actrm_kernels_ref(actrm_kernels *k)
{
    k->isa = "ref";
    k->path = "ref";
    k->gemm[ACTRM_WT_F32] = gemm_f32_ref;
    k->gemm[ACTRM_WT_F16] = gemm_f16_ref;
    k->gemm[ACTRM_WT_BF16] = gemm_bf16_ref;
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_ref;
    k->gemm[ACTRM_WT_F16_G16] = gemm_f16_g16_ref;
    k->gemm[ACTRM_WT_BF16_G16] = gemm_bf16_g16_ref;
    k->g16_fast = 0;
    k->quantize_q8_0 = quantize_q8_0_ref;
    k->row_to_f32 = row_to_f32_ref;
    k->rmsnorm = rmsnorm_ref;
    k->softmax = softmax_ref;
    k->silu_mul = silu_mul_ref;
    k->dot = dot_ref;
    k->axpy = axpy_ref;
    k->rope = rope_ref;
}
