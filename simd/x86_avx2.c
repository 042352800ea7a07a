/*
 * AVX2 + FMA + F16C kernels. Every entry computes bit for bit what its
 * simd/ref.c twin computes (orders in kernels.h and vmath.h).
 *
 * GEMM (see gemm_plan.h): lanes hold rows. Float weights are converted to
 * fp32 while packing, 16 rows x 128 k per pass, and the micro-kernel does
 * acc[row] = fma(w[k][row], x[t][k], acc[row]) for 6 tokens at once. Q8_0
 * weights are packed 8 rows per vector as 4-byte k-quads; the integer block
 * sums use the sign trick (maddubs wants unsigned x signed bytes, so |w| is
 * multiplied by x carrying w's sign), which is exact because the pair sums
 * stay below 2 * 128 * 127 < 2^15.
 */
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#include "gemm_plan.h"
#include "vmath.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- helpers */

/* Lanes [0, n) set, for masked loads and stores of partial row groups. */
ALWAYS_INLINE __m256i lane_mask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

ALWAYS_INLINE __m256 load_rows(const float *p, int n)
{
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(n));
}

ALWAYS_INLINE void store_rows(float *p, __m256 v, int n)
{
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else if (n > 0)
        _mm256_maskstore_ps(p, lane_mask(n), v);
}

/* The 16-lane reduction tree of vmath.h: lo holds lanes 0-7, hi 8-15. */
ALWAYS_INLINE float lanes_sum16(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

/* In-register 8x8 transpose of 32-bit elements. */
ALWAYS_INLINE void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    #pragma GCC unroll 8
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    #pragma GCC unroll 8
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    #pragma GCC unroll 8
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* 8 weights of a row as fp32; type is a constant after inlining. */
ALWAYS_INLINE __m256 load8_w(int type, const void *p)
{
    if (type == GGML_TYPE_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    if (type == GGML_TYPE_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    return _mm256_loadu_ps((const float *)p);
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
    return type == GGML_TYPE_F16 ? _cvtsh_ss(h) : actrm_bf16_to_f32(h);
}

ALWAYS_INLINE size_t wsize(int type)
{
    return type == GGML_TYPE_F32 ? 4 : 2;
}

/* ------------------------------------------------------- float weights */

#define F_PASS 16  /* rows per pass: two 8-lane groups */
#define F_BLOCK 64 /* rows packed at once */
#define F_KC 128   /* k per chunk */
#define F_TILE 6   /* tokens per micro-kernel call: 12 accumulators */

/* Pass layout: float [F_KC][F_PASS], row r of the pass in column r. */
ALWAYS_INLINE void pack_float(int type, const void *W, size_t ws, int r0, int nr,
                              int k0, int kn, float *buf)
{
    int padded = (nr + F_PASS - 1) / F_PASS * F_PASS;
    for (int g0 = 0; g0 < padded; g0 += 8) {
        float *dst = buf + (size_t)(g0 / F_PASS) * F_KC * F_PASS + g0 % F_PASS;
        int ng = gemm_min(8, nr - g0);
        const char *row = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * wsize(type);
        int k = 0;
        if (ng == 8)
            for (; k + 8 <= kn; k += 8) {
                __m256 v[8];
                #pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    v[i] = load8_w(type, row + (size_t)i * ws + (size_t)k * wsize(type));
                transpose8(v);
                #pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    _mm256_storeu_ps(dst + (size_t)(k + j) * F_PASS, v[j]);
            }
        for (; k < kn; k++)
            #pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                dst[(size_t)k * F_PASS + i] =
                    i < ng ? load1_w(type, row + (size_t)i * ws + (size_t)k * wsize(type)) : 0.0f;
    }
}

ALWAYS_INLINE void micro_float_n(const float *pk, const char *x, size_t xs, int k0, int kn,
                                 float *y, int ldy, int nr, int first, const int NT)
{
    __m256 acc[F_TILE][2];
    const float *xr[F_TILE];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs) + k0;
        acc[t][0] = first ? _mm256_setzero_ps() : load_rows(y + (size_t)t * ldy, nr);
        acc[t][1] = first ? _mm256_setzero_ps() : load_rows(y + (size_t)t * ldy + 8, nr - 8);
    }
    for (int k = 0; k < kn; k++) {
        __m256 w0 = _mm256_load_ps(pk + (size_t)k * F_PASS);
        __m256 w1 = _mm256_load_ps(pk + (size_t)k * F_PASS + 8);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m256 xb = _mm256_broadcast_ss(xr[t] + k);
            acc[t][0] = _mm256_fmadd_ps(w0, xb, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, xb, acc[t][1]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        store_rows(y + (size_t)t * ldy, acc[t][0], nr);
        store_rows(y + (size_t)t * ldy + 8, acc[t][1], nr - 8);
    }
}

GEMM_DEFINE_FLOAT(F_PASS, F_BLOCK, F_KC, F_TILE, 32, gemm_f32_avx2, gemm_f16_packed, gemm_bf16_packed)

/* Few-token GEMV for F16/BF16 weights (T <= GEMM_STREAM_T): each weight is
 * used by at most 4 tokens, so packing costs more than it saves. 8 rows per
 * pass, one row per lane: an 8x8 tile is read straight from the rows,
 * widened and transposed, then each k adds w*x[k] in k order, the same fmaf
 * chain as the reference. k past the last full tile (and a short last group
 * of rows) is read one weight at a time. */
ALWAYS_INLINE void gemv_half_rows8(int type, const char *row, size_t ws, const char *x, size_t xs,
                                   int K, const int NT, float *y, int ldy, int nr)
{
    __m256 acc[GEMM_STREAM_T]; /* [token], lane = row */
    const float *xr[GEMM_STREAM_T];
    const char *next = row + (size_t)8 * ws;
    int has_next = nr > 8;
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        acc[t] = _mm256_setzero_ps();
        xr[t] = (const float *)(x + (size_t)t * xs);
    }
    int k = 0;
    if (nr >= 8)
        for (; k + 8 <= K; k += 8) {
            __m256 v[8]; /* [row] 8 weights, then [k] 8 rows after the transpose */
            #pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                v[i] = load8_w(type, row + (size_t)i * ws + (size_t)k * 2);
            if (has_next && (k & 31) == 0) /* next 8 rows, one cache line each per 32 k */
                #pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    _mm_prefetch(next + (size_t)i * ws + (size_t)k * 2, _MM_HINT_T0);
            transpose8(v);
            #pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                #pragma GCC unroll 4
                for (int t = 0; t < NT; t++)
                    acc[t] = _mm256_fmadd_ps(v[j], _mm256_set1_ps(xr[t][k + j]), acc[t]);
        }
    for (; k < K; k++) {
        float w[8]; /* [row], zero past nr */
        for (int i = 0; i < 8; i++)
            w[i] = i < nr ? load1_w(type, row + (size_t)i * ws + (size_t)k * 2) : 0.0f;
        __m256 wv = _mm256_loadu_ps(w);
        #pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_fmadd_ps(wv, _mm256_set1_ps(xr[t][k]), acc[t]);
    }
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        float out[8]; /* [row] */
        _mm256_storeu_ps(out, acc[t]);
        for (int i = 0; i < gemm_min(8, nr); i++)
            y[(size_t)t * ldy + i] = out[i];
    }
}

ALWAYS_INLINE void gemv_half_n(int type, const void *W, size_t ws, const void *x, size_t xs, int K,
                               int n0, int n1, float *y, int ldy, const int NT)
{
    for (int n = n0; n < n1; n += 8)
        gemv_half_rows8(type, (const char *)W + (size_t)n * ws, ws, x, xs, K, NT, y + n, ldy, n1 - n);
}

GEMM_DEFINE_HALF(gemm_f16_avx2, GGML_TYPE_F16, gemm_f16_packed)
GEMM_DEFINE_HALF(gemm_bf16_avx2, GGML_TYPE_BF16, gemm_bf16_packed)

/* ------------------------------------------- F16/BF16 in the G16 layout */

/* The float plan's pass layout from G16 groups: a pass (16 rows) is one
 * group, its k-th 16 halves widened in place; passes past nr are zeros. */
ALWAYS_INLINE void pack_g16(int type, const void *W, size_t ws, int r0, int nr, int k0, int kn,
                            float *buf)
{
    int padded = (nr + F_PASS - 1) / F_PASS * F_PASS;
    for (int g0 = 0; g0 < padded; g0 += ACTRM_G16) {
        float *dst = buf + (size_t)(g0 / F_PASS) * F_KC * F_PASS;
        const char *src = (const char *)W + (size_t)(r0 + g0) * ws + (size_t)k0 * ACTRM_G16 * 2;
        for (int k = 0; k < kn; k++) {
            __m256 lo = g0 < nr ? load8_w(type, src + (size_t)k * 32) : _mm256_setzero_ps();
            __m256 hi = g0 < nr ? load8_w(type, src + (size_t)k * 32 + 16) : _mm256_setzero_ps();
            _mm256_storeu_ps(dst + (size_t)k * F_PASS, lo);
            _mm256_storeu_ps(dst + (size_t)k * F_PASS + 8, hi);
        }
    }
}

/* Few tokens: each group streams front to back, its 16 rows of one k in
 * two 16-byte loads; two groups at a time, four FMA chains per token (k in
 * order, as in ref). */
#define G16_WAYS(NT) 2
ALWAYS_INLINE void gemv_g16_ways(int type, const char *g, size_t gs, const char *x, size_t xs, int K,
                                 int ng, float *y, int ldy, const int NT)
{
    __m256 acc[2 * G16_WAYS(NT)][GEMM_STREAM_T]; /* [group half][token] */
    const float *xr[GEMM_STREAM_T];
    #pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        xr[t] = (const float *)(x + (size_t)t * xs);
        #pragma GCC unroll 4
        for (int i = 0; i < 2 * G16_WAYS(NT); i++)
            acc[i][t] = _mm256_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m256 xb[GEMM_STREAM_T];
        #pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            xb[t] = _mm256_broadcast_ss(xr[t] + k);
        #pragma GCC unroll 4
        for (int i = 0; i < 2 * G16_WAYS(NT); i++)
            if (i / 2 < ng) {
                __m256 w = load8_w(type, g + (size_t)(i / 2) * gs + (size_t)k * 32 + (size_t)(i % 2) * 16);
                #pragma GCC unroll 4
                for (int t = 0; t < NT; t++)
                    acc[i][t] = _mm256_fmadd_ps(w, xb[t], acc[i][t]);
            }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < 2 * G16_WAYS(NT); i++)
        if (i / 2 < ng)
            #pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                _mm256_storeu_ps(y + (size_t)t * ldy + 8 * i, acc[i][t]);
}

GEMM_DEFINE_G16(F_PASS, F_BLOCK, F_KC, F_TILE, 32, gemm_f16_g16_avx2, gemm_bf16_g16_avx2)

/* ---------------------------------------------------------- Q8_0 weights */

#define Q_LANES 8  /* rows per pass */
#define Q_BLOCK 64 /* rows packed at once */
#define Q_NB 8     /* Q8_0 blocks per chunk */
#define Q_TILE 4   /* tokens per micro-kernel call */

/* One block of one pass: the row scales, then for each k-quad j the 4
 * bytes k = 4j..4j+3 of every row (row r at bytes 4r..4r+3). */
typedef struct q8_pack {
    float d[Q_LANES];
    int8_t q[QK8_0 / 4][Q_LANES * 4];
} q8_pack;

static void pack_q8(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf)
{
    q8_pack *pk = buf;
    int nb = kn / QK8_0, b0 = k0 / QK8_0;
    for (int p0 = 0; p0 < nr; p0 += Q_LANES, pk += Q_NB) {
        int np = gemm_min(Q_LANES, nr - p0);
        for (int b = 0; b < nb; b++) {
            __m256 v[8];
            #pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const block_q8_0 *blk = (const block_q8_0 *)((const char *)W + (size_t)(r0 + p0 + i) * ws) + b0 + b;
                pk[b].d[i] = i < np ? _cvtsh_ss(blk->d) : 0.0f;
                v[i] = i < np ? _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)blk->qs))
                              : _mm256_setzero_ps();
            }
            transpose8(v);
            #pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                _mm256_store_ps((float *)pk[b].q[j], v[j]);
        }
    }
}

/* The x scales of a tile as fp32, [Q_TILE][Q_NB], shared by its passes. */
static void prep_q8(const char *x, size_t xs, int k0, int kn, int nt, void *tbuf)
{
    float *dx = tbuf;
    for (int t = 0; t < nt; t++) {
        const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        for (int b = 0; b < kn / QK8_0; b++)
            dx[t * Q_NB + b] = _cvtsh_ss(xb[b].d);
    }
}

ALWAYS_INLINE __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

ALWAYS_INLINE void micro_q8_n(const q8_pack *pk, const float *dx, const char *x, size_t xs, int k0,
                              int kn, float *y, int ldy, int nr, int first, const int NT)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const block_q8_0 *xb[Q_TILE];
    __m256 acc[Q_TILE];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        xb[t] = (const block_q8_0 *)(x + (size_t)t * xs) + k0 / QK8_0;
        acc[t] = first ? _mm256_setzero_ps() : load_rows(y + (size_t)t * ldy, nr);
    }
    for (int b = 0; b < kn / QK8_0; b++) {
        __m256i isum[Q_TILE];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < QK8_0 / 4; j++) {
            __m256i w = _mm256_load_si256((const __m256i *)pk[b].q[j]);
            __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                __m256i sx = _mm256_sign_epi8(bcast4(xb[t][b].qs + 4 * j), w);
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
                isum[t] = _mm256_add_epi32(isum[t], p);
            }
        }
        __m256 dw = _mm256_load_ps(pk[b].d);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(dx[t * Q_NB + b]));
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(s, _mm256_cvtepi32_ps(isum[t])));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++)
        store_rows(y + (size_t)t * ldy, acc[t], nr);
}

static void micro_q8(const void *pk, const void *tbuf, const char *x, size_t xs, int k0,
                     int kn, int nt, float *y, int ldy, int nr, int first)
{
    GEMM_CALL_NT(4, nt, micro_q8_n, pk, tbuf, x, xs, k0, kn, y, ldy, nr, first)
}

static const gemm_plan plan_q8 = {Q_LANES, Q_BLOCK, Q_NB * QK8_0, Q_TILE,
                                  sizeof(q8_pack) * Q_NB, pack_q8, prep_q8, micro_q8};

/* Few tokens (T <= GEMM_STREAM_T): packing costs more than it saves, so 8
 * rows' blocks are read straight from the weights, each dotted with the
 * token's block as in micro_q8_n, and a reduction tree turns the 8 vectors
 * of partial sums into one vector of exact block sums, lane r = row r. Each
 * lane then does ref's float step, blocks in order. While a group is worked
 * on, the next one (contiguous) is prefetched in address order. */
ALWAYS_INLINE __m256i gv_reduce8(const __m256i z[8])
{
    __m256i t[4], u[2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        t[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(z[2 * i], z[2 * i + 1]),
                                _mm256_unpackhi_epi32(z[2 * i], z[2 * i + 1]));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        u[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                                _mm256_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u[0], u[1], 0x20),
                            _mm256_permute2x128_si256(u[0], u[1], 0x31));
}

/* Rows [r0, r0+nr), nr <= 8, tokens [0, NT): y[t*ldy + r]. */
ALWAYS_INLINE void gemv_q8_group(const char *W, size_t ws, const char *x, size_t xs, int nb, int r0,
                                 int nr, int next_rows, const int NT, float *y, int ldy)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const char *next = W + (size_t)(r0 + nr) * ws;
    const block_q8_0 *rows[8];
    for (int i = 0; i < 8; i++)
        rows[i] = (const block_q8_0 *)(W + (size_t)(r0 + (i < nr ? i : 0)) * ws);
    __m256 acc[GEMM_STREAM_T];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        if (next_rows > 0)
            gemm_prefetch_slice(next, (size_t)next_rows * ws, b, nb);
        __m256i w[8], aw[8];
        uint16_t dh[8]; /* the rows' fp16 scales */
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            w[i] = _mm256_loadu_si256((const __m256i *)rows[i][b].qs);
            aw[i] = _mm256_abs_epi8(w[i]);
            memcpy(&dh[i], &rows[i][b].d, sizeof dh[i]);
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const block_q8_0 *xb = (const block_q8_0 *)(x + (size_t)t * xs) + b;
            __m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs), z[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                z[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[i], _mm256_sign_epi8(xq, w[i])), ones);
            __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(xb->d)));
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(s, _mm256_cvtepi32_ps(gv_reduce8(z))));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        store_rows(y + (size_t)t * ldy + r0, acc[t], nr);
}

ALWAYS_INLINE void gemv_q8_n(const void *W, size_t ws, const void *x, size_t xs, int K, int n0,
                             int n1, float *y, int ldy, const int NT)
{
    for (int r0 = n0; r0 < n1; r0 += 8) {
        int nr = gemm_min(8, n1 - r0);
        gemv_q8_group(W, ws, x, xs, K / QK8_0, r0, nr, gemm_min(8, n1 - r0 - nr), NT, y, ldy);
    }
}

static void gemv_q8_avx2(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                         int n0, int n1, float *y, int ldy)
{
    GEMM_CALL_NT(4, T, gemv_q8_n, W, ws, x, xs, K, n0, n1, y, ldy)
}

static void gemm_q8_0_avx2(const void *W, size_t ws, const void *x, size_t xs, int K, int T,
                           int n0, int n1, float *y, int ldy)
{
    _Alignas(32) q8_pack buf[Q_BLOCK / Q_LANES * Q_NB];
    float dx[Q_TILE * Q_NB];
    if (T <= GEMM_STREAM_T) {
        gemv_q8_avx2(W, ws, x, xs, K, T, n0, n1, y, ldy);
        return;
    }
    gemm_run(&plan_q8, buf, dx, W, ws, x, xs, K, T, n0, n1, y, ldy);
}

/* roundf(v), half away from zero, as exact vector steps: truncate, then
 * step away from zero when the dropped part is >= 0.5. */
ALWAYS_INLINE __m256 round_away(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(away, step));
}

static void quantize_q8_0_avx2(const float *x, block_q8_0 *y, int K)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < K / QK8_0; b++) {
        __m256 v[4], m = _mm256_setzero_ps();
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + b * QK8_0 + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = actrm_f32_to_fp16(d);
        __m256i q[4];
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
        /* packs interleave 128-bit lanes; the permute restores k order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
    }
}

static void row_to_f32_avx2(int type, const void *src, float *dst, int n)
{
    int i = 0;
    if (type == GGML_TYPE_Q8_0) {
        const block_q8_0 *blk = src;
        for (; i + QK8_0 <= n; i += QK8_0, blk++) {
            __m256 d = _mm256_set1_ps(_cvtsh_ss(blk->d));
            #pragma GCC unroll 8
            for (int j = 0; j < QK8_0; j += 8) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(blk->qs + j));
                _mm256_storeu_ps(dst + i + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
            }
        }
        for (; i < n; i++)
            dst[i] = _cvtsh_ss(blk->d) * (float)blk->qs[i % QK8_0];
        return;
    }
    if (type == GGML_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    const uint16_t *h = src;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load8_w(type, h + i));
    for (; i < n; i++)
        dst[i] = load1_w(type, h + i);
}

/* ------------------------------------------------------------ vector ops */

ALWAYS_INLINE __m256 exp8(__m256 x)
{
    /* max_ps returns its second operand for NaN, like fmaxf in vm_exp */
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(VM_EXP_LO)), _mm256_set1_ps(VM_EXP_HI));
    __m256 magic = _mm256_set1_ps(VM_ROUND_MAGIC);
    __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(VM_LOG2E), magic), magic);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VM_LN2_HI), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VM_LN2_LO), r);
    __m256 p = _mm256_set1_ps(VM_EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

ALWAYS_INLINE __m256 silu_mul8(__m256 g, __m256 u)
{
    __m256 e = exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

/* The last n % 16 elements go through a 16-float buffer padded with `pad`,
 * so they take the same vector path (and lanes) as full chunks. */
typedef struct tail16 {
    _Alignas(32) float v[16];
} tail16;

ALWAYS_INLINE tail16 tail_load(const float *p, int n, float pad)
{
    tail16 t;
    #pragma GCC unroll 8
    for (int i = 0; i < 16; i++)
        t.v[i] = i < n ? p[i] : pad;
    return t;
}

static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
    }
    if (i < n) { /* zero padding adds +0 to lanes that are never -0 */
        tail16 ta = tail_load(a + i, n - i, 0.0f), tb = tail_load(b + i, n - i, 0.0f);
        lo = _mm256_fmadd_ps(_mm256_load_ps(ta.v), _mm256_load_ps(tb.v), lo);
        hi = _mm256_fmadd_ps(_mm256_load_ps(ta.v + 8), _mm256_load_ps(tb.v + 8), hi);
    }
    return lanes_sum16(lo, hi);
}

static void rmsnorm_avx2(float *out, const float *x, const float *w, int n, float eps)
{
    float scale = 1.0f / sqrtf(dot_avx2(x, x, n) / (float)n + eps);
    __m256 vs = _mm256_set1_ps(scale);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                                _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* max_i x[i], skipping NaNs like fmaxf (max_ps returns its second operand,
 * the running max, when x is NaN). The order does not matter: only the
 * sign of a zero maximum could differ, and x - (+-0) is the same value. */
static float max_avx2(const float *x, int n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    _Alignas(32) float l[8];
    _mm256_store_ps(l, m);
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++)
        mx = fmaxf(mx, l[j]);
    for (; i < n; i++)
        mx = fmaxf(mx, x[i]);
    return mx;
}

static void softmax_avx2(float *x, int n)
{
    float mx = max_avx2(x, n);
    __m256 vmx = _mm256_set1_ps(mx), lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        __m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmx));
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        lo = _mm256_add_ps(lo, e0);
        hi = _mm256_add_ps(hi, e1);
    }
    if (i < n) { /* padding -inf gives exp = +0, which leaves the lane sums alone */
        tail16 t = tail_load(x + i, n - i, -INFINITY);
        __m256 e0 = exp8(_mm256_sub_ps(_mm256_load_ps(t.v), vmx));
        __m256 e1 = exp8(_mm256_sub_ps(_mm256_load_ps(t.v + 8), vmx));
        _mm256_store_ps(t.v, e0);
        _mm256_store_ps(t.v + 8, e1);
        lo = _mm256_add_ps(lo, e0);
        hi = _mm256_add_ps(hi, e1);
        memcpy(x + i, t.v, (size_t)(n - i) * sizeof(float));
    }
    float inv = 1.0f / lanes_sum16(lo, hi);
    __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++)
        x[i] *= inv;
}

static void silu_mul_avx2(float *out, const float *gate, const float *up, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        tail16 g = tail_load(gate + i, n - i, 0.0f), u = tail_load(up + i, n - i, 0.0f);
        _mm256_store_ps(g.v, silu_mul8(_mm256_load_ps(g.v), _mm256_load_ps(u.v)));
        memcpy(out + i, g.v, (size_t)(n - i) * sizeof(float));
    }
}

static void axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

/* cs = c0 s0 c1 s1 ... -> (c, s) for 8 consecutive pairs */
ALWAYS_INLINE void load_cos_sin(const float *cs, __m256 *c, __m256 *s)
{
    __m256 a = _mm256_loadu_ps(cs), b = _mm256_loadu_ps(cs + 8);
    *c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
    *s = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

static void rope_avx2(float *x, const float *cs, int hd, int neox)
{
    int half = hd / 2, i = 0;
    if (neox) {
        for (; i + 8 <= half; i += 8) {
            __m256 c, s, a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + half);
            load_cos_sin(cs + 2 * i, &c, &s);
            _mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s)));
            _mm256_storeu_ps(x + i + half, _mm256_add_ps(_mm256_mul_ps(a, s), _mm256_mul_ps(b, c)));
        }
    } else {
        /* pairs sit next to each other, as do their cos/sin */
        for (; i + 4 <= half; i += 4) {
            __m256 v = _mm256_loadu_ps(x + 2 * i), t = _mm256_loadu_ps(cs + 2 * i);
            __m256 c = _mm256_moveldup_ps(t), s = _mm256_movehdup_ps(t);
            __m256 swapped = _mm256_permute_ps(v, 0xb1);
            _mm256_storeu_ps(x + 2 * i, _mm256_addsub_ps(_mm256_mul_ps(v, c), _mm256_mul_ps(swapped, s)));
        }
    }
    for (; i < half; i++) {
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float c = cs[2 * i], s = cs[2 * i + 1], a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = a * s + b * c;
    }
}

void actrm_kernels_avx2(actrm_kernels *k)
{
    k->gemm[ACTRM_WT_F32] = gemm_f32_avx2;
    k->gemm[ACTRM_WT_F16] = gemm_f16_avx2;
    k->gemm[ACTRM_WT_BF16] = gemm_bf16_avx2;
    k->gemm[ACTRM_WT_F16_G16] = gemm_f16_g16_avx2;
    k->gemm[ACTRM_WT_BF16_G16] = gemm_bf16_g16_avx2;
    k->g16_fast = 1;
    k->gemm[ACTRM_WT_Q8_0] = gemm_q8_0_avx2;
    k->quantize_q8_0 = quantize_q8_0_avx2;
    k->row_to_f32 = row_to_f32_avx2;
    k->rmsnorm = rmsnorm_avx2;
    k->softmax = softmax_avx2;
    k->silu_mul = silu_mul_avx2;
    k->dot = dot_avx2;
    k->axpy = axpy_avx2;
    k->rope = rope_avx2;
}
