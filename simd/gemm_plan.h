/*
 * The loop nest every SIMD GEMM shares (included by the ISA files, so each
 * gets its own copy compiled with its own flags).
 *
 * Weights are packed a block of rows and a chunk of k at a time into a
 * small buffer laid out for the micro-kernel: vector lanes hold rows, so one
 * broadcast activation meets a whole vector of rows, and the packed chunk
 * stays in L1/L2 while every token streams past it. Each output element
 * still sees its k (or Q8_0 blocks) in order: between chunks the running sum
 * is parked in y itself and picked up again, which changes nothing in the
 * value. That keeps the result independent of the row range, of T and of
 * the tile an element falls in (see kernels.h).
 */
#ifndef ACTRM_GEMM_PLAN_H
#define ACTRM_GEMM_PLAN_H

#include <stddef.h>

typedef struct gemm_plan {
    int pass_rows;     /* rows one micro-kernel call covers */
    int block_rows;    /* rows packed at once: a multiple of pass_rows */
    int kc;            /* k per chunk (a multiple of 32 for Q8_0) */
    int tile_t;        /* tokens per micro-kernel call */
    size_t pass_bytes; /* packed bytes of one pass of a full chunk */
    /* Packs rows [r0, r0+nr) (nr <= block_rows), k in [k0, k0+kn), as
     * ceil(nr / pass_rows) passes, pass p at buf + p * pass_bytes; rows
     * past nr are padded with zeros. */
    void (*pack)(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf);
    /* Optional: prepares the activations of tokens [0, nt) of one tile for
     * k in [k0, k0+kn) into tbuf, once for all passes of a block. */
    void (*prep)(const char *x, size_t xs, int k0, int kn, int nt, void *tbuf);
    /* One pass: y[t*ldy + r] for t < nt, r < nr; starts from 0 when first,
     * else from what y holds. x points at the tile's first token. */
    void (*micro)(const void *pk, const void *tbuf, const char *x, size_t xs,
                  int k0, int kn, int nt, float *y, int ldy, int nr, int first);
} gemm_plan;

static inline int gemm_min(int a, int b)
{
    return a < b ? a : b;
}

/* Up to this many tokens the GEMM streams weights from memory faster than
 * it can use them, and how it reads them decides the speed. */
#define GEMM_STREAM_T 4

/* Packing walks a block of rows a chunk of k at a time, which hops between
 * rows; memory serves that at a fraction of its sequential rate. So while
 * one block is worked on, the next one (contiguous in memory: rows are ws
 * apart) is prefetched in address order, a slice per chunk, into L2. */
static inline void gemm_prefetch_slice(const char *next, size_t bytes, int slice, int n_slices)
{
    size_t a = bytes * (size_t)slice / (size_t)n_slices, b = bytes * (size_t)(slice + 1) / (size_t)n_slices;
    for (size_t off = a & ~(size_t)63; off < b; off += 64)
        __builtin_prefetch(next + off, 0, 1);
}

/* buf: plan->pass_bytes * (block_rows / pass_rows) bytes; tbuf: what prep
 * writes (unused without prep). */
static inline __attribute__((always_inline)) void
gemm_run(const gemm_plan *p, void *buf, void *tbuf, const void *W, size_t ws,
         const void *x, size_t xs, int K, int T, int n0, int n1, float *y, int ldy)
{
    int n_chunks = (K + p->kc - 1) / p->kc;
    for (int r0 = n0; r0 < n1; r0 += p->block_rows) {
        int nrb = gemm_min(p->block_rows, n1 - r0);
        int next_rows = gemm_min(p->block_rows, n1 - (r0 + nrb));
        const char *next = (const char *)W + (size_t)(r0 + nrb) * ws;
        for (int k0 = 0; k0 < K; k0 += p->kc) {
            int kn = gemm_min(p->kc, K - k0);
            if (T <= GEMM_STREAM_T && next_rows > 0)
                gemm_prefetch_slice(next, (size_t)next_rows * ws, k0 / p->kc, n_chunks);
            p->pack(W, ws, r0, nrb, k0, kn, buf);
            for (int t0 = 0; t0 < T; t0 += p->tile_t) {
                int nt = gemm_min(p->tile_t, T - t0);
                const char *xt = (const char *)x + (size_t)t0 * xs;
                if (p->prep)
                    p->prep(xt, xs, k0, kn, nt, tbuf);
                for (int pr = 0; pr < nrb; pr += p->pass_rows)
                    p->micro((const char *)buf + (size_t)(pr / p->pass_rows) * p->pass_bytes,
                             tbuf, xt, xs, k0, kn, nt, y + (size_t)t0 * ldy + r0 + pr, ldy,
                             gemm_min(p->pass_rows, nrb - pr), k0 == 0);
            }
        }
    }
}

/* ---- what every ISA file instantiates the same way ----------------------
 * Micro-kernels and few-token GEMVs take their token count NT as a
 * compile-time constant (so accumulators stay in registers); these turn a
 * run-time count into calls with constants. */

/* fn(args..., NT) for NT = min(nt, 12, max_nt). */
#define GEMM_CALL_NT(max_nt, nt, fn, ...)                                      \
    switch ((nt) < (max_nt) ? (nt) : (max_nt)) {                               \
    GEMM_NT_CASE(1, max_nt, fn, __VA_ARGS__) GEMM_NT_CASE(2, max_nt, fn, __VA_ARGS__) \
    GEMM_NT_CASE(3, max_nt, fn, __VA_ARGS__) GEMM_NT_CASE(4, max_nt, fn, __VA_ARGS__) \
    GEMM_NT_CASE(5, max_nt, fn, __VA_ARGS__) GEMM_NT_CASE(6, max_nt, fn, __VA_ARGS__) \
    GEMM_NT_CASE(7, max_nt, fn, __VA_ARGS__) GEMM_NT_CASE(8, max_nt, fn, __VA_ARGS__) \
    GEMM_NT_CASE(9, max_nt, fn, __VA_ARGS__) GEMM_NT_CASE(10, max_nt, fn, __VA_ARGS__) \
    GEMM_NT_CASE(11, max_nt, fn, __VA_ARGS__)                                  \
    default: fn(__VA_ARGS__, (max_nt) < 12 ? (max_nt) : 12); break;            \
    }
/* (cases above max_nt are never reached; they call with NT = 1 so that no
 * instantiation exceeds the caller's register tile) */
#define GEMM_NT_CASE(n, max_nt, fn, ...) \
    case n: fn(__VA_ARGS__, (n) <= (max_nt) ? (n) : 1); break;

/* The float GEMMs of an ISA file (F32, F16 and BF16 weights): a pass of
 * `pass` rows, `block` rows packed at once, `kc` k per chunk, `tile` tokens
 * per micro-kernel call. The file provides
 *   pack_float(type, W, ws, r0, nr, k0, kn, buf)      (gemm_plan.pack plus type)
 *   micro_float_n(pk, x, xs, k0, kn, y, ldy, nr, first, NT)
 * and gets pack_f32/f16/bf16, micro_float, plan_f32/f16/bf16 and the GEMMs
 * named by the last three arguments. */
#define GEMM_DEFINE_FLOAT(pass, block, kc, tile, align, f32_name, f16_name, bf16_name)      \
    GEMM_DEFINE_PACK(pack_f32, GGML_TYPE_F32)                                               \
    GEMM_DEFINE_PACK(pack_f16, GGML_TYPE_F16)                                               \
    GEMM_DEFINE_PACK(pack_bf16, GGML_TYPE_BF16)                                             \
    static void micro_float(const void *pk, const void *tbuf, const char *x, size_t xs,     \
                            int k0, int kn, int nt, float *y, int ldy, int nr, int first)   \
    {                                                                                       \
        (void)tbuf;                                                                         \
        GEMM_CALL_NT(tile, nt, micro_float_n, pk, x, xs, k0, kn, y, ldy, nr, first)         \
    }                                                                                       \
    GEMM_DEFINE_FLOAT_RUN(f32_name, plan_f32, pack_f32, pass, block, kc, tile, align)       \
    GEMM_DEFINE_FLOAT_RUN(f16_name, plan_f16, pack_f16, pass, block, kc, tile, align)       \
    GEMM_DEFINE_FLOAT_RUN(bf16_name, plan_bf16, pack_bf16, pass, block, kc, tile, align)

/* A float plan over the file's micro_float with pack function `pack`, and
 * the GEMM `name` running it. */
#define GEMM_DEFINE_FLOAT_RUN(name, plan, pack, pass, block, kc, tile, align)                 \
    static const gemm_plan plan = {pass, block, kc, tile, sizeof(float) * (kc) * (pass), pack, \
                                   NULL, micro_float};                                         \
    GEMM_DEFINE_RUN(name, plan, float, (block) * (kc), align)

#define GEMM_DEFINE_PACK(name, type) GEMM_DEFINE_PACK_WITH(name, pack_float, type)
#define GEMM_DEFINE_PACK_WITH(name, fn, type)                                             \
    static void name(const void *W, size_t ws, int r0, int nr, int k0, int kn, void *buf) \
    {                                                                                     \
        fn(type, W, ws, r0, nr, k0, kn, buf);                                             \
    }

/* A GEMM running `plan` with an on-stack pack buffer of n elements. */
#define GEMM_DEFINE_RUN(name, plan, elem, n, align)                                      \
    static void name(const void *W, size_t ws, const void *x, size_t xs, int K, int T,  \
                     int n0, int n1, float *y, int ldy)                                   \
    {                                                                                     \
        _Alignas(align) elem buf[n];                                                      \
        gemm_run(&plan, buf, NULL, W, ws, x, xs, K, T, n0, n1, y, ldy);                   \
    }

/* F16/BF16 GEMMs that use the file's few-token GEMV
 *   gemv_half_n(type, W, ws, x, xs, K, n0, n1, y, ldy, NT)
 * for T <= GEMM_STREAM_T and the packed GEMM otherwise. */
#define GEMM_DEFINE_HALF(name, type, packed) GEMM_DEFINE_FEW(name, type, packed, gemv_half_n)
#define GEMM_DEFINE_FEW(name, type, packed, gemv)                                        \
    static void name(const void *W, size_t ws, const void *x, size_t xs, int K, int T,  \
                     int n0, int n1, float *y, int ldy)                                   \
    {                                                                                     \
        if (T > GEMM_STREAM_T) {                                                          \
            packed(W, ws, x, xs, K, T, n0, n1, y, ldy);                                   \
            return;                                                                       \
        }                                                                                 \
        GEMM_CALL_NT(GEMM_STREAM_T, T, gemv, type, W, ws, x, xs, K, n0, n1, y, ldy)       \
    }

/* The G16 GEMMs (kernels.h) of an ISA file with the float plan geometry of
 * GEMM_DEFINE_FLOAT (whose micro_float they share). The file provides
 *   pack_g16(type, W, ws, r0, nr, k0, kn, buf)     plan pack from groups
 *   gemv_g16_ways(type, g, gs, x, xs, K, ng, y, ldy, NT)
 *       few tokens for ng <= G16_WAYS(NT) groups gs bytes apart from g
 *   G16_WAYS(NT)                                    groups per call */
#define GEMM_DEFINE_G16(pass, block, kc, tile, align, f16_name, bf16_name)                   \
    ALWAYS_INLINE void gemv_g16_n(int type, const void *W, size_t ws, const void *x, size_t xs, \
                                  int K, int n0, int n1, float *y, int ldy, const int NT)    \
    {                                                                                        \
        for (int n = n0; n < n1; n += G16_WAYS(NT) * ACTRM_G16)                              \
            gemv_g16_ways(type, (const char *)W + (size_t)n * ws, ACTRM_G16 * ws, x, xs, K,  \
                          gemm_min(G16_WAYS(NT), (n1 - n) / ACTRM_G16), y + n, ldy, NT);     \
    }                                                                                        \
    GEMM_DEFINE_PACK_WITH(pack_f16_g16, pack_g16, GGML_TYPE_F16)                             \
    GEMM_DEFINE_PACK_WITH(pack_bf16_g16, pack_g16, GGML_TYPE_BF16)                           \
    GEMM_DEFINE_FLOAT_RUN(gemm_f16_g16_packed, plan_f16_g16, pack_f16_g16, pass, block, kc, tile, align) \
    GEMM_DEFINE_FLOAT_RUN(gemm_bf16_g16_packed, plan_bf16_g16, pack_bf16_g16, pass, block, kc, tile, align) \
    GEMM_DEFINE_FEW(f16_name, GGML_TYPE_F16, gemm_f16_g16_packed, gemv_g16_n)                \
    GEMM_DEFINE_FEW(bf16_name, GGML_TYPE_BF16, gemm_bf16_g16_packed, gemv_g16_n)

#endif
