/*
 * Sessions: the KV cache, the RoPE table and the scratch of the forward
 * pass, all allocated once at init (no allocation per call), plus the
 * argument checks of the actrm_session_* functions. Batches longer than the
 * scratch run in chunks (forward.c gives identical results either way).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"

#define MAX_CTX (1 << 22)

/* rope_cs[pos, 2i], [pos, 2i+1] = cos, sin of pos * scale * base^(-2i/hd) /
 * freqs[i] (the llama3 divisors, if any). Computed in double: the angles
 * get large at long positions. */
static void fill_rope_table(actrm_session *s)
{
    const actrm_model *m = s->model;
    int hd = m->info.head_dim, half = hd / 2;
    for (int i = 0; i < half; i++) {
        double freq = pow((double)m->rope_base, -2.0 * i / hd) * (double)m->rope_scale;
        if (m->rope_freqs)
            freq /= (double)m->rope_freqs[i];
        for (int pos = 0; pos < s->n_ctx; pos++) {
            double a = pos * freq;
            s->rope_cs[(size_t)pos * hd + 2 * i] = (float)cos(a);
            s->rope_cs[(size_t)pos * hd + 2 * i + 1] = (float)sin(a);
        }
    }
}

static int alloc_floats(actrm_session *s, float **p, size_t n, const char *what)
{
    *p = malloc((n ? n : 1) * sizeof(float));
    if (!*p)
        return actrm_error_set(&s->err, ACTRM_ERR_NOMEM, "out of memory for %s (%zu floats)", what, n);
    return ACTRM_OK;
}

static int max3(int a, int b, int c)
{
    int m = a > b ? a : b;
    return m > c ? m : c;
}

static int alloc_buffers(actrm_session *s)
{
    const actrm_model_info *in = &s->model->info;
    size_t T = (size_t)s->max_batch, D = (size_t)in->n_embd, F = (size_t)in->n_ff;
    size_t q_dim = (size_t)in->n_head * in->head_dim, kv_dim = (size_t)in->n_head_kv * in->head_dim;
    size_t cache = (size_t)in->n_layer * (size_t)s->n_ctx * kv_dim;
    int rc;
    if ((rc = alloc_floats(s, &s->k_cache, cache, "the key cache")) ||
        (rc = alloc_floats(s, &s->vt_cache, cache, "the value cache")) ||
        (rc = alloc_floats(s, &s->rope_cs, (size_t)s->n_ctx * in->head_dim, "the RoPE table")) ||
        (rc = alloc_floats(s, &s->x, T * D, "scratch")) || (rc = alloc_floats(s, &s->xb, T * D, "scratch")) ||
        (rc = alloc_floats(s, &s->q, T * q_dim, "scratch")) || (rc = alloc_floats(s, &s->k, T * kv_dim, "scratch")) ||
        (rc = alloc_floats(s, &s->v, T * kv_dim, "scratch")) || (rc = alloc_floats(s, &s->z, T * q_dim, "scratch")) ||
        (rc = alloc_floats(s, &s->gate, T * F, "scratch")) || (rc = alloc_floats(s, &s->up, T * F, "scratch")))
        return rc;
    /* Zeroed: attention reads whole score tiles before masking them. */
    size_t attn = (size_t)s->n_threads * actrm_attention_scratch_floats(in->n_head, in->n_head_kv, in->head_dim);
    if (!(s->attn_scratch = calloc(attn, sizeof(float))))
        return actrm_error_set(&s->err, ACTRM_ERR_NOMEM, "out of memory for attention scratch (%zu floats)", attn);
    size_t mm = actrm_matmul_scratch_size(s->max_batch, max3(in->n_embd, in->n_ff, (int)q_dim));
    s->mm_scratch = malloc(mm ? mm : 1);
    if (!s->mm_scratch)
        return actrm_error_set(&s->err, ACTRM_ERR_NOMEM, "out of memory for matmul scratch (%zu bytes)", mm);
    return ACTRM_OK;
}

int actrm_session_init(actrm_session **out, const actrm_model *model, int n_ctx, int n_threads)
{
    if (!out)
        return ACTRM_ERR_ARG;
    actrm_session *s = *out = calloc(1, sizeof *s);
    if (!s)
        return ACTRM_ERR_NOMEM;
    const actrm_model_info *in = actrm_model_get_info(model);
    if (!in)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "actrm_session_init: model is NULL or failed to load");
    if (n_ctx < 1 || n_ctx > MAX_CTX)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "actrm_session_init: n_ctx %d is out of range [1, %d]",
                               n_ctx, MAX_CTX);
    int rc = actrm_kernels_select(&s->kern, NULL, &s->err);
    if (rc)
        return rc;
    s->model = model;
    s->n_ctx = n_ctx;
    s->n_threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    s->max_batch = n_ctx < ACTRM_MAX_BATCH ? n_ctx : ACTRM_MAX_BATCH;
    s->attn_scale = 1.0f / sqrtf((float)in->head_dim);
    if ((rc = alloc_buffers(s)))
        return rc;
    fill_rope_table(s);
    return ACTRM_OK;
}

void actrm_session_free(actrm_session *s)
{
    if (!s)
        return;
    float *bufs[] = {s->k_cache, s->vt_cache, s->rope_cs, s->x, s->xb, s->q, s->k, s->v, s->z,
                     s->gate, s->up, s->attn_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->mm_scratch);
    free(s);
}

const char *actrm_session_errmsg(const actrm_session *s)
{
    return s ? s->err.msg : "";
}

int actrm_session_n_past(const actrm_session *s)
{
    return s ? s->n_past : 0;
}

static int ready(actrm_session *s, const char *fn)
{
    if (!s)
        return ACTRM_ERR_ARG;
    actrm_error_clear(&s->err);
    if (!s->model)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: the session failed to initialise", fn);
    return ACTRM_OK;
}

int actrm_session_truncate(actrm_session *s, int n_past)
{
    int rc = ready(s, "actrm_session_truncate");
    if (rc)
        return rc;
    if (n_past < 0 || n_past > s->n_past)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "actrm_session_truncate: n_past %d is out of range [0, %d]",
                               n_past, s->n_past);
    s->n_past = n_past;
    return ACTRM_OK;
}

/* ------------------------------------------------------ argument checks -- */

static int check_tokens(actrm_session *s, const char *fn, const int32_t *tokens, int n)
{
    int V = s->model->info.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: token id %d at batch index %d is out of range [0, %d)",
                                   fn, (int)tokens[i], i, V);
    return ACTRM_OK;
}

static int check_room(actrm_session *s, const char *fn, int n_new)
{
    if (n_new > s->n_ctx - s->n_past)
        return actrm_error_set(&s->err, ACTRM_ERR_LIMIT, "%s: context full: %d positions + %d new exceed n_ctx %d",
                               fn, s->n_past, n_new, s->n_ctx);
    return ACTRM_OK;
}

static int check_patches(actrm_session *s, const char *fn, const actrm_head_patch *p, int n, const char *where)
{
    const actrm_model_info *in = &s->model->info;
    if (n < 0 || (n > 0 && !p))
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: %s: %d patches with %s array", fn, where, n,
                               p ? "an" : "a NULL");
    for (int i = 0; i < n; i++) {
        if (p[i].layer < 0 || p[i].layer >= in->n_layer)
            return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: %s: patch %d: layer %d is out of range [0, %d)",
                                   fn, where, i, p[i].layer, in->n_layer);
        if (p[i].head < 0 || p[i].head >= in->n_head)
            return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: %s: patch %d: head %d is out of range [0, %d)",
                                   fn, where, i, p[i].head, in->n_head);
        if (!p[i].z)
            return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: %s: patch %d: z is NULL", fn, where, i);
    }
    return ACTRM_OK;
}

static int check_request(actrm_session *s, const actrm_eval_request *req, int T)
{
    static const char fn[] = "actrm_session_eval";
    if (req->out_pos) {
        if (req->n_out < 1)
            return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: n_out %d must be >= 1 with out_pos", fn, req->n_out);
        for (int i = 0; i < req->n_out; i++)
            if (req->out_pos[i] < 0 || req->out_pos[i] >= T)
                return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: out_pos[%d] = %d is out of range [0, %d)",
                                       fn, i, req->out_pos[i], T);
    }
    if (req->n_patches && (req->patch_pos < 0 || req->patch_pos >= T))
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: patch_pos %d is out of range [0, %d)", fn, req->patch_pos, T);
    return check_patches(s, fn, req->patches, req->n_patches, "patches");
}

/* ---------------------------------------------------------------- eval -- */

static void fill_outputs(fwd_batch *b, const actrm_eval_request *req, const int *last)
{
    if (!req) {
        b->out_pos = last;
        b->n_out = 1;
        b->patch_row = -1;
        return;
    }
    if (req->out_pos) {
        b->out_pos = req->out_pos;
        b->n_out = req->n_out;
    } else if (req->all_positions) {
        b->out_pos = NULL;
        b->n_out = b->n_rows;
    } else {
        b->out_pos = last;
        b->n_out = 1;
    }
    b->logits = req->logits;
    b->heads = req->heads;
    b->hidden = req->hidden;
    b->patch.patches = req->patches;
    b->patch.n_patches = req->n_patches;
    b->patch_row = req->n_patches ? req->patch_pos : -1;
}

int actrm_session_eval(actrm_session *s, const int32_t *tokens, int n_tokens, const actrm_eval_request *req)
{
    static const char fn[] = "actrm_session_eval";
    int rc = ready(s, fn);
    if (rc)
        return rc;
    if (n_tokens < 1 || !tokens)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: needs at least one token (n_tokens = %d)", fn, n_tokens);
    if ((rc = check_tokens(s, fn, tokens, n_tokens)) || (rc = check_room(s, fn, n_tokens)) ||
        (req && (rc = check_request(s, req, n_tokens))))
        return rc;
    int last = n_tokens - 1;
    fwd_batch b = {.tokens = tokens, .token_stride = 1, .n_rows = n_tokens};
    fill_outputs(&b, req, &last);
    for (int c0 = 0; c0 < n_tokens; c0 += s->max_batch) {
        int n = n_tokens - c0 < s->max_batch ? n_tokens - c0 : s->max_batch;
        actrm_forward_chunk(s, &b, c0, n);
        s->n_past += n;
    }
    return ACTRM_OK;
}

int actrm_session_eval_branches(actrm_session *s, int32_t token, int n_branch, const actrm_patch_set *sets,
                                float *logits, float *heads)
{
    static const char fn[] = "actrm_session_eval_branches";
    int rc = ready(s, fn);
    if (rc)
        return rc;
    if (n_branch < 1)
        return actrm_error_set(&s->err, ACTRM_ERR_ARG, "%s: n_branch %d must be >= 1", fn, n_branch);
    if ((rc = check_tokens(s, fn, &token, 1)) || (rc = check_room(s, fn, 1)))
        return rc;
    for (int i = 0; sets && i < n_branch; i++) {
        char where[32];
        snprintf(where, sizeof where, "branch %d", i);
        if ((rc = check_patches(s, fn, sets[i].patches, sets[i].n_patches, where)))
            return rc;
    }
    fwd_batch b = {.tokens = &token, .token_stride = 0, .n_rows = n_branch, .branch = 1, .row_sets = sets,
                   .patch_row = -1, .out_pos = NULL, .n_out = n_branch, .logits = logits, .heads = heads};
    for (int c0 = 0; c0 < n_branch; c0 += s->max_batch)
        actrm_forward_chunk(s, &b, c0, n_branch - c0 < s->max_batch ? n_branch - c0 : s->max_batch);
    return ACTRM_OK;
}
