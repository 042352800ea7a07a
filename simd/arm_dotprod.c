/*
 * Q8_0 GEMM with the ARMv8.2 dotprod extension (SDOT), installed over the
 * NEON table on cores whose hwcap reports asimddp. The indexed form
 * vdotq_laneq_s32 multiplies 4 rows' k-quads (one per lane) by one k-quad
 * of x and adds each group of four products into its row's int32 lane:
 * exact block sums, so the result stays bit-identical to ref.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <string.h>

#include "arm_shared.h"
#include "gemm_plan.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define QD_TILE 4 /* tokens per micro-kernel call: 8 int + 8 float accumulators */

/* SDOT by element needs a constant lane. */
ALWAYS_INLINE int32x4_t sdot_lane(int32x4_t acc, int8x16_t w, int8x16_t x, int lane)
{
    switch (lane) {
    case 0: return vdotq_laneq_s32(acc, w, x, 0);
    case 1: return vdotq_laneq_s32(acc, w, x, 1);
    case 2: return vdotq_laneq_s32(acc, w, x, 2);
    default: return vdotq_laneq_s32(acc, w, x, 3);
    }
}

ALWAYS_INLINE void micro_dot_n(const qn_pack *pk, const float *dx, const char *x, size_t xs, int k0,
                               int kn, float *y, int ldy, int nr, int first, const int NT)
{
    const block_q8_0 *xb[QD_TILE];
    float32x4_t acc[QD_TILE][2];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xb[t] = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        acc[t][0] = first ? vdupq_n_f32(0.0f) : neon_load_rows(y + (size_t)t * ldy, nr);
        acc[t][1] = first ? vdupq_n_f32(0.0f) : neon_load_rows(y + (size_t)t * ldy + 4, nr - 4);
    }
    for (int b = 0; b < kn / QK8_0; b++) {
        int32x4_t isum[QD_TILE][2];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            isum[t][0] = isum[t][1] = vdupq_n_s32(0);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int8x16_t xv[QD_TILE];
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                xv[t] = vld1q_s8(xb[t][b].qs + 16 * h);
#pragma GCC unroll 4
            for (int jj = 0; jj < 4; jj++) {
                int8x16_t w0 = vld1q_s8(pk[b].q[4 * h + jj][0]), w1 = vld1q_s8(pk[b].q[4 * h + jj][1]);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    isum[t][0] = sdot_lane(isum[t][0], w0, xv[t], jj);
                    isum[t][1] = sdot_lane(isum[t][1], w1, xv[t], jj);
                }
            }
        }
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            float32x4_t dw = vld1q_f32(pk[b].d[g]);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                float32x4_t s = vmulq_f32(dw, vdupq_n_f32(dx[t * QN_NB + b]));
                acc[t][g] = vaddq_f32(acc[t][g], vmulq_f32(s, vcvtq_f32_s32(isum[t][g])));
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        neon_store_rows(y + (size_t)t * ldy, acc[t][0], nr);
        neon_store_rows(y + (size_t)t * ldy + 4, acc[t][1], nr - 4);
    }
}

static void micro_dot(const void *pk, const void *tbuf, const char *x, size_t xs, int k0,
                      int kn, int nt, float *y, int ldy, int nr, int first)
{
    GEMM_CALL_NT(4, nt, micro_dot_n, pk, tbuf, x, xs, k0, kn, y, ldy, nr, first)
}

static const gemm_plan plan_dot = {QN_PASS, QN_BLOCK, QN_NB * QK8_0, QD_TILE, sizeof(qn_pack) * QN_NB,
                                   actrm_neon_pack_q8, actrm_neon_prep_q8, micro_dot};

static void gemm_q8_0_dotprod(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                              int n0, int n1, float *y, int ldy)
{
    _Alignas(16) qn_pack buf[QN_BLOCK / QN_PASS * QN_NB];
    float dx[QD_TILE * QN_NB];
    gemm_run(&plan_dot, buf, dx, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

/* Few tokens: arm_gemv_q8.h with SDOT for the block sums. */
ALWAYS_INLINE int32x4_t qg_block_dot(const int8_t *w, const int8_t *x)
{
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), vld1q_s8(w), vld1q_s8(x));
    return vdotq_s32(s, vld1q_s8(w + 16), vld1q_s8(x + 16));
}

#include "arm_gemv_q8.h"

GEMM_DEFINE_FEW(gemm_q8_0_few_dotprod, GGML_TYPE_Q8_0, gemm_q8_0_dotprod, qg_gemv_n)

void actrm_kernels_neon_dotprod(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_few_dotprod;
}
