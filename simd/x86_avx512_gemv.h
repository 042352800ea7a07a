/*
 * Q8_0 GEMV for few tokens (T <= GEMM_STREAM_T), shared by the AVX-512 files
 * (included, so each compiles it with its own flags). The includer defines,
 * before including:
 *   gv_weights                        what one register of weights becomes
 *   gv_weights gv_prep_weights(__m512i w)   32 int8 of two rows, per half
 *   __m512i gv_prep_x(__m512i x)            the token's 32 int8, both halves
 *   __m512i gv_dot(gv_weights w, __m512i x) exact int32 partial dot products,
 *                                           8 per half (any grouping of k)
 * and ALWAYS_INLINE. Internal to simd/.
 */
#ifndef ACTRM_X86_AVX512_GEMV_H
#define ACTRM_X86_AVX512_GEMV_H

#include <immintrin.h>
#include <stddef.h>

#include "gemm_plan.h"
#include "kernels.h"


/* With T <= GEMM_STREAM_T every weight byte is used by at most 4 tokens, so
 * packing costs more than it saves; this path reads 16 rows' blocks straight
 * from the weights. Rows r and r+8 share a register (a 256-bit half each),
 * each half is dotted with the token's block, and a reduction tree turns the
 * 8 vectors of partial sums into one vector of exact block sums, lane l
 * holding row GV_ROW[l]. Each lane then does ref's float step, blocks in
 * order. */
#define GV_LANES 16

static const int GV_ROW[GV_LANES] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};

/* z[8] (16 int32 each, see above) -> per-row sums, lane order GV_ROW. */
ALWAYS_INLINE __m512i gv_reduce(const __m512i z[8])
{
    __m512i t[4], u[2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]),
                                _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88), _mm512_shuffle_i32x4(u[0], u[1], 0xdd));
}

/* Rows [r0, r0+nr), nr <= 16, tokens [0, NT): y[t*ldy + r]. While they are
 * worked on, the next next_rows rows (contiguous) are prefetched in address
 * order, a slice per block: 16 row streams alone defeat the prefetcher. */
ALWAYS_INLINE void gemv_group(const char *W, size_t ws, const char *x, size_t xs, int nb, int r0,
                              int nr, int next_rows, const int NT, float *y, int ldy)
{
    const char *next = W + (size_t)(r0 + nr) * ws;
    __mmask16 lanes = 0;
    int offs_row[GV_LANES];
    for (int l = 0; l < GV_LANES; l++) {
        offs_row[l] = GV_ROW[l] < nr ? GV_ROW[l] : 0;
        lanes |= (__mmask16)((GV_ROW[l] < nr) << l);
    }
    __m512i offs = _mm512_mullo_epi32(_mm512_loadu_si512(offs_row), _mm512_set1_epi32((int)ws));
    const char *rows[8][2];
    for (int i = 0; i < 8; i++) {
        rows[i][0] = W + (size_t)(r0 + (i < nr ? i : 0)) * ws;
        rows[i][1] = W + (size_t)(r0 + (i + 8 < nr ? i + 8 : 0)) * ws;
    }
    __m512 acc[GEMM_STREAM_T];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        size_t boff = (size_t)b * sizeof(block_q8_0);
        if (next_rows > 0)
            gemm_prefetch_slice(next, (size_t)next_rows * ws, b, nb);
        gv_weights w[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m256i lo = _mm256_loadu_si256((const __m256i *)(rows[i][0] + boff + offsetof(block_q8_0, qs)));
            __m256i hi = _mm256_loadu_si256((const __m256i *)(rows[i][1] + boff + offsetof(block_q8_0, qs)));
            w[i] = gv_prep_weights(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
        }
        __m512i dr = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, offs, W + (size_t)r0 * ws + boff, 1);
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dr));
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + b;
            __m512i xq = gv_prep_x(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)xb->qs)));
            __m512i z[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                z[i] = gv_dot(w[i], xq);
            __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(_cvtsh_ss(xb->d)));
            acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(s, _mm512_cvtepi32_ps(gv_reduce(z))));
        }
    }
    /* GV_ROW is its own inverse: lane l of the result is row l */
    const __m512i to_rows = _mm512_loadu_si512(GV_ROW);
    __mmask16 m = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + r0, m, _mm512_permutexvar_ps(to_rows, acc[t]));
}

ALWAYS_INLINE void gemv_q8_n(const void *W, size_t ws, const void *x, size_t xs, int K, int n0,
                             int n1, float *y, int ldy, const int NT)
{
    for (int r0 = n0; r0 < n1; r0 += GV_LANES) {
        int nr = gemm_min(GV_LANES, n1 - r0);
        gemv_group(W, ws, x, xs, K / QK8_0, r0, nr, gemm_min(GV_LANES, n1 - r0 - nr), NT, y, ldy);
    }
}

ALWAYS_INLINE void gemv_q8_avx512(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                                  int n0, int n1, float *y, int ldy)
{
    GEMM_CALL_NT(4, T, gemv_q8_n, W, ws, x, xs, K, n0, n1, y, ldy)
}

#endif
