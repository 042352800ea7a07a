/*
 * Model loading: hyper-parameters from the GGUF metadata (llama.cpp's keys,
 * see the conventions in the project notes), every tensor checked for type
 * and shape, weights as views into the read-only mapping.
 *
 * content_hash: 64-bit FNV-1a over, for every tensor in file order, its name,
 * type, dims, byte size and a strided sample of its data (HASH_SAMPLES windows
 * of HASH_WINDOW bytes spread evenly from the first to the last byte; small
 * tensors are hashed whole). It is cheap (a few KiB per tensor, so opening a
 * model does not page in gigabytes) yet changes when weights are requantized,
 * retrained, permuted or fine-tuned in any sampled region, which is what
 * steering files need to detect a model mismatch.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPES_MATRIX ((1u << GGML_TYPE_F32) | (1u << GGML_TYPE_F16) | \
                      (1u << GGML_TYPE_BF16) | (1u << GGML_TYPE_Q8_0))
#define TYPES_VECTOR (1u << GGML_TYPE_F32)

/* Sanity bounds on hyper-parameters, so that every buffer size computed from
 * them fits comfortably in int and size_t. */
#define MAX_DIM (1 << 18)
#define MAX_LAYERS 4096
#define MAX_VOCAB (1 << 24)

#define HASH_SAMPLES 16
#define HASH_WINDOW 64
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* ---------------------------------------------------------- metadata -- */

/* Writes "{arch}.suffix" to key; returns whether to read it: it is
 * required, or present. A missing optional key leaves the value unchanged. */
static int arch_key(const actrm_model *m, const char *suffix, int required, char *key, size_t cap)
{
    snprintf(key, cap, "%s.%s", m->arch, suffix);
    return required || gguf_find_kv(m->gguf, key);
}

static int arch_u32(actrm_model *m, const char *suffix, int required, uint32_t *out)
{
    char key[160];
    return arch_key(m, suffix, required, key, sizeof key) ? gguf_get_u32(m->gguf, key, out, &m->err)
                                                          : ACTRM_OK;
}

static int arch_f32(actrm_model *m, const char *suffix, int required, float *out)
{
    char key[160];
    return arch_key(m, suffix, required, key, sizeof key) ? gguf_get_f32(m->gguf, key, out, &m->err)
                                                          : ACTRM_OK;
}

static int check_range(actrm_model *m, const char *suffix, uint32_t v, uint32_t max)
{
    if (v < 1 || v > max)
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED, "%s.%s = %u is out of range [1, %u]",
                               m->arch, suffix, v, max);
    return ACTRM_OK;
}

static int load_arch(actrm_model *m)
{
    int rc = gguf_get_strdup(m->gguf, "general.architecture", &m->arch, &m->err);
    if (rc)
        return rc;
    if (strcmp(m->arch, "llama") && strcmp(m->arch, "qwen2") && strcmp(m->arch, "qwen3"))
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED,
                               "general.architecture '%s' is not supported (llama, qwen2, qwen3)", m->arch);
    if (gguf_find_kv(m->gguf, "general.name"))
        rc = gguf_get_strdup(m->gguf, "general.name", &m->name, &m->err);
    else
        m->name = strdup("");
    if (rc == ACTRM_OK && !m->name)
        rc = actrm_error_set(&m->err, ACTRM_ERR_NOMEM, "out of memory");
    m->info.arch = m->arch;
    m->info.name = m->name;
    m->rope_neox = strcmp(m->arch, "llama") != 0;
    return rc;
}

/* Only plain and linearly scaled RoPE are implemented (llama3 scaling comes
 * as rope_freqs.weight, not as a scaling type). */
static int load_rope_scaling(actrm_model *m)
{
    char key[160];
    m->rope_scale = 1.0f;
    if (!arch_key(m, "rope.scaling.type", 0, key, sizeof key))
        return ACTRM_OK;
    gguf_str type;
    int rc = gguf_get_str(m->gguf, key, &type, &m->err);
    if (rc)
        return rc;
    if (type.len == 4 && memcmp(type.ptr, "none", 4) == 0)
        return ACTRM_OK;
    if (!(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0))
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED, "%s = '%.*s' is not supported (none, linear)",
                               key, (int)type.len, type.ptr);
    float factor = 1.0f;
    rc = arch_f32(m, "rope.scaling.factor", 1, &factor);
    if (rc == ACTRM_OK && !(factor > 0.0f))
        rc = actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "%s.rope.scaling.factor must be > 0", m->arch);
    m->rope_scale = 1.0f / factor;
    return rc;
}

static int load_hparams(actrm_model *m)
{
    uint32_t L = 0, D = 0, F = 0, H = 0, KV = 0, hd = 0, vd = 0, rope_dim = 0, ctx = 0;
    int rc;
    if ((rc = arch_u32(m, "block_count", 1, &L)) || (rc = arch_u32(m, "embedding_length", 1, &D)) ||
        (rc = arch_u32(m, "feed_forward_length", 1, &F)) || (rc = arch_u32(m, "attention.head_count", 1, &H)))
        return rc;
    if ((rc = check_range(m, "block_count", L, MAX_LAYERS)) || (rc = check_range(m, "embedding_length", D, MAX_DIM)) ||
        (rc = check_range(m, "feed_forward_length", F, MAX_DIM)) || (rc = check_range(m, "attention.head_count", H, MAX_DIM)))
        return rc;
    KV = H;
    hd = D / H;
    m->norm_eps = 1e-5f;
    m->rope_base = 10000.0f;
    if ((rc = arch_u32(m, "attention.head_count_kv", 0, &KV)) || (rc = arch_u32(m, "attention.key_length", 0, &hd)) ||
        (rc = arch_u32(m, "context_length", 0, &ctx)) ||
        (rc = arch_f32(m, "attention.layer_norm_rms_epsilon", 0, &m->norm_eps)) ||
        (rc = arch_f32(m, "rope.freq_base", 0, &m->rope_base)))
        return rc;
    vd = rope_dim = hd;
    if ((rc = arch_u32(m, "attention.value_length", 0, &vd)) || (rc = arch_u32(m, "rope.dimension_count", 0, &rope_dim)))
        return rc;
    if ((rc = check_range(m, "attention.head_count_kv", KV, H)) || (rc = check_range(m, "attention.key_length", hd, MAX_DIM)))
        return rc;
    if (H % KV)
        return actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "%s.attention.head_count %u is not a multiple of head_count_kv %u",
                               m->arch, H, KV);
    if (hd % 2 || (uint64_t)H * hd > MAX_DIM)
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED, "%s.attention.key_length %u must be even and head_count*key_length <= %d",
                               m->arch, hd, MAX_DIM);
    if (vd != hd)
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED, "%s.attention.value_length %u differs from key_length %u",
                               m->arch, vd, hd);
    if (rope_dim != hd)
        return actrm_error_set(&m->err, ACTRM_ERR_UNSUPPORTED, "%s.rope.dimension_count %u differs from the head size %u (partial RoPE)",
                               m->arch, rope_dim, hd);
    if (!(m->norm_eps >= 0.0f) || !(m->rope_base > 0.0f))
        return actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "%s: layer_norm_rms_epsilon must be >= 0 and rope.freq_base > 0", m->arch);
    m->info.n_layer = (int)L;
    m->info.n_embd = (int)D;
    m->info.n_ff = (int)F;
    m->info.n_head = (int)H;
    m->info.n_head_kv = (int)KV;
    m->info.head_dim = (int)hd;
    m->info.n_ctx_train = ctx > INT32_MAX ? INT32_MAX : (int)ctx;
    return load_rope_scaling(m);
}

/* ----------------------------------------------------------- tensors -- */

static int load_matrix(actrm_model *m, const char *name, int cols, int rows, actrm_weight *w)
{
    const uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    const gguf_tensor *t;
    int rc = gguf_require_tensor(m->gguf, name, TYPES_MATRIX, 2, ne, &t, &m->err);
    if (rc)
        return rc;
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->stride = (size_t)ggml_row_size(t->type, (uint64_t)cols);
    w->data = t->data;
    return ACTRM_OK;
}

static int load_vector(actrm_model *m, const char *name, int n, const float **out)
{
    const uint64_t ne[1] = {(uint64_t)n};
    const gguf_tensor *t;
    int rc = gguf_require_tensor(m->gguf, name, TYPES_VECTOR, 1, ne, &t, &m->err);
    if (rc == ACTRM_OK)
        *out = t->data;
    return rc;
}

static int load_optional_vector(actrm_model *m, const char *name, int n, const float **out)
{
    *out = NULL;
    return gguf_find_tensor(m->gguf, name) ? load_vector(m, name, n, out) : ACTRM_OK;
}

/* Writes "blk.<il>.<what>.weight" (or .bias) into buf. */
static const char *blk_name(char *buf, size_t cap, int il, const char *what, const char *kind)
{
    snprintf(buf, cap, "blk.%d.%s.%s", il, what, kind);
    return buf;
}

static int load_layer_attention(actrm_model *m, int il, actrm_layer *ly)
{
    const actrm_model_info *in = &m->info;
    int D = in->n_embd, q_dim = in->n_head * in->head_dim, kv_dim = in->n_head_kv * in->head_dim;
    int need_bias = strcmp(m->arch, "qwen2") == 0, need_qk_norm = strcmp(m->arch, "qwen3") == 0;
    char n[96];
    int rc;
    if ((rc = load_vector(m, blk_name(n, sizeof n, il, "attn_norm", "weight"), D, &ly->attn_norm)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "attn_q", "weight"), D, q_dim, &ly->wq)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "attn_k", "weight"), D, kv_dim, &ly->wk)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "attn_v", "weight"), D, kv_dim, &ly->wv)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "attn_output", "weight"), q_dim, D, &ly->wo)))
        return rc;
    /* Biases are part of qwen2; a llama file may carry them too (attention_bias). */
    int (*bias_loader)(actrm_model *, const char *, int, const float **) =
        need_bias ? load_vector : load_optional_vector;
    if ((rc = bias_loader(m, blk_name(n, sizeof n, il, "attn_q", "bias"), q_dim, &ly->bq)) ||
        (rc = bias_loader(m, blk_name(n, sizeof n, il, "attn_k", "bias"), kv_dim, &ly->bk)) ||
        (rc = bias_loader(m, blk_name(n, sizeof n, il, "attn_v", "bias"), kv_dim, &ly->bv)))
        return rc;
    if (need_qk_norm &&
        ((rc = load_vector(m, blk_name(n, sizeof n, il, "attn_q_norm", "weight"), in->head_dim, &ly->q_norm)) ||
         (rc = load_vector(m, blk_name(n, sizeof n, il, "attn_k_norm", "weight"), in->head_dim, &ly->k_norm))))
        return rc;
    return ACTRM_OK;
}

static int load_layer_mlp(actrm_model *m, int il, actrm_layer *ly)
{
    int D = m->info.n_embd, F = m->info.n_ff;
    char n[96];
    int rc;
    if ((rc = load_vector(m, blk_name(n, sizeof n, il, "ffn_norm", "weight"), D, &ly->ffn_norm)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "ffn_gate", "weight"), D, F, &ly->w_gate)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "ffn_up", "weight"), D, F, &ly->w_up)) ||
        (rc = load_matrix(m, blk_name(n, sizeof n, il, "ffn_down", "weight"), F, D, &ly->w_down)))
        return rc;
    return ACTRM_OK;
}

/* The vocabulary size comes from token_embd.weight; a vocab_size key, when
 * present, must agree with it. */
static int load_embeddings(actrm_model *m)
{
    const gguf_tensor *t = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!t)
        return actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "tensor 'token_embd.weight' is missing");
    if (t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > MAX_VOCAB)
        return actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "tensor 'token_embd.weight' must be 2-D [%d, V] with 1 <= V <= %d",
                               m->info.n_embd, MAX_VOCAB);
    uint32_t V = (uint32_t)t->ne[1];
    int rc = arch_u32(m, "vocab_size", 0, &V);
    if (rc)
        return rc;
    if (V != t->ne[1])
        return actrm_error_set(&m->err, ACTRM_ERR_FORMAT, "%s.vocab_size %u differs from the rows of token_embd.weight (%llu)",
                               m->arch, V, (unsigned long long)t->ne[1]);
    m->info.n_vocab = (int)V;
    if ((rc = load_matrix(m, "token_embd.weight", m->info.n_embd, (int)V, &m->tok_embd)) ||
        (rc = load_vector(m, "output_norm.weight", m->info.n_embd, &m->output_norm)))
        return rc;
    if (!gguf_find_tensor(m->gguf, "output.weight")) {
        m->output = m->tok_embd; /* tied embeddings */
        return ACTRM_OK;
    }
    return load_matrix(m, "output.weight", m->info.n_embd, (int)V, &m->output);
}

/* The type holding most layer-matrix weights ("mostly Q8_0" etc.). */
static int dominant_type(const actrm_model *m)
{
    uint64_t count[4] = {0};
    static const int types[4] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0};
    for (int il = 0; il < m->info.n_layer; il++) {
        const actrm_layer *ly = &m->layers[il];
        const actrm_weight *ws[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            count[actrm_wt_slot(ws[i]->type)] += (uint64_t)ws[i]->rows * (uint64_t)ws[i]->cols;
    }
    int best = 0;
    for (int s = 1; s < 4; s++)
        if (count[s] > count[best])
            best = s;
    return types[best];
}

static int load_tensors(actrm_model *m)
{
    int rc = load_embeddings(m);
    if (rc == ACTRM_OK)
        rc = load_optional_vector(m, "rope_freqs.weight", m->info.head_dim / 2, &m->rope_freqs);
    if (rc)
        return rc;
    m->layers = calloc((size_t)m->info.n_layer, sizeof *m->layers);
    if (!m->layers)
        return actrm_error_set(&m->err, ACTRM_ERR_NOMEM, "out of memory for %d layers", m->info.n_layer);
    for (int il = 0; il < m->info.n_layer; il++)
        if ((rc = load_layer_attention(m, il, &m->layers[il])) || (rc = load_layer_mlp(m, il, &m->layers[il])))
            return rc;
    m->info.weight_type = dominant_type(m);
    return ACTRM_OK;
}

/* -------------------------------------------------------------- hash -- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    return fnv1a(h, le, sizeof le);
}

static uint64_t hash_tensor(uint64_t h, const gguf_tensor *t)
{
    h = fnv1a(h, t->name, strlen(t->name) + 1);
    h = fnv1a_u64(h, (uint64_t)t->type);
    h = fnv1a_u64(h, (uint64_t)t->n_dims);
    for (int d = 0; d < t->n_dims; d++)
        h = fnv1a_u64(h, t->ne[d]);
    h = fnv1a_u64(h, t->nbytes);
    if (t->nbytes <= (uint64_t)HASH_SAMPLES * HASH_WINDOW)
        return fnv1a(h, t->data, (size_t)t->nbytes);
    uint64_t span = t->nbytes - HASH_WINDOW;
    for (uint64_t i = 0; i < HASH_SAMPLES; i++)
        h = fnv1a(h, (const char *)t->data + span / (HASH_SAMPLES - 1) * i, HASH_WINDOW);
    /* span / (n-1) * (n-1) may stop short of the end: always include the tail. */
    return fnv1a(h, (const char *)t->data + span, HASH_WINDOW);
}

static uint64_t content_hash(const actrm_gguf *g)
{
    uint64_t h = FNV_OFFSET;
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++)
        h = hash_tensor(h, gguf_tensor_at(g, i));
    return h;
}

/* Puts the F16/BF16 matrices in the G16 layout when this CPU's kernels
 * are faster on it (simd/kernels.h: few-token GEMVs stream each 16-row
 * group instead of walking 16 rows at once). Results stay the same bits.
 * The tied embedding/output matrix is regrouped once. */
static void regroup_matrices(actrm_model *m)
{
    actrm_kernels k;
    actrm_error ignored = {0};
    if (actrm_kernels_select(&k, NULL, &ignored) != ACTRM_OK || !k.g16_fast)
        return;
    int tied = m->output.data == m->tok_embd.data;
    actrm_weight *ws[2] = {&m->tok_embd, tied ? NULL : &m->output};
    for (int il = 0; il < m->info.n_layer; il++) {
        actrm_layer *ly = &m->layers[il];
        actrm_weight *lw[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (int i = 0; i < 7; i++)
            actrm_weight_regroup_g16(lw[i], 0);
    }
    for (int i = 0; i < 2; i++)
        if (ws[i])
            actrm_weight_regroup_g16(ws[i], 0);
    if (tied)
        m->output.g16 = m->tok_embd.g16;
}

/* ------------------------------------------------------------ public -- */

/* ACTRM_MMAP=1 (or any value but "" and "0"): keep the weights in the file
 * mapping instead of a private copy (pages shared with other processes and
 * evictable; slower few-token matmuls, see gguf_load_data). */
static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* Unless ACTRM_MMAP is set, reads the tensor data of a model that passed
 * every check into private memory (gguf_load_data) and points the weights
 * there: the tensors moved, so their lookup (cheap, no data read) runs
 * again. */
static int load_private_copy(actrm_model *m)
{
    if (env_flag("ACTRM_MMAP"))
        return ACTRM_OK;
    int rc = gguf_load_data(m->gguf, &m->err);
    if (rc)
        return rc;
    free(m->layers);
    m->layers = NULL;
    return load_tensors(m);
}

static void release_contents(actrm_model *m)
{
    free(m->layers);
    m->layers = NULL;
    gguf_close(m->gguf);
    m->gguf = NULL;
}

int actrm_model_init(actrm_model **out, const char *gguf_path)
{
    if (!out)
        return ACTRM_ERR_ARG;
    actrm_model *m = *out = calloc(1, sizeof *m);
    if (!m)
        return ACTRM_ERR_NOMEM;
    if (!gguf_path)
        return actrm_error_set(&m->err, ACTRM_ERR_ARG, "actrm_model_init: gguf_path is NULL");
    int rc = gguf_open(&m->gguf, gguf_path, &m->err);
    if (rc)
        return rc;
    if ((rc = load_arch(m)) || (rc = load_hparams(m)) || (rc = load_tensors(m)) ||
        (rc = load_private_copy(m))) {
        actrm_error_prefix(&m->err, "%s", gguf_path);
        release_contents(m);
        return rc;
    }
    m->info.content_hash = content_hash(m->gguf); /* of the file's bytes: before regrouping */
    if (gguf_data_private(m->gguf))
        regroup_matrices(m);
    gguf_seal_data(m->gguf);
    return ACTRM_OK;
}

void actrm_model_free(actrm_model *m)
{
    if (!m)
        return;
    release_contents(m);
    free(m->arch);
    free(m->name);
    free(m);
}

const char *actrm_model_errmsg(const actrm_model *m)
{
    return m ? m->err.msg : "";
}

const actrm_model_info *actrm_model_get_info(const actrm_model *m)
{
    return m && m->layers ? &m->info : NULL;
}
