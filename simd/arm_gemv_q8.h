/*
 * Q8_0 GEMV for few tokens (T <= GEMM_STREAM_T), shared by arm_neon.c and
 * arm_dotprod.c (included, so each compiles it with its own flags). The
 * includer defines, before including, ALWAYS_INLINE and
 *   int32x4_t qg_block_dot(const int8_t *w, const int8_t *x)
 * the exact int32 partial dot products of one block's 32 weights with the
 * token's 32 values, whose four lanes add up to the block's dot product
 * (any grouping of k: integers are exact). Internal to simd/.
 *
 * With T <= GEMM_STREAM_T every weight byte is used by at most 4 tokens, so
 * packing costs more than it saves: blocks are read straight from 8 rows
 * (two vectors of 4 rows, one row per lane). Each lane then takes ref's
 * float step, blocks in order: acc + (d_w * d_x) * (float)isum.
 */
#ifndef ACTRM_ARM_GEMV_Q8_H
#define ACTRM_ARM_GEMV_Q8_H

#include <arm_neon.h>

#include "arm_shared.h"
#include "gemm_plan.h"

#define QG_ROWS 8

/* The 4 rows' block sums as one vector, lane i = row i. */
ALWAYS_INLINE int32x4_t qg_sums4(const block_q8_0 *const *rows, int b, const int8_t *xq)
{
    int32x4_t p0 = qg_block_dot(rows[0][b].qs, xq), p1 = qg_block_dot(rows[1][b].qs, xq);
    int32x4_t p2 = qg_block_dot(rows[2][b].qs, xq), p3 = qg_block_dot(rows[3][b].qs, xq);
    return vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
}

/* The 4 rows' block scales as fp32. */
ALWAYS_INLINE float32x4_t qg_scales4(const block_q8_0 *const *rows, int b)
{
    float16x4_t h = vreinterpret_f16_u16(vset_lane_u16(rows[3][b].d, vset_lane_u16(rows[2][b].d,
        vset_lane_u16(rows[1][b].d, vdup_n_u16(rows[0][b].d), 1), 2), 3));
    return vcvt_f32_f16(h);
}

/* Rows [r0, r0+nr), nr <= QG_ROWS, tokens [0, NT): y[t*ldy + r]. Rows past
 * nr repeat the last row (read, never stored). */
ALWAYS_INLINE void qg_rows(const char *W, size_t ws, const char *x, size_t xs, int nb, int r0, int nr,
                           float *y, int ldy, const int NT)
{
    const block_q8_0 *rows[QG_ROWS];
    const block_q8_0 *xb[GEMM_STREAM_T];
    float32x4_t acc[2][GEMM_STREAM_T];
#pragma GCC unroll 8
    for (int i = 0; i < QG_ROWS; i++)
        rows[i] = (const block_q8_0 *)(W + (size_t)(r0 + (i < nr ? i : nr - 1)) * ws);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xb[t] = (const block_q8_0 *)(x + (size_t)t * xs);
        acc[0][t] = acc[1][t] = vdupq_n_f32(0.0f);
    }
    for (int b = 0; b < nb; b++) {
        float32x4_t dw[2] = {qg_scales4(rows, b), qg_scales4(rows + 4, b)};
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            float dx = vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(xb[t][b].d))), 0);
#pragma GCC unroll 2
            for (int g = 0; g < 2; g++) {
                float32x4_t s = vmulq_f32(dw[g], vdupq_n_f32(dx));
                acc[g][t] = vaddq_f32(acc[g][t], vmulq_f32(s, vcvtq_f32_s32(qg_sums4(rows + 4 * g, b, xb[t][b].qs))));
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        neon_store_rows(y + (size_t)t * ldy + r0, acc[0][t], nr);
        neon_store_rows(y + (size_t)t * ldy + r0 + 4, acc[1][t], nr - 4);
    }
}

/* (type: always Q8_0, for GEMM_DEFINE_FEW's signature) */
ALWAYS_INLINE void qg_gemv_n(int type, const void *W, size_t ws, const void *x, size_t xs, int K, int n0,
                             int n1, float *y, int ldy, const int NT)
{
    (void)type;
    for (int r0 = n0; r0 < n1; r0 += QG_ROWS)
        qg_rows(W, ws, x, xs, K / QK8_0, r0, gemm_min(QG_ROWS, n1 - r0), y, ldy, NT);
}

#endif
