/*
 * A loaded model (internal): hyper-parameters from the GGUF metadata and
 * every weight as a view into the read-only mapping (never copied).
 */
#ifndef ACTRM_MODEL_H
#define ACTRM_MODEL_H

#include "actrm.h"
#include "error.h"
#include "gguf.h"
#include "matmul.h"

/* Weights of one transformer block. With D = n_embd, H = n_head,
 * KV = n_head_kv, hd = head_dim, F = n_ff; actrm_weight shapes are
 * [rows = outputs, cols = inputs]. */
typedef struct actrm_layer {
    const float *attn_norm;  /* [D] */
    actrm_weight wq;         /* [H*hd, D] */
    actrm_weight wk;         /* [KV*hd, D] */
    actrm_weight wv;         /* [KV*hd, D] */
    actrm_weight wo;         /* [D, H*hd] */
    const float *bq;         /* [H*hd] or NULL (qwen2 biases) */
    const float *bk;         /* [KV*hd] or NULL */
    const float *bv;         /* [KV*hd] or NULL */
    const float *q_norm;     /* [hd] or NULL (qwen3) */
    const float *k_norm;     /* [hd] or NULL */
    const float *ffn_norm;   /* [D] */
    actrm_weight w_gate;     /* [F, D] */
    actrm_weight w_up;       /* [F, D] */
    actrm_weight w_down;     /* [D, F] */
} actrm_layer;

struct actrm_model {
    actrm_error err;
    actrm_gguf *gguf;
    actrm_model_info info;
    char *arch;              /* NUL-terminated copies for info */
    char *name;
    float norm_eps;          /* RMSNorm epsilon */
    float rope_base;         /* theta base */
    float rope_scale;        /* linear position scale (1 = none) */
    int rope_neox;           /* 1: pairs (i, i+hd/2); 0: pairs (2i, 2i+1) */
    const float *rope_freqs; /* [hd/2] frequency divisors (llama3) or NULL */
    actrm_weight tok_embd;   /* [V, D] */
    const float *output_norm;/* [D] */
    actrm_weight output;     /* [V, D]; token_embd when tied */
    actrm_layer *layers;     /* [L] */
};

#endif
