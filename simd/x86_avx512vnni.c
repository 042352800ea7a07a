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

ALWAYS_INLINE void micro_vnni_n(const q5_pack *pk, const qv_tile *tile, int kn, float *y, int ldy,
                                int nr, int first, const int NT)
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
    GEMM_CALL_NT(6, nt, micro_vnni_n, pk, tbuf, kn, y, ldy, nr, first)
}

static const gemm_plan plan_vnni = {Q5_PASS, Q5_BLOCK, Q5_NB * QK8_0, QV_TILE, sizeof(q5_pack) * Q5_NB,
                                    pack_q8_vnni, prep_q8_vnni, micro_vnni};

/* Few tokens: x is made unsigned by +128 and each dot starts from
 * -128 * sum(w), as in the packed path. */
typedef struct gv_weights {
    __m512i w, corr;
} gv_weights;

ALWAYS_INLINE gv_weights gv_prep_weights(__m512i w)
{
    __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), w);
    return (gv_weights){w, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7))};
}

ALWAYS_INLINE __m512i gv_prep_x(__m512i x)
{
    return _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80));
}

ALWAYS_INLINE __m512i gv_dot(gv_weights w, __m512i xu)
{
    return _mm512_dpbusd_epi32(w.corr, xu, w.w);
}

#include "x86_avx512_gemv.h"

static void gemm_q8_0_vnni(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                           int n0, int n1, float *y, int ldy)
{
    _Alignas(64) q5_pack buf[Q5_BLOCK / Q5_PASS * Q5_NB];
    _Alignas(64) qv_tile tile;
    if (T <= GEMM_STREAM_T) {
        gemv_q8_avx512(W, ws, x, xs, K, T, n0, n1, y, ldy);
        return;
    }
    gemm_run(&plan_vnni, buf, &tile, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

void actrm_kernels_avx512vnni(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_vnni;
}
