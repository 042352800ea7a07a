/*
 * Arithmetic that every kernel implementation (ref and each ISA) must do in
 * exactly the same order, so that all of them give bit-identical results
 * (see the contract in kernels.h). The scalar versions here are what
 * simd/ref.c uses; the ISA files repeat the same operations in vector form.
 */
#ifndef ACTRM_VMATH_H
#define ACTRM_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Reductions keep VM_LANES partial sums: element i goes to lane i % 16.
 * 16 = one AVX-512 register, two AVX2 registers, four NEON registers. */
#define VM_LANES 16

/* Combines the 16 partial sums: halves are added pairwise (lane i + lane
 * i+8, then i + i+4, i + i+2, i + i+1), as a vector unit does it. */
static inline float vm_lanes_sum(const float l[VM_LANES])
{
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++)
        s8[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++)
        s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++)
        s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* exp(x) as range reduction x = n*ln2 + r, |r| <= ln2/2, a degree-7 Taylor
 * polynomial for e^r (truncation error < 6e-9 relative) evaluated with
 * FMAs, and 2^n applied in two steps so that results down to the subnormal
 * range round once. Inputs are clamped first: below VM_EXP_LO the result is
 * 0 (also for -inf and NaN), above VM_EXP_HI it is +inf. */
#define VM_EXP_LO (-104.0f)
#define VM_EXP_HI 89.0f
#define VM_LOG2E 1.44269504088896341f
#define VM_ROUND_MAGIC 12582912.0f      /* 1.5 * 2^23: adding it rounds to an integer */
#define VM_LN2_HI 0.693145751953125f     /* ln 2 to 15 bits: n * VM_LN2_HI is exact */
#define VM_LN2_LO 1.42860682030941723e-6f /* ln 2 - VM_LN2_HI */
#define VM_EXP_C7 1.98412698412698413e-4f /* 1/7! */
#define VM_EXP_C6 1.38888888888888889e-3f /* 1/6! */
#define VM_EXP_C5 8.33333333333333333e-3f /* 1/5! */
#define VM_EXP_C4 4.16666666666666667e-2f /* 1/4! */
#define VM_EXP_C3 1.66666666666666667e-1f /* 1/3! */
#define VM_EXP_C2 0.5f

static inline float vm_pow2i(int32_t n) /* 2^n for -126 <= n <= 127 */
{
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* exp(x) for x already clamped to [VM_EXP_LO, VM_EXP_HI]. */
static inline __attribute__((always_inline)) float vm_exp_clamped(float x)
{
    float n = fmaf(x, VM_LOG2E, VM_ROUND_MAGIC) - VM_ROUND_MAGIC;
    float r = fmaf(n, -VM_LN2_HI, x);
    r = fmaf(n, -VM_LN2_LO, r);
    float p = VM_EXP_C7;
    p = fmaf(p, r, VM_EXP_C6);
    p = fmaf(p, r, VM_EXP_C5);
    p = fmaf(p, r, VM_EXP_C4);
    p = fmaf(p, r, VM_EXP_C3);
    p = fmaf(p, r, VM_EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1; /* n in [-150, 128] */
    return p * vm_pow2i(n1) * vm_pow2i(n2);
}

static inline float vm_exp(float x)
{
    return vm_exp_clamped(fminf(fmaxf(x, VM_EXP_LO), VM_EXP_HI)); /* fmaxf maps NaN to VM_EXP_LO */
}

/* silu(g) * u = g / (1 + exp(-g)) * u */
static inline float vm_silu_mul(float g, float u)
{
    return g / (1.0f + vm_exp(-g)) * u;
}

#endif
