/*
 * The transformer forward pass over one chunk of a batch (see forward.h):
 * llama / qwen2 / qwen3 blocks with RMSNorm, RoPE (NORM or NEOX layout),
 * GQA causal attention over the KV cache, SwiGLU MLP, and the LM head run
 * only at output rows. Every projection goes through actrm_matmul so that
 * the dispatched kernels apply; each value depends only on its own inputs,
 * so results are identical for any thread count and chunking.
 */
#include "forward.h"

#include <omp.h>
#include <string.h>

/* Position of chunk row r (eval: consecutive; branch: all at n_past). */
static int row_position(const actrm_session *s, const fwd_batch *b, int r)
{
    return b->branch ? s->n_past : s->n_past + r;
}

static int output_row(const fwd_batch *b, int i)
{
    return b->out_pos ? b->out_pos[i] : i;
}

/* x[r] = token embedding of row c0+r. */
static void embed(actrm_session *s, const fwd_batch *b, int c0, int n)
{
    const actrm_weight *E = &s->model->tok_embd;
    int D = s->model->info.n_embd;
    for (int r = 0; r < n; r++) {
        int32_t tok = b->tokens[(size_t)(c0 + r) * (size_t)b->token_stride];
        s->kern.row_to_f32(E->type, (const char *)E->data + (size_t)tok * E->stride, s->x + (size_t)r * D, D);
    }
}

/* Copies row `src` (width w) of every output that lies in [c0, c0+n) into
 * dst[slot, i] where dst is [.., n_out, w]. */
static void capture_rows(const fwd_batch *b, int c0, int n, const float *src, int w,
                         float *dst, int slot)
{
    for (int i = 0; i < b->n_out; i++) {
        int r = output_row(b, i) - c0;
        if (r >= 0 && r < n)
            memcpy(dst + ((size_t)slot * b->n_out + i) * w, src + (size_t)r * w, (size_t)w * sizeof(float));
    }
}

static void rmsnorm_rows(const actrm_session *s, float *out, const float *x, const float *w,
                         int n_rows, int width)
{
    for (int r = 0; r < n_rows; r++)
        s->kern.rmsnorm(out + (size_t)r * width, x + (size_t)r * width, w, width, s->model->norm_eps);
}

static void add_bias(float *y, const float *bias, int n_rows, int width)
{
    if (!bias)
        return;
    for (int r = 0; r < n_rows; r++)
        for (int i = 0; i < width; i++)
            y[(size_t)r * width + i] += bias[i];
}

static void residual_add(float *x, const float *delta, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += delta[i];
}

/* Per head of each row: optional RMSNorm over hd (qwen3), then RoPE at the
 * row's position. v: [n, n_heads*hd]. */
static void norm_rope_heads(const actrm_session *s, const fwd_batch *b, float *v, int n,
                            int n_heads, const float *norm_w)
{
    int hd = s->model->info.head_dim;
    for (int r = 0; r < n; r++) {
        const float *cs = s->rope_cs + (size_t)row_position(s, b, r) * hd;
        for (int h = 0; h < n_heads; h++) {
            float *vh = v + ((size_t)r * n_heads + h) * hd;
            if (norm_w)
                s->kern.rmsnorm(vh, vh, norm_w, hd, s->model->norm_eps);
            s->kern.rope(vh, cs, hd, s->model->rope_neox);
        }
    }
}

/* Softmax attention of one query head q[hd] over n_cache cached keys of kv
 * head kvh in layer l, plus (branch rows) one extra key/value of its own.
 * att: [n_cache + 1] scratch; z: [hd] result. */
static void attend(const actrm_session *s, int l, int kvh, const float *q, int n_cache,
                   const float *k_self, const float *v_self, float *att, float *z)
{
    const actrm_model_info *in = &s->model->info;
    int hd = in->head_dim, kv_dim = in->n_head_kv * hd;
    const float *kc = s->k_cache + (size_t)l * s->n_ctx * kv_dim + (size_t)kvh * hd;
    const float *vc = s->v_cache + (size_t)l * s->n_ctx * kv_dim + (size_t)kvh * hd;
    for (int j = 0; j < n_cache; j++)
        att[j] = s->kern.dot(q, kc + (size_t)j * kv_dim, hd) * s->attn_scale;
    int n_keys = n_cache;
    if (k_self)
        att[n_keys++] = s->kern.dot(q, k_self, hd) * s->attn_scale;
    s->kern.softmax(att, n_keys);
    memset(z, 0, (size_t)hd * sizeof(float));
    for (int j = 0; j < n_cache; j++)
        s->kern.axpy(z, att[j], vc + (size_t)j * kv_dim, hd);
    if (k_self)
        s->kern.axpy(z, att[n_cache], v_self, hd);
}

/* z[r, h] for every row and query head; query head h reads kv head
 * h / (H/KV). Eval row r sees cache positions [0, n_past + r]; branch rows
 * see [0, n_past) plus their own k/v in s->k, s->v. */
static void attention(actrm_session *s, const fwd_batch *b, int l, int n)
{
    const actrm_model_info *in = &s->model->info;
    int H = in->n_head, hd = in->head_dim, group = H / in->n_head_kv, kv_dim = in->n_head_kv * hd;
    int work = H * n;
    #pragma omp parallel for schedule(static) num_threads(s->n_threads) if (work > 1 && s->n_threads > 1)
    for (int w = 0; w < work; w++) {
        int r = w / H, h = w % H, kvh = h / group;
        float *att = s->att + (size_t)omp_get_thread_num() * (s->n_ctx + 1);
        const float *q = s->q + ((size_t)r * H + h) * hd;
        float *z = s->z + ((size_t)r * H + h) * hd;
        if (b->branch)
            attend(s, l, kvh, q, s->n_past, s->k + (size_t)r * kv_dim + (size_t)kvh * hd,
                   s->v + (size_t)r * kv_dim + (size_t)kvh * hd, att, z);
        else
            attend(s, l, kvh, q, s->n_past + r + 1, NULL, NULL, att, z);
    }
}

static const actrm_patch_set *row_patches(const fwd_batch *b, int row)
{
    if (b->branch)
        return b->row_sets ? &b->row_sets[row] : NULL;
    return row == b->patch_row ? &b->patch : NULL;
}

/* Replaces z of the patched (layer l, head) pairs of each row. */
static void apply_patches(actrm_session *s, const fwd_batch *b, int l, int c0, int n)
{
    int H = s->model->info.n_head, hd = s->model->info.head_dim;
    for (int r = 0; r < n; r++) {
        const actrm_patch_set *set = row_patches(b, c0 + r);
        for (int p = 0; set && p < set->n_patches; p++)
            if (set->patches[p].layer == l)
                memcpy(s->z + ((size_t)r * H + set->patches[p].head) * hd, set->patches[p].z,
                       (size_t)hd * sizeof(float));
    }
}

static void matmul(actrm_session *s, const actrm_weight *W, const float *x, int n, float *y)
{
    actrm_matmul(&s->kern, W, x, n, y, W->rows, s->mm_scratch, s->n_threads);
}

/* Attention half of block l: x += o_proj(attention(norm(x))). */
static void attention_block(actrm_session *s, const fwd_batch *b, int l, int c0, int n)
{
    const actrm_model_info *in = &s->model->info;
    const actrm_layer *ly = &s->model->layers[l];
    int kv_dim = in->n_head_kv * in->head_dim;
    /* Eval rows write k/v straight into the cache; branch rows keep them apart. */
    size_t cache_row = ((size_t)l * s->n_ctx + (size_t)s->n_past) * kv_dim;
    float *k = b->branch ? s->k : s->k_cache + cache_row; /* [n, KV*hd] */
    float *v = b->branch ? s->v : s->v_cache + cache_row; /* [n, KV*hd] */

    rmsnorm_rows(s, s->xb, s->x, ly->attn_norm, n, in->n_embd);
    matmul(s, &ly->wq, s->xb, n, s->q);
    matmul(s, &ly->wk, s->xb, n, k);
    matmul(s, &ly->wv, s->xb, n, v);
    add_bias(s->q, ly->bq, n, ly->wq.rows);
    add_bias(k, ly->bk, n, kv_dim);
    add_bias(v, ly->bv, n, kv_dim);
    norm_rope_heads(s, b, s->q, n, in->n_head, ly->q_norm);
    norm_rope_heads(s, b, k, n, in->n_head_kv, ly->k_norm);
    attention(s, b, l, n);
    apply_patches(s, b, l, c0, n);
    if (b->heads)
        capture_rows(b, c0, n, s->z, in->n_head * in->head_dim, b->heads, l);
    matmul(s, &ly->wo, s->z, n, s->xb);
    residual_add(s->x, s->xb, (size_t)n * in->n_embd);
}

/* MLP half of block l: x += down(silu(gate(norm(x))) * up(norm(x))). */
static void mlp_block(actrm_session *s, int l, int n)
{
    const actrm_model_info *in = &s->model->info;
    const actrm_layer *ly = &s->model->layers[l];
    rmsnorm_rows(s, s->xb, s->x, ly->ffn_norm, n, in->n_embd);
    matmul(s, &ly->w_gate, s->xb, n, s->gate);
    matmul(s, &ly->w_up, s->xb, n, s->up);
    s->kern.silu_mul(s->gate, s->gate, s->up, n * in->n_ff);
    matmul(s, &ly->w_down, s->gate, n, s->xb);
    residual_add(s->x, s->xb, (size_t)n * in->n_embd);
}

/* Logits of the output rows in this chunk: final norm, then the LM head on
 * runs of consecutive outputs (so each run lands contiguously in logits). */
static void output_logits(actrm_session *s, const fwd_batch *b, int c0, int n)
{
    const actrm_model *m = s->model;
    int D = m->info.n_embd, V = m->info.n_vocab;
    int i = 0;
    while (i < b->n_out) {
        int g = 0, i0 = i;
        for (; i < b->n_out && g < s->max_batch; i++) {
            int r = output_row(b, i) - c0;
            if (r < 0 || r >= n)
                break;
            s->kern.rmsnorm(s->xb + (size_t)g * D, s->x + (size_t)r * D, m->output_norm, D, m->norm_eps);
            g++;
        }
        if (g)
            actrm_matmul(&s->kern, &m->output, s->xb, g, b->logits + (size_t)i0 * V, V,
                         s->mm_scratch, s->n_threads);
        else
            i++; /* output outside this chunk */
    }
}

void actrm_forward_chunk(actrm_session *s, const fwd_batch *b, int c0, int n)
{
    int L = s->model->info.n_layer, D = s->model->info.n_embd;
    embed(s, b, c0, n);
    if (b->hidden)
        capture_rows(b, c0, n, s->x, D, b->hidden, 0);
    for (int l = 0; l < L; l++) {
        attention_block(s, b, l, c0, n);
        mlp_block(s, l, n);
        if (b->hidden)
            capture_rows(b, c0, n, s->x, D, b->hidden, l + 1);
    }
    if (b->logits)
        output_logits(s, b, c0, n);
}
