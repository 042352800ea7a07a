/*
 * NEON kernels for every AArch64 core (ARMv8.0 Advanced SIMD, no
 * extensions). Each entry computes bit for bit what its simd/ref.c twin
 * computes (orders in kernels.h and vmath.h).
 *
 * GEMM (see gemm_plan.h): lanes hold rows. Float weights are converted to
 * fp32 while packing (16 rows x 128 k per pass) and the micro-kernel does
 * acc[row] = fma(w[k][row], x[t][k], acc[row]) for 4 tokens. Q8_0 weights
 * are packed 4 rows per vector as 4-byte k-quads; without the dotprod
 * extension the block sums come from widening multiplies (vmull_s8, exact
 * in int16) and pairwise adds into int32. arm_dotprod.c replaces the Q8_0
 * GEMM where SDOT exists.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <string.h>

#include "arm_shared.h"
#include "gemm_plan.h"
#include "vmath.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- helpers */

ALWAYS_INLINE float half_to_f32(uint16_t h)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* 4 weights of a row as fp32; type is a constant after inlining. */
ALWAYS_INLINE float32x4_t load4_w(int type, const void *p)
{
    if (type == GGML_TYPE_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p)));
    if (type == GGML_TYPE_BF16)
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p), 16));
    return vld1q_f32((const float *)p);
}

ALWAYS_INLINE float load1_w(int type, const void *p)
{
    uint16_t h;
    if (type == GGML_TYPE_F32) {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    memcpy(&h, p, sizeof h);
    return type == GGML_TYPE_F16 ? half_to_f32(h) : actrm_bf16_to_f32(h);
}

/* 4x4 transpose of 32-bit lanes. */
ALWAYS_INLINE void transpose4(uint32x4_t r[4])
{
    uint32x4_t t0 = vtrn1q_u32(r[0], r[1]), t1 = vtrn2q_u32(r[0], r[1]);
    uint32x4_t t2 = vtrn1q_u32(r[2], r[3]), t3 = vtrn2q_u32(r[2], r[3]);
    r[0] = vreinterpretq_u32_u64(vtrn1q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)));
    r[1] = vreinterpretq_u32_u64(vtrn1q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)));
    r[2] = vreinterpretq_u32_u64(vtrn2q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)));
    r[3] = vreinterpretq_u32_u64(vtrn2q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)));
}

/* The 16-lane reduction tree of vmath.h over lanes 0-3, 4-7, 8-11, 12-15. */
ALWAYS_INLINE float lanes_sum16(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    float32x4_t s4 = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3));
    float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));
    return vpadds_f32(s2);
}

/* ------------------------------------------------------- float weights */

#define FN_LANES 4
#define FN_PASS 16  /* rows per pass: four groups */
#define FN_BLOCK 64 /* rows packed at once */
#define FN_KC 128   /* k per chunk */
#define FN_TILE 4   /* tokens per micro-kernel call: 16 accumulators */

/* Pass layout: float [FN_KC][FN_PASS], row r of the pass in column r. */
ALWAYS_INLINE void pack_float(int type, const void *W, size_t ws, int r0, int nr, int k0, int kn,
                              float *buf)
{
    size_t esize = type == GGML_TYPE_F32 ? 4 : 2;
    int padded = (nr + FN_PASS - 1) / FN_PASS * FN_PASS;
    for (int g0 = 0; g0 < padded; g0 += FN_LANES) {
        float *dst = buf + (size_t)(g0 / FN_PASS) * FN_KC * FN_PASS + g0 % FN_PASS;
        int ng = gemm_min(FN_LANES, nr - g0), k = 0;
        const char *row = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * esize;
        if (ng == FN_LANES)
            for (; k + 4 <= kn; k += 4) {
                uint32x4_t v[4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    v[i] = vreinterpretq_u32_f32(load4_w(type, row + (size_t)i * ws + (size_t)k * esize));
                transpose4(v);
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    vst1q_f32(dst + (size_t)(k + j) * FN_PASS, vreinterpretq_f32_u32(v[j]));
            }
        for (; k < kn; k++)
            for (int i = 0; i < FN_LANES; i++)
                dst[(size_t)k * FN_PASS + i] = i < ng ? load1_w(type, row + (size_t)i * ws + (size_t)k * esize) : 0.0f;
    }
}

ALWAYS_INLINE void micro_float_n(const float *pk, const char *x, size_t xs, int k0, int kn,
                                 float *y, int ldy, int nr, int first, const int NT)
{
    float32x4_t acc[FN_TILE][4];
    const float *xr[FN_TILE];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs) + k0;
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            acc[t][g] = first ? vdupq_n_f32(0.0f) : neon_load_rows(y + (size_t)t * ldy + 4 * g, nr - 4 * g);
    }
    int k = 0;
    for (; k + 4 <= kn; k += 4) {
        float32x4_t xv[FN_TILE];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            xv[t] = vld1q_f32(xr[t] + k);
#pragma GCC unroll 4
        for (int kk = 0; kk < 4; kk++) {
            const float *wk = pk + (size_t)(k + kk) * FN_PASS;
            float32x4_t w0 = vld1q_f32(wk), w1 = vld1q_f32(wk + 4), w2 = vld1q_f32(wk + 8), w3 = vld1q_f32(wk + 12);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                /* vfmaq_laneq_f32 needs a constant lane: spell them out */
                float32x4_t xb = kk == 0 ? vdupq_laneq_f32(xv[t], 0) : kk == 1 ? vdupq_laneq_f32(xv[t], 1)
                               : kk == 2 ? vdupq_laneq_f32(xv[t], 2) : vdupq_laneq_f32(xv[t], 3);
                acc[t][0] = vfmaq_f32(acc[t][0], w0, xb);
                acc[t][1] = vfmaq_f32(acc[t][1], w1, xb);
                acc[t][2] = vfmaq_f32(acc[t][2], w2, xb);
                acc[t][3] = vfmaq_f32(acc[t][3], w3, xb);
            }
        }
    }
    for (; k < kn; k++) {
        const float *wk = pk + (size_t)k * FN_PASS;
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            float32x4_t xb = vdupq_n_f32(xr[t][k]);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                acc[t][g] = vfmaq_f32(acc[t][g], vld1q_f32(wk + 4 * g), xb);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            neon_store_rows(y + (size_t)t * ldy + 4 * g, acc[t][g], nr - 4 * g);
}

GEMM_DEFINE_FLOAT(FN_PASS, FN_BLOCK, FN_KC, FN_TILE, 16, gemm_f32_neon, gemm_f16_neon, gemm_bf16_neon)

/* ------------------------------------------- F16/BF16 in the G16 layout */

/* The float plan's pass layout from G16 groups: a pass (16 rows) is one
 * group, its k-th 16 halves widened in place; passes past nr are zeros. */
ALWAYS_INLINE void pack_g16(int type, const void *W, size_t ws, int r0, int nr, int k0, int kn,
                            float *buf)
{
    int padded = (nr + FN_PASS - 1) / FN_PASS * FN_PASS;
    for (int g0 = 0; g0 < padded; g0 += ACTRM_G16) {
        float *dst = buf + (size_t)(g0 / FN_PASS) * FN_KC * FN_PASS;
        const char *src = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * ACTRM_G16 * 2;
        for (int k = 0; k < kn; k++)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                vst1q_f32(dst + (size_t)k * FN_PASS + 4 * q,
                          g0 < nr ? load4_w(type, src + (size_t)k * 32 + 8 * q) : vdupq_n_f32(0.0f));
    }
}

/* Few tokens: each group streams front to back, its 16 rows of one k in
 * four 8-byte loads; two groups at a time for one or two tokens (eight FMA
 * chains per token, k in order as in ref), one group for more (registers). */
#define G16_WAYS(NT) ((NT) > 2 ? 1 : 2)
ALWAYS_INLINE void gemv_g16_ways(int type, const char *g, size_t gs, const char *x, size_t xs, int K,
                                 int ng, float *y, int ldy, const int NT)
{
    const int WAYS = G16_WAYS(NT);
    float32x4_t acc[2][4][GEMM_STREAM_T]; /* [group][lanes/4][token] */
    const float *xr[GEMM_STREAM_T];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs);
#pragma GCC unroll 2
        for (int i = 0; i < WAYS; i++)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                acc[i][q][t] = vdupq_n_f32(0.0f);
    }
    for (int k = 0; k < K; k++)
#pragma GCC unroll 2
        for (int i = 0; i < WAYS; i++)
            if (i < ng)
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    float32x4_t w = load4_w(type, g + (size_t)i * gs + (size_t)k * 32 + 8 * q);
#pragma GCC unroll 4
                    for (int t = 0; t < NT; t++)
                        acc[i][q][t] = vfmaq_n_f32(acc[i][q][t], w, xr[t][k]);
                }
#pragma GCC unroll 2
    for (int i = 0; i < WAYS; i++)
        if (i < ng)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++)
                    vst1q_f32(y + (size_t)t * ldy + 16 * i + 4 * q, acc[i][q][t]);
}

GEMM_DEFINE_G16(FN_PASS, FN_BLOCK, FN_KC, FN_TILE, 16, gemm_f16_g16_neon, gemm_bf16_g16_neon)

/* ---------------------------------------------------------- Q8_0 weights */

void actrm_neon_pack_q8(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf)
{
    qn_pack *pk = buf;
    int nb = kn / QK8_0, b0 = k0 / QK8_0;
    for (int p0 = 0; p0 < nr; p0 += QN_PASS, pk += QN_NB)
        for (int g = 0; g < QN_GROUPS; g++) {
            int g0 = p0 + g * QN_LANES, ng = nr - g0;
            for (int b = 0; b < nb; b++) {
                uint32x4_t lo[4], hi[4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    const block_q8_0 *blk = i < ng
                        ? (const block_q8_0 *)((const char *)W + (size_t)(r0 + g0 + i) * ws) + b0 + b : NULL;
                    pk[b].d[g][i] = blk ? half_to_f32(blk->d) : 0.0f;
                    lo[i] = blk ? vreinterpretq_u32_s8(vld1q_s8(blk->qs)) : vdupq_n_u32(0);
                    hi[i] = blk ? vreinterpretq_u32_s8(vld1q_s8(blk->qs + 16)) : vdupq_n_u32(0);
                }
                transpose4(lo);
                transpose4(hi);
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    vst1q_s8(pk[b].q[j][g], vreinterpretq_s8_u32(lo[j]));
                    vst1q_s8(pk[b].q[j + 4][g], vreinterpretq_s8_u32(hi[j]));
                }
            }
        }
}

void actrm_neon_prep_q8(const char *x, size_t xs, int k0, int kn, int nt, void *tbuf)
{
    float *dx = tbuf;
    for (int t = 0; t < nt; t++) {
        const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        for (int b = 0; b < kn / QK8_0; b++)
            dx[t * QN_NB + b] = half_to_f32(xb[b].d);
    }
}

#define QN_TILE_NODOT 2 /* two int32 accumulators per row group and token */

/* vmull_s8 of 4 rows' k-quad with the same x quad in every row: products
 * fit int16 (|w|,|x| <= 128), vpadalq_s16 adds pairs into int32. */
ALWAYS_INLINE void micro_nodot_n(const qn_pack *pk, const float *dx, const char *x, size_t xs,
                                 int k0, int kn, const int NT, float *y, int ldy, int nr, int first)
{
    const block_q8_0 *xb[QN_TILE_NODOT];
    float32x4_t acc[QN_TILE_NODOT][2];
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++) {
        xb[t] = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        acc[t][0] = first ? vdupq_n_f32(0.0f) : neon_load_rows(y + (size_t)t * ldy, nr);
        acc[t][1] = first ? vdupq_n_f32(0.0f) : neon_load_rows(y + (size_t)t * ldy + 4, nr - 4);
    }
    for (int b = 0; b < kn / QK8_0; b++) {
        int32x4_t lo[QN_TILE_NODOT][2], hi[QN_TILE_NODOT][2];
#pragma GCC unroll 2
        for (int t = 0; t < NT; t++)
            lo[t][0] = lo[t][1] = hi[t][0] = hi[t][1] = vdupq_n_s32(0);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int32x4_t xv[QN_TILE_NODOT];
#pragma GCC unroll 2
            for (int t = 0; t < NT; t++)
                xv[t] = vreinterpretq_s32_s8(vld1q_s8(xb[t][b].qs + 16 * h));
#pragma GCC unroll 4
            for (int jj = 0; jj < 4; jj++)
#pragma GCC unroll 2
                for (int g = 0; g < 2; g++) {
                    int8x16_t w = vld1q_s8(pk[b].q[4 * h + jj][g]);
#pragma GCC unroll 2
                    for (int t = 0; t < NT; t++) {
                        int32x4_t q = jj == 0 ? vdupq_laneq_s32(xv[t], 0) : jj == 1 ? vdupq_laneq_s32(xv[t], 1)
                                    : jj == 2 ? vdupq_laneq_s32(xv[t], 2) : vdupq_laneq_s32(xv[t], 3);
                        int8x16_t xq = vreinterpretq_s8_s32(q);
                        lo[t][g] = vpadalq_s16(lo[t][g], vmull_s8(vget_low_s8(w), vget_low_s8(xq)));
                        hi[t][g] = vpadalq_s16(hi[t][g], vmull_high_s8(w, xq));
                    }
                }
        }
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            float32x4_t dw = vld1q_f32(pk[b].d[g]);
#pragma GCC unroll 2
            for (int t = 0; t < NT; t++) {
                int32x4_t isum = vpaddq_s32(lo[t][g], hi[t][g]); /* rows 0,1 | rows 2,3 */
                float32x4_t s = vmulq_f32(dw, vdupq_n_f32(dx[t * QN_NB + b]));
                acc[t][g] = vaddq_f32(acc[t][g], vmulq_f32(s, vcvtq_f32_s32(isum)));
            }
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < NT; t++) {
        neon_store_rows(y + (size_t)t * ldy, acc[t][0], nr);
        neon_store_rows(y + (size_t)t * ldy + 4, acc[t][1], nr - 4);
    }
}

static void micro_nodot(const void *pk, const void *tbuf, const char *x, size_t xs, int k0,
                        int kn, int nt, float *y, int ldy, int nr, int first)
{
    if (nt == 1)
        micro_nodot_n(pk, tbuf, x, xs, k0, kn, 1, y, ldy, nr, first);
    else
        micro_nodot_n(pk, tbuf, x, xs, k0, kn, 2, y, ldy, nr, first);
}

static const gemm_plan plan_q8 = {QN_PASS, QN_BLOCK, QN_NB * QK8_0, QN_TILE_NODOT, sizeof(qn_pack) * QN_NB,
                                  actrm_neon_pack_q8, actrm_neon_prep_q8, micro_nodot};

static void gemm_q8_0_neon(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                           int n0, int n1, float *y, int ldy)
{
    _Alignas(16) qn_pack buf[QN_BLOCK / QN_PASS * QN_NB];
    float dx[QN_TILE_NODOT * QN_NB];
    gemm_run(&plan_q8, buf, dx, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

/* Few tokens: arm_gemv_q8.h with widening multiplies for the block sums
 * (int8 products fit int16; pairs are added in int32). */
ALWAYS_INLINE int32x4_t qg_block_dot(const int8_t *w, const int8_t *x)
{
    int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    s = vpadalq_s16(s, vmull_high_s8(w0, x0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    return vpadalq_s16(s, vmull_high_s8(w1, x1));
}

#include "arm_gemv_q8.h"

GEMM_DEFINE_FEW(gemm_q8_0_few_neon, GGML_TYPE_Q8_0, gemm_q8_0_neon, qg_gemv_n)

/* vrndaq_f32 rounds half away from zero, exactly like roundf. */
static void quantize_q8_0_neon(const float *x, block_q8_0 *y, int K)
{
    for (int b = 0; b < K / QK8_0; b++) {
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + b * QK8_0 + 4 * i);
            m = vmaxq_f32(m, vabsq_f32(v[i]));
        }
        float amax = vmaxvq_f32(m);
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = actrm_f32_to_fp16(d);
        int16x8_t h[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            int32x4_t a = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[2 * i], id)));
            int32x4_t c = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[2 * i + 1], id)));
            h[i] = vcombine_s16(vqmovn_s32(a), vqmovn_s32(c));
        }
        vst1q_s8(y[b].qs, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
        vst1q_s8(y[b].qs + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
    }
}

static void row_to_f32_neon(int type, const void *src, float *dst, int n)
{
    int i = 0;
    if (type == GGML_TYPE_Q8_0) {
        const block_q8_0 *blk = src;
        for (; i + QK8_0 <= n; i += QK8_0, blk++) {
            float d = half_to_f32(blk->d);
#pragma GCC unroll 4
            for (int j = 0; j < QK8_0; j += 8) {
                int16x8_t q = vmovl_s8(vld1_s8(blk->qs + j));
                vst1q_f32(dst + i + j, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d));
                vst1q_f32(dst + i + j + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(q)), d));
            }
        }
        for (; i < n; i++)
            dst[i] = half_to_f32(blk->d) * (float)blk->qs[i % QK8_0];
        return;
    }
    if (type == GGML_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t *h = src;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, load4_w(type, h + i));
    for (; i < n; i++)
        dst[i] = load1_w(type, h + i);
}

/* ------------------------------------------------------------ vector ops */

ALWAYS_INLINE float32x4_t exp4(float32x4_t x)
{
    /* maxnm/minnm pick the number over a NaN, like fmaxf in vm_exp */
    x = vminnmq_f32(vmaxnmq_f32(x, vdupq_n_f32(VM_EXP_LO)), vdupq_n_f32(VM_EXP_HI));
    float32x4_t magic = vdupq_n_f32(VM_ROUND_MAGIC);
    float32x4_t n = vsubq_f32(vfmaq_f32(magic, x, vdupq_n_f32(VM_LOG2E)), magic);
    float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(-VM_LN2_HI));
    r = vfmaq_f32(r, n, vdupq_n_f32(-VM_LN2_LO));
    float32x4_t p = vdupq_n_f32(VM_EXP_C7);
    p = vfmaq_f32(vdupq_n_f32(VM_EXP_C6), p, r);
    p = vfmaq_f32(vdupq_n_f32(VM_EXP_C5), p, r);
    p = vfmaq_f32(vdupq_n_f32(VM_EXP_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(VM_EXP_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(VM_EXP_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    int32x4_t bias = vdupq_n_s32(127);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

ALWAYS_INLINE float32x4_t silu_mul4(float32x4_t g, float32x4_t u)
{
    float32x4_t e = exp4(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

/* The last n % 16 elements go through a 16-float buffer padded with `pad`,
 * so they take the same vector path (and lanes) as full chunks. */
typedef struct tail16 {
    float v[16];
} tail16;

ALWAYS_INLINE tail16 tail_load(const float *p, int n, float pad)
{
    tail16 t;
    for (int i = 0; i < 16; i++)
        t.v[i] = i < n ? p[i] : pad;
    return t;
}

static float dot_neon(const float *a, const float *b, int n)
{
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int i = 0;
    for (; i + 16 <= n; i += 16)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            acc[j] = vfmaq_f32(acc[j], vld1q_f32(a + i + 4 * j), vld1q_f32(b + i + 4 * j));
    if (i < n) { /* zero padding adds +0 to lanes that are never -0 */
        tail16 ta = tail_load(a + i, n - i, 0.0f), tb = tail_load(b + i, n - i, 0.0f);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            acc[j] = vfmaq_f32(acc[j], vld1q_f32(ta.v + 4 * j), vld1q_f32(tb.v + 4 * j));
    }
    return lanes_sum16(acc[0], acc[1], acc[2], acc[3]);
}

static void rmsnorm_neon(float *out, const float *x, const float *w, int n, float eps)
{
    float scale = 1.0f / sqrtf(dot_neon(x, x, n) / (float)n + eps);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    for (; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* max_i x[i], skipping NaNs like fmaxf (maxnm does). The order does not
 * matter: only the sign of a zero maximum could differ, and x - (+-0) is
 * the same value. */
static float max_neon(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        m = vmaxnmq_f32(m, vld1q_f32(x + i));
    float mx = vmaxnmvq_f32(m);
    for (; i < n; i++)
        mx = fmaxf(mx, x[i]);
    return mx;
}

static void softmax_neon(float *x, int n)
{
    float mx = max_neon(x, n);
    float32x4_t vmx = vdupq_n_f32(mx);
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int i = 0;
    for (; i + 16 <= n; i += 16)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i + 4 * j), vmx));
            vst1q_f32(x + i + 4 * j, e);
            acc[j] = vaddq_f32(acc[j], e);
        }
    if (i < n) { /* padding -inf gives exp = +0, which leaves the lane sums alone */
        tail16 t = tail_load(x + i, n - i, -INFINITY);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            float32x4_t e = exp4(vsubq_f32(vld1q_f32(t.v + 4 * j), vmx));
            vst1q_f32(t.v + 4 * j, e);
            acc[j] = vaddq_f32(acc[j], e);
        }
        memcpy(x + i, t.v, (size_t)(n - i) * sizeof(float));
    }
    float inv = 1.0f / lanes_sum16(acc[0], acc[1], acc[2], acc[3]);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    for (; i < n; i++)
        x[i] *= inv;
}

static void silu_mul_neon(float *out, const float *gate, const float *up, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, silu_mul4(vld1q_f32(gate + i), vld1q_f32(up + i)));
    if (i < n) {
        tail16 g = tail_load(gate + i, n - i, 0.0f), u = tail_load(up + i, n - i, 0.0f);
        vst1q_f32(g.v, silu_mul4(vld1q_f32(g.v), vld1q_f32(u.v)));
        memcpy(out + i, g.v, (size_t)(n - i) * sizeof(float));
    }
}

static void axpy_neon(float *y, float a, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

static void rope_neon(float *x, const float *cs, int hd, int neox)
{
    int half = hd / 2, i = 0;
    for (; i + 4 <= half; i += 4) {
        float32x4x2_t t = vld2q_f32(cs + 2 * i); /* val[0] = cos, val[1] = sin */
        float32x4_t c = t.val[0], s = t.val[1];
        if (neox) {
            float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + half);
            vst1q_f32(x + i, vsubq_f32(vmulq_f32(a, c), vmulq_f32(b, s)));
            vst1q_f32(x + i + half, vaddq_f32(vmulq_f32(a, s), vmulq_f32(b, c)));
        } else {
            float32x4x2_t v = vld2q_f32(x + 2 * i), o;
            o.val[0] = vsubq_f32(vmulq_f32(v.val[0], c), vmulq_f32(v.val[1], s));
            o.val[1] = vaddq_f32(vmulq_f32(v.val[0], s), vmulq_f32(v.val[1], c));
            vst2q_f32(x + 2 * i, o);
        }
    }
    for (; i < half; i++) {
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1], a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = a * s + b * c;
    }
}

void actrm_kernels_neon(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_F32] = gemm_f32_neon;
    k->gemm[ACTRM_WT_F16] = gemm_f16_neon;
    k->gemm[ACTRM_WT_BF16] = gemm_bf16_neon;
    k->gemm[ACTRM_WT_F16_G16] = gemm_f16_g16_neon;
    k->gemm[ACTRM_WT_BF16_G16] = gemm_bf16_g16_neon;
    k->g16_fast = 1;
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_few_neon;
    k->quantize_q8_0 = quantize_q8_0_neon;
    k->row_to_f32 = row_to_f32_neon;
    k->rmsnorm = rmsnorm_neon;
    k->softmax = softmax_neon;
    k->silu_mul = silu_mul_neon;
    k->dot = dot_neon;
    k->axpy = axpy_neon;
    k->rope = rope_neon;
}
