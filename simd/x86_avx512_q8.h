/*
 * Q8_0 packing shared by the AVX-512 GEMMs (x86_avx512.c without VNNI,
 * x86_avx512vnni.c with it). Internal to simd/.
 */
#ifndef ACTRM_X86_AVX512_Q8_H
#define ACTRM_X86_AVX512_Q8_H

#include "kernels.h"

#define Q5_LANES 16 /* rows per vector */
#define Q5_GROUPS 2 /* vectors of rows per pass */
#define Q5_PASS (Q5_LANES * Q5_GROUPS)
#define Q5_BLOCK 128 /* rows packed at once */
#define Q5_NB 8     /* Q8_0 blocks per chunk */

/* One Q8_0 block of one pass: per group of 16 rows the scales, the row sums
 * times -128 (VNNI only, see x86_avx512vnni.c), and for each k-quad j the 4
 * bytes k = 4j..4j+3 of each row (row r at bytes 4r..4r+3). */
typedef struct q5_pack {
    float d[Q5_GROUPS][Q5_LANES];
    int32_t wcorr[Q5_GROUPS][Q5_LANES];
    int8_t q[QK8_0 / 4][Q5_GROUPS][Q5_LANES * 4];
} q5_pack;

/* Packs like gemm_plan.pack (pass p at pk + p * Q5_NB); leaves wcorr unset. */
void actrm_avx512_pack_q8(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *pk);

#endif
