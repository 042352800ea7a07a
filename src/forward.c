/*
 * The transformer forward pass over one chunk of a batch (see forward.h):
 * llama / qwen2 / qwen3 blocks with RMSNorm, RoPE (NORM or NEOX layout),
 * GQA causal attention over the KV cache, SwiGLU MLP, and the LM head run
 * only at output rows. Every projection goes through actrm_matmul so that
 * the dispatched kernels apply; each value depends only on its own inputs,
 * so results are identical for any thread count and chunking.
 *
 * Threads: the projections parallelise inside actrm_matmul; everything
 * between two projections (norms, biases, RoPE, residual adds, SiLU) is one
 * parallel loop over rows, so no thread idles through a serial step.
 */
#include "forward.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "vmath.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* gcc: -std=c11 already leaves a*b+c unfused */
#endif

/* Whether a loop over n rows is worth a parallel region: one row is too
 * little work to pay for waking the other threads (decode steps). */
static int parallel_rows(const actrm_session *s, int n)
{
    return s->n_threads > 1 && n > 1;
}

/* Position of chunk row r (eval: consecutive; branch: all at n_past). */
static int row_position(const actrm_session *s, const fwd_batch *b, int r)
{
    return b->branch ? s->n_past : s->n_past + r;
}

static int output_row(const fwd_batch *b, int i)
{
    return b->out_pos ? b->out_pos[i] : i;
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

static void add_bias(float *y, const float *bias, int width)
{
    if (bias)
        for (int i = 0; i < width; i++)
            y[i] += bias[i];
}

/* Per head of one row v[n_heads*hd]: optional RMSNorm over hd (qwen3), then
 * RoPE with the row's cos/sin table cs[hd]. */
static void norm_rope_heads(const actrm_session *s, float *v, const float *cs, int n_heads, const float *norm_w)
{
    int hd = s->model->info.head_dim;
    for (int h = 0; h < n_heads; h++) {
        float *vh = v + (size_t)h * hd;
        if (norm_w)
            s->kern.rmsnorm(vh, vh, norm_w, hd, s->model->norm_eps);
        s->kern.rope(vh, cs, hd, s->model->rope_neox);
    }
}

/* ------------------------------------------------------------ attention -- */

/* Flash-attention style: a work unit is (kv head, block of query positions);
 * its rows are every (position, query head) pair of that kv head's group,
 * so each tile of ATTN_TILE keys is read once for all of them. Scores
 * (Q K^T) and the weighted sum of values (P V) are two small F32 GEMMs
 * through the dispatched kernels; between them each row keeps a running
 * max m, sum l and unnormalised output o (online softmax). Tiles start at
 * key positions 0, ATTN_TILE, 2*ATTN_TILE, ... whatever the chunk, so a
 * row's arithmetic depends only on its own query and keys: results are
 * identical for any thread count, chunking and block composition. */
#define ATTN_TILE 128 /* keys per tile (a multiple of VM_LANES) */
#define ATTN_ROWS 96  /* (position, head) rows per work unit, about */

/* Query positions per work unit: branch rows each have their own last key,
 * so a branch unit holds one row. */
static int attn_block_positions(int group, int branch)
{
    int bq = ATTN_ROWS / group;
    return branch || bq < 1 ? 1 : bq;
}

static int attn_max_rows(int group)
{
    int r = attn_block_positions(group, 0) * group;
    return r > group ? r : group;
}

/* Per-thread scratch, floats; see attn_scratch below. */
size_t actrm_attention_scratch_floats(int n_head, int n_head_kv, int head_dim)
{
    size_t R = (size_t)attn_max_rows(n_head / n_head_kv), hd = (size_t)head_dim;
    return R * (3 * hd + ATTN_TILE + 3) + 2 * ATTN_TILE * hd;
}

typedef struct attn_scratch {
    float *q;    /* [R, hd] the unit's queries, pre-scaled */
    float *s;    /* [R, ATTN_TILE] scores, then exp(score - m) */
    float *pv;   /* [R, hd] P V of the current tile */
    float *o;    /* [R, hd] running unnormalised outputs */
    float *m;    /* [R] running max */
    float *l;    /* [R] running sum of exp */
    float *corr; /* [R] exp(m_old - m_new) of the current tile */
    float *kt;   /* [ATTN_TILE, hd] branch: keys of the tile that holds the own key */
    float *vt;   /* [hd, ATTN_TILE] branch: values of that tile, transposed */
} attn_scratch;

static attn_scratch attn_scratch_at(float *base, int R, int hd)
{
    attn_scratch w;
    w.q = base;
    w.s = w.q + (size_t)R * hd;
    w.pv = w.s + (size_t)R * ATTN_TILE;
    w.o = w.pv + (size_t)R * hd;
    w.m = w.o + (size_t)R * hd;
    w.l = w.m + R;
    w.corr = w.l + R;
    w.kt = w.corr + R;
    w.vt = w.kt + (size_t)ATTN_TILE * hd;
    return w;
}

#if defined(__x86_64__) && !(defined(__AVX2__) && defined(__FMA__)) && defined(__GNUC__)
/* fmaf (in vm_exp's arithmetic) is one instruction only with FMA, and the
 * exponent arithmetic vectorises in full width only with AVX2: copies built
 * for AVX2+FMA and AVX-512 are picked at run time. Each copy does the same
 * operations in the same order, so all give the same bits. */
#define ATTN_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define ATTN_CLONES
#endif

/* vm_exp's arithmetic step for step, so the same value for every input
 * (NaN -> 0 too), but with the clamp written as comparisons: vm_exp's
 * fminf/fmaxf become branches or libm calls, and either stops the loops
 * below from vectorising. */
static inline __attribute__((always_inline)) float attn_exp(float x)
{
    x = x >= VM_EXP_LO ? x : VM_EXP_LO;
    x = x <= VM_EXP_HI ? x : VM_EXP_HI;
    return vm_exp_clamped(x);
}

/* Folds one tile into a row's online softmax. s[0, nk): the row's scores,
 * of which [0, nv) are keys it may see (1 <= nv <= nk). Leaves
 * exp(s - m_new) in s[0, nv) and zeros in [nv, nk), updates *m and *l, and
 * returns exp(m_old - m_new), the factor for the earlier output. The sum
 * uses VM_LANES partial sums (key j in lane j % VM_LANES). Entries up to
 * nv rounded up to VM_LANES are read (the tile is that wide) but masked. */
static inline __attribute__((always_inline)) float softmax_tile(float *s, int nv, int nk, float *m, float *l)
{
    int n16 = (nv + VM_LANES - 1) / VM_LANES * VM_LANES;
    float lane[VM_LANES];
    for (int k = 0; k < VM_LANES; k++)
        lane[k] = -INFINITY;
    for (int j0 = 0; j0 < n16; j0 += VM_LANES)
        for (int k = 0; k < VM_LANES; k++) {
            float v = s[j0 + k]; /* read all, then mask: keeps the loop vectorisable */
            v = j0 + k < nv ? v : -INFINITY;
            lane[k] = v > lane[k] ? v : lane[k];
        }
    float m_new = *m;
    for (int k = 0; k < VM_LANES; k++)
        m_new = lane[k] > m_new ? lane[k] : m_new;
    #pragma omp simd
    for (int j = 0; j < n16; j++) /* alone, so that it vectorises */
        s[j] = attn_exp(s[j] - m_new);
    for (int k = 0; k < VM_LANES; k++)
        lane[k] = 0.0f;
    for (int j0 = 0; j0 < n16; j0 += VM_LANES)
        for (int k = 0; k < VM_LANES; k++) {
            float p = j0 + k < nv ? s[j0 + k] : 0.0f;
            s[j0 + k] = p;
            lane[k] += p;
        }
    for (int j = n16; j < nk; j++)
        s[j] = 0.0f;
    float corr = attn_exp(*m - m_new); /* first tile: exp(-inf) = 0 */
    *l = *l * corr + vm_lanes_sum(lane);
    *m = m_new;
    return corr;
}

/* softmax_tile for the R rows of a work unit on keys [t0, t0+nk): row i
 * is position first_pos + i / group and sees keys up to it. A row that
 * sees none of the tile gets zeros and factor 1. s: [R, ATTN_TILE]. */
ATTN_CLONES
static void softmax_rows(float *s, float *m, float *l, float *corr, int R, int group, int first_pos, int t0, int nk)
{
    for (int i = 0; i < R; i++) {
        int nv = first_pos + i / group + 1 - t0;
        nv = nv < nk ? nv : nk;
        if (nv > 0) {
            corr[i] = softmax_tile(s + (size_t)i * ATTN_TILE, nv, nk, &m[i], &l[i]);
        } else {
            memset(s + (size_t)i * ATTN_TILE, 0, (size_t)nk * sizeof(float));
            corr[i] = 1.0f;
        }
    }
}

/* o[i] = o[i] * corr[i] + pv[i] for R rows of hd. */
ATTN_CLONES
static void rescale_add(float *o, const float *pv, const float *corr, int R, int hd)
{
    for (int i = 0; i < R; i++) {
        float c = corr[i];
        float *oi = o + (size_t)i * hd;
        const float *pi = pv + (size_t)i * hd;
        #pragma omp simd
        for (int d = 0; d < hd; d++)
            oi[d] = oi[d] * c + pi[d];
    }
}

/* The tile of keys [t0, t0+nk) of one kv head: K as gemm weights (rows =
 * keys), V transposed (rows = head dims, keys contiguous). */
typedef struct attn_tile {
    const float *k;
    size_t k_stride; /* bytes between keys */
    const float *vt;
    size_t vt_stride; /* bytes between head dims */
} attn_tile;

/* A branch row's tile that holds its own key at n_past: the cached keys
 * [t0, n_past) and the row's k/v after them, copied into w->kt, w->vt. */
static attn_tile branch_tile(const actrm_attn *a, int kvh, int row, int t0, int nk, const attn_scratch *w)
{
    int hd = a->head_dim, kv_dim = a->n_head_kv * hd, n_cached = nk - 1;
    const float *k_own = a->k_self + (size_t)row * kv_dim + (size_t)kvh * hd;
    const float *v_own = a->v_self + (size_t)row * kv_dim + (size_t)kvh * hd;
    for (int j = 0; j < n_cached; j++)
        memcpy(w->kt + (size_t)j * hd, a->k_cache + (size_t)(t0 + j) * kv_dim + (size_t)kvh * hd,
               (size_t)hd * sizeof(float));
    memcpy(w->kt + (size_t)n_cached * hd, k_own, (size_t)hd * sizeof(float));
    for (int d = 0; d < hd; d++) {
        const float *src = a->vt_cache + (size_t)(kvh * hd + d) * a->v_stride + t0;
        memcpy(w->vt + (size_t)d * ATTN_TILE, src, (size_t)n_cached * sizeof(float));
        w->vt[(size_t)d * ATTN_TILE + n_cached] = v_own[d];
    }
    return (attn_tile){w->kt, (size_t)hd * sizeof(float), w->vt, ATTN_TILE * sizeof(float)};
}

static attn_tile cache_tile(const actrm_attn *a, int kvh, int t0)
{
    int hd = a->head_dim, kv_dim = a->n_head_kv * hd;
    return (attn_tile){a->k_cache + (size_t)t0 * kv_dim + (size_t)kvh * hd, (size_t)kv_dim * sizeof(float),
                       a->vt_cache + (size_t)kvh * hd * a->v_stride + t0, (size_t)a->v_stride * sizeof(float)};
}

/* One work unit: query positions [r0, r0+np) with the `group` query heads
 * of kv head kvh. Unit row i = r * group + g is position r0+r, head
 * kvh*group + g. */
static void attend_unit(const actrm_kernels *kern, const actrm_attn *a, int kvh, int r0, int np,
                        const attn_scratch *w)
{
    int H = a->n_head, hd = a->head_dim, group = H / a->n_head_kv, R = np * group;
    int branch = a->k_self != NULL;
    for (int r = 0; r < np; r++) {
        const float *src = a->q + (size_t)(r0 + r) * H * hd + (size_t)kvh * group * hd;
        float *dst = w->q + (size_t)r * group * hd;
        #pragma omp simd
        for (int e = 0; e < group * hd; e++)
            dst[e] = src[e] * a->scale;
    }
    for (int i = 0; i < R; i++) {
        w->m[i] = -INFINITY;
        w->l[i] = 0.0f;
    }
    memset(w->o, 0, (size_t)R * hd * sizeof(float));
    int first_pos = branch ? a->n_past : a->n_past + r0;
    int n_keys = (branch ? a->n_past : first_pos + np - 1) + 1; /* keys [0, n_keys) */
    for (int t0 = 0; t0 < n_keys; t0 += ATTN_TILE) {
        int nk = n_keys - t0 < ATTN_TILE ? n_keys - t0 : ATTN_TILE;
        attn_tile t = branch && t0 + nk > a->n_past ? branch_tile(a, kvh, r0, t0, nk, w) : cache_tile(a, kvh, t0);
        kern->gemm[ACTRM_WT_F32](t.k, t.k_stride, w->q, (size_t)hd * sizeof(float), hd, R, 0, nk, w->s, ATTN_TILE);
        softmax_rows(w->s, w->m, w->l, w->corr, R, group, first_pos, t0, nk);
        kern->gemm[ACTRM_WT_F32](t.vt, t.vt_stride, w->s, ATTN_TILE * sizeof(float), nk, R, 0, hd, w->pv, hd);
        rescale_add(w->o, w->pv, w->corr, R, hd);
    }
    for (int i = 0; i < R; i++) {
        int r = i / group, g = i % group;
        float *z = a->z + (size_t)(r0 + r) * H * hd + (size_t)(kvh * group + g) * hd;
        const float *o = w->o + (size_t)i * hd;
        float l = w->l[i];
        #pragma omp simd
        for (int d = 0; d < hd; d++)
            z[d] = o[d] / l;
    }
}

void actrm_attention(const actrm_kernels *kern, const actrm_attn *a, float *scratch, int n_threads)
{
    int KV = a->n_head_kv, group = a->n_head / KV, branch = a->k_self != NULL;
    n_threads = n_threads > 1 ? n_threads : 1;
    int bq = attn_block_positions(group, branch), n_blocks = (a->n_rows + bq - 1) / bq;
    int n_units = KV * n_blocks, R = attn_max_rows(group);
    size_t per_thread = actrm_attention_scratch_floats(a->n_head, KV, a->head_dim);
    /* Later blocks see more keys: hand them out first, so the last units
     * to finish are short ones. Which thread runs a unit changes nothing. */
    #pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && n_units > 1)
    for (int u = 0; u < n_units; u++) {
        int blk = n_blocks - 1 - u / KV, kvh = u % KV, r0 = blk * bq;
        int np = a->n_rows - r0 < bq ? a->n_rows - r0 : bq;
        attn_scratch w = attn_scratch_at(scratch + (size_t)omp_get_thread_num() * per_thread, R, a->head_dim);
        attend_unit(kern, a, kvh, r0, np, &w);
    }
}

/* z[r, h] for every row and query head of layer l. */
static void attention(actrm_session *s, const fwd_batch *b, int l, int n)
{
    const actrm_model_info *in = &s->model->info;
    size_t kv_dim = (size_t)in->n_head_kv * in->head_dim;
    actrm_attn a = {
        .n_head = in->n_head, .n_head_kv = in->n_head_kv, .head_dim = in->head_dim,
        .n_rows = n, .n_past = s->n_past, .scale = s->attn_scale, .q = s->q,
        .k_cache = s->k_cache + (size_t)l * s->n_ctx * kv_dim,
        .vt_cache = s->vt_cache + (size_t)l * s->n_ctx * kv_dim, .v_stride = s->n_ctx,
        .k_self = b->branch ? s->k : NULL, .v_self = b->branch ? s->v : NULL, .z = s->z,
    };
    actrm_attention(&s->kern, &a, s->attn_scratch, s->n_threads);
}

/* ------------------------------------------------------------- patches -- */

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

/* --------------------------------------------------------------- blocks -- */

static void matmul(actrm_session *s, const actrm_weight *W, const float *x, int n, float *y)
{
    actrm_matmul(&s->kern, W, x, n, y, W->rows, s->mm_scratch, s->n_threads);
}

/* Weights reading the same x (q/k/v, gate/up) in one call. */
static void matmul_shared(actrm_session *s, const actrm_weight *const *W, float *const *y, int n_w,
                          const float *x, int n)
{
    int ldy[ACTRM_MATMUL_MAX_SHARED];
    for (int i = 0; i < n_w; i++)
        ldy[i] = W[i]->rows;
    actrm_matmul_shared(&s->kern, W, y, ldy, n_w, x, n, s->mm_scratch, s->n_threads);
}

/* x[r] = token embedding of row c0+r, and xb[r] = the first block's
 * attention norm of it, for every row. */
static void embed_norm(actrm_session *s, const fwd_batch *b, int c0, int n)
{
    const actrm_model *m = s->model;
    const actrm_weight *E = &m->tok_embd;
    int D = m->info.n_embd;
    #pragma omp parallel for schedule(static) num_threads(s->n_threads) if (parallel_rows(s, n))
    for (int r = 0; r < n; r++) {
        int32_t tok = b->tokens[(size_t)(c0 + r) * (size_t)b->token_stride];
        float *x = s->x + (size_t)r * D;
        actrm_weight_row_f32(&s->kern, E, tok, x);
        s->kern.rmsnorm(s->xb + (size_t)r * D, x, m->layers[0].attn_norm, D, m->norm_eps);
    }
}

/* x += delta (a projection output in xb), then xb = rmsnorm(x) * w for the
 * next step when w is not NULL. */
static void residual_norm(actrm_session *s, int n, const float *delta, const float *w)
{
    int D = s->model->info.n_embd;
    #pragma omp parallel for schedule(static) num_threads(s->n_threads) if (parallel_rows(s, n))
    for (int r = 0; r < n; r++) {
        float *x = s->x + (size_t)r * D, *xb = s->xb + (size_t)r * D;
        const float *dr = delta + (size_t)r * D;
        #pragma omp simd
        for (int i = 0; i < D; i++)
            x[i] += dr[i];
        if (w)
            s->kern.rmsnorm(xb, x, w, D, s->model->norm_eps);
    }
}

/* After the q/k/v projections: biases, q/k norm and RoPE per row; an eval
 * row's value also goes into the transposed value cache. k: [n, KV*hd]. */
static void finish_qkv(actrm_session *s, const fwd_batch *b, int l, int n, float *k)
{
    const actrm_model_info *in = &s->model->info;
    const actrm_layer *ly = &s->model->layers[l];
    int hd = in->head_dim, q_dim = in->n_head * hd, kv_dim = in->n_head_kv * hd;
    float *vt = s->vt_cache + (size_t)l * s->n_ctx * kv_dim; /* [KV*hd, n_ctx] */
    #pragma omp parallel for schedule(static) num_threads(s->n_threads) if (parallel_rows(s, n))
    for (int r = 0; r < n; r++) {
        int pos = row_position(s, b, r);
        const float *cs = s->rope_cs + (size_t)pos * hd;
        float *qr = s->q + (size_t)r * q_dim, *kr = k + (size_t)r * kv_dim, *vr = s->v + (size_t)r * kv_dim;
        add_bias(qr, ly->bq, q_dim);
        add_bias(kr, ly->bk, kv_dim);
        add_bias(vr, ly->bv, kv_dim);
        norm_rope_heads(s, qr, cs, in->n_head, ly->q_norm);
        norm_rope_heads(s, kr, cs, in->n_head_kv, ly->k_norm);
        if (!b->branch)
            for (int e = 0; e < kv_dim; e++)
                vt[(size_t)e * s->n_ctx + pos] = vr[e];
    }
}

/* Attention half of block l: x += o_proj(attention(xb)), xb = norm(x). */
static void attention_block(actrm_session *s, const fwd_batch *b, int l, int c0, int n)
{
    const actrm_model_info *in = &s->model->info;
    const actrm_layer *ly = &s->model->layers[l];
    int kv_dim = in->n_head_kv * in->head_dim;
    /* Eval keys go straight into the cache; branch keys stay apart. */
    float *k = b->branch ? s->k : s->k_cache + ((size_t)l * s->n_ctx + (size_t)s->n_past) * kv_dim; /* [n, KV*hd] */
    const actrm_weight *qkv[3] = {&ly->wq, &ly->wk, &ly->wv};
    float *out[3] = {s->q, k, s->v};
    matmul_shared(s, qkv, out, 3, s->xb, n);
    finish_qkv(s, b, l, n, k);
    attention(s, b, l, n);
    apply_patches(s, b, l, c0, n);
    if (b->heads)
        capture_rows(b, c0, n, s->z, in->n_head * in->head_dim, b->heads, l);
    matmul(s, &ly->wo, s->z, n, s->xb);
    residual_norm(s, n, s->xb, ly->ffn_norm);
}

static void silu_mul_rows(actrm_session *s, int n)
{
    int F = s->model->info.n_ff;
    #pragma omp parallel for schedule(static) num_threads(s->n_threads) if (parallel_rows(s, n))
    for (int r = 0; r < n; r++)
        s->kern.silu_mul(s->gate + (size_t)r * F, s->gate + (size_t)r * F, s->up + (size_t)r * F, F);
}

/* MLP half of block l: x += down(silu(gate(xb)) * up(xb)), then xb = the
 * next block's attention norm of x (none after the last block). */
static void mlp_block(actrm_session *s, int l, int n)
{
    const actrm_model *m = s->model;
    const actrm_layer *ly = &m->layers[l];
    const actrm_weight *gate_up[2] = {&ly->w_gate, &ly->w_up};
    float *out[2] = {s->gate, s->up};
    matmul_shared(s, gate_up, out, 2, s->xb, n);
    silu_mul_rows(s, n);
    matmul(s, &ly->w_down, s->gate, n, s->xb);
    residual_norm(s, n, s->xb, l + 1 < m->info.n_layer ? m->layers[l + 1].attn_norm : NULL);
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
    const actrm_model *m = s->model;
    int L = m->info.n_layer, D = m->info.n_embd;
    embed_norm(s, b, c0, n);
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
