/*
 * Hugging Face directory -> GGUF (actrm_hf_convert).
 *
 * Steps: read and validate config.json into an hf_config; open the
 * safetensors (mmap'ed); build the list of tensors the architecture needs
 * (tensor_plan) and match it against the source, so that a missing, unknown
 * or misshapen tensor is reported before any work is done; then write the
 * metadata, the tokenizer and the tensors one by one through the GGUF writer,
 * which writes PATH.tmp and renames it.
 *
 * Memory: the source stays mapped. A tensor kept as stored is handed to the
 * writer by reference (no copy); a converted one (other type, or the llama
 * Q/K row permutation) is built in a malloc'ed buffer that the writer keeps
 * until gguf_writer_write(). Peak RAM is therefore about the size of the
 * converted tensors: the whole output for a type change.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actrm.h"
#include "error.h"
#include "gguf.h"
#include "kernels.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "util.h"

/* Hyper-parameters read from config.json. */
typedef struct hf_config {
    const char *path;    /* of config.json, for messages */
    const char *arch;    /* "llama", "qwen2" or "qwen3" */
    char name[256];      /* general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    double eps, rope_theta;
    int tie_embeddings;
    int rope_llama3;     /* llama3 frequency scaling -> rope_freqs.weight */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor, rope_orig_ctx;
} hf_config;

/* One tensor the GGUF file gets from the source. */
typedef struct tensor_plan {
    char hf_name[96];
    char gguf_name[64];
    int n_dims;
    uint64_t shape[2];      /* source (PyTorch) order: [rows, cols] or [n] */
    const char *shape_from; /* config fields the shape comes from, for messages */
    int permute_heads;      /* > 0: llama rotate_half -> interleaved rows, per head */
    int optional;
    const st_tensor *src;   /* matched source tensor, or NULL */
} tensor_plan;

typedef struct tensor_plans {
    tensor_plan *v;
    size_t n, cap;
} tensor_plans;

/* ----------------------------------------------------------- config.json -- */

static const struct {
    const char *hf;
    const char *arch;
} supported_archs[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "llama"},
    {"Qwen2ForCausalLM", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"},
};

static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(item) ? NULL : item;
}

/* A positive integer field that fits an int; def < 0 means required. */
static int cfg_int(const cJSON *root, const char *key, int def, int *out,
                   const hf_config *c, actrm_error *err)
{
    const cJSON *item = field(root, key);
    if (!item) {
        if (def < 0)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: missing field '%s'", c->path, key);
        *out = def;
        return ACTRM_OK;
    }
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 1 && v <= INT_MAX) || v != floor(v))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: field '%s' must be a positive integer", c->path, key);
    *out = (int)v;
    return ACTRM_OK;
}

/* A positive number field of obj (named prefix.key in messages); def < 0 means required. */
static int cfg_num(const cJSON *obj, const char *prefix, const char *key, double def,
                   double *out, const hf_config *c, actrm_error *err)
{
    const cJSON *item = field(obj, key);
    if (!item) {
        if (def < 0)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: missing field '%s%s'", c->path, prefix, key);
        *out = def;
        return ACTRM_OK;
    }
    if (!cJSON_IsNumber(item) || !(item->valuedouble > 0) || !isfinite(item->valuedouble))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: field '%s%s' must be a positive number",
                               c->path, prefix, key);
    *out = item->valuedouble;
    return ACTRM_OK;
}

static int cfg_true(const cJSON *root, const char *key)
{
    return cJSON_IsTrue(field(root, key));
}

static int read_architecture(hf_config *c, const cJSON *root, actrm_error *err)
{
    const cJSON *list = field(root, "architectures");
    const cJSON *first = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
    if (!cJSON_IsString(first))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: missing field 'architectures'", c->path);
    for (size_t i = 0; i < sizeof supported_archs / sizeof supported_archs[0]; i++)
        if (strcmp(first->valuestring, supported_archs[i].hf) == 0)
            c->arch = supported_archs[i].arch;
    if (!c->arch)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: field 'architectures' is %s; supported: LlamaForCausalLM, "
                               "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM",
                               c->path, first->valuestring);
    return ACTRM_OK;
}

/* Features the forward pass does not implement. */
static int reject_unsupported_features(const hf_config *c, const cJSON *root, actrm_error *err)
{
    const char *unsupported = NULL;
    const cJSON *act = field(root, "hidden_act");
    const cJSON *rotary = field(root, "partial_rotary_factor");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        unsupported = "hidden_act (only silu)";
    else if (rotary && !(cJSON_IsNumber(rotary) && rotary->valuedouble == 1.0))
        unsupported = "partial_rotary_factor (only 1)";
    else if (strcmp(c->arch, "qwen2") != 0 && cfg_true(root, "attention_bias"))
        unsupported = "attention_bias (only false)";
    else if (cfg_true(root, "mlp_bias"))
        unsupported = "mlp_bias (only false)";
    /* Qwen configs carry a window size even when it is off: only the switch counts. */
    else if (strcmp(c->arch, "llama") == 0 && field(root, "sliding_window"))
        unsupported = "sliding_window (sliding-window attention; only null)";
    else if (cfg_true(root, "use_sliding_window"))
        unsupported = "use_sliding_window (sliding-window attention; only false)";
    if (unsupported)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s: unsupported value of field '%s'",
                               c->path, unsupported);
    return ACTRM_OK;
}

/* rope_scaling (or transformers 5's rope_parameters): none, "default" or
 * "llama3" (llama only). */
static int read_rope_scaling(hf_config *c, const cJSON *scaling, const char *key, actrm_error *err)
{
    if (!scaling)
        return ACTRM_OK;
    if (!cJSON_IsObject(scaling))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: field '%s' must be an object or null", c->path, key);
    const cJSON *type = field(scaling, "rope_type");
    if (!type)
        type = field(scaling, "type");
    if (!type || (cJSON_IsString(type) && strcmp(type->valuestring, "default") == 0))
        return ACTRM_OK;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "llama3") != 0 || strcmp(c->arch, "llama") != 0)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: field '%s.rope_type' = %s is not supported (only llama3 for llama, or none)",
                               c->path, key, cJSON_IsString(type) ? type->valuestring : "(not a string)");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", key);
    c->rope_llama3 = 1;
    int status = cfg_num(scaling, prefix, "factor", -1, &c->rope_factor, c, err);
    if (!status)
        status = cfg_num(scaling, prefix, "low_freq_factor", -1, &c->rope_low_freq_factor, c, err);
    if (!status)
        status = cfg_num(scaling, prefix, "high_freq_factor", -1, &c->rope_high_freq_factor, c, err);
    if (!status)
        status = cfg_num(scaling, prefix, "original_max_position_embeddings", -1, &c->rope_orig_ctx, c, err);
    if (!status && c->rope_high_freq_factor == c->rope_low_freq_factor)
        status = actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: field '%shigh_freq_factor' must differ from low_freq_factor",
                                 c->path, prefix);
    return status;
}

static int read_rope(hf_config *c, const cJSON *root, actrm_error *err)
{
    const cJSON *params = field(root, "rope_parameters");
    const cJSON *scaling = field(root, "rope_scaling");
    const cJSON *theta_from = field(root, "rope_theta") || !params ? root : params;
    int status = cfg_num(theta_from, theta_from == root ? "" : "rope_parameters.", "rope_theta",
                         10000.0, &c->rope_theta, c, err);
    if (status)
        return status;
    return scaling || !params ? read_rope_scaling(c, scaling, "rope_scaling", err)
                              : read_rope_scaling(c, params, "rope_parameters", err);
}

static int read_shape(hf_config *c, const cJSON *root, actrm_error *err)
{
    int status = ACTRM_OK;
    const struct {
        const char *key;
        int *out;
    } required[] = {
        {"vocab_size", &c->n_vocab},         {"hidden_size", &c->n_embd},
        {"num_hidden_layers", &c->n_layer},  {"num_attention_heads", &c->n_head},
        {"intermediate_size", &c->n_ff},     {"max_position_embeddings", &c->n_ctx},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0] && !status; i++)
        status = cfg_int(root, required[i].key, -1, required[i].out, c, err);
    if (!status)
        status = cfg_int(root, "num_key_value_heads", c->n_head, &c->n_head_kv, c, err);
    if (!status && c->n_head % c->n_head_kv)
        status = actrm_error_set(err, ACTRM_ERR_FORMAT,
                                 "%s: field 'num_attention_heads' (%d) is not a multiple of 'num_key_value_heads' (%d)",
                                 c->path, c->n_head, c->n_head_kv);
    if (!status && !field(root, "head_dim") && c->n_embd % c->n_head)
        status = actrm_error_set(err, ACTRM_ERR_FORMAT,
                                 "%s: field 'hidden_size' (%d) is not a multiple of 'num_attention_heads' (%d)",
                                 c->path, c->n_embd, c->n_head);
    if (!status)
        status = cfg_int(root, "head_dim", c->n_embd / c->n_head, &c->head_dim, c, err);
    if (!status && c->head_dim % 2)
        status = actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s: field 'head_dim' (%d) must be even for RoPE",
                                 c->path, c->head_dim);
    if (!status)
        status = cfg_num(root, "", "rms_norm_eps", -1, &c->eps, c, err);
    return status;
}

static void base_name(char *out, size_t cap, const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(out, cap, "%.*s", (int)(len - start), path + start);
}

/* general.name: config's _name_or_path (its last component) or the directory name. */
static void read_name(hf_config *c, const cJSON *root, const char *hf_dir)
{
    const cJSON *name = field(root, "_name_or_path");
    if (cJSON_IsString(name) && name->valuestring[0])
        base_name(c->name, sizeof c->name, name->valuestring);
    if (!c->name[0])
        base_name(c->name, sizeof c->name, hf_dir);
}

static int read_config(hf_config *c, const char *hf_dir, actrm_error *err)
{
    cJSON *root;
    int status = actrm_json_load(c->path, &root, err);
    if (status)
        return status;
    if (!cJSON_IsObject(root))
        status = actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: not a JSON object", c->path);
    if (!status)
        status = read_architecture(c, root, err);
    if (!status)
        status = reject_unsupported_features(c, root, err);
    if (!status)
        status = read_shape(c, root, err);
    if (!status)
        status = read_rope(c, root, err);
    if (!status) {
        c->tie_embeddings = cfg_true(root, "tie_word_embeddings");
        read_name(c, root, hf_dir);
    }
    cJSON_Delete(root);
    return status;
}

/* ----------------------------------------------------------- tensor plan -- */

static int plan_add(tensor_plans *p, const char *gguf_name, const char *hf_name,
                    uint64_t rows, uint64_t cols, const char *shape_from)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        tensor_plan *grown = realloc(p->v, cap * sizeof *grown);
        if (!grown)
            return ACTRM_ERR_NOMEM;
        p->v = grown;
        p->cap = cap;
    }
    tensor_plan *t = &p->v[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->gguf_name, sizeof t->gguf_name, "%s", gguf_name);
    snprintf(t->hf_name, sizeof t->hf_name, "%s", hf_name);
    t->n_dims = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->shape_from = shape_from;
    return ACTRM_OK;
}

/* Adds blk.N.<gguf> <- model.layers.N.<hf>; cols == 0 for 1-D tensors. */
static int plan_layer(tensor_plans *p, int layer, const char *gguf, const char *hf,
                      uint64_t rows, uint64_t cols, const char *shape_from)
{
    char g[64], h[96];
    snprintf(g, sizeof g, "blk.%d.%s", layer, gguf);
    snprintf(h, sizeof h, "model.layers.%d.%s", layer, hf);
    return plan_add(p, g, h, rows, cols, shape_from);
}

static int plan_attention(tensor_plans *p, const hf_config *c, int l)
{
    uint64_t D = (uint64_t)c->n_embd, hd = (uint64_t)c->head_dim;
    uint64_t q_rows = (uint64_t)c->n_head * hd, kv_rows = (uint64_t)c->n_head_kv * hd;
    const char *q_from = "num_attention_heads x head_dim, hidden_size";
    const char *kv_from = "num_key_value_heads x head_dim, hidden_size";
    int status = plan_layer(p, l, "attn_q.weight", "self_attn.q_proj.weight", q_rows, D, q_from);
    int llama = strcmp(c->arch, "llama") == 0;
    if (!status && llama)
        p->v[p->n - 1].permute_heads = c->n_head;
    status = status ? status : plan_layer(p, l, "attn_k.weight", "self_attn.k_proj.weight", kv_rows, D, kv_from);
    if (!status && llama)
        p->v[p->n - 1].permute_heads = c->n_head_kv;
    status = status ? status : plan_layer(p, l, "attn_v.weight", "self_attn.v_proj.weight", kv_rows, D, kv_from);
    status = status ? status : plan_layer(p, l, "attn_output.weight", "self_attn.o_proj.weight", D, q_rows,
                                          "hidden_size, num_attention_heads x head_dim");
    if (strcmp(c->arch, "qwen2") == 0) {
        status = status ? status : plan_layer(p, l, "attn_q.bias", "self_attn.q_proj.bias", q_rows, 0, q_from);
        status = status ? status : plan_layer(p, l, "attn_k.bias", "self_attn.k_proj.bias", kv_rows, 0, kv_from);
        status = status ? status : plan_layer(p, l, "attn_v.bias", "self_attn.v_proj.bias", kv_rows, 0, kv_from);
    }
    if (strcmp(c->arch, "qwen3") == 0) {
        status = status ? status : plan_layer(p, l, "attn_q_norm.weight", "self_attn.q_norm.weight", hd, 0, "head_dim");
        status = status ? status : plan_layer(p, l, "attn_k_norm.weight", "self_attn.k_norm.weight", hd, 0, "head_dim");
    }
    return status;
}

static int plan_layer_all(tensor_plans *p, const hf_config *c, int l)
{
    uint64_t D = (uint64_t)c->n_embd, F = (uint64_t)c->n_ff;
    int status = plan_layer(p, l, "attn_norm.weight", "input_layernorm.weight", D, 0, "hidden_size");
    status = status ? status : plan_attention(p, c, l);
    status = status ? status : plan_layer(p, l, "ffn_norm.weight", "post_attention_layernorm.weight", D, 0, "hidden_size");
    status = status ? status : plan_layer(p, l, "ffn_gate.weight", "mlp.gate_proj.weight", F, D, "intermediate_size, hidden_size");
    status = status ? status : plan_layer(p, l, "ffn_up.weight", "mlp.up_proj.weight", F, D, "intermediate_size, hidden_size");
    status = status ? status : plan_layer(p, l, "ffn_down.weight", "mlp.down_proj.weight", D, F, "hidden_size, intermediate_size");
    return status;
}

static int build_plan(tensor_plans *p, const hf_config *c)
{
    uint64_t V = (uint64_t)c->n_vocab, D = (uint64_t)c->n_embd;
    int status = plan_add(p, "token_embd.weight", "model.embed_tokens.weight", V, D, "vocab_size, hidden_size");
    for (int l = 0; l < c->n_layer && !status; l++)
        status = plan_layer_all(p, c, l);
    status = status ? status : plan_add(p, "output_norm.weight", "model.norm.weight", D, 0, "hidden_size");
    if (!status && !c->tie_embeddings) {
        /* An absent lm_head means tied embeddings, as llama.cpp reads it. */
        status = plan_add(p, "output.weight", "lm_head.weight", V, D, "vocab_size, hidden_size");
        if (!status)
            p->v[p->n - 1].optional = 1;
    }
    return status;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Source tensors that are safe to drop: buffers HF recomputes, and the
 * copy of the embeddings when they are tied. */
static int is_ignorable(const char *name, const hf_config *c)
{
    return has_suffix(name, "rotary_emb.inv_freq") ||
           (c->tie_embeddings && strcmp(name, "lm_head.weight") == 0);
}

static tensor_plan *plan_find(tensor_plans *p, const char *hf_name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].hf_name, hf_name) == 0)
            return &p->v[i];
    return NULL;
}

static int check_shape(const tensor_plan *t, const st_tensor *src, const hf_config *c, actrm_error *err)
{
    int same = src->n_dims == t->n_dims;
    for (int i = 0; same && i < t->n_dims; i++)
        same = src->shape[i] == t->shape[i];
    if (same)
        return ACTRM_OK;
    char got[96], want[96];
    actrm_format_dims(got, sizeof got, src->n_dims, src->shape);
    actrm_format_dims(want, sizeof want, t->n_dims, t->shape);
    return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s' has shape %s, but %s gives %s (%s)",
                           src->file, src->name, got, c->path, want, t->shape_from);
}

/* Matches every source tensor to the plan: unknown, missing or misshapen
 * tensors are errors. */
static int match_sources(tensor_plans *p, const st_model *st, const hf_config *c,
                         const char *hf_dir, actrm_error *err)
{
    for (size_t i = 0; i < st_n_tensors(st); i++) {
        const st_tensor *src = st_tensor_at(st, i);
        if (is_ignorable(src->name, c))
            continue;
        tensor_plan *t = plan_find(p, src->name);
        if (!t)
            return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                                   "%s: tensor '%s' is not used by a %s model with this config.json (unknown tensor)",
                                   src->file, src->name, c->arch);
        int status = check_shape(t, src, c, err);
        if (status)
            return status;
        t->src = src;
    }
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].src && !p->v[i].optional)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s' is missing from the safetensors",
                                   hf_dir, p->v[i].hf_name);
    return ACTRM_OK;
}

/* -------------------------------------------------------------- tensors -- */

/* Converts n floats to one row of type (F32, F16, BF16 or Q8_0 with n % 32 == 0). */
static void row_from_f32(const actrm_kernels *k, int type, const float *x, void *dst, int n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(dst, x, (size_t)n * sizeof *x);
        break;
    case GGML_TYPE_F16:
        for (int i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = actrm_f32_to_fp16(x[i]);
        break;
    case GGML_TYPE_BF16:
        for (int i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = actrm_f32_to_bf16(x[i]);
        break;
    default:
        k->quantize_q8_0(x, dst, n);
        break;
    }
}

/* The source row that lands in row r. llama.cpp's NORM rope pairs (2i, 2i+1)
 * while HF pairs (i, i+hd/2): within each head, row s*hd/2 + j moves to
 * 2j + s. */
static uint64_t source_row(uint64_t r, uint64_t rows, int permute_heads)
{
    if (permute_heads <= 0)
        return r;
    uint64_t hd = rows / (uint64_t)permute_heads, half = hd / 2;
    uint64_t head = r / hd, within = r % hd;
    return head * hd + (within % 2) * half + within / 2;
}

static int output_type_of(const tensor_plan *t, int wanted)
{
    if (t->n_dims == 1)
        return GGML_TYPE_F32;
    if (wanted == GGML_TYPE_Q8_0 && t->shape[1] % QK8_0)
        return GGML_TYPE_F16; /* Q8_0 blocks need whole rows of 32 */
    return wanted;
}

/* Fills out ([rows][ggml_row_size(type, cols)]) from the source rows,
 * permuted if asked. Rows are independent, so threads split them; the result
 * does not depend on the thread count. Returns 0 when out of memory. */
static int convert_rows(const tensor_plan *t, int type, uint64_t rows, uint64_t cols,
                        const actrm_kernels *k, uint8_t *out)
{
    const st_tensor *src = t->src;
    size_t src_row_bytes = (size_t)cols * st_type_size(src->type);
    size_t row_bytes = (size_t)ggml_row_size(type, cols);
    int ok = 1;
#pragma omp parallel if (rows * cols >= (1u << 20))
    {
        float *row = malloc((size_t)cols * sizeof *row); /* [cols] scratch */
        if (!row) {
#pragma omp atomic write
            ok = 0;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < (int64_t)rows; r++) {
            const uint8_t *in = (const uint8_t *)src->data + source_row((uint64_t)r, rows, t->permute_heads) * src_row_bytes;
            if (type == src->type) {
                memcpy(out + (size_t)r * row_bytes, in, row_bytes); /* exact: no round trip */
            } else if (row) {
                k->row_to_f32(src->type, in, row, (int)cols);
                row_from_f32(k, type, row, out + (size_t)r * row_bytes, (int)cols);
            }
        }
        free(row);
    }
    return ok;
}

static int convert_tensor(gguf_writer *w, const tensor_plan *t, int wanted,
                          const actrm_kernels *k, actrm_error *err)
{
    const st_tensor *src = t->src;
    int type = output_type_of(t, wanted);
    uint64_t rows = t->n_dims == 2 ? t->shape[0] : 1, cols = t->n_dims == 2 ? t->shape[1] : t->shape[0];
    uint64_t ne[2] = {cols, rows};
    if (type == src->type && !t->permute_heads) /* as stored: written straight from the mapping */
        return gguf_add_tensor_ref(w, t->gguf_name, type, t->n_dims, ne, src->data, src->nbytes, err);
    uint64_t nbytes = rows * ggml_row_size(type, cols);
    uint8_t *out = malloc((size_t)nbytes); /* [rows][row bytes of type] */
    if (!out || !convert_rows(t, type, rows, cols, k, out)) {
        free(out);
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "tensor '%s': out of memory", t->gguf_name);
    }
    return gguf_add_tensor_owned(w, t->gguf_name, type, t->n_dims, ne, out, nbytes, err);
}

/* Per-pair divisors of the base frequency for llama3 rope scaling, as
 * llama.cpp's converter derives them: 1 for short wavelengths, factor for
 * long ones, and a smooth blend in between. */
static int add_rope_freqs(gguf_writer *w, const hf_config *c, actrm_error *err)
{
    int half = c->head_dim / 2;
    float *factors = malloc((size_t)half * sizeof *factors); /* [head_dim/2] */
    if (!factors)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "rope_freqs.weight: out of memory");
    double low_wavelen = c->rope_orig_ctx / c->rope_low_freq_factor;
    double high_wavelen = c->rope_orig_ctx / c->rope_high_freq_factor;
    for (int i = 0; i < half; i++) {
        double freq = 1.0 / pow(c->rope_theta, (double)(2 * i) / c->head_dim);
        double wavelen = 2 * M_PI / freq;
        double f = c->rope_factor;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen <= low_wavelen) {
            double smooth = (c->rope_orig_ctx / wavelen - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / c->rope_factor + smooth);
        }
        factors[i] = (float)f;
    }
    uint64_t ne[1] = {(uint64_t)half};
    return gguf_add_tensor_owned(w, "rope_freqs.weight", GGML_TYPE_F32, 1, ne, factors,
                                 (uint64_t)half * sizeof *factors, err);
}

static int add_tensors(gguf_writer *w, const tensor_plans *p, const hf_config *c,
                       int wanted, actrm_error *err)
{
    actrm_kernels k;
    actrm_kernels_ref(&k); /* the reference quantiser: output never depends on the CPU */
    int status = c->rope_llama3 ? add_rope_freqs(w, c, err) : ACTRM_OK;
    for (size_t i = 0; i < p->n && !status; i++)
        if (p->v[i].src)
            status = convert_tensor(w, &p->v[i], wanted, &k, err);
    return status;
}

/* ------------------------------------------------------------- metadata -- */

static uint32_t file_type_of(int type)
{
    switch (type) {
    case GGML_TYPE_F16: return 1;
    case GGML_TYPE_Q8_0: return 7;
    case GGML_TYPE_BF16: return 32;
    default: return 0;
    }
}

static int set_arch_u32(gguf_writer *w, const char *arch, const char *key, int v)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_set_u32(w, full, (uint32_t)v);
}

static int set_arch_f32(gguf_writer *w, const char *arch, const char *key, double v)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_set_f32(w, full, (float)v);
}

static int add_metadata(gguf_writer *w, const hf_config *c, int type, actrm_error *err)
{
    const char *a = c->arch;
    int status = gguf_set_str(w, "general.architecture", a);
    status = status ? status : gguf_set_str(w, "general.name", c->name);
    status = status ? status : gguf_set_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    status = status ? status : gguf_set_u32(w, "general.file_type", file_type_of(type));
    const struct {
        const char *key;
        int v;
    } ints[] = {
        {"vocab_size", c->n_vocab},
        {"context_length", c->n_ctx},
        {"embedding_length", c->n_embd},
        {"block_count", c->n_layer},
        {"feed_forward_length", c->n_ff},
        {"attention.head_count", c->n_head},
        {"attention.head_count_kv", c->n_head_kv},
        {"attention.key_length", c->head_dim},
        {"attention.value_length", c->head_dim},
        {"rope.dimension_count", c->head_dim},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !status; i++)
        status = set_arch_u32(w, a, ints[i].key, ints[i].v);
    status = status ? status : set_arch_f32(w, a, "attention.layer_norm_rms_epsilon", c->eps);
    status = status ? status : set_arch_f32(w, a, "rope.freq_base", c->rope_theta);
    if (status)
        return actrm_error_set(err, status, "cannot set the model metadata: %s", actrm_status_string(status));
    return ACTRM_OK;
}

/* ------------------------------------------------------------ top level -- */

static int parse_out_type(const char *name, int *type, actrm_error *err)
{
    *type = ggml_type_from_name(name);
    if (*type == GGML_TYPE_F32 || *type == GGML_TYPE_F16 || *type == GGML_TYPE_BF16 || *type == GGML_TYPE_Q8_0)
        return ACTRM_OK;
    return actrm_error_set(err, ACTRM_ERR_ARG, "unknown output type '%s' (expected f32, f16, bf16 or q8_0)", name);
}

/* Fails early, before any work, when the output directory does not exist. */
static int check_out_dir(const char *out_path, actrm_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return ACTRM_OK;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return actrm_error_set(err, ACTRM_ERR_IO, "cannot write %s: directory %s does not exist",
                               out_path, dir);
    return ACTRM_OK;
}

typedef struct convert_job {
    const char *hf_dir;
    const char *out_path;
    const char *out_type;
    hf_config config;
    st_model *st;
    tensor_plans plan;
    gguf_writer *w;
} convert_job;

static int run_conversion(convert_job *job, actrm_error *err)
{
    hf_config *c = &job->config;
    int type = -1; /* -1: the dtype of the embeddings (the bulk of most models) */
    int status = job->out_type ? parse_out_type(job->out_type, &type, err) : ACTRM_OK;
    status = status ? status : check_out_dir(job->out_path, err);
    status = status ? status : read_config(c, job->hf_dir, err);
    status = status ? status : st_open_dir(&job->st, job->hf_dir, err);
    if (!status && build_plan(&job->plan, c))
        status = actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
    status = status ? status : match_sources(&job->plan, job->st, c, job->hf_dir, err);
    if (status)
        return status;
    if (type < 0)
        type = job->plan.v[0].src->type;
    if (!(job->w = gguf_writer_new()))
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
    status = add_metadata(job->w, c, type, err);
    status = status ? status : actrm_tokenizer_export(job->w, job->hf_dir, c->n_vocab, err);
    status = status ? status : add_tensors(job->w, &job->plan, c, type, err);
    status = status ? status : gguf_writer_write(job->w, job->out_path, err);
    return status;
}

int actrm_hf_convert(const char *hf_dir, const char *out_path, const char *out_type,
                     char *errbuf, size_t errbuf_size)
{
    actrm_error err = {0};
    int status;
    char config_path[4096];
    if (!hf_dir || !out_path) {
        status = actrm_error_set(&err, ACTRM_ERR_ARG, "actrm_hf_convert: hf_dir and out_path are required");
    } else {
        snprintf(config_path, sizeof config_path, "%s/config.json", hf_dir);
        convert_job job = {.hf_dir = hf_dir, .out_path = out_path, .out_type = out_type};
        job.config.path = config_path;
        status = run_conversion(&job, &err);
        gguf_writer_free(job.w);
        st_close(job.st);
        free(job.plan.v);
    }
    if (errbuf && errbuf_size)
        snprintf(errbuf, errbuf_size, "%s", status ? err.msg : "");
    return status;
}
