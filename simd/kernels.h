/*
 * The kernel table. simd/ref.c holds the portable scalar reference of every
 * entry; simd/<isa>.c files (each compiled with its own target flags) provide
 * faster versions, and simd/dispatch.c picks them at run time.
 *
 * Determinism contract, which makes results bit-identical for any thread
 * count: the value a kernel writes for one output element depends only on the
 * inputs of that element, never on the row range [n0, n1), the number of
 * tokens T, or where the element falls in a register tile. Edge tiles must
 * accumulate in the same order as full tiles.
 *
 * actrm goes one step further: every ISA computes exactly what simd/ref.c
 * computes, bit for bit, so results do not depend on the machine either.
 * The orders that make this possible without giving up speed:
 *   - F32/F16/BF16 GEMM: per output, acc = fmaf(w[k], x[k], acc) for k in
 *     order (SIMD puts rows, not k, in vector lanes).
 *   - Q8_0 GEMM: per block an exact int32 dot product, then
 *     acc = acc + (d_w * d_x) * (float)isum, blocks in order, no FMA.
 *   - Reductions over n (dot, rmsnorm's sum of squares, softmax's sum): 16
 *     partial sums, element i going to lane i % 16, combined by the fixed
 *     tree in simd/vmath.h.
 *   - exp (softmax, SiLU): the polynomial in simd/vmath.h, never libm.
 * Compile without FP contraction (the Makefile passes -ffp-contract=off).
 */
#ifndef ACTRM_KERNELS_H
#define ACTRM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h" /* block_q8_0, QK8_0, ggml types */

/* y[t*ldy + n] = sum_k W[n][k] * x[t][k], for t in [0,T), n in [n0,n1).
 * W: rows of K weights of the table entry's type, w_stride bytes apart.
 * x: T rows of activations, x_stride bytes apart: floats for F32/F16/BF16
 *    weights, K/32 block_q8_0 for Q8_0 weights (see quantize_q8_0). */
typedef void (*actrm_gemm_fn)(const void *W, size_t w_stride,
                              const void *x, size_t x_stride,
                              int K, int T, int n0, int n1,
                              float *y, int ldy);

/* Weight-type slots of actrm_kernels.gemm. The *_G16 slots take F16/BF16
 * weights regrouped 16 rows at a time (see ACTRM_G16), with the same
 * results, bit for bit, as the row-layout slot. */
enum {
    ACTRM_WT_F32 = 0, ACTRM_WT_F16 = 1, ACTRM_WT_BF16 = 2, ACTRM_WT_Q8_0 = 3,
    ACTRM_WT_F16_G16 = 4, ACTRM_WT_BF16_G16 = 5, ACTRM_WT_COUNT = 6
};

/* The G16 layout of an F16/BF16 matrix with a multiple of 16 rows: group g
 * (rows 16g..16g+15) keeps the bytes rows 16g..16g+15 occupy in the row
 * layout, reordered k-major: element (row r, column k) of the group at
 * index k*16 + r. A few-token GEMV then streams each group front to back
 * and gets the 16 rows of one k in one load, instead of walking 16 rows
 * at once (16 pages apart for a 2048-wide F16 row). w_stride stays the
 * bytes of one row (K*2), so group g starts at W + 16*g*w_stride, and
 * n0, n1 passed to a G16 GEMM are multiples of 16. */
#define ACTRM_G16 16

/* Elements [k0, k0+n) of row `row` of a G16 matrix W (w_stride as above)
 * as fp32 (simd/ref.c; the reference GEMM and embedding lookups). */
void actrm_g16_row_to_f32(int type, const void *W, size_t w_stride, int row, int k0, int n, float *dst);

typedef struct actrm_kernels {
    const char *isa;  /* "ref", "avx2", "avx512", "neon", ... */
    const char *path; /* isa plus the extensions in use, e.g. "avx512+vnni" */

    /* Indexed by ACTRM_WT_*: the GEMM for each weight type and layout. */
    actrm_gemm_fn gemm[ACTRM_WT_COUNT];
    /* 1 when gemm[ACTRM_WT_*_G16] beat the row layout (native SIMD), so a
     * model is worth regrouping for this table. */
    int g16_fast;

    /* x[K] -> K/32 Q8_0 blocks (scale = max|x|/127, round to nearest). */
    void (*quantize_q8_0)(const float *x, block_q8_0 *y, int K);

    /* Convert n values of a weight row to float (for embedding lookups). */
    void (*row_to_f32)(int ggml_type, const void *src, float *dst, int n);

    /* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]; out may alias x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, int n, float eps);
    /* In-place softmax over n values. */
    void (*softmax)(float *x, int n);
    /* out[i] = silu(gate[i]) * up[i]; out may alias gate. */
    void (*silu_mul)(float *out, const float *gate, const float *up, int n);
    /* sum_i a[i]*b[i] */
    float (*dot)(const float *a, const float *b, int n);
    /* y[i] += a * x[i] */
    void (*axpy)(float *y, float a, const float *x, int n);
    /* Rotates one head vector x[hd] in place. NEOX (rotate_half, HF order):
     * pairs (i, i+hd/2); NORM (GPT-J/llama.cpp permuted): pairs (2i, 2i+1).
     * cs holds cos/sin per pair: cs[2i] = cos, cs[2i+1] = sin, i < hd/2. */
    void (*rope)(float *x, const float *cs, int hd, int neox);
} actrm_kernels;

/* Maps a ggml type to its ACTRM_WT_* slot, or -1. */
int actrm_wt_slot(int ggml_type);

/* The reference table (simd/ref.c). */
void actrm_kernels_ref(actrm_kernels *k);

/* ISA overrides, each in simd/<arch>_<isa>.c compiled with its own flags.
 * They replace entries of a table that already holds the level below
 * (ref < avx2 < avx512 < avx512vnni; ref < neon < neon_dotprod). Defined only
 * on the matching architecture; call only when actrm_cpu_flags() allows. */
void actrm_kernels_avx2(actrm_kernels *k);       /* AVX2 + FMA + F16C */
void actrm_kernels_avx512(actrm_kernels *k);     /* AVX-512 F/BW/VL/DQ */
void actrm_kernels_avx512vnni(actrm_kernels *k); /* + AVX512_VNNI */
void actrm_kernels_neon(actrm_kernels *k);       /* ARMv8 Advanced SIMD */
void actrm_kernels_neon_dotprod(actrm_kernels *k); /* + SDOT (ARMv8.2 dotprod) */

/* CPU features the kernels care about, as the CPU and the OS report them
 * (x86: cpuid plus xgetbv for the OS-enabled register state; ARM: hwcap). */
enum actrm_cpu_flag {
    ACTRM_CPU_AVX2 = 1u << 0, ACTRM_CPU_FMA = 1u << 1, ACTRM_CPU_F16C = 1u << 2,
    ACTRM_CPU_AVX512F = 1u << 3, ACTRM_CPU_AVX512BW = 1u << 4, ACTRM_CPU_AVX512VL = 1u << 5,
    ACTRM_CPU_AVX512DQ = 1u << 6, ACTRM_CPU_AVX512_VNNI = 1u << 7,
    ACTRM_CPU_AVX512_BF16 = 1u << 8, ACTRM_CPU_AVX512_FP16 = 1u << 9,
    ACTRM_CPU_AMX_TILE = 1u << 10, ACTRM_CPU_AMX_INT8 = 1u << 11, ACTRM_CPU_AMX_BF16 = 1u << 12,
    ACTRM_CPU_ASIMD = 1u << 16, ACTRM_CPU_DOTPROD = 1u << 17, ACTRM_CPU_FP16 = 1u << 18,
    ACTRM_CPU_I8MM = 1u << 19
};
unsigned actrm_cpu_flags(void);
/* Name of one flag ("avx2", "avx512_vnni", "dotprod", ...), or NULL. */
const char *actrm_cpu_flag_name(unsigned flag);

/* Every table this CPU can run, lowest first (e.g. ref, avx2, avx512,
 * avx512+vnni). For tests and benchmarks. Returns how many were written. */
int actrm_kernels_all(actrm_kernels *out, int max);

/* Fills k for the best ISA this CPU supports, or the one forced by
 * force_isa, or when that is NULL by the ACTRM_ISA environment variable
 * (ref|avx2|avx512|neon; a forced ISA still uses the optional extensions the
 * CPU has, e.g. vnni or dotprod). Returns ACTRM_OK or
 * ACTRM_ERR_CPU (forced ISA not supported/unknown; k then holds ref), with a
 * message in err. */
int actrm_kernels_select(actrm_kernels *k, const char *force_isa, actrm_error *err);

/* Scalar conversions shared by reference code and tests. */
float actrm_fp16_to_f32(uint16_t h);
uint16_t actrm_f32_to_fp16(float f);
float actrm_bf16_to_f32(uint16_t h);
uint16_t actrm_f32_to_bf16(float f); /* round to nearest even */

#endif
