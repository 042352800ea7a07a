/*
 * Session state and the forward pass (internal). kv.c owns the session's
 * life cycle and argument checks; forward.c runs the transformer on one
 * chunk of at most max_batch rows.
 *
 * Shapes: L layers, D = n_embd, H query heads, KV kv heads, hd = head_dim,
 * F = n_ff, V = n_vocab, Tmax = max_batch.
 */
#ifndef ACTRM_FORWARD_H
#define ACTRM_FORWARD_H

#include "actrm.h"
#include "error.h"
#include "kernels.h"
#include "model.h"

/* Rows per forward chunk: bounds the scratch of a session; longer batches
 * run as several chunks with identical results. */
#define ACTRM_MAX_BATCH 256

struct actrm_session {
    actrm_error err;
    const actrm_model *model;
    actrm_kernels kern;
    int n_ctx;          /* positions the KV cache can hold */
    int n_threads;
    int n_past;         /* positions in the KV cache */
    int max_batch;      /* Tmax */
    float attn_scale;   /* 1/sqrt(hd) */
    float *k_cache;     /* [L, n_ctx, KV*hd] keys after bias, q/k-norm and RoPE */
    float *vt_cache;    /* [L, KV*hd, n_ctx] values, transposed: P V reads keys contiguously */
    float *rope_cs;     /* [n_ctx, hd] per position: cos, sin of each of hd/2 pairs */
    float *x;           /* [Tmax, D] residual stream */
    float *xb;          /* [Tmax, D] normed residual, then projection outputs */
    float *q;           /* [Tmax, H*hd] queries */
    float *k;           /* [Tmax, KV*hd] keys of branch rows (eval writes to k_cache) */
    float *v;           /* [Tmax, KV*hd] values (eval rows are then copied to vt_cache) */
    float *z;           /* [Tmax, H*hd] head outputs, the input of o_proj */
    float *gate;        /* [Tmax, F] gate projection, then silu(gate)*up */
    float *up;          /* [Tmax, F] up projection */
    float *attn_scratch; /* [n_threads, actrm_attention_scratch_floats()] */
    void *mm_scratch;   /* actrm_matmul_scratch_size(Tmax, max(D, F, H*hd)) bytes */
};

/* One batch as the forward pass sees it. Row r of the batch holds token
 * tokens[r * token_stride]. In an eval batch, row r sits at position
 * n_past + r and its k/v join the cache; in a branch batch every row sits at
 * position n_past, attends to the cache prefix plus its own k/v, and the
 * cache is left unchanged. */
typedef struct fwd_batch {
    const int32_t *tokens;
    int token_stride;              /* 1, or 0 for one token shared by all rows */
    int n_rows;                    /* T */
    int branch;
    const actrm_patch_set *row_sets; /* branch: [T] patches per row, or NULL */
    actrm_patch_set patch;         /* eval: patches applied at row patch_row */
    int patch_row;
    const int *out_pos;            /* [n_out] output rows; NULL: output i is row i */
    int n_out;
    float *logits;                 /* [n_out, V] or NULL */
    float *heads;                  /* [L, n_out, H, hd] or NULL */
    float *hidden;                 /* [L+1, n_out, D] or NULL */
} fwd_batch;

/* Causal attention of one layer over one chunk of query rows, exposed
 * for tests. Query head h uses kv head h / (H/KV). Eval rows (k_self NULL):
 * row r sits at position n_past + r and sees cached keys [0, n_past + r],
 * its own included. Branch rows: every row sits at n_past and sees cached
 * keys [0, n_past) plus its own k_self/v_self row. */
typedef struct actrm_attn {
    int n_head, n_head_kv, head_dim; /* H, KV, hd */
    int n_rows;                      /* T */
    int n_past;
    float scale;                     /* applied to q before q.k */
    const float *q;                  /* [T, H*hd] */
    const float *k_cache;            /* [>= n_past + T, KV*hd] */
    const float *vt_cache;           /* [KV*hd, v_stride] values, transposed */
    int v_stride;                    /* positions per row of vt_cache (n_ctx) */
    const float *k_self;             /* branch: [T, KV*hd]; eval: NULL */
    const float *v_self;             /* branch: [T, KV*hd] */
    float *z;                        /* [T, H*hd] out */
} actrm_attn;

/* Scratch floats actrm_attention() needs per thread. */
size_t actrm_attention_scratch_floats(int n_head, int n_head_kv, int head_dim);

/* Fills a->z; scratch: n_threads * actrm_attention_scratch_floats() floats.
 * The result does not depend on n_threads, on n_rows or on how a sequence
 * is split into calls. */
void actrm_attention(const actrm_kernels *kern, const actrm_attn *a, float *scratch, int n_threads);

/* Runs rows [c0, c0+n) of b (n <= max_batch) at positions starting at
 * s->n_past, filling the outputs that fall in these rows. Arguments are
 * checked by the caller; this cannot fail. Does not change s->n_past. */
void actrm_forward_chunk(actrm_session *s, const fwd_batch *b, int c0, int n);

#endif
