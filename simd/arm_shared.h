/*
 * What the NEON files share (arm_neon.c, and arm_dotprod.c which adds the
 * SDOT Q8_0 GEMM): the Q8_0 packing and y access of partial row groups.
 * Internal to simd/.
 */
#ifndef ACTRM_ARM_SHARED_H
#define ACTRM_ARM_SHARED_H

#include <arm_neon.h>

#include "kernels.h"

#define QN_LANES 4  /* rows per vector */
#define QN_GROUPS 2 /* vectors of rows per pass */
#define QN_PASS (QN_LANES * QN_GROUPS)
#define QN_BLOCK 64 /* rows packed at once */
#define QN_NB 8     /* Q8_0 blocks per chunk */

/* One Q8_0 block of one pass: per group of 4 rows the scales, and for each
 * k-quad j the 4 bytes k = 4j..4j+3 of each row (row r at bytes 4r..4r+3). */
typedef struct qn_pack {
    float d[QN_GROUPS][QN_LANES];
    int8_t q[QK8_0 / 4][QN_GROUPS][QN_LANES * 4];
} qn_pack;

/* Packs like gemm_plan.pack: pass p at pk + p * QN_NB. */
void actrm_neon_pack_q8(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *pk);

/* Writes the x scales of a tile as fp32, [tile][QN_NB]. */
void actrm_neon_prep_q8(const char *x, size_t xs, int k0, int kn, int nt, void *dx);

/* Rows [0, n) of a group of 4 in y: whole vectors only when all 4 are ours. */
static inline float32x4_t neon_load_rows(const float *p, int n)
{
    if (n >= 4)
        return vld1q_f32(p);
    float tmp[4] = {0};
    for (int i = 0; i < n; i++)
        tmp[i] = p[i];
    return vld1q_f32(tmp);
}

static inline void neon_store_rows(float *p, float32x4_t v, int n)
{
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float tmp[4];
    vst1q_f32(tmp, v);
    for (int i = 0; i < n; i++)
        p[i] = tmp[i];
}

#endif
