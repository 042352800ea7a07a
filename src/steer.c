/* Steering handle and file, extraction, head selection and scoring. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "steer.h"

#define DEFAULT_K 4
#define DEFAULT_M 100
#define DEFAULT_STEPS 600
#define DEFAULT_MASKS 32
#define DEFAULT_FINAL 10
#define DEFAULT_LR 0.1f
#define DEFAULT_SAV 20
#define REINFORCE_INIT (-1.0f)

/* ---------------------------------------------------------------- handle -- */

static int steer_alloc(actrm_steer *s, int L, int H, int hd)
{
    s->info.n_layer = L, s->info.n_head = H, s->info.head_dim = hd;
    s->n_heads = L * H;
    s->mean_z = calloc((size_t)s->n_heads * hd, sizeof *s->mean_z);
    s->mask = calloc((size_t)s->n_heads, sizeof *s->mask);
    return s->mean_z && s->mask ? ACTRM_OK : ACTRM_ERR_NOMEM;
}

/* Points the public info strings at the owned copies. */
void steer_sync_info(actrm_steer *s)
{
    s->info.model_name = s->model_name ? s->model_name : "";
    s->info.template_text = s->template_text ? s->template_text : "";
    s->info.method = s->method ? s->method : "none";
    s->info.has_sav = s->sav_means != NULL;
    int n = 0;
    for (int i = 0; i < s->n_heads; i++)
        n += s->mask[i] != 0;
    s->info.n_selected = n;
}

static int set_method(actrm_steer *s, const char *method)
{
    char *m = strdup(method);
    if (!m)
        return ACTRM_ERR_NOMEM;
    free(s->method);
    s->method = m;
    steer_sync_info(s);
    return ACTRM_OK;
}

int steer_new(actrm_steer **out, const actrm_judge *j)
{
    *out = NULL;
    actrm_steer *s = calloc(1, sizeof *s);
    if (!s)
        return ACTRM_ERR_NOMEM;
    const actrm_model_info *mi = actrm_model_get_info(j->model);
    int st = steer_alloc(s, j->n_layer, j->n_head, j->head_dim);
    s->model_name = strdup(mi->name ? mi->name : "");
    s->template_text = strdup(j->tmpl_json);
    s->method = strdup("none");
    if (st || !s->model_name || !s->template_text || !s->method) {
        actrm_steer_free(s);
        return ACTRM_ERR_NOMEM;
    }
    s->info.model_hash = mi->content_hash;
    s->info.yes_token = j->yes_id;
    s->info.no_token = j->no_id;
    s->info.final_loss = NAN;
    steer_sync_info(s);
    *out = s;
    return ACTRM_OK;
}

void actrm_steer_free(actrm_steer *s)
{
    if (!s)
        return;
    free(s->model_name), free(s->template_text), free(s->method);
    free(s->mean_z), free(s->mask), free(s->logits), free(s->sav_means), free(s->sav_acc);
    free(s);
}

const char *actrm_steer_errmsg(const actrm_steer *s) { return s ? s->err.msg : ""; }
const actrm_steer_info *actrm_steer_get_info(const actrm_steer *s) { return &s->info; }

int actrm_steer_heads(const actrm_steer *s, int *layer_head, int max)
{
    int n = 0;
    for (int i = 0; i < s->n_heads; i++) {
        if (s->mask[i] == 0)
            continue;
        if (n < max) {
            layer_head[2 * n] = i / s->info.n_head;
            layer_head[2 * n + 1] = i % s->info.n_head;
        }
        n++;
    }
    return n;
}

/* ----------------------------------------------------------- consistency -- */

static int model_mismatch(actrm_error *err, const actrm_steer *s, const actrm_model *model)
{
    const actrm_model_info *mi = actrm_model_get_info(model);
    const char *name = mi->name ? mi->name : "";
    if (mi->content_hash == s->info.model_hash && mi->n_layer == s->info.n_layer &&
        mi->n_head == s->info.n_head && mi->head_dim == s->info.head_dim &&
        !strcmp(name, s->info.model_name))
        return ACTRM_OK;
    return actrm_error_set(err, ACTRM_ERR_MISMATCH,
                           "steering data was made for model '%s' (hash %016" PRIx64
                           ", %d layers x %d heads x %d), not for this model '%s' (hash %016" PRIx64
                           ", %d x %d x %d); extract it again with this model",
                           s->info.model_name, s->info.model_hash, s->info.n_layer,
                           s->info.n_head, s->info.head_dim, name, mi->content_hash,
                           mi->n_layer, mi->n_head, mi->head_dim);
}

int actrm_steer_check_model(actrm_steer *s, const actrm_model *model)
{
    return model_mismatch(&s->err, s, model);
}

int steer_check_judge(actrm_judge *j, const actrm_steer *s)
{
    int st = model_mismatch(&j->err, s, j->model);
    if (st)
        return st;
    if (strcmp(s->info.template_text, j->tmpl_json) != 0)
        return actrm_error_set(&j->err, ACTRM_ERR_MISMATCH,
                               "steering data was made with judge template %s, but the judge "
                               "uses %s",
                               s->info.template_text, j->tmpl_json);
    if (s->info.yes_token != j->yes_id || s->info.no_token != j->no_id)
        return actrm_error_set(&j->err, ACTRM_ERR_MISMATCH,
                               "steering data was made with answer tokens yes=%d no=%d, the "
                               "judge uses yes=%d no=%d",
                               (int)s->info.yes_token, (int)s->info.no_token, (int)j->yes_id,
                               (int)j->no_id);
    return ACTRM_OK;
}

int steer_patches(const actrm_steer *s, const float *mask, actrm_head_patch *patches)
{
    int n = 0, H = s->info.n_head, hd = s->info.head_dim;
    for (int i = 0; i < s->n_heads; i++)
        if (mask[i] != 0)
            patches[n++] = (actrm_head_patch){i / H, i % H, s->mean_z + (size_t)i * hd};
    return n;
}

/* ------------------------------------------------------------------ file -- */

#define KEY(k) "actrm.steer." k

static int save_tensors(gguf_writer *w, const actrm_steer *s, actrm_error *err)
{
    const uint64_t L = (uint64_t)s->info.n_layer, H = (uint64_t)s->info.n_head,
                   hd = (uint64_t)s->info.head_dim;
    const uint64_t ne_z[3] = {hd, H, L}, ne_h[2] = {H, L}, ne_c[4] = {hd, H, L, 2};
    size_t nz = (size_t)(L * H * hd) * sizeof(float), nh = (size_t)(L * H) * sizeof(float);
    int st = gguf_add_tensor(w, "actrm.mean_z", GGML_TYPE_F32, 3, ne_z, s->mean_z, nz, err);
    if (!st)
        st = gguf_add_tensor(w, "actrm.head_mask", GGML_TYPE_F32, 2, ne_h, s->mask, nh, err);
    if (!st && s->logits)
        st = gguf_add_tensor(w, "actrm.reinforce_logits", GGML_TYPE_F32, 2, ne_h, s->logits,
                             nh, err);
    if (!st && s->sav_means)
        st = gguf_add_tensor(w, "actrm.sav_class_means", GGML_TYPE_F32, 4, ne_c, s->sav_means,
                             2 * nz, err);
    if (!st && s->sav_acc)
        st = gguf_add_tensor(w, "actrm.sav_head_accuracy", GGML_TYPE_F32, 2, ne_h, s->sav_acc,
                             nh, err);
    return st;
}

static int save_keys(gguf_writer *w, const actrm_steer *s)
{
    const actrm_steer_info *i = &s->info;
    int st = gguf_set_str(w, "general.type", "actrm-steering");
    st |= gguf_set_str(w, "general.name", i->model_name);
    st |= gguf_set_u32(w, KEY("version"), 1);
    st |= gguf_set_str(w, KEY("model_name"), i->model_name);
    st |= gguf_set_u64(w, KEY("model_hash"), i->model_hash);
    st |= gguf_set_u32(w, KEY("n_layer"), (uint32_t)i->n_layer);
    st |= gguf_set_u32(w, KEY("n_head"), (uint32_t)i->n_head);
    st |= gguf_set_u32(w, KEY("head_dim"), (uint32_t)i->head_dim);
    st |= gguf_set_str(w, KEY("template"), i->template_text);
    st |= gguf_set_i32(w, KEY("yes_token"), i->yes_token);
    st |= gguf_set_i32(w, KEY("no_token"), i->no_token);
    st |= gguf_set_str(w, KEY("method"), i->method);
    st |= gguf_set_u32(w, KEY("shots"), (uint32_t)i->k_shots);
    st |= gguf_set_u32(w, KEY("prompts"), (uint32_t)i->n_prompts);
    st |= gguf_set_u32(w, KEY("steps"), (uint32_t)i->steps);
    st |= gguf_set_u32(w, KEY("masks"), (uint32_t)i->n_masks);
    st |= gguf_set_u32(w, KEY("sav_heads"), (uint32_t)i->sav_heads);
    st |= gguf_set_u64(w, KEY("seed"), i->seed);
    st |= gguf_set_f32(w, KEY("final_loss"), i->final_loss);
    return st ? ACTRM_ERR_NOMEM : ACTRM_OK;
}

int actrm_steer_save(actrm_steer *s, const char *path)
{
    gguf_writer *w = gguf_writer_new();
    if (!w)
        return actrm_error_set(&s->err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    int st = save_keys(w, s);
    if (st)
        actrm_error_set(&s->err, st, "%s: out of memory", path);
    if (!st)
        st = save_tensors(w, s, &s->err);
    if (!st)
        st = gguf_writer_write(w, path, &s->err);
    gguf_writer_free(w);
    return st;
}

static int load_keys(actrm_steer *s, const actrm_gguf *g)
{
    actrm_error *e = &s->err;
    uint32_t L, H, hd, k, m, steps, masks, sav = 0;
    int32_t yes, no;
    int st = gguf_get_u32(g, KEY("n_layer"), &L, e);
    if (!st) st = gguf_get_u32(g, KEY("n_head"), &H, e);
    if (!st) st = gguf_get_u32(g, KEY("head_dim"), &hd, e);
    if (!st) st = gguf_get_strdup(g, KEY("model_name"), &s->model_name, e);
    if (!st) st = gguf_get_u64(g, KEY("model_hash"), &s->info.model_hash, e);
    if (!st) st = gguf_get_strdup(g, KEY("template"), &s->template_text, e);
    if (!st) st = gguf_get_strdup(g, KEY("method"), &s->method, e);
    if (!st) st = gguf_get_i32(g, KEY("yes_token"), &yes, e);
    if (!st) st = gguf_get_i32(g, KEY("no_token"), &no, e);
    if (!st) st = gguf_get_u32(g, KEY("shots"), &k, e);
    if (!st) st = gguf_get_u32(g, KEY("prompts"), &m, e);
    if (!st) st = gguf_get_u32(g, KEY("steps"), &steps, e);
    if (!st) st = gguf_get_u32(g, KEY("masks"), &masks, e);
    if (!st && gguf_find_kv(g, KEY("sav_heads")))
        st = gguf_get_u32(g, KEY("sav_heads"), &sav, e);
    if (!st) st = gguf_get_u64(g, KEY("seed"), &s->info.seed, e);
    if (!st) st = gguf_get_f32(g, KEY("final_loss"), &s->info.final_loss, e);
    if (st)
        return st;
    if (L == 0 || H == 0 || hd == 0 || (uint64_t)L * H * hd > (1u << 30))
        return actrm_error_set(e, ACTRM_ERR_FORMAT, "bad shape %u x %u x %u in %s*", L, H, hd,
                               KEY(""));
    s->info.yes_token = yes, s->info.no_token = no;
    s->info.k_shots = (int)k, s->info.n_prompts = (int)m;
    s->info.steps = (int)steps, s->info.n_masks = (int)masks, s->info.sav_heads = (int)sav;
    return steer_alloc(s, (int)L, (int)H, (int)hd)
               ? actrm_error_set(e, ACTRM_ERR_NOMEM, "out of memory")
               : ACTRM_OK;
}

/* Copies a required (or optional) F32 tensor of the given shape into *dst,
 * allocating it when *dst is NULL. */
static int load_tensor(actrm_steer *s, const actrm_gguf *g, const char *name, int n_dims,
                       const uint64_t *ne, int required, float **dst)
{
    if (!required && !gguf_find_tensor(g, name))
        return ACTRM_OK;
    const gguf_tensor *t;
    int st = gguf_require_tensor(g, name, 1u << GGML_TYPE_F32, n_dims, ne, &t, &s->err);
    if (st)
        return st;
    if (!*dst && !(*dst = malloc(t->nbytes)))
        return actrm_error_set(&s->err, ACTRM_ERR_NOMEM, "out of memory for %s", name);
    memcpy(*dst, t->data, t->nbytes);
    return ACTRM_OK;
}

static int load_tensors(actrm_steer *s, const actrm_gguf *g)
{
    const uint64_t L = (uint64_t)s->info.n_layer, H = (uint64_t)s->info.n_head,
                   hd = (uint64_t)s->info.head_dim;
    const uint64_t ne_z[3] = {hd, H, L}, ne_h[2] = {H, L}, ne_c[4] = {hd, H, L, 2};
    int st = load_tensor(s, g, "actrm.mean_z", 3, ne_z, 1, &s->mean_z);
    if (!st) st = load_tensor(s, g, "actrm.head_mask", 2, ne_h, 1, &s->mask);
    if (!st) st = load_tensor(s, g, "actrm.reinforce_logits", 2, ne_h, 0, &s->logits);
    if (!st) st = load_tensor(s, g, "actrm.sav_class_means", 4, ne_c, 0, &s->sav_means);
    if (!st) st = load_tensor(s, g, "actrm.sav_head_accuracy", 2, ne_h, 0, &s->sav_acc);
    if (!st && (s->sav_means != NULL) != (s->sav_acc != NULL))
        st = actrm_error_set(&s->err, ACTRM_ERR_FORMAT,
                             "actrm.sav_class_means and actrm.sav_head_accuracy come together");
    return st;
}

int actrm_steer_init(actrm_steer **out, const char *path)
{
    *out = NULL;
    actrm_steer *s = calloc(1, sizeof *s);
    if (!s)
        return ACTRM_ERR_NOMEM;
    *out = s;
    actrm_gguf *g = NULL;
    int st = gguf_open(&g, path, &s->err);
    if (st)
        return st;
    if (!gguf_find_kv(g, KEY("version")))
        st = actrm_error_set(&s->err, ACTRM_ERR_FORMAT,
                             "not a steering file (no key %s; is it a model?)", KEY("version"));
    if (!st)
        st = load_keys(s, g);
    if (!st)
        st = load_tensors(s, g);
    gguf_close(g);
    if (st) {
        actrm_error_prefix(&s->err, "%s", path);
        return st;
    }
    steer_sync_info(s);
    return ACTRM_OK;
}

/* ------------------------------------------------------------ extraction -- */

/* sum [L, H, hd] += z at the last token of prompt ids[0..n). */
static int add_last_z(actrm_judge *j, const int32_t *ids, int n, double *sum)
{
    size_t zn = (size_t)j->n_layer * j->n_head * j->head_dim;
    int st = judge_eval_last(j, ids, n, 1, NULL, 1);
    /* With one branch, heads [L, 1, H, hd] is laid out as [L, H, hd]. */
    for (size_t i = 0; i < zn && !st; i++)
        sum[i] += j->heads[i];
    return st;
}

int steer_mean_of_ids(actrm_judge *j, const int32_t *const *ids, const int *n, int count,
                      float *mean_z)
{
    size_t zn = (size_t)j->n_layer * j->n_head * j->head_dim;
    double *sum = calloc(zn, sizeof *sum); /* [L, H, hd] */
    if (!sum)
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "extract: out of memory");
    int st = count > 0 ? ACTRM_OK : actrm_error_set(&j->err, ACTRM_ERR_ARG, "extract: no prompts");
    for (int m = 0; m < count && !st; m++)
        st = add_last_z(j, ids[m], n[m], sum);
    for (size_t i = 0; i < zn && !st; i++)
        mean_z[i] = (float)(sum[i] / count);
    free(sum);
    return st;
}

int steer_mean_of_prompts(actrm_judge *j, const actrm_example *examples, const size_t *query,
                          const size_t *shots, int k, int n_prompts, float *mean_z,
                          const actrm_steer_options *opt)
{
    size_t zn = (size_t)j->n_layer * j->n_head * j->head_dim;
    double *sum = calloc(zn, sizeof *sum); /* [L, H, hd] */
    actrm_example *sh = calloc((size_t)(k > 0 ? k : 1), sizeof *sh); /* [k] */
    if (!sum || !sh) {
        free(sum), free(sh);
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "extract: out of memory");
    }
    int st = n_prompts > 0 ? ACTRM_OK
                           : actrm_error_set(&j->err, ACTRM_ERR_ARG, "extract: no prompts");
    for (int m = 0; m < n_prompts && !st; m++) {
        for (int i = 0; i < k; i++)
            sh[i] = examples[shots[(size_t)m * k + i]];
        const actrm_example *q = &examples[query[m]];
        int32_t *ids = NULL;
        int n = 0;
        st = judge_tokens(j, sh, (size_t)k, q->prompt, q->response, &ids, &n);
        if (!st)
            st = add_last_z(j, ids, n, sum);
        free(ids);
        if (!st && opt && opt->progress)
            opt->progress(opt->progress_ctx, "extract", m + 1, n_prompts);
    }
    for (size_t i = 0; i < zn && !st; i++)
        mean_z[i] = (float)(sum[i] / n_prompts);
    free(sum), free(sh);
    return st;
}

int actrm_judge_extract(actrm_judge *j, const actrm_example *examples, size_t n,
                        const actrm_steer_options *opt, actrm_steer **out)
{
    static const actrm_steer_options defaults = {0};
    opt = opt ? opt : &defaults;
    *out = NULL;
    int k = opt->k_shots > 0 ? opt->k_shots : DEFAULT_K;
    int M = opt->n_prompts > 0 ? opt->n_prompts : DEFAULT_M;
    if (n < 2)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG,
                               "extract: need at least 2 few-shot examples, got %zu", n);
    if ((size_t)k > n - 1)
        k = (int)(n - 1); /* a query's shots are the other examples */
    size_t *query = calloc((size_t)M, sizeof *query), *shots = calloc((size_t)M * k, sizeof *shots);
    actrm_steer *s = NULL;
    int st = query && shots ? steer_new(&s, j) : ACTRM_ERR_NOMEM;
    if (st) {
        free(query), free(shots);
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "extract: out of memory");
    }
    actrm_rng rng;
    rng_seed(&rng, opt->seed);
    for (int m = 0; m < M; m++) {
        query[m] = (size_t)m % n;
        rng_distinct(&rng, n, query[m], k, shots + (size_t)m * k);
    }
    st = steer_mean_of_prompts(j, examples, query, shots, k, M, s->mean_z, opt);
    free(query), free(shots);
    if (st) {
        actrm_steer_free(s);
        return st;
    }
    s->info.k_shots = k;
    s->info.n_prompts = M;
    s->info.seed = opt->seed;
    *out = s;
    return ACTRM_OK;
}

/* ------------------------------------------------------------- selection -- */

/* Zero-shot judge prompts of the few-shot set, tokenized once. */
typedef struct zs_prompts {
    int32_t **ids; /* [n][len[e]] */
    int *len;      /* [n] */
    int *label;    /* [n] */
    size_t n;
} zs_prompts;

static void zs_free(zs_prompts *z)
{
    for (size_t e = 0; z->ids && e < z->n; e++)
        free(z->ids[e]);
    free(z->ids), free(z->len), free(z->label);
}

static int zs_build(actrm_judge *j, const actrm_example *ex, size_t n, zs_prompts *z)
{
    z->n = n;
    z->ids = calloc(n, sizeof *z->ids);
    z->len = calloc(n, sizeof *z->len);
    z->label = calloc(n, sizeof *z->label);
    if (!z->ids || !z->len || !z->label)
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "select: out of memory");
    for (size_t e = 0; e < n; e++) {
        z->label[e] = ex[e].label != 0;
        int st = judge_tokens(j, NULL, 0, ex[e].prompt, ex[e].response, &z->ids[e], &z->len[e]);
        if (st)
            return actrm_error_prefix(&j->err, "few-shot example %zu", e + 1);
    }
    return ACTRM_OK;
}

typedef struct rf_ctx {
    actrm_judge *j;
    const actrm_steer *s;
    const zs_prompts *zs;
    int n_slots;               /* prefix caches: example e uses slot e % n_slots */
    actrm_head_patch *patches; /* [n_masks_max, L*H] */
    actrm_patch_set *sets;     /* [n_masks_max] */
    float *fmask;              /* [L*H] */
} rf_ctx;

/* REINFORCE loss: CE of the right answer with each mask's heads patched,
 * all masks as branches over the example's shared prefix. */
static int rf_loss(void *ctx, size_t ex, const uint8_t *masks, int n_masks, float *losses)
{
    rf_ctx *c = ctx;
    int nh = c->s->n_heads;
    for (int m = 0; m < n_masks; m++) {
        for (int i = 0; i < nh; i++)
            c->fmask[i] = masks[(size_t)m * nh + i];
        actrm_head_patch *p = c->patches + (size_t)m * nh;
        c->sets[m] = (actrm_patch_set){p, steer_patches(c->s, c->fmask, p)};
    }
    int st = judge_eval_last_slot(c->j, (int)(ex % (size_t)c->n_slots), c->n_slots,
                                  c->zs->ids[ex], c->zs->len[ex], n_masks, c->sets);
    for (int m = 0; m < n_masks && !st; m++)
        losses[m] = judge_answer_loss(c->j, c->j->logits + (size_t)m * c->j->n_vocab,
                                      c->zs->label[ex]);
    return st;
}

/* Memory the per-example prefix caches of REINFORCE may take. */
#define SLOT_BUDGET ((size_t)512 << 20)

/* How many few-shot prompts keep their own prefix cache (KV and session
 * scratch, estimated from the model's shape) within SLOT_BUDGET; the rest
 * share slots and recompute their prefix when they come back. */
static int prefix_slots(const actrm_judge *j, const zs_prompts *zs, int n_masks)
{
    const actrm_model_info *mi = actrm_model_get_info(j->model);
    size_t per_pos = 2 * (size_t)mi->n_layer * mi->n_head_kv * mi->head_dim /* K, V */
                   + 2 * (size_t)mi->n_embd + 2 * (size_t)mi->n_head * mi->head_dim
                   + 2 * (size_t)mi->n_head_kv * mi->head_dim + 2 * (size_t)mi->n_ff;
    size_t used = 0;
    int n = 0;
    while ((size_t)n < zs->n && n < 1024) {
        int len = zs->len[n] > n_masks ? zs->len[n] : n_masks;
        size_t bytes = (size_t)len * per_pos * sizeof(float);
        if (n > 0 && used + bytes > SLOT_BUDGET)
            break;
        used += bytes;
        n++;
    }
    return n > 0 ? n : 1;
}

static int select_reinforce(actrm_judge *j, actrm_steer *s, const zs_prompts *zs,
                            const actrm_steer_options *opt)
{
    reinforce_config cfg = {
        .n_heads = s->n_heads, .n_examples = zs->n,
        .steps = opt->steps > 0 ? opt->steps : DEFAULT_STEPS,
        .n_masks = opt->n_masks > 0 ? opt->n_masks : DEFAULT_MASKS,
        .n_final = opt->n_final > 0 ? opt->n_final : DEFAULT_FINAL,
        .lr = opt->lr > 0 ? opt->lr : DEFAULT_LR, .init = REINFORCE_INIT, .seed = opt->seed,
        .progress = opt->progress, .progress_ctx = opt->progress_ctx};
    int nm = cfg.n_masks > cfg.n_final ? cfg.n_masks : cfg.n_final;
    rf_ctx c = {j, s, zs, prefix_slots(j, zs, nm), calloc((size_t)nm * s->n_heads, sizeof *c.patches),
                calloc((size_t)nm, sizeof *c.sets), calloc((size_t)s->n_heads, sizeof(float))};
    uint8_t *mask = calloc((size_t)s->n_heads, 1);
    float *logits = calloc((size_t)s->n_heads, sizeof *logits); /* [L*H] */
    int st = ACTRM_ERR_NOMEM;
    if (c.patches && c.sets && c.fmask && mask && logits) {
        reinforce_result res = {.logits = logits, .mask = mask};
        actrm_error_clear(&j->err);
        st = reinforce_run(&cfg, rf_loss, &c, &res, &j->err);
        /* The steering data changes only when the whole run succeeded. */
        if (!st) {
            for (int i = 0; i < s->n_heads; i++)
                s->mask[i] = mask[i];
            free(s->logits);
            s->logits = logits;
            logits = NULL;
            s->info.final_loss = res.final_loss;
            s->info.steps = cfg.steps;
            s->info.n_masks = cfg.n_masks;
            s->info.seed = opt->seed;
        }
    } else {
        actrm_error_set(&j->err, st, "select: out of memory");
    }
    judge_release_slots(j);
    free(c.patches), free(c.sets), free(c.fmask), free(mask), free(logits);
    return st;
}

static int select_sav(actrm_judge *j, actrm_steer *s, const zs_prompts *zs,
                      const actrm_steer_options *opt)
{
    size_t per = (size_t)s->n_heads * s->info.head_dim;
    float *z = malloc(zs->n * per * sizeof *z);             /* [n, L*H, hd] */
    float *means = malloc(2 * per * sizeof *means);         /* [2, L*H, hd] */
    float *acc = malloc((size_t)s->n_heads * sizeof *acc);  /* [L*H] */
    int st = z && means && acc ? ACTRM_OK
                               : actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "select: out of memory");
    for (size_t e = 0; e < zs->n && !st; e++) {
        st = judge_eval_last(j, zs->ids[e], zs->len[e], 1, NULL, 1);
        if (!st)
            memcpy(z + e * per, j->heads, per * sizeof *z);
        if (!st && opt->progress)
            opt->progress(opt->progress_ctx, "sav", (long)e + 1, (long)zs->n);
    }
    if (!st && sav_fit(z, zs->label, zs->n, s->n_heads, s->info.head_dim, means, acc))
        st = actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "select: out of memory");
    /* The steering data changes only when the whole selection succeeded. */
    if (!st) {
        free(s->sav_means), free(s->sav_acc);
        s->sav_means = means, s->sav_acc = acc;
        means = acc = NULL;
        s->info.sav_heads = opt->sav_heads > 0 ? opt->sav_heads : DEFAULT_SAV;
        sav_top(s->sav_acc, s->n_heads, s->info.sav_heads, s->mask);
    }
    free(z), free(means), free(acc);
    return st;
}

int actrm_judge_select(actrm_judge *j, actrm_steer *s, const actrm_example *examples,
                       size_t n, const actrm_steer_options *opt)
{
    static const actrm_steer_options defaults = {0};
    opt = opt ? opt : &defaults;
    int st = steer_check_judge(j, s);
    if (st)
        return st;
    if (n == 0)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "select: no few-shot examples");
    if (opt->method != ACTRM_SELECT_REINFORCE && opt->method != ACTRM_SELECT_SAV)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "select: unknown method %d", opt->method);
    zs_prompts zs = {0};
    st = zs_build(j, examples, n, &zs);
    if (!st)
        st = opt->method == ACTRM_SELECT_SAV ? select_sav(j, s, &zs, opt)
                                             : select_reinforce(j, s, &zs, opt);
    zs_free(&zs);
    if (!st && set_method(s, opt->method == ACTRM_SELECT_SAV ? "sav" : "reinforce"))
        st = actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "select: out of memory");
    return st;
}

/* --------------------------------------------------------------- scoring -- */

/* Reward of one prompt (ids) by method; the session cache makes two calls
 * for the same prompt share their prefix. SAV only captures z here (in
 * j->heads); its score is computed by the caller. */
static int reward_of(actrm_judge *j, int method, const actrm_steer *s, const int32_t *ids, int n,
                     actrm_head_patch *patches, float *reward)
{
    if (method == ACTRM_REWARD_SAV)
        return judge_eval_last(j, ids, n, 1, NULL, 1);
    actrm_patch_set set = {patches, 0};
    if (method == ACTRM_REWARD_ACTIVATION)
        set.n_patches = steer_patches(s, s->mask, patches);
    int st = judge_eval_last(j, ids, n, 1, &set, 0);
    if (!st)
        *reward = judge_reward(j, j->logits);
    return st;
}

static int check_method(actrm_judge *j, int method, const actrm_steer *s)
{
    if (method < ACTRM_REWARD_ACTIVATION || method > ACTRM_REWARD_SAV)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "score: unknown method %d", method);
    if (method != ACTRM_REWARD_ACTIVATION && method != ACTRM_REWARD_SAV)
        return ACTRM_OK;
    if (!s)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "score: this method needs steering data");
    int st = steer_check_judge(j, s);
    if (st)
        return st;
    if (method == ACTRM_REWARD_ACTIVATION && s->info.n_selected == 0)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG,
                               "score: the steering data has no heads selected (run select)");
    if (method == ACTRM_REWARD_SAV && !s->sav_means)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG,
                               "score: the steering data has no SAV selection (select --method sav)");
    return ACTRM_OK;
}

int actrm_judge_score_pair(actrm_judge *j, int method, const actrm_steer *s,
                           const actrm_example *shots, size_t n_shots, const char *prompt,
                           const char *a, const char *b, float reward[2])
{
    int st = check_method(j, method, s);
    if (st)
        return st;
    if (method != ACTRM_REWARD_ICL)
        n_shots = 0;
    actrm_head_patch *patches = NULL;
    float *sav_mask = NULL;
    if (s) {
        patches = calloc((size_t)s->n_heads, sizeof *patches);
        sav_mask = calloc((size_t)s->n_heads, sizeof *sav_mask);
        if (!patches || !sav_mask) {
            free(patches), free(sav_mask);
            return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "score: out of memory");
        }
        if (method == ACTRM_REWARD_SAV)
            sav_top(s->sav_acc, s->n_heads, s->info.sav_heads, sav_mask);
    }
    const char *resp[2] = {a, b};
    for (int r = 0; r < 2 && !st; r++) {
        if (!resp[r]) {
            if (r == 1)
                break;
            st = actrm_error_set(&j->err, ACTRM_ERR_ARG, "score: no response given");
            break;
        }
        int32_t *ids = NULL;
        int n = 0;
        st = judge_tokens(j, shots, n_shots, prompt, resp[r], &ids, &n);
        if (!st)
            st = reward_of(j, method, s, ids, n, patches, &reward[r]);
        if (!st && method == ACTRM_REWARD_SAV)
            reward[r] = sav_score(j->heads, s->sav_means, sav_mask, s->n_heads,
                                  s->info.head_dim);
        free(ids);
    }
    free(patches), free(sav_mask);
    return st;
}

int actrm_judge_score(actrm_judge *j, const actrm_steer *s, const char *prompt,
                      const char *response, float *reward)
{
    float r[2] = {0, 0};
    int st = actrm_judge_score_pair(j, s ? ACTRM_REWARD_ACTIVATION : ACTRM_REWARD_ZEROSHOT, s,
                                    NULL, 0, prompt, response, NULL, r);
    if (!st)
        *reward = r[0];
    return st;
}
