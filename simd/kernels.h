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

typedef struct actrm_kernels {
    const char *isa; /* "ref", "avx2", "avx512", "neon", ... */

    /* Indexed by ACTRM_WT_*: the GEMM for each weight type. */
    actrm_gemm_fn gemm[4];

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

/* Weight-type slots of actrm_kernels.gemm. */
enum { ACTRM_WT_F32 = 0, ACTRM_WT_F16 = 1, ACTRM_WT_BF16 = 2, ACTRM_WT_Q8_0 = 3 };
/* Maps a ggml type to its ACTRM_WT_* slot, or -1. */
int actrm_wt_slot(int ggml_type);

/* The reference table (simd/ref.c). */
void actrm_kernels_ref(actrm_kernels *k);

/* Fills k for the best ISA this CPU supports, or the one forced by the
 * ACTRM_ISA environment variable (ref|avx2|avx512|neon). Returns ACTRM_OK or
 * ACTRM_ERR_CPU (forced ISA not supported/unknown; k then holds ref), with a
 * message in err. */
int actrm_kernels_select(actrm_kernels *k, const char *force_isa, actrm_error *err);

/* Scalar conversions shared by reference code and tests. */
float actrm_fp16_to_f32(uint16_t h);
uint16_t actrm_f32_to_fp16(float f);
float actrm_bf16_to_f32(uint16_t h);
uint16_t actrm_f32_to_bf16(float f); /* round to nearest even */

#endif
