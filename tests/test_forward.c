/*
 * Forward pass, open activations and sessions, against the goldens of the
 * four fixture models (computed in float64 by an independent implementation
 * from the Hugging Face weights), plus determinism, KV-cache consistency,
 * argument checks, loader errors on crafted files, and the `actrm forward`
 * CLI.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actrm.h"
#include "fixtures.h"
#include "forward.h"
#include "gguf.h"
#include "npy.h"

#define TOL 1e-4      /* max|err| <= TOL * max|ref| against the goldens */
#define N_PROMPTS 3
#define SUBSET 256    /* vocab_subset.npy entries */
#define N_CTX 512     /* longer than every fixture prompt */

/* -------------------------------------------------------------- helpers -- */

static actrm_model *open_model(const char *name, const char *type)
{
    char path[512];
    fixture_model_gguf(path, sizeof path, name, type);
    actrm_model *m = NULL;
    int rc = actrm_model_init(&m, path);
    cr_assert_eq(rc, ACTRM_OK, "%s: %s", path, actrm_model_errmsg(m));
    return m;
}

static actrm_session *open_session(const actrm_model *m, int n_ctx, int n_threads)
{
    actrm_session *s = NULL;
    int rc = actrm_session_init(&s, m, n_ctx, n_threads);
    cr_assert_eq(rc, ACTRM_OK, "session: %s", actrm_session_errmsg(s));
    return s;
}

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert(p);
    return p;
}

static void expect_close(const char *what, const float *ours, const float *ref, size_t n, double tol)
{
    double err, max_ref;
    fixture_max_err(ours, ref, n, &err, &max_ref);
    cr_expect(err <= tol * max_ref, "%s: max|err| %.3g > %.0e * max|ref| (%.3g)", what, err, tol, max_ref);
}

static void expect_golden(const char *model, const char *file, const float *ours, size_t n, const char *type)
{
    actrm_npy ref;
    fixture_golden_npy(model, file, ACTRM_NPY_F32, &ref);
    cr_assert_eq(ref.n, n, "%s/%s: %zu values, ours %zu", model, file, ref.n, n);
    char what[160];
    snprintf(what, sizeof what, "%s (%s) %s", model, type ? type : "src", file);
    expect_close(what, ours, ref.data, n, TOL);
    actrm_npy_free(&ref);
}

static void eval_ok(actrm_session *s, const int32_t *ids, int n, const actrm_eval_request *req)
{
    int rc = actrm_session_eval(s, ids, n, req);
    cr_assert_eq(rc, ACTRM_OK, "eval: %s", actrm_session_errmsg(s));
}

/* The golden patch of a model: heads from patch.json, vectors [n, hd]. */
typedef struct golden_patch {
    actrm_head_patch p[16];
    int n;
    actrm_npy vectors;
} golden_patch;

static void load_golden_patch(const char *model, int head_dim, golden_patch *gp)
{
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "models/%s/golden/patch.json", model);
    FILE *f = fopen(fixture_path(path, sizeof path, rel), "rb");
    cr_assert(f, "cannot open %s", path);
    char text[4096] = "";
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *heads = cJSON_GetObjectItemCaseSensitive(root, "heads");
    gp->n = cJSON_GetArraySize(heads);
    cr_assert(gp->n > 0 && gp->n <= 16, "%s: bad heads", path);
    fixture_golden_npy(model, "patch_vectors.npy", ACTRM_NPY_F32, &gp->vectors);
    cr_assert(gp->vectors.ndim == 2 && gp->vectors.shape[0] == gp->n && gp->vectors.shape[1] == head_dim);
    for (int i = 0; i < gp->n; i++) {
        const cJSON *pair = cJSON_GetArrayItem(heads, i);
        gp->p[i].layer = (int)cJSON_GetArrayItem(pair, 0)->valuedouble;
        gp->p[i].head = (int)cJSON_GetArrayItem(pair, 1)->valuedouble;
        gp->p[i].z = (const float *)gp->vectors.data + (size_t)i * head_dim;
    }
    cJSON_Delete(root);
}

/* Everything one eval of a whole prompt captures at its output positions:
 * every position (stride 1), or positions 0, stride, 2*stride, ... and T-1,
 * which keeps the LM head cheap on long prompts. */
typedef struct capture {
    int n_out;
    int *pos;      /* [n_out] positions, or NULL when every position is output */
    float *logits; /* [n_out, V] */
    float *heads;  /* [L, n_out, H, hd] */
    float *hidden; /* [L+1, n_out, D] */
} capture;

static capture capture_at(actrm_session *s, const actrm_model_info *in, const int32_t *ids, int T, int stride)
{
    capture c = {T, NULL, NULL, NULL, NULL};
    if (stride > 1) {
        c.pos = calloc((size_t)T, sizeof *c.pos);
        cr_assert(c.pos);
        c.n_out = 0;
        for (int t = 0; t < T; t += stride)
            c.pos[c.n_out++] = t;
        if (c.pos[c.n_out - 1] != T - 1)
            c.pos[c.n_out++] = T - 1;
    }
    c.logits = alloc_floats((size_t)c.n_out * in->n_vocab);
    c.heads = alloc_floats((size_t)in->n_layer * c.n_out * in->n_head * in->head_dim);
    c.hidden = alloc_floats((size_t)(in->n_layer + 1) * c.n_out * in->n_embd);
    actrm_eval_request req = {.out_pos = c.pos, .n_out = c.pos ? c.n_out : 0, .all_positions = 1,
                              .logits = c.logits, .heads = c.heads, .hidden = c.hidden};
    eval_ok(s, ids, T, &req);
    return c;
}

static capture capture_all(actrm_session *s, const actrm_model_info *in, const int32_t *ids, int T)
{
    return capture_at(s, in, ids, T, 1);
}

static int capture_pos(const capture *c, int i)
{
    return c->pos ? c->pos[i] : i;
}

static void capture_free(capture *c)
{
    free(c->pos);
    free(c->logits);
    free(c->heads);
    free(c->hidden);
}

/* heads[l, i, :, :] of output i for every l: [L, H*hd]. */
static float *heads_at(const capture *c, const actrm_model_info *in, int i)
{
    size_t w = (size_t)in->n_head * in->head_dim;
    float *out = alloc_floats((size_t)in->n_layer * w);
    for (int l = 0; l < in->n_layer; l++)
        memcpy(out + l * w, c->heads + ((size_t)l * c->n_out + i) * w, w * sizeof(float));
    return out;
}

/* ------------------------------------------------------ golden checks -- */

/* Rows of golden <file> ([T, w]) at the capture's output positions. */
static float *golden_rows(const char *model, const char *file, const capture *c, int T, int w)
{
    actrm_npy ref;
    fixture_golden_npy(model, file, ACTRM_NPY_F32, &ref);
    cr_assert_eq(ref.n, (size_t)T * w, "%s/%s: %zu values, expected [%d, %d]", model, file, ref.n, T, w);
    float *rows = alloc_floats((size_t)c->n_out * w);
    for (int i = 0; i < c->n_out; i++)
        memcpy(rows + (size_t)i * w, (const float *)ref.data + (size_t)capture_pos(c, i) * w, (size_t)w * sizeof(float));
    actrm_npy_free(&ref);
    return rows;
}

/* Prompts longer than 100 tokens are checked at every `long_stride`-th
 * position (and the last); shorter ones at every position. */
static void check_prompt(const char *model, const char *type, actrm_session *s, const actrm_model_info *in,
                         const actrm_npy *subset, int i, int long_stride)
{
    int T, V = in->n_vocab;
    int32_t *ids = fixture_prompt_ids(model, i, &T);
    cr_assert_eq(actrm_session_truncate(s, 0), ACTRM_OK);
    capture c = capture_at(s, in, ids, T, T > 100 ? long_stride : 1);
    int last = c.n_out - 1;
    char file[64], what[160];

    snprintf(file, sizeof file, "p%d_logits_last.npy", i);
    expect_golden(model, file, c.logits + (size_t)last * V, (size_t)V, type);

    float *sub = alloc_floats((size_t)c.n_out * SUBSET); /* [n_out, 256] */
    for (int o = 0; o < c.n_out; o++)
        for (int j = 0; j < SUBSET; j++)
            sub[o * SUBSET + j] = c.logits[(size_t)o * V + ((const int32_t *)subset->data)[j]];
    snprintf(file, sizeof file, "p%d_logits_subset.npy", i);
    float *ref_sub = golden_rows(model, file, &c, T, SUBSET);
    snprintf(what, sizeof what, "%s (%s) %s at %d positions", model, type ? type : "src", file, c.n_out);
    expect_close(what, sub, ref_sub, (size_t)c.n_out * SUBSET, TOL);

    float *z_last = heads_at(&c, in, last);
    snprintf(file, sizeof file, "p%d_z_last.npy", i);
    expect_golden(model, file, z_last, (size_t)in->n_layer * in->n_head * in->head_dim, type);

    if (i == 1) {
        cr_assert_null(c.pos, "prompt 1 must be checked at every position");
        expect_golden(model, "p1_z.npy", c.heads, (size_t)in->n_layer * T * in->n_head * in->head_dim, type);
        expect_golden(model, "p1_hidden.npy", c.hidden, (size_t)(in->n_layer + 1) * T * in->n_embd, type);
    }
    free(z_last);
    free(sub);
    free(ref_sub);
    capture_free(&c);
    free(ids);
}

static void check_patched(const char *model, const char *type, actrm_session *s, const actrm_model_info *in)
{
    golden_patch gp;
    load_golden_patch(model, in->head_dim, &gp);
    int T;
    int32_t *ids = fixture_prompt_ids(model, 1, &T);
    float *logits = alloc_floats((size_t)in->n_vocab);
    actrm_eval_request req = {.logits = logits, .patches = gp.p, .n_patches = gp.n, .patch_pos = T - 1};
    cr_assert_eq(actrm_session_truncate(s, 0), ACTRM_OK);
    eval_ok(s, ids, T, &req);
    expect_golden(model, "p1_patched_logits_last.npy", logits, (size_t)in->n_vocab, type);
    free(logits);
    free(ids);
    actrm_npy_free(&gp.vectors);
}

/* long_stride: see check_prompt. The source-dtype runs use a coarser one:
 * their math equals the f32 run's except for the weight decoding, and the
 * reference bf16/f16 kernels are slow. */
static void check_goldens(const char *model, const char *type, int long_stride)
{
    actrm_model *m = open_model(model, type);
    const actrm_model_info *in = actrm_model_get_info(m);
    actrm_session *s = open_session(m, N_CTX, 2);
    actrm_npy subset;
    fixture_golden_npy(model, "vocab_subset.npy", ACTRM_NPY_I32, &subset);
    cr_assert_eq(subset.n, SUBSET);
    for (int i = 0; i < N_PROMPTS; i++)
        check_prompt(model, type, s, in, &subset, i, long_stride);
    check_patched(model, type, s, in);
    actrm_npy_free(&subset);
    actrm_session_free(s);
    actrm_model_free(m);
}

Test(forward_golden, llama3_f32) { check_goldens("llama3-tiny", "f32", 1); }
Test(forward_golden, llama3_src_bf16) { check_goldens("llama3-tiny", NULL, 4); }
Test(forward_golden, qwen2_f32) { check_goldens("qwen2-tiny", "f32", 1); }
Test(forward_golden, qwen2_src_bf16) { check_goldens("qwen2-tiny", NULL, 4); }
Test(forward_golden, qwen3_f32) { check_goldens("qwen3-tiny", "f32", 1); }
Test(forward_golden, qwen3_src_f16) { check_goldens("qwen3-tiny", NULL, 4); }
Test(forward_golden, spm_f32) { check_goldens("spm-tiny", "f32", 1); }
Test(forward_golden, spm_src_f32) { check_goldens("spm-tiny", NULL, 4); }

/* ------------------------------------------------------------- q8_0 -- */

/* KL(p_ref || p_ours) of the softmax distributions of two logit vectors. */
static double kl_divergence(const float *ref, const float *ours, int n)
{
    double mr = -INFINITY, mo = -INFINITY, zr = 0, zo = 0, kl = 0;
    for (int i = 0; i < n; i++) {
        mr = fmax(mr, ref[i]);
        mo = fmax(mo, ours[i]);
    }
    for (int i = 0; i < n; i++) {
        zr += exp(ref[i] - mr);
        zo += exp(ours[i] - mo);
    }
    for (int i = 0; i < n; i++) {
        double lr = ref[i] - mr - log(zr), lo = ours[i] - mo - log(zo);
        kl += exp(lr) * (lr - lo);
    }
    return kl;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void check_q8_0(const char *model)
{
    actrm_model *m = open_model(model, "q8_0");
    const actrm_model_info *in = actrm_model_get_info(m);
    cr_expect_eq(in->weight_type, GGML_TYPE_Q8_0);
    actrm_session *s = open_session(m, N_CTX, 2);
    for (int i = 0; i < N_PROMPTS; i++) {
        int T, V = in->n_vocab;
        int32_t *ids = fixture_prompt_ids(model, i, &T);
        cr_assert_eq(actrm_session_truncate(s, 0), ACTRM_OK);
        capture c = capture_at(s, in, ids, T, T > 100 ? 2 : 1);
        char file[64];
        actrm_npy ref_argmax, ref_last;
        snprintf(file, sizeof file, "p%d_argmax.npy", i);
        fixture_golden_npy(model, file, ACTRM_NPY_I32, &ref_argmax);
        snprintf(file, sizeof file, "p%d_logits_last.npy", i);
        fixture_golden_npy(model, file, ACTRM_NPY_F32, &ref_last);
        cr_assert_eq(ref_argmax.n, (size_t)T);
        int agree = 0;
        for (int o = 0; o < c.n_out; o++)
            agree += argmax(c.logits + (size_t)o * V, V) == ((const int32_t *)ref_argmax.data)[capture_pos(&c, o)];
        cr_expect(agree >= 0.9 * c.n_out, "%s q8_0 prompt %d: argmax agrees at %d of %d positions", model, i, agree,
                  c.n_out);
        double kl = kl_divergence(ref_last.data, c.logits + (size_t)(c.n_out - 1) * V, V);
        cr_expect(kl <= 2e-2, "%s q8_0 prompt %d: KL(ref||ours) = %.4g > 2e-2", model, i, kl);
        actrm_npy_free(&ref_argmax);
        actrm_npy_free(&ref_last);
        capture_free(&c);
        free(ids);
    }
    actrm_session_free(s);
    actrm_model_free(m);
}

Test(forward_q8_0, llama3) { check_q8_0("llama3-tiny"); }
Test(forward_q8_0, qwen2) { check_q8_0("qwen2-tiny"); }
Test(forward_q8_0, qwen3) { check_q8_0("qwen3-tiny"); }
Test(forward_q8_0, spm) { check_q8_0("spm-tiny"); }

/* ------------------------------------------------------------ model info -- */

static int config_int(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    cr_assert(cJSON_IsNumber(v), "config.json has no %s", key);
    return (int)v->valuedouble;
}

static void check_info(const char *model, const char *arch, int src_type)
{
    char rel[256], path[512], text[8192] = "";
    snprintf(rel, sizeof rel, "models/%s/config.json", model);
    FILE *f = fopen(fixture_path(path, sizeof path, rel), "rb");
    cr_assert(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    cJSON *cfg = cJSON_Parse(text);
    int H = config_int(cfg, "num_attention_heads"), D = config_int(cfg, "hidden_size");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(cfg, "head_dim");

    actrm_model *m32 = open_model(model, "f32"), *msrc = open_model(model, NULL), *again = open_model(model, "f32");
    const actrm_model_info *in = actrm_model_get_info(m32);
    cr_expect_str_eq(in->arch, arch);
    cr_expect_eq(in->n_layer, config_int(cfg, "num_hidden_layers"));
    cr_expect_eq(in->n_embd, D);
    cr_expect_eq(in->n_head, H);
    cr_expect_eq(in->n_head_kv, config_int(cfg, "num_key_value_heads"));
    cr_expect_eq(in->head_dim, cJSON_IsNumber(hd) ? (int)hd->valuedouble : D / H);
    cr_expect_eq(in->n_ff, config_int(cfg, "intermediate_size"));
    cr_expect_eq(in->n_vocab, config_int(cfg, "vocab_size"));
    cr_expect_eq(in->n_ctx_train, config_int(cfg, "max_position_embeddings"));
    cr_expect_eq(in->weight_type, GGML_TYPE_F32);
    cr_expect_eq(actrm_model_get_info(msrc)->weight_type, src_type);
    cr_expect_eq(in->content_hash, actrm_model_get_info(again)->content_hash, "the hash is a function of the file");
    if (src_type != GGML_TYPE_F32)
        cr_expect_neq(in->content_hash, actrm_model_get_info(msrc)->content_hash,
                      "f32 and %s weights must hash differently", ggml_type_name(src_type));
    actrm_model_free(m32);
    actrm_model_free(msrc);
    actrm_model_free(again);
    cJSON_Delete(cfg);
}

Test(model, info_matches_config_json)
{
    check_info("llama3-tiny", "llama", GGML_TYPE_BF16);
    check_info("qwen2-tiny", "qwen2", GGML_TYPE_BF16);
    check_info("qwen3-tiny", "qwen3", GGML_TYPE_F16);
    check_info("spm-tiny", "llama", GGML_TYPE_F32);
}

/* --------------------------------------------------- session behaviour -- */

static void expect_same(const char *what, const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    while (diff < n && memcmp(&a[diff], &b[diff], sizeof(float)) == 0)
        diff++;
    cr_expect_eq(diff, n, "%s differs first at %zu: %.9g vs %.9g", what, diff, diff < n ? a[diff] : 0.0,
                 diff < n ? b[diff] : 0.0);
}

Test(session, results_do_not_depend_on_thread_count)
{
    actrm_model *m = open_model("qwen2-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int T;
    int32_t *ids = fixture_prompt_ids("qwen2-tiny", 2, &T); /* > 256 tokens: two chunks */
    actrm_session *s1 = open_session(m, N_CTX, 1), *s2 = open_session(m, N_CTX, 2);
    capture a = capture_at(s1, in, ids, T, 8), b = capture_at(s2, in, ids, T, 8);
    size_t n = (size_t)a.n_out;
    expect_same("logits", a.logits, b.logits, n * in->n_vocab);
    expect_same("heads", a.heads, b.heads, (size_t)in->n_layer * n * in->n_head * in->head_dim);
    expect_same("hidden", a.hidden, b.hidden, (size_t)(in->n_layer + 1) * n * in->n_embd);
    capture_free(&a);
    capture_free(&b);
    actrm_session_free(s1);
    actrm_session_free(s2);
    actrm_model_free(m);
    free(ids);
}

/* The weights read into private memory (the default; F16/BF16 matrices
 * regrouped to the G16 layout where the kernels prefer it) and used from the
 * file mapping (ACTRM_MMAP=1, row layout) give the same hash and the same
 * bits, through prefill (GEMM), single tokens (GEMV) and the tied
 * embedding's row lookups. */
static void check_private_copy_matches_mapping(const char *model, const char *type)
{
    actrm_model *a = open_model(model, type);
    setenv("ACTRM_MMAP", "1", 1);
    actrm_model *b = open_model(model, type);
    unsetenv("ACTRM_MMAP");
    const actrm_model_info *in = actrm_model_get_info(a);
    cr_expect_eq(in->content_hash, actrm_model_get_info(b)->content_hash);
    cr_expect_eq(b->layers[0].wq.g16, 0, "a mapped file is never rewritten");
    actrm_kernels k;
    actrm_error err = {0};
    actrm_kernels_select(&k, NULL, &err);
    if (k.g16_fast && in->weight_type != GGML_TYPE_F32 && in->n_embd % 16 == 0)
        cr_expect(a->layers[0].wq.g16 && a->tok_embd.g16, "%s %s: F16/BF16 matrices regrouped", model,
                  type ? type : "src");
    int T;
    int32_t *ids = fixture_prompt_ids(model, 0, &T);
    actrm_session *sa = open_session(a, N_CTX, 2), *sb = open_session(b, N_CTX, 2);
    capture ca = capture_at(sa, in, ids, T, 4), cb = capture_at(sb, in, ids, T, 4);
    expect_same("logits", ca.logits, cb.logits, (size_t)ca.n_out * in->n_vocab);
    expect_same("heads", ca.heads, cb.heads, (size_t)in->n_layer * ca.n_out * in->n_head * in->head_dim);
    capture_free(&ca);
    capture_free(&cb);
    for (int i = 1; i <= 4; i++) { /* then 1..4 tokens per call: the few-token kernels */
        capture da = capture_all(sa, in, ids, i), db = capture_all(sb, in, ids, i);
        expect_same("few-token logits", da.logits, db.logits, (size_t)i * in->n_vocab);
        expect_same("few-token hidden", da.hidden, db.hidden, (size_t)(in->n_layer + 1) * i * in->n_embd);
        capture_free(&da);
        capture_free(&db);
    }
    actrm_session_free(sa);
    actrm_session_free(sb);
    actrm_model_free(a);
    actrm_model_free(b);
    free(ids);
}

Test(model, private_copy_and_file_mapping_agree_f32) { check_private_copy_matches_mapping("qwen3-tiny", "f32"); }
Test(model, private_copy_and_file_mapping_agree_f16) { check_private_copy_matches_mapping("qwen3-tiny", NULL); }
Test(model, private_copy_and_file_mapping_agree_bf16) { check_private_copy_matches_mapping("llama3-tiny", NULL); }

/* Rows [from, T) of x, a [slots, T, w] array, as [slots, T-from, w]. */
static float *rows_from(const float *x, int slots, int T, int w, int from)
{
    float *out = alloc_floats((size_t)slots * (T - from) * w);
    for (int s = 0; s < slots; s++)
        memcpy(out + (size_t)s * (T - from) * w, x + ((size_t)s * T + from) * w, (size_t)(T - from) * w * sizeof(float));
    return out;
}

Test(session, incremental_eval_matches_one_batch)
{
    actrm_model *m = open_model("llama3-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int T, P = 20;
    int32_t *ids = fixture_prompt_ids("llama3-tiny", 1, &T);
    actrm_session *whole = open_session(m, N_CTX, 2), *parts = open_session(m, N_CTX, 2);
    capture one = capture_all(whole, in, ids, T);
    eval_ok(parts, ids, P, NULL);
    cr_expect_eq(actrm_session_n_past(parts), P);
    capture rest = capture_all(parts, in, ids + P, T - P);
    cr_expect_eq(actrm_session_n_past(parts), T);
    int hw = in->n_head * in->head_dim;
    float *logits = rows_from(one.logits, 1, T, in->n_vocab, P);
    float *heads = rows_from(one.heads, in->n_layer, T, hw, P);
    float *hidden = rows_from(one.hidden, in->n_layer + 1, T, in->n_embd, P);
    expect_close("incremental logits", rest.logits, logits, (size_t)(T - P) * in->n_vocab, 1e-5);
    expect_close("incremental heads", rest.heads, heads, (size_t)in->n_layer * (T - P) * hw, 1e-5);
    expect_close("incremental hidden", rest.hidden, hidden, (size_t)(in->n_layer + 1) * (T - P) * in->n_embd, 1e-5);
    free(logits);
    free(heads);
    free(hidden);
    capture_free(&one);
    capture_free(&rest);
    actrm_session_free(whole);
    actrm_session_free(parts);
    actrm_model_free(m);
    free(ids);
}

Test(session, out_pos_selects_rows_and_patch_touches_only_its_position)
{
    actrm_model *m = open_model("spm-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int T, V = in->n_vocab, hw = in->n_head * in->head_dim;
    int32_t *ids = fixture_prompt_ids("spm-tiny", 0, &T);
    actrm_session *s = open_session(m, N_CTX, 2);
    capture all = capture_all(s, in, ids, T);
    /* Out of order and repeated positions; a patch at position 5. */
    int pos[4] = {T - 1, 3, 5, 3};
    float *logits = alloc_floats(4 * (size_t)V), *heads = alloc_floats((size_t)in->n_layer * 4 * hw);
    float z[256];
    for (int i = 0; i < in->head_dim; i++)
        z[i] = (float)(i % 7) - 3.0f;
    actrm_head_patch p = {1, 1, z};
    actrm_eval_request req = {.out_pos = pos, .n_out = 4, .logits = logits, .heads = heads,
                              .patches = &p, .n_patches = 1, .patch_pos = 5};
    cr_assert_eq(actrm_session_truncate(s, 0), ACTRM_OK);
    eval_ok(s, ids, T, &req);
    /* Positions before the patch are untouched; the patched head shows z. */
    expect_same("logits at 3", logits + V, all.logits + 3 * (size_t)V, (size_t)V);
    expect_same("logits at 3 (repeated)", logits + 3 * (size_t)V, all.logits + 3 * (size_t)V, (size_t)V);
    const float *patched = heads + ((size_t)1 * 4 + 2) * hw + 1 * in->head_dim; /* layer 1, output 2, head 1 */
    expect_same("patched z", patched, z, (size_t)in->head_dim);
    const float *l0 = heads + (size_t)2 * hw; /* layer 0, output 2 (position 5) */
    expect_same("layer 0 at the patched position", l0, all.heads + (size_t)5 * hw, (size_t)hw);
    double err, ref;
    fixture_max_err(logits, all.logits + (size_t)(T - 1) * V, (size_t)V, &err, &ref);
    cr_expect(err > 0, "a patch at position 5 must change later positions");
    free(logits);
    free(heads);
    capture_free(&all);
    actrm_session_free(s);
    actrm_model_free(m);
    free(ids);
}

/* Each branch equals truncating to the prefix and evaluating the token
 * with its patches, bit for bit; the cache is not extended. */
static void check_branches(const char *model, const char *type, int n_ctx, int n_branch)
{
    actrm_model *m = open_model(model, type);
    const actrm_model_info *in = actrm_model_get_info(m);
    int T, V = in->n_vocab, hw = in->n_head * in->head_dim;
    int32_t *ids = fixture_prompt_ids(model, 1, &T);
    if (T > n_ctx)
        T = n_ctx;
    golden_patch gp;
    load_golden_patch(model, in->head_dim, &gp);
    actrm_patch_set *sets = calloc((size_t)n_branch, sizeof *sets);
    for (int b = 0; b < n_branch; b++) /* none, all, one, all-but-first, ... */
        sets[b] = b % 3 == 0 ? (actrm_patch_set){NULL, 0}
                  : b % 3 == 1 ? (actrm_patch_set){gp.p, gp.n} : (actrm_patch_set){gp.p + b % gp.n, 1};
    actrm_session *s = open_session(m, n_ctx, 2);
    eval_ok(s, ids, T - 1, NULL);
    float *logits = alloc_floats((size_t)n_branch * V), *heads = alloc_floats((size_t)in->n_layer * n_branch * hw);
    int rc = actrm_session_eval_branches(s, ids[T - 1], n_branch, sets, logits, heads);
    cr_assert_eq(rc, ACTRM_OK, "%s", actrm_session_errmsg(s));
    cr_expect_eq(actrm_session_n_past(s), T - 1, "branches must not extend the cache");
    float *one_logits = alloc_floats((size_t)V), *one_heads = alloc_floats((size_t)in->n_layer * hw);
    for (int b = 0; b < n_branch; b++) {
        actrm_eval_request req = {.logits = one_logits, .heads = one_heads, .patches = sets[b].patches,
                                  .n_patches = sets[b].n_patches, .patch_pos = 0};
        eval_ok(s, ids + T - 1, 1, &req);
        cr_assert_eq(actrm_session_truncate(s, T - 1), ACTRM_OK);
        char what[64];
        snprintf(what, sizeof what, "branch %d logits", b);
        expect_same(what, logits + (size_t)b * V, one_logits, (size_t)V);
        for (int l = 0; l < in->n_layer; l++) {
            snprintf(what, sizeof what, "branch %d heads of layer %d", b, l);
            expect_same(what, heads + ((size_t)l * n_branch + b) * hw, one_heads + (size_t)l * hw, (size_t)hw);
        }
    }
    free(one_logits);
    free(one_heads);
    free(logits);
    free(heads);
    free(sets);
    actrm_npy_free(&gp.vectors);
    actrm_session_free(s);
    actrm_model_free(m);
    free(ids);
}

Test(session, eval_branches_equals_separate_runs)
{
    check_branches("qwen2-tiny", NULL, N_CTX, 5);
}

Test(session, eval_branches_in_chunks_equals_separate_runs)
{
    /* n_ctx 6 limits the scratch to 6 rows, so 14 branches run in 3 chunks. */
    check_branches("spm-tiny", "f32", 6, 14);
}

Test(session, eval_branches_patch_matches_golden)
{
    actrm_model *m = open_model("llama3-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int T;
    int32_t *ids = fixture_prompt_ids("llama3-tiny", 1, &T);
    golden_patch gp;
    load_golden_patch("llama3-tiny", in->head_dim, &gp);
    actrm_session *s = open_session(m, N_CTX, 2);
    eval_ok(s, ids, T - 1, NULL);
    actrm_patch_set sets[2] = {{NULL, 0}, {gp.p, gp.n}};
    float *logits = alloc_floats(2 * (size_t)in->n_vocab);
    cr_assert_eq(actrm_session_eval_branches(s, ids[T - 1], 2, sets, logits, NULL), ACTRM_OK);
    expect_golden("llama3-tiny", "p1_logits_last.npy", logits, (size_t)in->n_vocab, "f32 branch 0");
    expect_golden("llama3-tiny", "p1_patched_logits_last.npy", logits + in->n_vocab, (size_t)in->n_vocab,
                  "f32 branch 1");
    free(logits);
    actrm_npy_free(&gp.vectors);
    actrm_session_free(s);
    actrm_model_free(m);
    free(ids);
}

Test(session, truncate_then_eval_recomputes_the_suffix)
{
    actrm_model *m = open_model("spm-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int T, V = in->n_vocab;
    int32_t *ids = fixture_prompt_ids("spm-tiny", 1, &T), *other = fixture_prompt_ids("spm-tiny", 0, &(int){0});
    actrm_session *s = open_session(m, N_CTX, 2);
    float *first = alloc_floats((size_t)V), *again = alloc_floats((size_t)V);
    actrm_eval_request req = {.logits = first};
    eval_ok(s, ids, T, &req);
    /* Overwrite positions 10.. with another prompt, then go back. */
    cr_assert_eq(actrm_session_truncate(s, 10), ACTRM_OK);
    eval_ok(s, other, 20, NULL);
    cr_assert_eq(actrm_session_truncate(s, 10), ACTRM_OK);
    cr_expect_eq(actrm_session_n_past(s), 10);
    req.logits = again;
    eval_ok(s, ids + 10, T - 10, &req);
    expect_close("logits after truncate", again, first, (size_t)V, 1e-5);
    expect_golden("spm-tiny", "p1_logits_last.npy", again, (size_t)V, "f32 after truncate");
    cr_expect_eq(actrm_session_truncate(s, T + 1), ACTRM_ERR_ARG);
    cr_expect(strstr(actrm_session_errmsg(s), "n_past"), "%s", actrm_session_errmsg(s));
    cr_expect_eq(actrm_session_truncate(s, -1), ACTRM_ERR_ARG);
    cr_expect_eq(actrm_session_n_past(s), T);
    cr_expect_eq(actrm_session_truncate(s, 0), ACTRM_OK);
    free(first);
    free(again);
    free(other);
    actrm_session_free(s);
    actrm_model_free(m);
    free(ids);
}

/* A prompt of T tokens (the golden ids of prompt 2, repeated) evaluated in
 * one call and in uneven chunks, with logits and heads at positions around
 * attention's key tiles: chunks must agree with one call, and thread counts
 * must give the same bits. */
static capture capture_in_chunks(actrm_session *s, const actrm_model_info *in, const int32_t *ids,
                                 const int *chunks, const int *pos, int n_pos)
{
    capture c = {n_pos, NULL, alloc_floats((size_t)n_pos * in->n_vocab), NULL, NULL};
    size_t hw = (size_t)in->n_head * in->head_dim;
    c.heads = alloc_floats((size_t)in->n_layer * n_pos * hw);
    float *heads = alloc_floats((size_t)in->n_layer * n_pos * hw);
    int rel[64], done = 0;
    for (int ci = 0; chunks[ci]; ci++) {
        int c0 = done, n = chunks[ci], i0 = 0, k = 0;
        while (i0 < n_pos && pos[i0] < c0)
            i0++;
        while (i0 + k < n_pos && pos[i0 + k] < c0 + n) {
            rel[k] = pos[i0 + k] - c0;
            k++;
        }
        actrm_eval_request req = {.out_pos = rel, .n_out = k, .logits = c.logits + (size_t)i0 * in->n_vocab,
                                  .heads = heads};
        if (k)
            eval_ok(s, ids + c0, n, &req);
        else
            eval_ok(s, ids + c0, n, NULL);
        for (int l = 0; l < in->n_layer; l++) /* heads: [L, k, H*hd] -> [L, n_pos, H*hd] at i0 */
            memcpy(c.heads + ((size_t)l * n_pos + i0) * hw, heads + (size_t)l * k * hw, (size_t)k * hw * sizeof(float));
        done += n;
    }
    free(heads);
    return c;
}

Test(session, long_prompt_in_chunks_and_thread_counts_agree)
{
    enum { T = 1100 };
    actrm_model *m = open_model("qwen2-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    int n_src;
    int32_t *src = fixture_prompt_ids("qwen2-tiny", 2, &n_src), ids[T];
    for (int t = 0; t < T; t++)
        ids[t] = src[t % n_src];
    int pos[] = {0, 1, 126, 127, 128, 129, 255, 256, 383, 640, 767, 768, 1023, 1024, T - 1};
    int n_pos = (int)(sizeof pos / sizeof pos[0]);
    int whole[] = {T, 0}, parts[] = {1, 128, 3, 200, 60, 300, 256, 152, 0};
    actrm_session *s2 = open_session(m, T, 2), *s1 = open_session(m, T, 1), *sc = open_session(m, T, 2);
    capture one = capture_in_chunks(s2, in, ids, whole, pos, n_pos);
    capture one_t1 = capture_in_chunks(s1, in, ids, whole, pos, n_pos);
    capture chunked = capture_in_chunks(sc, in, ids, parts, pos, n_pos);
    size_t n_logits = (size_t)n_pos * in->n_vocab, n_heads = (size_t)in->n_layer * n_pos * in->n_head * in->head_dim;
    expect_same("logits with 1 vs 2 threads", one_t1.logits, one.logits, n_logits);
    expect_same("heads with 1 vs 2 threads", one_t1.heads, one.heads, n_heads);
    expect_close("logits in chunks", chunked.logits, one.logits, n_logits, 1e-5);
    expect_close("heads in chunks", chunked.heads, one.heads, n_heads, 1e-5);
    /* Not vacuous: the repeated prompt gives different logits at each end. */
    double err, ref;
    fixture_max_err(one.logits, one.logits + (size_t)(n_pos - 1) * in->n_vocab, (size_t)in->n_vocab, &err, &ref);
    cr_expect(err > 1e-3 * ref, "positions 0 and %d have the same logits", T - 1);
    capture_free(&one);
    capture_free(&one_t1);
    capture_free(&chunked);
    actrm_session_free(s1);
    actrm_session_free(s2);
    actrm_session_free(sc);
    actrm_model_free(m);
    free(src);
}

/* ------------------------------------------------------------ attention -- */

/* Random inputs for actrm_attention: queries of T rows and a cache of
 * P = n_past + T positions (branch: n_past, plus each row's own k/v). */
typedef struct attn_case {
    int H, KV, hd, n_past, T, branch;
    float q_gain; /* spreads the scores: large values make the running max move */
} attn_case;

typedef struct attn_inputs {
    attn_case c;
    int P;
    float *q;      /* [T, H*hd] */
    float *k, *v;  /* [P, KV*hd]; branch: rows [n_past, n_past+T) are the rows' own k/v */
    float *vt;     /* [KV*hd, P] v transposed */
} attn_inputs;

static float uniform(uint32_t *state) /* in [-1, 1) */
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

static attn_inputs attn_random(attn_case c, uint32_t seed)
{
    attn_inputs a = {c, c.n_past + c.T, NULL, NULL, NULL, NULL};
    size_t kv = (size_t)c.KV * c.hd;
    a.q = alloc_floats((size_t)c.T * c.H * c.hd);
    a.k = alloc_floats((size_t)a.P * kv);
    a.v = alloc_floats((size_t)a.P * kv);
    a.vt = alloc_floats((size_t)a.P * kv);
    for (size_t i = 0; i < (size_t)c.T * c.H * c.hd; i++)
        a.q[i] = c.q_gain * uniform(&seed);
    for (int j = 0; j < a.P; j++)
        for (size_t e = 0; e < kv; e++) {
            /* keys grow with position, so later tiles raise the max */
            a.k[j * kv + e] = uniform(&seed) * (1.0f + (float)j / 256.0f);
            a.v[j * kv + e] = uniform(&seed);
            a.vt[e * a.P + j] = a.v[j * kv + e];
        }
    return a;
}

static void attn_free(attn_inputs *a)
{
    free(a->q);
    free(a->k);
    free(a->v);
    free(a->vt);
}

/* actrm_attention on rows [r0, r0+n) of the inputs with n_threads. */
static void attn_run(const attn_inputs *a, int r0, int n, int n_threads, float *z)
{
    const attn_case *c = &a->c;
    size_t kv = (size_t)c->KV * c->hd;
    actrm_kernels kern;
    cr_assert_eq(actrm_kernels_select(&kern, NULL, NULL), ACTRM_OK);
    float *scratch = alloc_floats((size_t)n_threads * actrm_attention_scratch_floats(c->H, c->KV, c->hd));
    actrm_attn at = {.n_head = c->H, .n_head_kv = c->KV, .head_dim = c->hd, .n_rows = n,
                     .n_past = c->branch ? c->n_past : c->n_past + r0, .scale = 1.0f / sqrtf((float)c->hd),
                     .q = a->q + (size_t)r0 * c->H * c->hd, .k_cache = a->k, .vt_cache = a->vt, .v_stride = a->P,
                     .k_self = c->branch ? a->k + (c->n_past + r0) * kv : NULL,
                     .v_self = c->branch ? a->v + (c->n_past + r0) * kv : NULL, .z = z};
    actrm_attention(&kern, &at, scratch, n_threads);
    free(scratch);
}

/* softmax(q.k / sqrt(hd) over the keys a row sees) . v, in double. */
static void attn_naive(const attn_inputs *a, double *z)
{
    const attn_case *c = &a->c;
    int group = c->H / c->KV;
    size_t kv = (size_t)c->KV * c->hd;
    double *w = calloc((size_t)a->P, sizeof *w);
    for (int r = 0; r < c->T; r++)
        for (int h = 0; h < c->H; h++) {
            const float *q = a->q + ((size_t)r * c->H + h) * c->hd;
            int pos = c->branch ? c->n_past : c->n_past + r, off = (h / group) * c->hd;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= pos; j++) {
                int key = c->branch && j == pos ? c->n_past + r : j; /* a branch row's own key */
                double d = 0;
                for (int e = 0; e < c->hd; e++)
                    d += (double)q[e] * a->k[key * kv + off + e];
                w[j] = d / sqrt((double)c->hd);
                mx = fmax(mx, w[j]);
            }
            for (int j = 0; j <= pos; j++)
                sum += w[j] = exp(w[j] - mx);
            double *out = z + ((size_t)r * c->H + h) * c->hd;
            for (int e = 0; e < c->hd; e++) {
                double acc = 0;
                for (int j = 0; j <= pos; j++)
                    acc += w[j] * a->v[(c->branch && j == pos ? c->n_past + r : j) * kv + off + e];
                out[e] = acc / sum;
            }
        }
    free(w);
}

static void check_attention(attn_case c)
{
    attn_inputs a = attn_random(c, 1234u + (uint32_t)(c.H * 7 + c.n_past));
    size_t n = (size_t)c.T * c.H * c.hd;
    float *z = alloc_floats(n), *z1 = alloc_floats(n), *zs = alloc_floats(n);
    double *ref = calloc(n, sizeof *ref);
    attn_run(&a, 0, c.T, 3, z);
    attn_naive(&a, ref);
    double err = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs(z[i] - ref[i]));
        max_ref = fmax(max_ref, fabs(ref[i]));
    }
    char what[128];
    snprintf(what, sizeof what, "H %d KV %d hd %d n_past %d T %d%s", c.H, c.KV, c.hd, c.n_past, c.T,
             c.branch ? " branch" : "");
    cr_expect(err <= 1e-5 * max_ref, "%s: max|z - naive| %.3g > 1e-5 * %.3g", what, err, max_ref);
    /* One thread, and the rows split into two calls: the same bits. */
    attn_run(&a, 0, c.T, 1, z1);
    expect_same(what, z1, z, n);
    int split = c.T / 3;
    attn_run(&a, 0, split, 2, zs);
    attn_run(&a, split, c.T - split, 2, zs + (size_t)split * c.H * c.hd);
    expect_same(what, zs, z, n);
    free(z);
    free(z1);
    free(zs);
    free(ref);
    attn_free(&a);
}

Test(attention, matches_a_naive_double_reference)
{
    check_attention((attn_case){4, 2, 16, 0, 300, 0, 1.0f});     /* three key tiles from empty */
    check_attention((attn_case){14, 2, 64, 130, 200, 0, 4.0f});  /* Qwen2.5-0.5B heads, cached prefix */
    check_attention((attn_case){6, 1, 128, 255, 3, 0, 8.0f});    /* hd 128, rows across a tile edge */
    check_attention((attn_case){8, 8, 32, 127, 1, 0, 30.0f});    /* decode at a tile's last key */
    check_attention((attn_case){32, 1, 32, 10, 20, 0, 30.0f});   /* a group larger than a unit's rows */
    check_attention((attn_case){14, 2, 64, 256, 5, 1, 4.0f});    /* branches: own key opens a tile */
    check_attention((attn_case){4, 1, 16, 200, 7, 1, 8.0f});     /* branches: own key mid-tile */
}

/* ------------------------------------------------------ bad arguments -- */

static void expect_fail(actrm_session *s, int rc, int want, const char *needle)
{
    cr_expect_eq(rc, want, "status %d (%s), want %d", rc, actrm_session_errmsg(s), want);
    cr_expect(strstr(actrm_session_errmsg(s), needle), "message '%s' should mention '%s'",
              actrm_session_errmsg(s), needle);
}

Test(session, bad_arguments_are_rejected_with_messages)
{
    actrm_model *m = open_model("spm-tiny", "f32");
    const actrm_model_info *in = actrm_model_get_info(m);
    actrm_session *s = open_session(m, 8, 1);
    float z[32] = {0};
    int32_t ok[4] = {1, 2, 3, 4}, bad_hi[2] = {5, (int32_t)in->n_vocab}, bad_lo[1] = {-1};
    expect_fail(s, actrm_session_eval(s, bad_hi, 2, NULL), ACTRM_ERR_ARG, "token id");
    expect_fail(s, actrm_session_eval(s, bad_lo, 1, NULL), ACTRM_ERR_ARG, "token id");
    expect_fail(s, actrm_session_eval(s, ok, 0, NULL), ACTRM_ERR_ARG, "token");
    actrm_head_patch bad_head = {0, in->n_head, z}, bad_layer = {in->n_layer, 0, z};
    actrm_eval_request req = {.patches = &bad_head, .n_patches = 1, .patch_pos = 3};
    expect_fail(s, actrm_session_eval(s, ok, 4, &req), ACTRM_ERR_ARG, "head");
    req.patches = &bad_layer;
    expect_fail(s, actrm_session_eval(s, ok, 4, &req), ACTRM_ERR_ARG, "layer");
    actrm_head_patch good = {0, 0, z};
    req = (actrm_eval_request){.patches = &good, .n_patches = 1, .patch_pos = 4};
    expect_fail(s, actrm_session_eval(s, ok, 4, &req), ACTRM_ERR_ARG, "patch_pos");
    int pos[1] = {4};
    req = (actrm_eval_request){.out_pos = pos, .n_out = 1};
    expect_fail(s, actrm_session_eval(s, ok, 4, &req), ACTRM_ERR_ARG, "out_pos");
    cr_expect_eq(actrm_session_n_past(s), 0, "failed calls must not change the session");

    eval_ok(s, ok, 4, NULL);
    eval_ok(s, ok, 4, NULL);
    expect_fail(s, actrm_session_eval(s, ok, 1, NULL), ACTRM_ERR_LIMIT, "context");
    actrm_patch_set set = {&good, 1};
    expect_fail(s, actrm_session_eval_branches(s, 1, 1, &set, NULL, NULL), ACTRM_ERR_LIMIT, "context");
    cr_assert_eq(actrm_session_truncate(s, 7), ACTRM_OK);
    expect_fail(s, actrm_session_eval(s, ok, 2, NULL), ACTRM_ERR_LIMIT, "n_ctx");
    actrm_patch_set bad_set[2] = {{&good, 1}, {&bad_head, 1}};
    expect_fail(s, actrm_session_eval_branches(s, 1, 2, bad_set, NULL, NULL), ACTRM_ERR_ARG, "branch 1");
    expect_fail(s, actrm_session_eval_branches(s, (int32_t)in->n_vocab, 1, NULL, NULL, NULL), ACTRM_ERR_ARG,
                "token id");
    cr_expect_eq(actrm_session_n_past(s), 7);

    actrm_session *bad = NULL;
    cr_expect_eq(actrm_session_init(&bad, m, 0, 1), ACTRM_ERR_ARG);
    cr_expect(strstr(actrm_session_errmsg(bad), "n_ctx"), "%s", actrm_session_errmsg(bad));
    actrm_session_free(bad);
    actrm_session_free(s);
    actrm_model_free(m);
}

/* --------------------------------------------------- crafted bad files -- */

/* Copies a GGUF file, dropping tensor `drop`, and storing tensor `swap_dst`
 * with the type, shape and data of `swap_src` (either may be NULL). */
static void rewrite_gguf(const char *src, const char *dst, const char *drop, const char *swap_dst,
                         const char *swap_src, const char *arch)
{
    actrm_error err = {0};
    actrm_gguf *g = NULL;
    cr_assert_eq(gguf_open(&g, src, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++)
        cr_assert_eq(gguf_set_kv_from(w, gguf_kv_at(g, i)), ACTRM_OK);
    if (arch)
        cr_assert_eq(gguf_set_str(w, "general.architecture", arch), ACTRM_OK);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        if (swap_dst && strcmp(t->name, swap_dst) == 0)
            t = gguf_find_tensor(g, swap_src);
        cr_assert_eq(gguf_add_tensor_ref(w, gguf_tensor_at(g, i)->name, t->type, t->n_dims, t->ne, t->data,
                                         t->nbytes, &err), ACTRM_OK, "%s", err.msg);
    }
    cr_assert_eq(gguf_writer_write(w, dst, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    gguf_close(g);
}

static void expect_init_fails(const char *path, int want, const char *needle)
{
    actrm_model *m = NULL;
    int rc = actrm_model_init(&m, path);
    cr_expect_eq(rc, want, "%s: status %d (%s), want %d", path, rc, actrm_model_errmsg(m), want);
    cr_expect(m && strstr(actrm_model_errmsg(m), needle), "message '%s' should name '%s'",
              actrm_model_errmsg(m), needle);
    cr_expect_null(actrm_model_get_info(m));
    actrm_model_free(m);
    unlink(path);
}

Test(model, missing_or_misshapen_tensors_fail_with_their_name)
{
    char src[512], dst[512];
    fixture_model_gguf(src, sizeof src, "llama3-tiny", "f32");
    fixture_tmp_path(dst, sizeof dst, "bad.gguf");

    rewrite_gguf(src, dst, "blk.1.ffn_up.weight", NULL, NULL, NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "blk.1.ffn_up.weight");
    rewrite_gguf(src, dst, "output_norm.weight", NULL, NULL, NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "output_norm.weight");
    /* attn_q is [64, 64] where attn_k must be [64, 32] (GQA). */
    rewrite_gguf(src, dst, NULL, "blk.0.attn_k.weight", "blk.0.attn_q.weight", NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "blk.0.attn_k.weight");
    /* A 2-D matrix where a 1-D norm belongs. */
    rewrite_gguf(src, dst, NULL, "blk.1.attn_norm.weight", "blk.0.attn_v.weight", NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "blk.1.attn_norm.weight");
    rewrite_gguf(src, dst, NULL, NULL, NULL, "gpt2");
    expect_init_fails(dst, ACTRM_ERR_UNSUPPORTED, "general.architecture");
    expect_init_fails("/nonexistent/model.gguf", ACTRM_ERR_IO, "/nonexistent/model.gguf");
}

Test(model, qwen_specific_tensors_are_required)
{
    char src[512], dst[512];
    fixture_model_gguf(src, sizeof src, "qwen2-tiny", "f32");
    fixture_tmp_path(dst, sizeof dst, "nobias.gguf");
    rewrite_gguf(src, dst, "blk.1.attn_v.bias", NULL, NULL, NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "blk.1.attn_v.bias");
    fixture_model_gguf(src, sizeof src, "qwen3-tiny", "f32");
    rewrite_gguf(src, dst, "blk.0.attn_k_norm.weight", NULL, NULL, NULL);
    expect_init_fails(dst, ACTRM_ERR_FORMAT, "blk.0.attn_k_norm.weight");
}

/* ------------------------------------------------------------------ npy -- */

Test(npy, write_then_read_round_trips)
{
    char path[512];
    fixture_tmp_path(path, sizeof path, "x.npy");
    float x[2 * 3 * 5];
    for (int i = 0; i < 30; i++)
        x[i] = (float)i * 0.25f - 3.0f;
    int64_t shape[3] = {2, 3, 5};
    actrm_error err = {0};
    cr_assert_eq(actrm_npy_write_f32(path, x, shape, 3, &err), ACTRM_OK, "%s", err.msg);
    actrm_npy a;
    cr_assert_eq(actrm_npy_read(path, ACTRM_NPY_F32, &a, &err), ACTRM_OK, "%s", err.msg);
    cr_expect_eq(a.ndim, 3);
    cr_expect(a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 5);
    cr_expect_arr_eq(a.data, x, sizeof x);
    actrm_npy_free(&a);
    cr_expect_eq(actrm_npy_read(path, ACTRM_NPY_I32, &a, &err), ACTRM_ERR_UNSUPPORTED);
    cr_expect(strstr(err.msg, "descr"), "%s", err.msg);
    /* The data starts at a multiple of 64 bytes, as NumPy writes it. */
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    cr_assert_eq(fread(pre, 1, 10, f), 10u);
    fclose(f);
    cr_expect_eq((10 + (pre[8] | pre[9] << 8)) % 64, 0);
    unlink(path);
}

Test(npy, impossible_shapes_are_refused_before_writing)
{
    char path[512];
    fixture_tmp_path(path, sizeof path, "big.npy");
    unlink(path);
    float x[1] = {0};
    int64_t huge[3] = {1 << 30, 1 << 30, 1 << 30}, negative[2] = {2, -1};
    actrm_error err = {0};
    cr_expect_eq(actrm_npy_write_f32(path, x, huge, 3, &err), ACTRM_ERR_ARG);
    cr_expect(strstr(err.msg, "big.npy") && strstr(err.msg, "shape"), "%s", err.msg);
    cr_expect_eq(actrm_npy_write_f32(path, x, negative, 2, &err), ACTRM_ERR_ARG);
    cr_expect(strstr(err.msg, "dim 1"), "%s", err.msg);
    cr_expect_neq(access(path, F_OK), 0, "nothing is written for a refused shape");
}

/* ------------------------------------------------------------------ CLI -- */

/* BUILD/actrm, next to BUILD/tests/<this binary>. */
static void cli_path(char *buf, size_t cap)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(n > 0);
    exe[n] = '\0';
    snprintf(buf, cap, "%s/../actrm", dirname(exe));
    cr_assert(access(buf, X_OK) == 0, "the CLI %s is not built", buf);
}

static char *ids_text(const int32_t *ids, int n)
{
    char *s = malloc((size_t)n * 12 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%s%d", i ? "," : "", ids[i]);
    return s;
}

/* Runs a shell command; returns its exit status, output in out. */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static actrm_npy read_npy(const char *path, int ndim, const int64_t *shape)
{
    actrm_npy a;
    actrm_error err = {0};
    cr_assert_eq(actrm_npy_read(path, ACTRM_NPY_F32, &a, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_eq(a.ndim, ndim, "%s: %d dims", path, a.ndim);
    for (int d = 0; d < ndim; d++)
        cr_assert_eq(a.shape[d], shape[d], "%s: dim %d is %lld, want %lld", path, d, (long long)a.shape[d],
                     (long long)shape[d]);
    unlink(path);
    return a;
}

Test(cli, forward_writes_goldens_and_applies_patch_json)
{
    enum { L = 2, H = 2, HD = 128, D = 64, V = 151936 }; /* qwen3-tiny */
    char exe[600], model[512], heads[512], hidden[512], last[512], all[512], patch_json[512], out[4096];
    cli_path(exe, sizeof exe);
    fixture_model_gguf(model, sizeof model, "qwen3-tiny", "f32");
    fixture_tmp_path(heads, sizeof heads, "heads.npy");
    fixture_tmp_path(hidden, sizeof hidden, "hidden.npy");
    fixture_tmp_path(last, sizeof last, "last.npy");
    fixture_tmp_path(all, sizeof all, "all.npy");
    fixture_path(patch_json, sizeof patch_json, "models/qwen3-tiny/golden/patch.json");
    int T;
    int32_t *ids = fixture_prompt_ids("qwen3-tiny", 1, &T);
    char *list = ids_text(ids, T);
    size_t cap = strlen(list) + 4096;
    char *cmd = malloc(cap);

    /* Heads and hidden at every position, logits at the last one only. */
    snprintf(cmd, cap, "%s forward %s --ids %s --heads %s --hidden %s --logits-last %s --threads 2 2>&1", exe,
             model, list, heads, hidden, last);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    actrm_npy a = read_npy(heads, 4, (int64_t[]){L, T, H, HD});
    expect_golden("qwen3-tiny", "p1_z.npy", a.data, a.n, "cli --heads");
    actrm_npy_free(&a);
    a = read_npy(hidden, 3, (int64_t[]){L + 1, T, D});
    expect_golden("qwen3-tiny", "p1_hidden.npy", a.data, a.n, "cli --hidden");
    actrm_npy_free(&a);
    a = read_npy(last, 1, (int64_t[]){V});
    expect_golden("qwen3-tiny", "p1_logits_last.npy", a.data, a.n, "cli --logits-last");
    actrm_npy_free(&a);

    /* Patched at the last position: earlier positions must not change. */
    snprintf(cmd, cap, "%s forward %s --ids %s --patch %s --logits-last %s --logits-all %s 2>&1", exe, model, list,
             patch_json, last, all);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    a = read_npy(last, 1, (int64_t[]){V});
    expect_golden("qwen3-tiny", "p1_patched_logits_last.npy", a.data, a.n, "cli --patch");
    actrm_npy_free(&a);
    a = read_npy(all, 2, (int64_t[]){T, V});
    actrm_npy subset, ref;
    fixture_golden_npy("qwen3-tiny", "vocab_subset.npy", ACTRM_NPY_I32, &subset);
    fixture_golden_npy("qwen3-tiny", "p1_logits_subset.npy", ACTRM_NPY_F32, &ref);
    float *sub = alloc_floats((size_t)(T - 1) * SUBSET);
    for (int t = 0; t < T - 1; t++)
        for (int j = 0; j < SUBSET; j++)
            sub[t * SUBSET + j] = ((const float *)a.data)[(size_t)t * V + ((const int32_t *)subset.data)[j]];
    expect_close("cli --logits-all before the patched position", sub, ref.data, (size_t)(T - 1) * SUBSET, TOL);
    expect_golden("qwen3-tiny", "p1_patched_logits_last.npy", (const float *)a.data + (size_t)(T - 1) * V, V,
                  "cli --logits-all last row");
    free(sub);
    actrm_npy_free(&subset);
    actrm_npy_free(&ref);
    actrm_npy_free(&a);

    /* The prompt's text through the model's tokenizer (no BOS added). */
    char prompt[512];
    fixture_tmp_path(prompt, sizeof prompt, "prompt.txt");
    char *text = fixture_prompt_text("qwen3-tiny", 1);
    FILE *f = fopen(prompt, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, cap, "%s forward %s --prompt-file %s --logits-last %s 2>&1", exe, model, prompt, last);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s", out);
    a = read_npy(last, 1, (int64_t[]){V});
    expect_golden("qwen3-tiny", "p1_logits_last.npy", a.data, a.n, "cli --prompt-file");
    actrm_npy_free(&a);
    unlink(prompt);
    free(text);
    free(cmd);
    free(list);
    free(ids);
}

Test(cli, forward_fails_with_one_line_errors)
{
    char exe[600], model[512], cmd[2048], out[4096];
    cli_path(exe, sizeof exe);
    fixture_model_gguf(model, sizeof model, "spm-tiny", "f32");
    const char *cases[][2] = {
        {"--ids 1,2,x", "--ids"},
        {"--ids 1,99999999", "token id"},
        {"--ids 1 --patch /nonexistent/p.json", "/nonexistent/p.json"},
        {"--ids 1 --bogus", "--bogus"},
        {"--ids 1 --logits-last /nonexistent/dir/x.npy", "/nonexistent/dir/x.npy"},
        {"--ids 1 --text hi", "exactly one"},
        {"--prompt-file /nonexistent/p.txt", "/nonexistent/p.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s forward %s %s 2>&1", exe, model, cases[i][0]);
        int rc = run(cmd, out, sizeof out);
        cr_expect_neq(rc, 0, "'%s' should fail", cases[i][0]);
        cr_expect(strstr(out, cases[i][1]), "'%s': error '%s' should mention '%s'", cases[i][0], out, cases[i][1]);
        char *nl = strchr(out, '\n');
        cr_expect(nl && nl[1] == '\0', "'%s': expected one line, got '%s'", cases[i][0], out);
    }
    snprintf(cmd, sizeof cmd, "%s forward /nonexistent.gguf --ids 1 2>&1", exe);
    cr_expect_neq(run(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "/nonexistent.gguf"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s forward --help", exe);
    cr_expect_eq(run(cmd, out, sizeof out), 0);
    const char *options[] = {"--ids", "--text", "--prompt-file", "--special", "--logits-last", "--logits-all", "--heads", "--hidden", "--patch", "--threads"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        cr_expect(strstr(out, options[i]), "--help should describe %s", options[i]);
}
