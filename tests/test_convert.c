/*
 * actrm_hf_convert and the safetensors reader, on the fixture models.
 *
 * Every converted tensor is compared with the safetensors source as read by
 * a small independent reader below (cJSON on the raw header, its own
 * fp16/bf16/Q8_0 decoding), the llama Q/K permutation and the llama3
 * rope_freqs are recomputed here from their definitions, and the metadata is
 * checked against config.json.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actrm.h"
#include "fixtures.h"
#include "gguf.h"
#include "safetensors.h"

#define MODELS FIXTURES_DIR "/models"

/* ------------------------------------------------------ file utilities -- */

/* A fresh scratch directory for this test process. */
static void scratch_dir(char *out, size_t cap, const char *tag)
{
    mkdir("/tmp/actrm-test-convert", 0755);
    snprintf(out, cap, "/tmp/actrm-test-convert/%d-%s", (int)getpid(), tag);
    mkdir(out, 0755);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

/* --------------------------------------------- independent HF reference -- */

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m + 1024), e - 25);
    return h & 0x8000 ? -v : v;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct ref_tensor {
    char dtype[8];
    int n_dims;
    uint64_t shape[4];
    const uint8_t *data;
} ref_tensor;

/* The raw files and parsed headers of one HF directory (1 or 2 shards). */
typedef struct ref_model {
    char dir[512];
    cJSON *config;
    int n_files;
    char files[4][256];
    char *bytes[4];
    cJSON *header[4];
    const uint8_t *data[4];
} ref_model;

static void ref_add_file(ref_model *m, const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", m->dir, file);
    for (int i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i], file) == 0)
            return;
    int i = m->n_files++;
    cr_assert(i < 4);
    snprintf(m->files[i], sizeof m->files[i], "%s", file);
    m->bytes[i] = fixture_read_file(path, NULL);
    uint64_t hlen = 0;
    memcpy(&hlen, m->bytes[i], 8); /* little-endian host */
    m->header[i] = cJSON_ParseWithLength(m->bytes[i] + 8, hlen);
    cr_assert(m->header[i]);
    m->data[i] = (const uint8_t *)m->bytes[i] + 8 + hlen;
}

static void ref_load(ref_model *m, const char *name)
{
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, MODELS "/%s", name);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    m->config = fixture_read_json(path);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", m->dir);
    if (!fixture_file_exists(path)) {
        ref_add_file(m, "model.safetensors");
        return;
    }
    cJSON *index = fixture_read_json(path);
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(index, "weight_map"))
        ref_add_file(m, e->valuestring);
    cJSON_Delete(index);
}

static void ref_free(ref_model *m)
{
    cJSON_Delete(m->config);
    for (int i = 0; i < m->n_files; i++) {
        cJSON_Delete(m->header[i]);
        free(m->bytes[i]);
    }
}

/* Visits every tensor of the model. */
typedef void (*ref_visit_fn)(const char *name, const ref_tensor *t, void *ctx);

static void ref_fill(ref_tensor *t, const cJSON *entry, const uint8_t *data)
{
    snprintf(t->dtype, sizeof t->dtype, "%s", cJSON_GetObjectItemCaseSensitive(entry, "dtype")->valuestring);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    t->n_dims = cJSON_GetArraySize(shape);
    for (int d = 0; d < t->n_dims; d++)
        t->shape[d] = (uint64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    t->data = data + (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
}

static int ref_each(const ref_model *m, ref_visit_fn fn, void *ctx)
{
    int n = 0;
    for (int i = 0; i < m->n_files; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, m->header[i])
        {
            if (e->string[0] == '_')
                continue; /* __metadata__ */
            ref_tensor t;
            ref_fill(&t, e, m->data[i]);
            fn(e->string, &t, ctx);
            n++;
        }
    }
    return n;
}

static float ref_value(const ref_tensor *t, uint64_t i)
{
    if (strcmp(t->dtype, "F32") == 0) {
        float f;
        memcpy(&f, t->data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, t->data + 2 * i, 2);
    return strcmp(t->dtype, "BF16") == 0 ? bf16_to_float(h) : half_to_float(h);
}

static int ref_elem_size(const ref_tensor *t)
{
    return strcmp(t->dtype, "F32") == 0 ? 4 : 2;
}

static int cfg_int(const ref_model *m, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->config, key);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static double cfg_num(const ref_model *m, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->config, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int cfg_head_dim(const ref_model *m)
{
    return cfg_int(m, "head_dim", cfg_int(m, "hidden_size", 0) / cfg_int(m, "num_attention_heads", 1));
}

/* ------------------------------------------------- expected GGUF layout -- */

static const char *const layer_names[][2] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

static void gguf_name_of(const char *hf, char *out, size_t cap)
{
    int layer, used = 0;
    out[0] = 0;
    if (strcmp(hf, "model.embed_tokens.weight") == 0)
        snprintf(out, cap, "token_embd.weight");
    else if (strcmp(hf, "model.norm.weight") == 0)
        snprintf(out, cap, "output_norm.weight");
    else if (strcmp(hf, "lm_head.weight") == 0)
        snprintf(out, cap, "output.weight");
    else if (sscanf(hf, "model.layers.%d.%n", &layer, &used) == 1 && used)
        for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++)
            if (strcmp(hf + used, layer_names[i][0]) == 0)
                snprintf(out, cap, "blk.%d.%s", layer, layer_names[i][1]);
    cr_assert(out[0], "no GGUF name known for %s", hf);
}

/* --------------------------------------------------- GGUF value decoding -- */

static float gguf_value(const gguf_tensor *t, uint64_t row, uint64_t col)
{
    const uint8_t *r = (const uint8_t *)t->data + row * ggml_row_size(t->type, t->ne[0]);
    uint16_t h;
    switch (t->type) {
    case GGML_TYPE_F32: {
        float f;
        memcpy(&f, r + 4 * col, 4);
        return f;
    }
    case GGML_TYPE_F16:
        memcpy(&h, r + 2 * col, 2);
        return half_to_float(h);
    case GGML_TYPE_BF16:
        memcpy(&h, r + 2 * col, 2);
        return bf16_to_float(h);
    default: {
        const uint8_t *block = r + (col / 32) * 34; /* fp16 d, then 32 int8 */
        memcpy(&h, block, 2);
        return half_to_float(h) * (float)(int8_t)block[2 + col % 32];
    }
    }
}

/* ------------------------------------------------------- tensor checking -- */

typedef struct check_ctx {
    const actrm_gguf *g;
    int want_type;      /* ggml type of 2-D weights */
    int llama;          /* q/k rows are permuted */
    int n_head, n_head_kv, head_dim;
    int tied;
    int n_checked;
} check_ctx;

/* GGUF row for HF row s of a tensor with n_heads heads of hd rows each:
 * HF pairs (i, i + hd/2) of a head become neighbours (2i, 2i+1). */
static uint64_t permuted_row(uint64_t s, int hd)
{
    uint64_t head = s / (uint64_t)hd, within = s % (uint64_t)hd, half = (uint64_t)hd / 2;
    uint64_t second = within >= half;
    return head * (uint64_t)hd + 2 * (within - second * half) + second;
}

static int is_permuted(const check_ctx *c, const char *gguf_name)
{
    return c->llama && (strstr(gguf_name, ".attn_q.weight") || strstr(gguf_name, ".attn_k.weight"));
}

/* Per-element bound for a lossy conversion of x (Q8_0 handled per block). */
static float lossy_bound(int type, float x)
{
    float ax = fabsf(x);
    if (type == GGML_TYPE_F16)
        return fmaxf(ax * 0x1p-11f, 0x1p-25f);
    if (type == GGML_TYPE_BF16)
        return ax * 0x1p-8f;
    return 0.0f;
}

static int same_type(const ref_tensor *t, int type)
{
    return (type == GGML_TYPE_F32 && strcmp(t->dtype, "F32") == 0) ||
           (type == GGML_TYPE_F16 && strcmp(t->dtype, "F16") == 0) ||
           (type == GGML_TYPE_BF16 && strcmp(t->dtype, "BF16") == 0);
}

/* Q8_0 rows: the block scale is max|x|/127 (to fp16 precision) and every
 * value is within half a step (plus the fp16 rounding of the scale). */
static void check_q8_row(const gguf_tensor *t, uint64_t row, const ref_tensor *src, uint64_t src_row, const char *name)
{
    uint64_t cols = t->ne[0];
    for (uint64_t b = 0; b < cols / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(ref_value(src, src_row * cols + b * 32 + j)));
        const uint8_t *block = (const uint8_t *)t->data + row * ggml_row_size(t->type, cols) + b * 34;
        uint16_t h;
        memcpy(&h, block, 2);
        float d = amax / 127.0f;
        cr_assert_float_eq(half_to_float(h), d, d * 0x1p-10f + 1e-30f, "%s row %llu block %llu: scale", name,
                           (unsigned long long)row, (unsigned long long)b);
        for (int j = 0; j < 32; j++) {
            float x = ref_value(src, src_row * cols + b * 32 + j);
            float y = gguf_value(t, row, b * 32 + (uint64_t)j);
            cr_assert(fabsf(x - y) <= d * 0.57f + 1e-30f, "%s[%llu][%llu]: %g vs %g (step %g)", name,
                      (unsigned long long)row, (unsigned long long)(b * 32 + j), x, y, d);
        }
    }
}

static void check_values(const gguf_tensor *t, const ref_tensor *src, const check_ctx *c, const char *name)
{
    uint64_t rows = src->n_dims == 2 ? src->shape[0] : 1, cols = t->ne[0];
    int hd = c->head_dim;
    for (uint64_t s = 0; s < rows; s++) {
        uint64_t r = is_permuted(c, name) ? permuted_row(s, hd) : s;
        if (same_type(src, t->type)) {
            size_t bytes = (size_t)cols * (size_t)ref_elem_size(src);
            cr_assert(memcmp((const uint8_t *)t->data + r * bytes, src->data + s * bytes, bytes) == 0,
                      "%s: row %llu differs from source row %llu", name, (unsigned long long)r,
                      (unsigned long long)s);
        } else if (t->type == GGML_TYPE_Q8_0) {
            check_q8_row(t, r, src, s, name);
        } else {
            for (uint64_t i = 0; i < cols; i++) {
                float x = ref_value(src, s * cols + i), y = gguf_value(t, r, i);
                cr_assert(fabsf(x - y) <= lossy_bound(t->type, x), "%s[%llu][%llu]: %.9g vs %.9g", name,
                          (unsigned long long)s, (unsigned long long)i, x, y);
            }
        }
    }
}

static int expected_type(const ref_tensor *src, int want)
{
    if (src->n_dims == 1)
        return GGML_TYPE_F32;
    if (want == GGML_TYPE_Q8_0 && src->shape[1] % 32)
        return GGML_TYPE_F16;
    return want;
}

static void check_one_tensor(const char *hf, const ref_tensor *src, void *ctx)
{
    check_ctx *c = ctx;
    char name[96];
    gguf_name_of(hf, name, sizeof name);
    const gguf_tensor *t = gguf_find_tensor(c->g, name);
    if (c->tied && strcmp(name, "output.weight") == 0) {
        cr_assert_null(t, "output.weight written although embeddings are tied");
        return;
    }
    cr_assert(t, "tensor %s (from %s) missing", name, hf);
    cr_assert_eq(t->n_dims, src->n_dims, "%s: n_dims", name);
    for (int d = 0; d < src->n_dims; d++)
        cr_assert_eq(t->ne[d], src->shape[src->n_dims - 1 - d], "%s: ne[%d]", name, d);
    cr_assert_eq(t->type, expected_type(src, c->want_type), "%s: type %s", name, ggml_type_name(t->type));
    check_values(t, src, c, name);
    c->n_checked++;
}

/* ------------------------------------------------------ metadata checks -- */

static uint32_t get_u32(const actrm_gguf *g, const char *arch, const char *key)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s%s", arch ? arch : "", arch ? "." : "", key);
    uint32_t v = 0;
    actrm_error err = {0};
    cr_assert_eq(gguf_get_u32(g, full, &v, &err), ACTRM_OK, "%s", err.msg);
    return v;
}

static float get_f32(const actrm_gguf *g, const char *arch, const char *key)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    float v = 0;
    actrm_error err = {0};
    cr_assert_eq(gguf_get_f32(g, full, &v, &err), ACTRM_OK, "%s", err.msg);
    return v;
}

static void check_metadata(const actrm_gguf *g, const ref_model *m, const char *arch, uint32_t file_type)
{
    actrm_error err = {0};
    gguf_str s;
    cr_assert_eq(gguf_get_str(g, "general.architecture", &s, &err), ACTRM_OK, "%s", err.msg);
    cr_assert(s.len == strlen(arch) && memcmp(s.ptr, arch, s.len) == 0, "architecture %.*s, expected %s",
              (int)s.len, s.ptr, arch);
    cr_assert_eq(gguf_get_str(g, "general.name", &s, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_gt(s.len, 0);
    cr_assert_eq(get_u32(g, NULL, "general.file_type"), file_type);
    int heads = cfg_int(m, "num_attention_heads", 0), hd = cfg_head_dim(m);
    cr_assert_eq(get_u32(g, arch, "block_count"), (uint32_t)cfg_int(m, "num_hidden_layers", 0));
    cr_assert_eq(get_u32(g, arch, "embedding_length"), (uint32_t)cfg_int(m, "hidden_size", 0));
    cr_assert_eq(get_u32(g, arch, "feed_forward_length"), (uint32_t)cfg_int(m, "intermediate_size", 0));
    cr_assert_eq(get_u32(g, arch, "context_length"), (uint32_t)cfg_int(m, "max_position_embeddings", 0));
    cr_assert_eq(get_u32(g, arch, "vocab_size"), (uint32_t)cfg_int(m, "vocab_size", 0));
    cr_assert_eq(get_u32(g, arch, "attention.head_count"), (uint32_t)heads);
    cr_assert_eq(get_u32(g, arch, "attention.head_count_kv"), (uint32_t)cfg_int(m, "num_key_value_heads", heads));
    cr_assert_eq(get_u32(g, arch, "attention.key_length"), (uint32_t)hd);
    cr_assert_eq(get_u32(g, arch, "attention.value_length"), (uint32_t)hd);
    cr_assert_eq(get_u32(g, arch, "rope.dimension_count"), (uint32_t)hd);
    cr_assert_eq(get_f32(g, arch, "attention.layer_norm_rms_epsilon"), (float)cfg_num(m, "rms_norm_eps", -1));
    cr_assert_eq(get_f32(g, arch, "rope.freq_base"), (float)cfg_num(m, "rope_theta", 10000.0));
}

/* llama3 rope scaling, in transformers' formulation: the scaled inverse
 * frequency per pair; the stored value is the divisor inv_freq / scaled. */
static void check_rope_freqs(const actrm_gguf *g, const ref_model *m)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(m->config, "rope_scaling");
    const gguf_tensor *t = gguf_find_tensor(g, "rope_freqs.weight");
    if (!cJSON_IsObject(rs)) {
        cr_assert_null(t, "rope_freqs.weight written without llama3 rope scaling");
        return;
    }
    double factor = cJSON_GetObjectItem(rs, "factor")->valuedouble;
    double lo = cJSON_GetObjectItem(rs, "low_freq_factor")->valuedouble;
    double hi = cJSON_GetObjectItem(rs, "high_freq_factor")->valuedouble;
    double old_ctx = cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valuedouble;
    double theta = cfg_num(m, "rope_theta", 10000.0);
    int hd = cfg_head_dim(m);
    cr_assert(t, "rope_freqs.weight missing");
    cr_assert_eq(t->type, GGML_TYPE_F32);
    cr_assert_eq(t->n_dims, 1);
    cr_assert_eq(t->ne[0], (uint64_t)hd / 2);
    int regimes[3] = {0, 0, 0};
    for (int i = 0; i < hd / 2; i++) {
        double inv_freq = pow(theta, -2.0 * i / hd), wavelen = 2 * M_PI / inv_freq, scaled = inv_freq;
        if (wavelen > old_ctx / lo) {
            scaled = inv_freq / factor;
            regimes[2]++;
        } else if (wavelen >= old_ctx / hi) {
            double smooth = (old_ctx / wavelen - lo) / (hi - lo);
            scaled = (1 - smooth) * inv_freq / factor + smooth * inv_freq;
            regimes[1]++;
        } else {
            regimes[0]++;
        }
        float got = ((const float *)t->data)[i];
        cr_assert_float_eq(got, inv_freq / scaled, 1e-5 * inv_freq / scaled, "rope_freqs[%d] = %g", i, got);
    }
    cr_assert(regimes[0] && regimes[1] && regimes[2], "the fixture should exercise all three regimes");
}


/* ------------------------------------------------------ variant models -- */

/* Fills dir with symlinks to every file of a fixture model and returns its
 * config.json parsed, for the test to edit and write back. */
static cJSON *variant_dir(const char *dir, const char *model)
{
    char src_dir[512], src[1024], dst[1024];
    snprintf(src_dir, sizeof src_dir, MODELS "/%s", model);
    char *abs_dir = realpath(src_dir, NULL);
    cr_assert(abs_dir);
    DIR *d = opendir(abs_dir);
    cr_assert(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "golden") == 0)
            continue;
        snprintf(src, sizeof src, "%s/%s", abs_dir, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        cr_assert_eq(symlink(src, dst), 0, "symlink %s", dst);
    }
    closedir(d);
    snprintf(src, sizeof src, "%s/config.json", abs_dir);
    free(abs_dir);
    return fixture_read_json(src);
}

/* Replaces dir/name (a symlink) with a file. */
static void replace_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    fixture_write_file(path, data, len);
}

static void write_config(const char *dir, cJSON *cfg)
{
    char *text = cJSON_Print(cfg);
    replace_file(dir, "config.json", text, strlen(text));
    free(text);
    cJSON_Delete(cfg);
}

/* The header of a fixture's model.safetensors, and its data section. */
typedef struct st_copy {
    char *bytes;
    size_t len;
    cJSON *header;
    const char *data;
    size_t data_len;
} st_copy;

static void st_copy_load(st_copy *c, const char *model)
{
    char path[512];
    snprintf(path, sizeof path, MODELS "/%s/model.safetensors", model);
    c->bytes = fixture_read_file(path, &c->len);
    uint64_t hlen;
    memcpy(&hlen, c->bytes, 8);
    c->header = cJSON_ParseWithLength(c->bytes + 8, hlen);
    cr_assert(c->header);
    c->data = c->bytes + 8 + hlen;
    c->data_len = c->len - 8 - hlen;
}

/* Writes header_text (as given) and the original data to dir/model.safetensors. */
static void st_copy_write_raw(const char *dir, const st_copy *c, const char *header_text)
{
    uint64_t hlen = strlen(header_text);
    size_t len = 8 + hlen + c->data_len;
    char *out = malloc(len);
    cr_assert(out);
    memcpy(out, &hlen, 8);
    memcpy(out + 8, header_text, hlen);
    memcpy(out + 8 + hlen, c->data, c->data_len);
    replace_file(dir, "model.safetensors", out, len);
    free(out);
}

static void st_copy_write(const char *dir, st_copy *c)
{
    char *text = cJSON_PrintUnformatted(c->header);
    st_copy_write_raw(dir, c, text);
    free(text);
    cJSON_Delete(c->header);
    free(c->bytes);
}

/* A scratch copy of fixture `model` (its files linked) whose config.json
 * the test edits and writes back with write_config. */
static cJSON *config_variant(char *dir, size_t cap, const char *tag, const char *model)
{
    scratch_dir(dir, cap, tag);
    return variant_dir(dir, model);
}

/* A scratch copy of fixture `model` whose safetensors header c the test
 * edits and writes back with st_copy_write. */
static void st_variant(char *dir, size_t cap, const char *tag, const char *model, st_copy *c)
{
    scratch_dir(dir, cap, tag);
    cJSON_Delete(variant_dir(dir, model));
    st_copy_load(c, model);
}

/* Converts dir and expects status, a message containing every needle, and
 * no output file (nor its temporary). */
static void expect_failure(const char *dir, const char *type, int status, const char *const *needles)
{
    char out[512], tmp[520], errbuf[1024];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    int rc = actrm_hf_convert(dir, out, type, errbuf, sizeof errbuf);
    cr_assert_eq(rc, status, "status %s (%s), expected %s", actrm_status_string(rc), errbuf,
                 actrm_status_string(status));
    for (; *needles; needles++)
        cr_assert(strstr(errbuf, *needles), "message '%s' does not name '%s'", errbuf, *needles);
    cr_assert(!fixture_file_exists(out) && !fixture_file_exists(tmp), "a failed conversion left a file");
    remove_dir(dir);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ----------------------------------------------------------- error tests -- */

Test(convert_errors, unsupported_architecture)
{
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "arch", "llama3-tiny");
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cfg, "architectures"), 0, cJSON_CreateString("GPT2LMHeadModel"));
    write_config(dir, cfg);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("config.json", "architectures", "GPT2LMHeadModel"));
}

Test(convert_errors, missing_config_field)
{
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "field", "qwen2-tiny");
    cJSON_DeleteItemFromObject(cfg, "num_attention_heads");
    write_config(dir, cfg);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("config.json", "num_attention_heads"));
}

Test(convert_errors, unsupported_rope_scaling)
{
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "rope", "llama3-tiny");
    cJSON *rs = cJSON_GetObjectItem(cfg, "rope_scaling");
    cJSON_ReplaceItemInObject(rs, "rope_type", cJSON_CreateString("yarn"));
    write_config(dir, cfg);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("config.json", "rope_scaling", "yarn"));
}

Test(convert_errors, sliding_window_in_use)
{
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "swa", "spm-tiny");
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cfg, "architectures"), 0, cJSON_CreateString("MistralForCausalLM"));
    cJSON_AddNumberToObject(cfg, "sliding_window", 4096);
    write_config(dir, cfg);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("config.json", "sliding_window"));
}

Test(convert_errors, head_dim_not_matching_tensors)
{
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "hd", "qwen3-tiny"); /* sharded: the index and both shards are linked */
    cJSON_ReplaceItemInObject(cfg, "head_dim", cJSON_CreateNumber(64));
    write_config(dir, cfg);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("config.json", "head_dim", "model.layers.0.self_attn."));
}

Test(convert_errors, missing_tensor)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "missing", "llama3-tiny", &c);
    cJSON_DeleteItemFromObject(c.header, "model.layers.1.mlp.up_proj.weight");
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.layers.1.mlp.up_proj.weight"));
}

Test(convert_errors, tied_embeddings_without_embeddings)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "noembd", "llama3-tiny", &c);
    cJSON_DeleteItemFromObject(c.header, "model.embed_tokens.weight");
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.embed_tokens.weight"));
}

/* Adds a header entry named name that aliases the bytes of existing. */
static void add_alias(st_copy *c, const char *name, const char *existing)
{
    cJSON_AddItemToObject(c->header, name, cJSON_Duplicate(cJSON_GetObjectItem(c->header, existing), 1));
}

Test(convert_errors, unknown_tensor)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "unknown", "llama3-tiny", &c);
    add_alias(&c, "model.layers.0.mlp.extra_proj.weight", "model.layers.0.mlp.up_proj.weight");
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("model.layers.0.mlp.extra_proj.weight"));
}

Test(convert_errors, layer_beyond_config_is_unknown)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "layer2", "llama3-tiny", &c);
    add_alias(&c, "model.layers.2.input_layernorm.weight", "model.layers.1.input_layernorm.weight");
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("model.layers.2.input_layernorm.weight"));
}

Test(convert_errors, bad_header_length)
{
    char dir[256];
    scratch_dir(dir, sizeof dir, "hlen");
    cJSON_Delete(variant_dir(dir, "spm-tiny"));
    char bytes[16] = {0};
    uint64_t hlen = 1000000;
    memcpy(bytes, &hlen, 8);
    memcpy(bytes + 8, "{}", 2);
    replace_file(dir, "model.safetensors", bytes, 10);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.safetensors", "header length"));
}

Test(convert_errors, header_not_json)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "json", "spm-tiny", &c);
    st_copy_write_raw(dir, &c, "{\"model.norm.weight\": {\"dtype\": \"F32\",");
    cJSON_Delete(c.header);
    free(c.bytes);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.safetensors", "JSON"));
}

Test(convert_errors, unsupported_dtype_names_tensor)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "dtype", "llama3-tiny", &c);
    cJSON *t = cJSON_GetObjectItem(c.header, "model.norm.weight");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I8"));
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_UNSUPPORTED, NEEDLES("model.safetensors", "model.norm.weight", "I8"));
}

Test(convert_errors, shape_not_matching_byte_length)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "shape", "llama3-tiny", &c);
    cJSON *t = cJSON_GetObjectItem(c.header, "model.layers.0.self_attn.k_proj.weight");
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(t, "shape"), 0, cJSON_CreateNumber(33));
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.safetensors", "model.layers.0.self_attn.k_proj.weight"));
}

Test(convert_errors, offsets_past_the_end)
{
    char dir[256];
    st_copy c;
    st_variant(dir, sizeof dir, "offsets", "llama3-tiny", &c);
    cJSON *t = cJSON_GetObjectItem(c.header, "model.norm.weight");
    cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
    double end = (double)c.data_len + 128;
    cJSON_ReplaceItemInArray(off, 0, cJSON_CreateNumber(end - 128));
    cJSON_ReplaceItemInArray(off, 1, cJSON_CreateNumber(end));
    st_copy_write(dir, &c);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.safetensors", "model.norm.weight"));
}

Test(convert_errors, index_names_the_wrong_shard)
{
    char dir[256], path[512];
    scratch_dir(dir, sizeof dir, "index");
    cJSON_Delete(variant_dir(dir, "qwen3-tiny"));
    snprintf(path, sizeof path, MODELS "/qwen3-tiny/model.safetensors.index.json");
    cJSON *index = fixture_read_json(path);
    cJSON *map = cJSON_GetObjectItem(index, "weight_map");
    cJSON_ReplaceItemInObject(map, "model.norm.weight", cJSON_CreateString("model-00001-of-00002.safetensors"));
    char *text = cJSON_Print(index);
    replace_file(dir, "model.safetensors.index.json", text, strlen(text));
    free(text);
    cJSON_Delete(index);
    expect_failure(dir, NULL, ACTRM_ERR_FORMAT, NEEDLES("model.safetensors.index.json", "model.norm.weight"));
}

Test(convert_errors, output_dir_missing_and_bad_type)
{
    char errbuf[1024];
    int rc = actrm_hf_convert(MODELS "/spm-tiny", "/tmp/actrm-test-convert/no/such/dir/out.gguf", NULL,
                              errbuf, sizeof errbuf);
    cr_assert_eq(rc, ACTRM_ERR_IO, "%s", errbuf);
    cr_assert(strstr(errbuf, "/tmp/actrm-test-convert/no/such/dir"), "%s", errbuf);
    char dir[256];
    scratch_dir(dir, sizeof dir, "type");
    cJSON_Delete(variant_dir(dir, "spm-tiny"));
    expect_failure(dir, "q4_0", ACTRM_ERR_ARG, NEEDLES("q4_0"));
}

Test(convert, inv_freq_buffers_are_skipped)
{
    char dir[256], out[512], errbuf[1024];
    st_copy c;
    st_variant(dir, sizeof dir, "invfreq", "llama3-tiny", &c);
    /* 8 floats (hd/2) aliasing the first 32 bytes of the data: any valid bytes do. */
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", "F32");
    cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray((const int[]){8}, 1));
    cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateIntArray((const int[]){0, 32}, 2));
    cJSON_AddItemToObject(c.header, "model.layers.0.self_attn.rotary_emb.inv_freq", e);
    st_copy_write(dir, &c);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    cr_assert_eq(actrm_hf_convert(dir, out, NULL, errbuf, sizeof errbuf), ACTRM_OK, "%s", errbuf);
    remove_dir(dir);
}

/* ---------------------------------------------------- safetensors reader -- */

typedef struct st_check_ctx {
    const st_model *st;
    int n;
} st_check_ctx;

static void check_st_tensor(const char *name, const ref_tensor *ref, void *ctx)
{
    st_check_ctx *c = ctx;
    const st_tensor *t = st_find(c->st, name);
    cr_assert(t, "%s not found", name);
    cr_assert_str_eq(t->name, name);
    cr_assert_eq(t->n_dims, ref->n_dims, "%s", name);
    uint64_t n = 1;
    for (int d = 0; d < ref->n_dims; d++) {
        cr_assert_eq(t->shape[d], ref->shape[d], "%s: shape[%d]", name, d);
        n *= ref->shape[d];
    }
    cr_assert_eq(t->nbytes, n * (uint64_t)ref_elem_size(ref));
    int type = strcmp(ref->dtype, "F32") == 0 ? GGML_TYPE_F32 : strcmp(ref->dtype, "F16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_BF16;
    cr_assert_eq(t->type, type, "%s: type", name);
    cr_assert(memcmp(t->data, ref->data, (size_t)t->nbytes) == 0, "%s: data differ", name);
    c->n++;
}

Test(safetensors, reads_single_and_sharded_models)
{
    const char *models[] = {"llama3-tiny", "qwen3-tiny", "spm-tiny"};
    for (size_t i = 0; i < 3; i++) {
        ref_model m;
        ref_load(&m, models[i]);
        st_model *st;
        actrm_error err = {0};
        cr_assert_eq(st_open_dir(&st, m.dir, &err), ACTRM_OK, "%s", err.msg);
        st_check_ctx c = {.st = st};
        int n = ref_each(&m, check_st_tensor, &c);
        cr_assert_eq(st_n_tensors(st), (size_t)n);
        cr_assert_null(st_find(st, "model.layers.9.mlp.up_proj.weight"));
        st_close(st);
        ref_free(&m);
    }
}

Test(safetensors, missing_file_is_io_error)
{
    st_model *st;
    actrm_error err = {0};
    cr_assert_eq(st_open_dir(&st, "/tmp/actrm-test-convert/none", &err), ACTRM_ERR_IO);
    cr_assert_null(st);
    cr_assert(strstr(err.msg, "model.safetensors"), "%s", err.msg);
    cr_assert_eq(st_open_file(&st, "/tmp/actrm-test-convert/none.safetensors", &err), ACTRM_ERR_IO);
    cr_assert(strstr(err.msg, "none.safetensors"), "%s", err.msg);
}

/* ------------------------------------------------------ conversion tests -- */

static const char *arch_of(const ref_model *m)
{
    const char *hf = cJSON_GetArrayItem(cJSON_GetObjectItem(m->config, "architectures"), 0)->valuestring;
    return strcmp(hf, "Qwen2ForCausalLM") == 0 ? "qwen2" : strcmp(hf, "Qwen3ForCausalLM") == 0 ? "qwen3" : "llama";
}

static int source_type(const ref_model *m)
{
    const char *dt = cJSON_GetObjectItem(m->config, "torch_dtype")->valuestring;
    return strcmp(dt, "bfloat16") == 0 ? GGML_TYPE_BF16 : strcmp(dt, "float16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_F32;
}

static uint32_t file_type_of(int type)
{
    return type == GGML_TYPE_F16 ? 1 : type == GGML_TYPE_Q8_0 ? 7 : type == GGML_TYPE_BF16 ? 32 : 0;
}

/* Converts model to type_name (NULL: source dtype) and checks everything. */
static void convert_and_check(const char *model, const char *type_name)
{
    ref_model m;
    ref_load(&m, model);
    char dir[256], out[512], errbuf[1024];
    scratch_dir(dir, sizeof dir, model);
    snprintf(out, sizeof out, "%s/%s.gguf", dir, type_name ? type_name : "default");
    int rc = actrm_hf_convert(m.dir, out, type_name, errbuf, sizeof errbuf);
    cr_assert_eq(rc, ACTRM_OK, "convert %s %s: %s", model, type_name ? type_name : "", errbuf);

    actrm_gguf *g;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&g, out, &err), ACTRM_OK, "%s", err.msg);
    int want = type_name ? ggml_type_from_name(type_name) : source_type(&m);
    const char *arch = arch_of(&m);
    check_metadata(g, &m, arch, file_type_of(want));
    check_ctx c = {
        .g = g, .want_type = want, .llama = strcmp(arch, "llama") == 0,
        .n_head = cfg_int(&m, "num_attention_heads", 0), .head_dim = cfg_head_dim(&m),
        .tied = cJSON_IsTrue(cJSON_GetObjectItem(m.config, "tie_word_embeddings")),
    };
    c.n_head_kv = cfg_int(&m, "num_key_value_heads", c.n_head);
    int n_src = ref_each(&m, check_one_tensor, &c);
    check_rope_freqs(g, &m);
    /* Nothing else: every GGUF tensor is a source tensor or rope_freqs. */
    int has_rope = gguf_find_tensor(g, "rope_freqs.weight") != NULL;
    cr_assert_eq(c.n_checked, n_src);
    cr_assert_eq(gguf_n_tensors(g), (uint64_t)(c.n_checked + has_rope));
    cr_assert_eq(gguf_find_tensor(g, "output.weight") != NULL, !c.tied);
    gguf_close(g);
    ref_free(&m);
    remove_dir(dir);
}

Test(convert, llama3_tiny_f32) { convert_and_check("llama3-tiny", "f32"); }
Test(convert, llama3_tiny_source_bf16) { convert_and_check("llama3-tiny", NULL); }
Test(convert, llama3_tiny_q8_0) { convert_and_check("llama3-tiny", "q8_0"); }
Test(convert, qwen2_tiny_f32) { convert_and_check("qwen2-tiny", "f32"); }
Test(convert, qwen2_tiny_source_bf16) { convert_and_check("qwen2-tiny", NULL); }
Test(convert, qwen2_tiny_q8_0) { convert_and_check("qwen2-tiny", "q8_0"); }
Test(convert, qwen3_tiny_sharded_f32) { convert_and_check("qwen3-tiny", "f32"); }
Test(convert, qwen3_tiny_sharded_source_f16) { convert_and_check("qwen3-tiny", NULL); }
Test(convert, qwen3_tiny_sharded_q8_0) { convert_and_check("qwen3-tiny", "q8_0"); }
Test(convert, spm_tiny_source_f32) { convert_and_check("spm-tiny", NULL); }
Test(convert, spm_tiny_f16) { convert_and_check("spm-tiny", "f16"); }
Test(convert, spm_tiny_bf16) { convert_and_check("spm-tiny", "bf16"); }
Test(convert, spm_tiny_q8_0) { convert_and_check("spm-tiny", "q8_0"); }

Test(convert, mistral_without_sliding_window_is_llama)
{
    /* MistralForCausalLM with sliding_window null converts like llama. */
    char dir[256];
    cJSON *cfg = config_variant(dir, sizeof dir, "mistral", "spm-tiny");
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cfg, "architectures"), 0, cJSON_CreateString("MistralForCausalLM"));
    cJSON_AddNullToObject(cfg, "sliding_window");
    write_config(dir, cfg);
    char out[512], errbuf[1024];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    cr_assert_eq(actrm_hf_convert(dir, out, NULL, errbuf, sizeof errbuf), ACTRM_OK, "%s", errbuf);
    actrm_gguf *g;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&g, out, &err), ACTRM_OK, "%s", err.msg);
    gguf_str s;
    cr_assert_eq(gguf_get_str(g, "general.architecture", &s, &err), ACTRM_OK);
    cr_assert(s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    gguf_close(g);
    remove_dir(dir);
}
