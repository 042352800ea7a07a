/*
 * AVX-512 VNNI Q8_0 GEMM, installed over the AVX-512 table.
 *
 * vpdpbusd multiplies unsigned by signed bytes and adds groups of four into
 * int32 lanes, one row per lane. Activations are made unsigned by adding
 * 128 (x ^ 0x80), once per token tile; the excess 128 * sum(w) of each row
 * and block is subtracted by starting the accumulator at -128 * sum(w),
 * computed when packing. The block sums stay exact, so the result is still
 * bit-identical to ref.
 */
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#include "gemm_plan.h"
#include "x86_avx512_q8.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define QV_TILE 6 /* tokens per micro-kernel call: 24 accumulators */

/* What prep makes of a tile: x + 128 as unsigned bytes, and the scales. */
typedef struct qv_tile {
    uint8_t xu[QV_TILE][Q5_NB][QK8_0];
    float dx[QV_TILE][Q5_NB];
} qv_tile;

static void pack_q8_vnni(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf)
{
    actrm_avx512_pack_q8(W, ws, r0, nr, k0, kn, buf);
    const __m512i ones = _mm512_set1_epi8(1);
    q5_pack *pk = buf;
    for (int p0 = 0; p0 < nr; p0 += Q5_PASS, pk += Q5_NB)
        for (int b = 0; b < kn / QK8_0; b++)
            for (int g = 0; g < Q5_GROUPS; g++) {
                __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int j = 0; j < QK8_0 / 4; j++)
                    sum = _mm512_dpbusd_epi32(sum, ones, _mm512_load_si512((const __m512i *)pk[b].q[j][g]));
                _mm512_store_si512((__m512i *)pk[b].wcorr[g], _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sum), 7));
            }
}

static void prep_q8_vnni(const char *x, size_t xs, int k0, int kn, int nt, void *tbuf)
{
    qv_tile *tile = tbuf;
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < nt; t++) {
        const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        for (int b = 0; b < kn / QK8_0; b++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)xb[b].qs);
            _mm256_store_si256((__m256i *)tile->xu[t][b], _mm256_xor_si256(q, bias));
            tile->dx[t][b] = _cvtsh_ss(xb[b].d);
        }
    }
}

ALWAYS_INLINE __m512i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

ALWAYS_INLINE void micro_vnni_n(const q5_pack *pk, const qv_tile *tile, int kn, const int NT,
                                float *y, int ldy, int nr, int first)
{
    __m512 acc[QV_TILE][2];
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        acc[t][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + (size_t)t * ldy);
        acc[t][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + (size_t)t * ldy + 16);
    }
    for (int b = 0; b < kn / QK8_0; b++) {
        __m512i isum[QV_TILE][2];
        __m512i c0 = _mm512_load_si512((const __m512i *)pk[b].wcorr[0]);
        __m512i c1 = _mm512_load_si512((const __m512i *)pk[b].wcorr[1]);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            isum[t][0] = c0;
            isum[t][1] = c1;
        }
#pragma GCC unroll 8
        for (int j = 0; j < QK8_0 / 4; j++) {
            __m512i w0 = _mm512_load_si512((const __m512i *)pk[b].q[j][0]);
            __m512i w1 = _mm512_load_si512((const __m512i *)pk[b].q[j][1]);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                __m512i xv = bcast4(tile->xu[t][b] + 4 * j);
                isum[t][0] = _mm512_dpbusd_epi32(isum[t][0], xv, w0);
                isum[t][1] = _mm512_dpbusd_epi32(isum[t][1], xv, w1);
            }
        }
        __m512 d0 = _mm512_load_ps(pk[b].d[0]), d1 = _mm512_load_ps(pk[b].d[1]);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m512 dx = _mm512_set1_ps(tile->dx[t][b]);
            acc[t][0] = _mm512_add_ps(acc[t][0], _mm512_mul_ps(_mm512_mul_ps(d0, dx), _mm512_cvtepi32_ps(isum[t][0])));
            acc[t][1] = _mm512_add_ps(acc[t][1], _mm512_mul_ps(_mm512_mul_ps(d1, dx), _mm512_cvtepi32_ps(isum[t][1])));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, acc[t][1]);
    }
}

static void micro_vnni(const void *pk, const void *tbuf, const char *x, size_t xs, int k0,
                       int kn, int nt, float *y, int ldy, int nr, int first)
{
    (void)x, (void)xs, (void)k0;
    switch (nt) {
    case 1: micro_vnni_n(pk, tbuf, kn, 1, y, ldy, nr, first); break;
    case 2: micro_vnni_n(pk, tbuf, kn, 2, y, ldy, nr, first); break;
    case 3: micro_vnni_n(pk, tbuf, kn, 3, y, ldy, nr, first); break;
    case 4: micro_vnni_n(pk, tbuf, kn, 4, y, ldy, nr, first); break;
    case 5: micro_vnni_n(pk, tbuf, kn, 5, y, ldy, nr, first); break;
    default: micro_vnni_n(pk, tbuf, kn, 6, y, ldy, nr, first); break;
    }
}

static const gemm_plan plan_vnni = {Q5_PASS, Q5_BLOCK, Q5_NB * QK8_0, QV_TILE, sizeof(q5_pack) * Q5_NB,
                                    pack_q8_vnni, prep_q8_vnni, micro_vnni};

/* ------------------------------------------------- few tokens: no packing */

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
    const __m512i ones = _mm512_set1_epi8(1), bias = _mm512_set1_epi8((char)0x80);
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
        __m512i w[8], corr[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m256i lo = _mm256_loadu_si256((const __m256i *)(rows[i][0] + boff + offsetof(block_q8_0, qs)));
            __m256i hi = _mm256_loadu_si256((const __m256i *)(rows[i][1] + boff + offsetof(block_q8_0, qs)));
            w[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
            /* x is made unsigned by +128; start from -128 * sum(w) */
            corr[i] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, w[i]), 7));
        }
        __m512i dr = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes, offs, W + (size_t)r0 * ws + boff, 1);
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dr));
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + b;
            __m512i xu = _mm512_xor_si512(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)xb->qs)), bias);
            __m512i z[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                z[i] = _mm512_dpbusd_epi32(corr[i], xu, w[i]);
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

ALWAYS_INLINE void gemv_q8_n(const void *W, size_t ws, const void *x, size_t xs, int K, const int NT,
                             int n0, int n1, float *y, int ldy)
{
    for (int r0 = n0; r0 < n1; r0 += GV_LANES) {
        int nr = gemm_min(GV_LANES, n1 - r0);
        gemv_group(W, ws, x, xs, K / QK8_0, r0, nr, gemm_min(GV_LANES, n1 - r0 - nr), NT, y, ldy);
    }
}

static void gemv_q8_vnni(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                         int n0, int n1, float *y, int ldy)
{
    switch (T) {
    case 1: gemv_q8_n(W, ws, x, xs, K, 1, n0, n1, y, ldy); break;
    case 2: gemv_q8_n(W, ws, x, xs, K, 2, n0, n1, y, ldy); break;
    case 3: gemv_q8_n(W, ws, x, xs, K, 3, n0, n1, y, ldy); break;
    default: gemv_q8_n(W, ws, x, xs, K, 4, n0, n1, y, ldy); break;
    }
}

static void gemm_q8_0_vnni(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                           int n0, int n1, float *y, int ldy)
{
    _Alignas(64) q5_pack buf[Q5_BLOCK / Q5_PASS * Q5_NB];
    _Alignas(64) qv_tile tile;
    if (T <= GEMM_STREAM_T) {
        gemv_q8_vnni(W, ws, x, xs, K, T, n0, n1, y, ldy);
        return;
    }
    gemm_run(&plan_vnni, buf, &tile, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

void actrm_kernels_avx512vnni(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_vnni;
}
