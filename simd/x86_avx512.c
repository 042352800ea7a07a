/*
 * AVX-512 (F/BW/VL/DQ) GEMMs, installed over the AVX2 table (whose vector
 * ops and quantizer stay: they are not where the time goes). Same orders as
 * ref (kernels.h), so the results are bit-identical to every other path.
 *
 * Float weights: 32 rows per pass (two 16-lane groups) x 12 tokens, packed
 * as fp32 through 16x16 transposes; masked loads handle the edges.
 * Q8_0 without VNNI: the sign trick of the AVX2 kernel with a byte mask in
 * place of vpsignb (which AVX-512 lacks): x is negated where w < 0, and
 * vpmaddubsw multiplies |w| (unsigned) by it.
 */
#include "kernels.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "gemm_plan.h"
#include "x86_avx512_q8.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Lanes [0, n) of 16. */
ALWAYS_INLINE __mmask16 mask16(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* In-register 16x16 transpose of 32-bit elements. */
ALWAYS_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4i+j], 128-bit lane L: rows 4i..4i+3 at column 4L+j */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* gather lane L of u[j], u[4+j], u[8+j], u[12+j] into column 4L+j */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        __m512 x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        __m512 y0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 y1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        r[j] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(x0, y0, 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(x1, y1, 0xdd);
    }
}

/* ------------------------------------------------------- float weights */

#define F5_LANES 16
#define F5_PASS 32  /* rows per pass: two groups */
#define F5_BLOCK 64 /* rows packed at once */
#define F5_KC 128   /* k per chunk */
#define F5_TILE 12  /* tokens per micro-kernel call: 24 accumulators */

/* 16x16 transpose of 16-bit elements, r[i] = row i's 16 values: rows 0-7
 * and 8-15 each go through an 8x8 transpose run in both 128-bit lanes
 * (lane 0: k 0-7, lane 1: k 8-15), then lanes are paired up. Half-width
 * data needs half the shuffles of transposing after the fp32 conversion. */
ALWAYS_INLINE void transpose16_epi16(__m256i r[16])
{
    __m256i d[16];
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8) {
        __m256i b[8], c[8];
#pragma GCC unroll 4
        for (int i = 0; i < 8; i += 2) { /* rows i, i+1 interleaved per k */
            b[i] = _mm256_unpacklo_epi16(r[h + i], r[h + i + 1]);
            b[i + 1] = _mm256_unpackhi_epi16(r[h + i], r[h + i + 1]);
        }
#pragma GCC unroll 2
        for (int i = 0; i < 8; i += 4) { /* four rows per k */
            c[i] = _mm256_unpacklo_epi32(b[i], b[i + 2]);
            c[i + 1] = _mm256_unpackhi_epi32(b[i], b[i + 2]);
            c[i + 2] = _mm256_unpacklo_epi32(b[i + 1], b[i + 3]);
            c[i + 3] = _mm256_unpackhi_epi32(b[i + 1], b[i + 3]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) { /* eight rows per k: d[h+2j] k=2j, d[h+2j+1] k=2j+1 */
            d[h + 2 * j] = _mm256_unpacklo_epi64(c[j], c[j + 4]);
            d[h + 2 * j + 1] = _mm256_unpackhi_epi64(c[j], c[j + 4]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm256_permute2x128_si256(d[j], d[8 + j], 0x20);
        r[8 + j] = _mm256_permute2x128_si256(d[j], d[8 + j], 0x31);
    }
}

/* 16 half-precision values (F16 or BF16 bits) as fp32. */
ALWAYS_INLINE __m512 widen16(int type, __m256i h)
{
    if (type == GGML_TYPE_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Pass layout: float [F5_KC][F5_PASS], row r of the pass in column r.
 * Rows past nr and k past kn in a 16x16 tile read as zeros. */
ALWAYS_INLINE void pack_float(int type, const void *W, size_t ws, int r0, int nr, int k0, int kn,
                              float *buf)
{
    size_t esize = type == GGML_TYPE_F32 ? 4 : 2;
    int padded = (nr + F5_PASS - 1) / F5_PASS * F5_PASS;
    for (int g0 = 0; g0 < padded; g0 += F5_LANES) {
        float *dst = buf + (size_t)(g0 / F5_PASS) * F5_KC * F5_PASS + g0 % F5_PASS;
        int ng = nr - g0;
        const char *row = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * esize;
        for (int k = 0; k < kn; k += 16) {
            __mmask16 m = mask16(kn - k);
            const char *src = row + (size_t)k * esize;
            if (type == GGML_TYPE_F32) {
                __m512 v[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    v[i] = ng >= 16 || i < ng ? _mm512_maskz_loadu_ps(m, src + (size_t)i * ws) : _mm512_setzero_ps();
                transpose16(v);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    _mm512_store_ps(dst + (size_t)(k + j) * F5_PASS, v[j]);
            } else {
                __m256i h[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    h[i] = ng >= 16 || i < ng ? _mm256_maskz_loadu_epi16(m, src + (size_t)i * ws)
                                              : _mm256_setzero_si256();
                transpose16_epi16(h);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++)
                    _mm512_store_ps(dst + (size_t)(k + j) * F5_PASS, widen16(type, h[j]));
            }
        }
    }
}

ALWAYS_INLINE void micro_float_n(const float *pk, const char *x, size_t xs, int k0, int kn,
                                 float *y, int ldy, int nr, int first, const int NT)
{
    __m512 acc[F5_TILE][2];
    const float *xr[F5_TILE];
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
#pragma GCC unroll 16
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs) + k0;
        acc[t][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + (size_t)t * ldy);
        acc[t][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + (size_t)t * ldy + 16);
    }
    for (int k = 0; k < kn; k++) {
        __m512 w0 = _mm512_load_ps(pk + (size_t)k * F5_PASS);
        __m512 w1 = _mm512_load_ps(pk + (size_t)k * F5_PASS + 16);
#pragma GCC unroll 16
        for (int t = 0; t < NT; t++) {
            __m512 xb = _mm512_set1_ps(xr[t][k]);
            acc[t][0] = _mm512_fmadd_ps(w0, xb, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(w1, xb, acc[t][1]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < NT; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, acc[t][1]);
    }
}

GEMM_DEFINE_FLOAT(F5_PASS, F5_BLOCK, F5_KC, F5_TILE, 64, gemm_f32_avx512, gemm_f16_packed, gemm_bf16_packed)

/* Few-token GEMV for F16/BF16 weights (T <= GEMM_STREAM_T): each weight is
 * used by at most 4 tokens, so packing (a converted copy of the block) costs
 * more than it saves. 16 rows per pass, one row per lane: a 16x16 tile of
 * halves is loaded straight from the rows, transposed and widened, then each
 * k adds w*x[k] in k order, the same fmaf chain as the reference. */
ALWAYS_INLINE void gemv_half_rows16(int type, const char *row, size_t ws, const char *x, size_t xs,
                                    int K, const int NT, float *y, int ldy, int nr)
{
    __m512 acc[GEMM_STREAM_T]; /* [token], lane = row */
    const float *xr[GEMM_STREAM_T];
    const char *next = row + (size_t)16 * ws;
    int has_next = nr > 16;
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        acc[t] = _mm512_setzero_ps();
        xr[t] = (const float *)(x + (size_t)t * xs);
    }
    for (int k = 0; k < K; k += 16) {
        int kn = K - k < 16 ? K - k : 16;
        __mmask16 m = mask16(kn);
        __m256i h[16]; /* [row] 16 halves, then [k] 16 rows after the transpose */
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            h[i] = nr >= 16 || i < nr ? _mm256_maskz_loadu_epi16(m, row + (size_t)i * ws + (size_t)k * 2)
                                      : _mm256_setzero_si256();
        if (has_next && (k & 31) == 0) /* next 16 rows, a line per 32 k, into L2 (T1 beat T0 here: 19 -> 27..34 t/s) */
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                _mm_prefetch(next + (size_t)i * ws + (size_t)k * 2, _MM_HINT_T1);
        transpose16_epi16(h);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) /* unrolled so that h stays in registers */
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                if (j < kn)
                    acc[t] = _mm512_fmadd_ps(widen16(type, h[j]), _mm512_set1_ps(xr[t][k + j]), acc[t]);
    }
    __mmask16 mr = mask16(nr);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, mr, acc[t]);
}

ALWAYS_INLINE void gemv_half_n(int type, const void *W, size_t ws, const void *x, size_t xs, int K,
                               int n0, int n1, float *y, int ldy, const int NT)
{
    for (int n = n0; n < n1; n += 16)
        gemv_half_rows16(type, (const char *)W + (size_t)n * ws, ws, x, xs, K, NT, y + n, ldy, n1 - n);
}

GEMM_DEFINE_HALF(gemm_f16_avx512, GGML_TYPE_F16, gemm_f16_packed)
GEMM_DEFINE_HALF(gemm_bf16_avx512, GGML_TYPE_BF16, gemm_bf16_packed)

/* ------------------------------------------- F16/BF16 in the G16 layout */

/* The float plan's pass layout from G16 groups: pass column r of row
 * r0 + r is lane r % 16 of group (r0 + r) / 16, so a pass is two groups'
 * 16-row vectors side by side; groups past nr (a multiple of 16) are zeros. */
ALWAYS_INLINE void pack_g16(int type, const void *W, size_t ws, int r0, int nr, int k0, int kn,
                            float *buf)
{
    int padded = (nr + F5_PASS - 1) / F5_PASS * F5_PASS;
    for (int g0 = 0; g0 < padded; g0 += ACTRM_G16) {
        float *dst = buf + (size_t)(g0 / F5_PASS) * F5_KC * F5_PASS + g0 % F5_PASS;
        const char *src = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * ACTRM_G16 * 2;
        for (int k = 0; k < kn; k++)
            _mm512_store_ps(dst + (size_t)k * F5_PASS,
                            g0 < nr ? widen16(type, _mm256_loadu_si256((const __m256i *)(src + (size_t)k * 32)))
                                    : _mm512_setzero_ps());
    }
}

/* Few tokens: each group streams front to back, its 16 rows of one k in
 * one 32-byte load; G16_WAYS(NT) groups at a time, so that as many FMA chains
 * per token (one per group, k in order as in ref) overlap. */
#define G16_WAYS(NT) 4
ALWAYS_INLINE void gemv_g16_ways(int type, const char *g, size_t gs, const char *x, size_t xs, int K,
                                 int ng, float *y, int ldy, const int NT)
{
    __m512 acc[G16_WAYS(NT)][GEMM_STREAM_T];
    const float *xr[GEMM_STREAM_T];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs);
#pragma GCC unroll 4
        for (int i = 0; i < G16_WAYS(NT); i++)
            acc[i][t] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m512 xb[GEMM_STREAM_T];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            xb[t] = _mm512_set1_ps(xr[t][k]);
#pragma GCC unroll 4
        for (int i = 0; i < G16_WAYS(NT); i++)
            if (i < ng) {
                __m512 w = widen16(type, _mm256_loadu_si256((const __m256i *)(g + i * gs + (size_t)k * 32)));
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++)
                    acc[i][t] = _mm512_fmadd_ps(w, xb[t], acc[i][t]);
            }
    }
#pragma GCC unroll 4
    for (int i = 0; i < G16_WAYS(NT); i++)
        if (i < ng)
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                _mm512_storeu_ps(y + (size_t)t * ldy + 16 * i, acc[i][t]);
}

GEMM_DEFINE_G16(F5_PASS, F5_BLOCK, F5_KC, F5_TILE, 64, gemm_f16_g16_avx512, gemm_bf16_g16_avx512)

/* ---------------------------------------------------------- Q8_0 weights */

/* 16 rows' blocks (32 bytes each, rows ws apart, the first nrows real) ->
 * 8 vectors, vector j holding k-quad j of every row: rows r and r+8 share a
 * register, then an 8x8 transpose of 32-bit elements runs in both 256-bit
 * halves at once. `full` (nrows == 16) is a constant after inlining. */
ALWAYS_INLINE void transpose_block16(const int8_t *qs, size_t ws, int nrows, int full,
                                     __m512i out[8])
{
    __m512i z[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        __m256i lo = full || i < nrows ? _mm256_loadu_si256((const __m256i *)(qs + i * ws))
                                       : _mm256_setzero_si256();
        __m256i hi = full || i + 8 < nrows ? _mm256_loadu_si256((const __m256i *)(qs + (i + 8) * ws))
                                           : _mm256_setzero_si256();
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(z[i], z[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(z[i], z[i + 1]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* in each 256-bit half: lane 0 of u[i] with lane 0 of u[i+4] -> quad i,
     * lane 1 with lane 1 -> quad i+4 */
    const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        out[i] = _mm512_permutex2var_epi64(u[i], lo_idx, u[i + 4]);
        out[i + 4] = _mm512_permutex2var_epi64(u[i], hi_idx, u[i + 4]);
    }
}

/* One group of 16 rows (ng of them real) for blocks [b0, b0+nb). */
ALWAYS_INLINE void pack_q8_group(const char *base, size_t ws, int ng, int full, int nb,
                                 q5_pack *pk, int g)
{
    /* the scales of 16 rows in one gather: 4 bytes at each block start,
     * of which the low 2 are d */
    __m512i offs = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                      _mm512_set1_epi32((int)ws));
    __mmask16 rows = full ? (__mmask16)0xffff : (__mmask16)((1u << ng) - 1);
    for (int b = 0; b < nb; b++) {
        const char *blk = base + (size_t)b * sizeof(block_q8_0);
        __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rows, offs, blk, 1);
        _mm512_store_ps(pk[b].d[g], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
        __m512i q[8];
        transpose_block16((const int8_t *)blk + offsetof(block_q8_0, qs), ws, ng, full, q);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            _mm512_store_si512((__m512i *)pk[b].q[j][g], q[j]);
    }
}

void actrm_avx512_pack_q8(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf)
{
    q5_pack *pk = buf;
    int nb = kn / QK8_0;
    for (int p0 = 0; p0 < nr; p0 += Q5_PASS, pk += Q5_NB)
        for (int g = 0; g < Q5_GROUPS; g++) {
            int g0 = p0 + g * Q5_LANES, ng = nr - g0;
            const char *base = (const char *)W + (size_t)(r0 + (ng > 0 ? g0 : 0)) * ws +
                               (size_t)(k0 / QK8_0) * sizeof(block_q8_0);
            if (ng >= Q5_LANES)
                pack_q8_group(base, ws, Q5_LANES, 1, nb, pk, g);
            else
                pack_q8_group(base, ws, ng > 0 ? ng : 0, 0, nb, pk, g);
        }
}

/* The x scales of a tile as fp32, [Q5_TILE][Q5_NB], shared by its passes. */
#define Q5_TILE 4

static void prep_q8(const char *x, size_t xs, int k0, int kn, int nt, void *tbuf)
{
    float *dx = tbuf;
    for (int t = 0; t < nt; t++) {
        const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        for (int b = 0; b < kn / QK8_0; b++)
            dx[t * Q5_NB + b] = _cvtsh_ss(xb[b].d);
    }
}

ALWAYS_INLINE __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

ALWAYS_INLINE void micro_q8_n(const q5_pack *pk, const float *dx, const char *x, size_t xs, int k0,
                              int kn, float *y, int ldy, int nr, int first, const int NT)
{
    const __m512i ones = _mm512_set1_epi16(1), zero = _mm512_setzero_si512();
    const block_q8_0 *xb[Q5_TILE];
    __m512 acc[Q5_TILE][2];
    __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        xb[t] = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        acc[t][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + (size_t)t * ldy);
        acc[t][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + (size_t)t * ldy + 16);
    }
    for (int b = 0; b < kn / QK8_0; b++) {
        __m512i isum[Q5_TILE][2];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            isum[t][0] = isum[t][1] = zero;
#pragma GCC unroll 8
        for (int j = 0; j < QK8_0 / 4; j++) {
#pragma GCC unroll 2
            for (int g = 0; g < 2; g++) {
                __m512i w = _mm512_load_si512((const __m512i *)pk[b].q[j][g]);
                __m512i aw = _mm512_abs_epi8(w);
                __mmask64 neg = _mm512_movepi8_mask(w);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) {
                    __m512i xv = bcast4(xb[t][b].qs + 4 * j);
                    __m512i sx = _mm512_mask_sub_epi8(xv, neg, zero, xv);
                    __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(aw, sx), ones);
                    isum[t][g] = _mm512_add_epi32(isum[t][g], p);
                }
            }
        }
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            __m512 dw = _mm512_load_ps(pk[b].d[g]);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(dx[t * Q5_NB + b]));
                acc[t][g] = _mm512_add_ps(acc[t][g], _mm512_mul_ps(s, _mm512_cvtepi32_ps(isum[t][g])));
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, acc[t][1]);
    }
}

static void micro_q8(const void *pk, const void *tbuf, const char *x, size_t xs, int k0,
                     int kn, int nt, float *y, int ldy, int nr, int first)
{
    GEMM_CALL_NT(4, nt, micro_q8_n, pk, tbuf, x, xs, k0, kn, y, ldy, nr, first)
}

static const gemm_plan plan_q8 = {Q5_PASS, Q5_BLOCK, Q5_NB * QK8_0, Q5_TILE, sizeof(q5_pack) * Q5_NB,
                                  actrm_avx512_pack_q8, prep_q8, micro_q8};

/* Few tokens: |w| times x with w's sign, as in micro_q8_n (x is in
 * [-127, 127], so pairs of products fit int16 and flipping x is exact). */
typedef struct gv_weights {
    __m512i aw;
    __mmask64 neg;
} gv_weights;

ALWAYS_INLINE gv_weights gv_prep_weights(__m512i w)
{
    return (gv_weights){_mm512_abs_epi8(w), _mm512_movepi8_mask(w)};
}

ALWAYS_INLINE __m512i gv_prep_x(__m512i x)
{
    return x;
}

ALWAYS_INLINE __m512i gv_dot(gv_weights w, __m512i x)
{
    __m512i sx = _mm512_mask_sub_epi8(x, w.neg, _mm512_setzero_si512(), x);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(w.aw, sx), _mm512_set1_epi16(1));
}

#include "x86_avx512_gemv.h"

static void gemm_q8_0_avx512(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                             int n0, int n1, float *y, int ldy)
{
    _Alignas(64) q5_pack buf[Q5_BLOCK / Q5_PASS * Q5_NB];
    float dx[Q5_TILE * Q5_NB];
    if (T <= GEMM_STREAM_T) {
        gemv_q8_avx512(W, ws, x, xs, K, T, n0, n1, y, ldy);
        return;
    }
    gemm_run(&plan_q8, buf, dx, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

void actrm_kernels_avx512(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_F32] = gemm_f32_avx512;
    k->gemm[ACTRM_WT_F16] = gemm_f16_avx512;
    k->gemm[ACTRM_WT_BF16] = gemm_bf16_avx512;
    k->gemm[ACTRM_WT_F16_G16] = gemm_f16_g16_avx512;
    k->gemm[ACTRM_WT_BF16_G16] = gemm_bf16_g16_avx512;
    k->g16_fast = 1;
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_avx512;
}
