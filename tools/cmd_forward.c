/* actrm forward: run a model on token ids (or text, through the model's
 * tokenizer) and write logits, head outputs and hidden states as .npy files,
 * optionally with heads patched at the last position. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "cli_util.h"
#include "npy.h"
#include "util.h"

typedef struct fwd_args {
    const char *model;
    const char *ids, *text, *prompt_file; /* exactly one is set */
    int special;                          /* add BOS/EOS when encoding text */
    const char *logits_last, *logits_all, *heads, *hidden, *patch;
    int n_threads;
} fwd_args;

/* Patches from PATCH.json: patches[i].z points into vectors.data. */
typedef struct patch_file {
    actrm_head_patch *patches;
    int n;
    actrm_npy vectors; /* [n, hd] */
} patch_file;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: actrm forward MODEL.gguf (--ids 1,2,3 | --text T | --prompt-file F) [options]\n\n"
            "Runs the model on the tokens in one batch and writes little-endian float32\n"
            "(.npy) files. T is the number of tokens.\n\n"
            "input (exactly one):\n"
            "  --ids LIST          token ids separated by commas or spaces, used as they are\n"
            "  --text T            text, encoded with the model's tokenizer\n"
            "  --prompt-file F     the text of file F, encoded likewise\n"
            "  --special           with --text/--prompt-file: add BOS/EOS as the tokenizer's\n"
            "                      post-processor does (default: none added; special tokens\n"
            "                      written in the text are still recognised)\n\n"
            "outputs and options:\n"
            "  --logits-last F     logits at the last position, shape [V]\n"
            "  --logits-all F      logits at every position, shape [T, V]\n"
            "  --heads F           every head's output z (input of o_proj), shape [L, T, H, hd]\n"
            "  --hidden F          residual stream, shape [L+1, T, D]: [0] = embeddings,\n"
            "                      [l+1] = after layer l (before the final norm)\n"
            "  --patch PATCH.json  replace z of heads at the last position:\n"
            "                      {\"heads\": [[layer, head], ...], \"vectors\": \"V.npy\"},\n"
            "                      V.npy float32 [n, hd] in the order of heads, its path\n"
            "                      relative to the JSON file\n"
            "  --threads N         worker threads (default: all cores; results do not depend on it)\n"
            "  -h, --help          show this help\n");
}

/* Returns 0 to run, 1 when --help was printed, -1 on a bad command line. */
static int parse_args(int argc, char **argv, fwd_args *a)
{
    const char *threads = NULL;
    const cli_opt opts[] = {
        {"--ids", &a->ids, NULL},
        {"--text", &a->text, NULL},
        {"--prompt-file", &a->prompt_file, NULL},
        {"--special", NULL, &a->special},
        {"--logits-last", &a->logits_last, NULL},
        {"--logits-all", &a->logits_all, NULL},
        {"--heads", &a->heads, NULL},
        {"--hidden", &a->hidden, NULL},
        {"--patch", &a->patch, NULL},
        {"--threads", &threads, NULL},
    };
    memset(a, 0, sizeof *a);
    int n_pos, rc = cli_parse(argc, argv, opts, CLI_COUNT(opts), &a->model, 1, &n_pos, usage);
    if (rc)
        return rc == 1 ? 1 : -1;
    if (threads) {
        char *end;
        long n = strtol(threads, &end, 10);
        if (*end || end == threads || n < 0 || n > 4096)
            return cli_fail("forward", "--threads '%s' is not a thread count in [0, 4096]", threads), -1;
        a->n_threads = (int)n;
    }
    if (!a->model)
        return cli_fail("forward", "missing MODEL.gguf (see actrm forward --help)"), -1;
    if (!!a->ids + !!a->text + !!a->prompt_file != 1)
        return cli_fail("forward", "give exactly one of --ids, --text, --prompt-file (see actrm forward --help)"), -1;
    if (a->special && a->ids)
        return cli_fail("forward", "--special applies to --text/--prompt-file, not --ids"), -1;
    return 0;
}

/* dir of json_path + rel (rel if absolute). */
static char *relative_path(const char *json_path, const char *rel)
{
    const char *slash = strrchr(json_path, '/');
    size_t dir = rel[0] == '/' || !slash ? 0 : (size_t)(slash - json_path) + 1;
    char *out = malloc(dir + strlen(rel) + 1);
    if (out) {
        memcpy(out, json_path, dir);
        strcpy(out + dir, rel);
    }
    return out;
}

/* The batch's tokens: --ids as given, or the text encoded by the model's
 * tokenizer. */
static int load_tokens(const fwd_args *a, int32_t **ids, int *n)
{
    size_t n_ids = 0;
    if (a->ids) {
        if (cli_parse_ids("forward", "--ids", a->ids, ids, &n_ids))
            return 1;
        if (n_ids < 1 || n_ids > INT_MAX)
            return cli_fail("forward", "--ids: %zu token ids (need 1 to %d)", n_ids, INT_MAX);
        *n = (int)n_ids;
        return 0;
    }
    char *file_text = NULL;
    if (a->prompt_file && !(file_text = cli_read_file("forward", a->prompt_file, NULL)))
        return 1;
    const char *text = a->text ? a->text : file_text;
    actrm_tokenizer *tok = NULL;
    int rc = 0;
    if (actrm_tokenizer_init(&tok, a->model))
        rc = cli_fail("forward", "%s", tok ? actrm_tokenizer_errmsg(tok) : "out of memory");
    else if (actrm_tokenizer_encode(tok, text, strlen(text), a->special ? ACTRM_ENCODE_ADD_SPECIAL : 0, ids, &n_ids))
        rc = cli_fail("forward", "%s", actrm_tokenizer_errmsg(tok));
    else if (n_ids < 1 || n_ids > INT_MAX)
        rc = cli_fail("forward", "%s: the text encodes to %zu tokens", a->text ? "--text" : a->prompt_file, n_ids);
    *n = (int)n_ids;
    actrm_tokenizer_free(tok);
    free(file_text);
    return rc;
}

static int parse_patch_heads(const char *path, const cJSON *heads, const actrm_model_info *in, patch_file *pf)
{
    if (!cJSON_IsArray(heads) || cJSON_GetArraySize(heads) < 1)
        return cli_fail("forward", "%s: field 'heads' must be a non-empty array of [layer, head]", path);
    pf->n = cJSON_GetArraySize(heads);
    pf->patches = calloc((size_t)pf->n, sizeof *pf->patches);
    if (!pf->patches)
        return cli_fail("forward", "out of memory");
    for (int i = 0; i < pf->n; i++) {
        const cJSON *pair = cJSON_GetArrayItem(heads, i);
        const cJSON *l = cJSON_GetArrayItem(pair, 0), *h = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsNumber(l) || !cJSON_IsNumber(h))
            return cli_fail("forward", "%s: field 'heads[%d]' must be a [layer, head] pair of integers", path, i);
        double dl = l->valuedouble, dh = h->valuedouble;
        if (dl != floor(dl) || dh != floor(dh) || dl < 0 || dl >= in->n_layer || dh < 0 || dh >= in->n_head)
            return cli_fail("forward", "%s: field 'heads[%d]' = [%g, %g] is not a (layer, head) of the model's %d layers x %d heads",
                        path, i, dl, dh, in->n_layer, in->n_head);
        pf->patches[i].layer = (int)dl;
        pf->patches[i].head = (int)dh;
    }
    return 0;
}

static int load_patch_vectors(const char *json_path, const char *rel, const actrm_model_info *in, patch_file *pf)
{
    char *vpath = relative_path(json_path, rel);
    if (!vpath)
        return cli_fail("forward", "out of memory");
    actrm_error err = {0};
    int rc = actrm_npy_read(vpath, ACTRM_NPY_F32, &pf->vectors, &err);
    if (rc == 0 && (pf->vectors.ndim != 2 || pf->vectors.shape[0] != pf->n || pf->vectors.shape[1] != in->head_dim))
        rc = cli_fail("forward", "%s: shape must be [%d, %d] (heads x head_dim)", vpath, pf->n, in->head_dim);
    else if (rc)
        rc = cli_fail("forward", "%s", err.msg);
    free(vpath);
    for (int i = 0; rc == 0 && i < pf->n; i++)
        pf->patches[i].z = (const float *)pf->vectors.data + (size_t)i * in->head_dim;
    return rc;
}

static int load_patch(const char *path, const actrm_model_info *in, patch_file *pf)
{
    cJSON *root;
    actrm_error err = {0};
    if (actrm_json_load(path, &root, &err))
        return cli_fail("forward", "%s", err.msg);
    int rc = parse_patch_heads(path, cJSON_GetObjectItemCaseSensitive(root, "heads"), in, pf);
    const cJSON *vec = cJSON_GetObjectItemCaseSensitive(root, "vectors");
    if (rc == 0 && !cJSON_IsString(vec))
        rc = cli_fail("forward", "%s: field 'vectors' must be the path of a .npy file", path);
    if (rc == 0)
        rc = load_patch_vectors(path, vec->valuestring, in, pf);
    cJSON_Delete(root);
    return rc;
}

/* Outputs of the run, each [.., n_out, width] per layer slot. */
typedef struct fwd_out {
    float *logits; /* [n_out, V] */
    float *heads;  /* [L, n_out, H*hd] */
    float *hidden; /* [L+1, n_out, D] */
} fwd_out;

static int alloc_out(fwd_out *o, const actrm_model_info *in, int n_out, int logits, int heads, int hidden)
{
    size_t n = (size_t)n_out;
    o->logits = logits ? malloc(n * in->n_vocab * sizeof(float)) : NULL;
    o->heads = heads ? malloc((size_t)in->n_layer * n * in->n_head * in->head_dim * sizeof(float)) : NULL;
    o->hidden = hidden ? malloc((size_t)(in->n_layer + 1) * n * in->n_embd * sizeof(float)) : NULL;
    if ((logits && !o->logits) || (heads && !o->heads) || (hidden && !o->hidden))
        return cli_fail("forward", "out of memory for the outputs");
    return 0;
}

static void free_out(fwd_out *o)
{
    free(o->logits);
    free(o->heads);
    free(o->hidden);
}

/* dst[s, 0..na) = a[s], dst[s, na..na+nb) = b[s] for every slot s. */
static void join_rows(float *dst, const float *a, int na, const float *b, int nb, int slots, int width)
{
    size_t w = (size_t)width;
    for (int s = 0; s < slots; s++) {
        memcpy(dst + (size_t)s * (na + nb) * w, a + (size_t)s * na * w, (size_t)na * w * sizeof(float));
        memcpy(dst + ((size_t)s * (na + nb) + na) * w, b + (size_t)s * nb * w, (size_t)nb * w * sizeof(float));
    }
}

typedef struct fwd_run {
    actrm_session *sess;
    const actrm_model_info *in;
    const patch_file *pf;
} fwd_run;

/* Evaluates tokens, capturing at every position (all) or the last one, and
 * patching at the last position. */
static int eval_part(fwd_run *run, const int32_t *ids, int n, int all, fwd_out *o)
{
    actrm_eval_request req = {.all_positions = all, .logits = o->logits, .heads = o->heads, .hidden = o->hidden};
    if (run->pf) {
        req.patches = run->pf->patches;
        req.n_patches = run->pf->n;
        req.patch_pos = n - 1;
    }
    if (actrm_session_eval(run->sess, ids, n, &req))
        return cli_fail("forward", "%s", actrm_session_errmsg(run->sess));
    return 0;
}

/* Runs the batch. When heads/hidden are wanted at every position but logits
 * only at the last, the last token runs as a second call so that the LM head
 * runs at that position only; the results are the same as one batch. */
static int run_forward(fwd_run *run, const fwd_args *a, const int32_t *ids, int T, fwd_out *o)
{
    const actrm_model_info *in = run->in;
    int all = a->logits_all || a->heads || a->hidden;
    if (!all || a->logits_all || !a->logits_last || T == 1) {
        int n_out = all ? T : 1;
        if (alloc_out(o, in, n_out, a->logits_last || a->logits_all, !!a->heads, !!a->hidden))
            return 1;
        return eval_part(run, ids, T, all, o);
    }
    fwd_out head = {0}, tail = {0};
    int rc = alloc_out(o, in, T, 1, !!a->heads, !!a->hidden) ||
             alloc_out(&head, in, T - 1, 0, !!a->heads, !!a->hidden) ||
             alloc_out(&tail, in, 1, 1, !!a->heads, !!a->hidden);
    const patch_file *pf = run->pf;
    run->pf = NULL;
    rc = rc || eval_part(run, ids, T - 1, 1, &head);
    run->pf = pf;
    rc = rc || eval_part(run, ids + T - 1, 1, 1, &tail);
    if (rc == 0) {
        int hw = in->n_head * in->head_dim;
        memcpy(o->logits + (size_t)(T - 1) * in->n_vocab, tail.logits, (size_t)in->n_vocab * sizeof(float));
        if (o->heads)
            join_rows(o->heads, head.heads, T - 1, tail.heads, 1, in->n_layer, hw);
        if (o->hidden)
            join_rows(o->hidden, head.hidden, T - 1, tail.hidden, 1, in->n_layer + 1, in->n_embd);
    }
    free_out(&head);
    free_out(&tail);
    return rc;
}

static int write_npy(const char *path, const float *data, const int64_t *shape, int ndim)
{
    actrm_error err = {0};
    if (path && actrm_npy_write_f32(path, data, shape, ndim, &err))
        return cli_fail("forward", "%s", err.msg);
    return 0;
}

static int write_outputs(const fwd_args *a, const actrm_model_info *in, int T, const fwd_out *o)
{
    int all = a->logits_all || a->heads || a->hidden;
    const float *last = o->logits ? o->logits + (all ? (size_t)(T - 1) * in->n_vocab : 0) : NULL;
    int64_t s_last[1] = {in->n_vocab};
    int64_t s_all[2] = {T, in->n_vocab};
    int64_t s_heads[4] = {in->n_layer, T, in->n_head, in->head_dim};
    int64_t s_hidden[3] = {in->n_layer + 1, T, in->n_embd};
    return write_npy(a->logits_last, last, s_last, 1) || write_npy(a->logits_all, o->logits, s_all, 2) ||
           write_npy(a->heads, o->heads, s_heads, 4) || write_npy(a->hidden, o->hidden, s_hidden, 3);
}

int cmd_forward(int argc, char **argv)
{
    fwd_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc > 0 ? 0 : 2;
    int32_t *ids = NULL;
    int T = 0;
    actrm_model *model = NULL;
    actrm_session *sess = NULL;
    patch_file pf = {0};
    fwd_out out = {0};
    rc = load_tokens(&a, &ids, &T);
    if (rc == 0 && actrm_model_init(&model, a.model))
        rc = cli_fail("forward", "%s", model ? actrm_model_errmsg(model) : "out of memory");
    const actrm_model_info *in = rc ? NULL : actrm_model_get_info(model);
    if (rc == 0 && a.patch)
        rc = load_patch(a.patch, in, &pf);
    if (rc == 0 && actrm_session_init(&sess, model, T, a.n_threads))
        rc = cli_fail("forward", "%s", sess ? actrm_session_errmsg(sess) : "out of memory");
    fwd_run run = {sess, in, a.patch ? &pf : NULL};
    if (rc == 0)
        rc = run_forward(&run, &a, ids, T, &out);
    if (rc == 0)
        rc = write_outputs(&a, in, T, &out);
    free_out(&out);
    free(pf.patches);
    actrm_npy_free(&pf.vectors);
    actrm_session_free(sess);
    actrm_model_free(model);
    free(ids);
    return rc ? 1 : 0;
}
