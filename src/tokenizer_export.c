/*
 * Hugging Face tokenizer.json + tokenizer_config.json -> GGUF keys.
 *
 * llama.cpp's keys (tokenizer.ggml.*) are written the way its converter
 * writes them, so llama.cpp can run the file: "gpt2" for byte-level BPE
 * (with tokenizer.ggml.pre naming the split regex), "llama" for
 * SentencePiece-style BPE with byte fallback (with scores that order the
 * merges). Exactness needs more than those keys can say, so the
 * tokenizer.json sub-objects that drive encoding are stored verbatim as JSON
 * text under actrm.tokenizer.* (read back by tokenizer.c):
 *
 *   actrm.tokenizer.format          u32, 1
 *   actrm.tokenizer.normalizer      tokenizer.json "normalizer"
 *   actrm.tokenizer.pre_tokenizer   tokenizer.json "pre_tokenizer"
 *   actrm.tokenizer.decoder         tokenizer.json "decoder"
 *   actrm.tokenizer.model           "model" without vocab and merges
 *   actrm.tokenizer.added_tokens    "added_tokens" (id, content, flags)
 *   actrm.tokenizer.post_processor  {"single_prefix": [ids], "single_suffix": [ids]}:
 *                                   the effective BOS/EOS rule for one sequence
 *   actrm.tokenizer.clean_up_tokenization_spaces  bool (tokenizer_config.json)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

typedef struct exporter {
    const char *dir;
    char tj_path[4096], tc_path[4096];
    cJSON *tj, *tc;            /* tokenizer.json, tokenizer_config.json (or NULL) */
    const cJSON *model;
    tok_pipeline pipe;
    int n_tok;                 /* tokens written, padding included */
    const char **tokens;       /* [n_tok] */
    int32_t *types;            /* [n_tok] */
    float *scores;             /* [n_tok], SentencePiece style only */
    char **owned;              /* strings allocated here */
    size_t n_owned;
    const char **merges;
    size_t n_merges;
    tok_map by_text;
    int32_t bos, eos, unk, pad;
    cJSON *prefix, *suffix;    /* arrays of ids */
    char *chat_template;
    actrm_error *err;
} exporter;

static int nomem(actrm_error *err)
{
    return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
}

static char *own(exporter *x, char *s)
{
    if (!s)
        return NULL;
    char **o = realloc(x->owned, (x->n_owned + 1) * sizeof *o);
    if (!o) {
        free(s);
        return NULL;
    }
    x->owned = o;
    x->owned[x->n_owned++] = s;
    return s;
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int is_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(get(o, key));
}

/* -------------------------------------------------------------- model -- */

static int check_model(exporter *x)
{
    x->model = get(x->tj, "model");
    const cJSON *type = get(x->model, "type");
    if (!cJSON_IsObject(x->model))
        return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: missing field 'model'", x->tj_path);
    /* files from old tokenizers versions omit model.type for BPE */
    const char *t = cJSON_IsString(type) ? type->valuestring : get(x->model, "merges") ? "BPE" : "(missing)";
    if (strcmp(t, "BPE") != 0)
        return actrm_error_set(x->err, ACTRM_ERR_UNSUPPORTED,
                               "%s: model.type '%s' is not supported (only BPE tokenizers are)", x->tj_path, t);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = get(x->model, affixes[i]);
        if (cJSON_IsString(a) && a->valuestring[0])
            return actrm_error_set(x->err, ACTRM_ERR_UNSUPPORTED, "%s: model.%s '%s' is not supported",
                                   x->tj_path, affixes[i], a->valuestring);
    }
    const cJSON *dropout = get(x->model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0)
        return actrm_error_set(x->err, ACTRM_ERR_UNSUPPORTED,
                               "%s: model.dropout %g is not supported (encoding would be random)",
                               x->tj_path, dropout->valuedouble);
    if (!cJSON_IsObject(get(x->model, "vocab")) || !cJSON_IsArray(get(x->model, "merges")))
        return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: model.vocab or model.merges missing", x->tj_path);
    int rc = tok_pipeline_parse(&x->pipe, get(x->tj, "normalizer"), get(x->tj, "pre_tokenizer"),
                                get(x->tj, "decoder"), x->err);
    return rc ? actrm_error_prefix(x->err, "%s", x->tj_path) : ACTRM_OK;
}

/* ------------------------------------------------------------- tokens -- */

static int max_token_id(exporter *x, int *out)
{
    double max = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, get(x->model, "vocab")) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > INT32_MAX - 1)
            return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: model.vocab['%s']: bad id", x->tj_path, it->string);
        if (it->valuedouble > max)
            max = it->valuedouble;
    }
    int i = 0;
    cJSON_ArrayForEach(it, get(x->tj, "added_tokens")) {
        const cJSON *id = get(it, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX - 1 ||
            !cJSON_IsString(get(it, "content")))
            return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: added_tokens[%d]: bad id or content", x->tj_path, i);
        if (id->valuedouble > max)
            max = id->valuedouble;
        i++;
    }
    *out = (int)max + 1;
    return ACTRM_OK;
}

/* llama.cpp's converter treats <|...|> tokens as control tokens even when
 * tokenizer.json does not mark them special. */
static int looks_special(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && strncmp(s, "<|", 2) == 0 && strcmp(s + n - 2, "|>") == 0;
}

static int is_byte_token(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    return strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>' && strchr(hex, s[3]) && strchr(hex, s[4]);
}

static int collect_tokens(exporter *x, int n_vocab)
{
    int n_used = 0, rc = max_token_id(x, &n_used);
    if (rc)
        return rc;
    if (n_vocab > 0 && n_vocab < n_used)
        return actrm_error_set(x->err, ACTRM_ERR_MISMATCH,
                               "config.json vocab_size %d is smaller than the %d tokens of %s", n_vocab, n_used,
                               x->tj_path);
    x->n_tok = n_vocab > n_used ? n_vocab : n_used;
    x->tokens = calloc((size_t)x->n_tok, sizeof *x->tokens);
    x->types = calloc((size_t)x->n_tok, sizeof *x->types);
    if (!x->tokens || !x->types)
        return nomem(x->err);
    const cJSON *it;
    cJSON_ArrayForEach(it, get(x->model, "vocab")) {
        x->tokens[it->valueint] = it->string;
        x->types[it->valueint] = TOK_TYPE_NORMAL;
    }
    const cJSON *unk = get(x->model, "unk_token");
    int byte_fallback = is_true(x->model, "byte_fallback");
    for (int i = 0; i < x->n_tok; i++) {
        if (!x->tokens[i])
            continue;
        if (cJSON_IsString(unk) && strcmp(x->tokens[i], unk->valuestring) == 0)
            x->types[i] = TOK_TYPE_UNKNOWN;
        else if (byte_fallback && is_byte_token(x->tokens[i]))
            x->types[i] = TOK_TYPE_BYTE;
    }
    cJSON_ArrayForEach(it, get(x->tj, "added_tokens")) {
        int id = get(it, "id")->valueint;
        const char *content = get(it, "content")->valuestring;
        x->tokens[id] = content;
        if (x->types[id] == TOK_TYPE_UNKNOWN) /* e.g. <unk>, also listed as added */
            continue;
        x->types[id] = is_true(it, "special") || looks_special(content) ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
    }
    /* ids no token uses (the model's embedding is larger) */
    for (int i = 0; i < x->n_tok; i++)
        if (!x->tokens[i]) {
            char name[32];
            snprintf(name, sizeof name, "[PAD%d]", i);
            if (!(x->tokens[i] = own(x, strdup(name))))
                return nomem(x->err);
            x->types[i] = TOK_TYPE_UNUSED;
        }
    if (tok_map_init(&x->by_text, (size_t)x->n_tok))
        return nomem(x->err);
    for (int i = 0; i < x->n_tok; i++)
        if (tok_map_put(&x->by_text, x->tokens[i], strlen(x->tokens[i]), i) < 0)
            return nomem(x->err);
    return ACTRM_OK;
}

static int32_t token_id(const exporter *x, const char *text)
{
    return text ? tok_map_get(&x->by_text, text, strlen(text)) : -1;
}

/* "a b" strings (older files) or ["a", "b"] pairs (newer ones). */
static int collect_merges(exporter *x)
{
    const cJSON *list = get(x->model, "merges");
    x->n_merges = (size_t)cJSON_GetArraySize(list);
    x->merges = malloc((x->n_merges ? x->n_merges : 1) * sizeof *x->merges);
    if (!x->merges)
        return nomem(x->err);
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, list) {
        if (cJSON_IsString(m)) {
            x->merges[i++] = m->valuestring;
            continue;
        }
        const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 2 || !cJSON_IsString(a) || !cJSON_IsString(b))
            return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [a, b]",
                                   x->tj_path, i);
        size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
        char *s = own(x, malloc(la + lb + 2));
        if (!s)
            return nomem(x->err);
        memcpy(s, a->valuestring, la);
        s[la] = ' ';
        memcpy(s + la + 1, b->valuestring, lb + 1);
        x->merges[i++] = s;
    }
    return ACTRM_OK;
}

/* SentencePiece-style scores that make llama.cpp's highest-score-first
 * merging follow the merge ranks: a token made by merge r scores -r; other
 * normal tokens (single characters) rank below every merge. */
static int spm_scores(exporter *x)
{
    if (!(x->scores = malloc((size_t)x->n_tok * sizeof *x->scores)))
        return nomem(x->err);
    for (int i = 0; i < x->n_tok; i++)
        x->scores[i] = x->types[i] == TOK_TYPE_NORMAL ? -(float)(x->n_merges + (size_t)i) : 0.0f;
    actrm_buf joined = {0};
    for (size_t r = x->n_merges; r-- > 0;) {
        const char *m = x->merges[r], *sp = m[0] ? strchr(m + 1, ' ') : NULL;
        if (!sp)
            continue;
        joined.len = 0;
        if (actrm_buf_append(&joined, m, (size_t)(sp - m)) || actrm_buf_append(&joined, sp + 1, strlen(sp + 1))) {
            free(joined.p);
            return nomem(x->err);
        }
        int32_t id = token_id(x, joined.p);
        if (id >= 0 && x->types[id] == TOK_TYPE_NORMAL)
            x->scores[id] = -(float)r;
    }
    free(joined.p);
    return ACTRM_OK;
}

/* ------------------------------------------------------ special tokens -- */

/* tokenizer_config.json spells a token as a string or {"content": ...}. */
static const char *config_token(const exporter *x, const char *key)
{
    const cJSON *v = get(x->tc, key);
    if (cJSON_IsObject(v))
        v = get(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int push_ids(cJSON *arr, const cJSON *ids)
{
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) {
        if (!cJSON_IsNumber(id))
            return -1;
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(id->valuedouble));
    }
    return 0;
}

static int template_processing(exporter *x, const cJSON *pp, const char *path)
{
    const cJSON *special = get(pp, "special_tokens"), *item;
    cJSON *target = x->prefix;
    cJSON_ArrayForEach(item, get(pp, "single")) {
        const cJSON *st = get(item, "SpecialToken");
        if (get(item, "Sequence")) {
            target = x->suffix;
            continue;
        }
        const cJSON *name = get(st, "id");
        const cJSON *ids = cJSON_IsString(name) ? get(get(special, name->valuestring), "ids") : NULL;
        if (!cJSON_IsArray(ids) || push_ids(target, ids))
            return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: %s.single: special token '%s' has no ids",
                                   x->tj_path, path, cJSON_IsString(name) ? name->valuestring : "?");
    }
    return ACTRM_OK;
}

/* Roberta/Bert processors: "cls": [text, id], "sep": [text, id]. */
static int cls_sep_processing(exporter *x, const cJSON *pp)
{
    const cJSON *cls = cJSON_GetArrayItem(get(pp, "cls"), 1), *sep = cJSON_GetArrayItem(get(pp, "sep"), 1);
    if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(sep))
        return actrm_error_set(x->err, ACTRM_ERR_FORMAT, "%s: post_processor: cls/sep missing", x->tj_path);
    cJSON_AddItemToArray(x->prefix, cJSON_CreateNumber(cls->valuedouble));
    cJSON_AddItemToArray(x->suffix, cJSON_CreateNumber(sep->valuedouble));
    return ACTRM_OK;
}

static int post_processor(exporter *x, const cJSON *pp, const char *path)
{
    if (!pp || cJSON_IsNull(pp))
        return ACTRM_OK;
    const cJSON *type = get(pp, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "?";
    if (strcmp(t, "ByteLevel") == 0)
        return ACTRM_OK;
    if (strcmp(t, "TemplateProcessing") == 0)
        return template_processing(x, pp, path);
    if (strcmp(t, "RobertaProcessing") == 0 || strcmp(t, "BertProcessing") == 0)
        return cls_sep_processing(x, pp);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *p;
        int i = 0;
        cJSON_ArrayForEach(p, get(pp, "processors")) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.processors[%d]", path, i++);
            int rc = post_processor(x, p, sub);
            if (rc)
                return rc;
        }
        return ACTRM_OK;
    }
    return actrm_error_set(x->err, ACTRM_ERR_UNSUPPORTED, "%s: %s.type '%s' is not supported", x->tj_path, path, t);
}

/* transformers rebuilds the post-processor of these classes from
 * add_bos_token / add_eos_token (LlamaTokenizerFast.update_post_processor). */
static void config_bos_eos_override(exporter *x)
{
    static const char *const classes[] = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                          "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"};
    const cJSON *cls = get(x->tc, "tokenizer_class");
    int known = 0;
    for (size_t i = 0; cJSON_IsString(cls) && i < sizeof classes / sizeof classes[0]; i++)
        known |= strcmp(cls->valuestring, classes[i]) == 0;
    if (!known || (!get(x->tc, "add_bos_token") && !get(x->tc, "add_eos_token")))
        return;
    const cJSON *ab = get(x->tc, "add_bos_token"), *ae = get(x->tc, "add_eos_token");
    cJSON_Delete(x->prefix);
    cJSON_Delete(x->suffix);
    x->prefix = cJSON_CreateArray();
    x->suffix = cJSON_CreateArray();
    if ((!ab || cJSON_IsTrue(ab)) && x->bos >= 0)
        cJSON_AddItemToArray(x->prefix, cJSON_CreateNumber(x->bos));
    if (cJSON_IsTrue(ae) && x->eos >= 0)
        cJSON_AddItemToArray(x->suffix, cJSON_CreateNumber(x->eos));
}

static int special_tokens(exporter *x)
{
    x->bos = token_id(x, config_token(x, "bos_token"));
    x->eos = token_id(x, config_token(x, "eos_token"));
    x->pad = token_id(x, config_token(x, "pad_token"));
    const cJSON *unk = get(x->model, "unk_token");
    x->unk = token_id(x, cJSON_IsString(unk) ? unk->valuestring : config_token(x, "unk_token"));
    x->prefix = cJSON_CreateArray();
    x->suffix = cJSON_CreateArray();
    if (!x->prefix || !x->suffix)
        return nomem(x->err);
    int rc = post_processor(x, get(x->tj, "post_processor"), "post_processor");
    if (rc)
        return rc;
    config_bos_eos_override(x);
    return ACTRM_OK;
}

/* tokenizer_config.json's chat_template (a string, or a list of named
 * templates of which "default" is used), else chat_template.jinja. */
static int chat_template(exporter *x)
{
    const cJSON *t = get(x->tc, "chat_template");
    if (cJSON_IsArray(t)) {
        const cJSON *it, *pick = NULL;
        cJSON_ArrayForEach(it, t) {
            const cJSON *name = get(it, "name");
            if (!pick || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0))
                pick = it;
        }
        t = get(pick, "template");
    }
    if (cJSON_IsString(t))
        return (x->chat_template = own(x, strdup(t->valuestring))) ? ACTRM_OK : nomem(x->err);
    char path[4200];
    snprintf(path, sizeof path, "%s/chat_template.jinja", x->dir);
    if (!actrm_file_exists(path)) /* chat_template.jinja is optional */
        return ACTRM_OK;
    char *text;
    int rc = actrm_read_file(path, &text, NULL, x->err);
    if (rc)
        return rc;
    return (x->chat_template = own(x, text)) ? ACTRM_OK : nomem(x->err);
}

/* -------------------------------------------------------------- write -- */

static int set_json(gguf_writer *w, const char *key, const cJSON *v)
{
    char *s = v ? cJSON_PrintUnformatted(v) : strdup("null");
    if (!s)
        return -1;
    int rc = gguf_set_str(w, key, s);
    free(s);
    return rc;
}

/* "model" without vocab and merges. */
static cJSON *model_options(const cJSON *model)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, model)
        if (strcmp(it->string, "vocab") != 0 && strcmp(it->string, "merges") != 0)
            cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
    if (!get(o, "type"))
        cJSON_AddStringToObject(o, "type", "BPE");
    return o;
}

/* The regex of the first Split pre-tokenizer, or NULL. */
static const char *first_split_regex(const cJSON *pre)
{
    const cJSON *steps = get(pre, "pretokenizers"), *s;
    if (!cJSON_IsArray(steps)) {
        const cJSON *re = get(get(pre, "pattern"), "Regex");
        return cJSON_IsString(re) ? re->valuestring : NULL;
    }
    cJSON_ArrayForEach(s, steps) {
        const char *re = first_split_regex(s);
        if (re)
            return re;
    }
    return NULL;
}

/* llama.cpp's tokenizer.ggml.pre name for the split regex. */
static const char *pre_name(const exporter *x)
{
    const char *re = first_split_regex(get(x->tj, "pre_tokenizer"));
    if (re)
        return tok_pre_name_for_regex(re);
    for (int i = 0; i < x->pipe.n_pre; i++)
        if (x->pipe.pre[i].kind == PRE_BYTELEVEL && x->pipe.pre[i].re)
            return "gpt-2";
    return "default";
}

static int space_prefix(const exporter *x)
{
    for (int i = 0; i < x->pipe.n_norm; i++)
        if (x->pipe.norm[i].kind == NORM_PREPEND)
            return 1;
    for (int i = 0; i < x->pipe.n_pre; i++)
        if (x->pipe.pre[i].kind == PRE_METASPACE && x->pipe.pre[i].prepend_scheme != PREPEND_NEVER)
            return 1;
    return 0;
}

static int write_ids(gguf_writer *w, const exporter *x)
{
    int rc = 0;
    if (x->bos >= 0) rc |= gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)x->bos);
    if (x->eos >= 0) rc |= gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)x->eos);
    if (x->unk >= 0) rc |= gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)x->unk);
    if (x->pad >= 0) rc |= gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)x->pad);
    int add_bos = x->bos >= 0 && cJSON_GetArraySize(x->prefix) == 1 &&
                  cJSON_GetArrayItem(x->prefix, 0)->valueint == x->bos;
    int add_eos = x->eos >= 0 && cJSON_GetArraySize(x->suffix) == 1 &&
                  cJSON_GetArrayItem(x->suffix, 0)->valueint == x->eos;
    rc |= gguf_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos);
    rc |= gguf_set_bool(w, "tokenizer.ggml.add_eos_token", add_eos);
    return rc;
}

static int write_actrm_keys(gguf_writer *w, const exporter *x)
{
    cJSON *model = model_options(x->model);
    cJSON *post = cJSON_CreateObject();
    if (!model || !post) {
        cJSON_Delete(model);
        cJSON_Delete(post);
        return -1;
    }
    cJSON_AddItemToObject(post, "single_prefix", cJSON_Duplicate(x->prefix, 1));
    cJSON_AddItemToObject(post, "single_suffix", cJSON_Duplicate(x->suffix, 1));
    const cJSON *clean = get(x->tc, "clean_up_tokenization_spaces");
    int rc = gguf_set_u32(w, "actrm.tokenizer.format", 1);
    rc |= set_json(w, "actrm.tokenizer.normalizer", get(x->tj, "normalizer"));
    rc |= set_json(w, "actrm.tokenizer.pre_tokenizer", get(x->tj, "pre_tokenizer"));
    rc |= set_json(w, "actrm.tokenizer.decoder", get(x->tj, "decoder"));
    rc |= set_json(w, "actrm.tokenizer.model", model);
    const cJSON *added = get(x->tj, "added_tokens");
    cJSON *none = cJSON_CreateArray();
    rc |= set_json(w, "actrm.tokenizer.added_tokens", added ? added : none);
    cJSON_Delete(none);
    rc |= set_json(w, "actrm.tokenizer.post_processor", post);
    /* transformers defaults to False when tokenizer_config.json is silent */
    rc |= gguf_set_bool(w, "actrm.tokenizer.clean_up_tokenization_spaces", cJSON_IsTrue(clean));
    cJSON_Delete(model);
    cJSON_Delete(post);
    return rc;
}

static int write_keys(gguf_writer *w, exporter *x)
{
    int byte_level = x->pipe.byte_level;
    int rc = gguf_set_str(w, "tokenizer.ggml.model", byte_level ? "gpt2" : "llama");
    if (byte_level)
        rc |= gguf_set_str(w, "tokenizer.ggml.pre", pre_name(x));
    else
        rc |= gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", space_prefix(x));
    rc |= gguf_set_str_arr(w, "tokenizer.ggml.tokens", x->tokens, (uint64_t)x->n_tok);
    rc |= gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, x->types, (uint64_t)x->n_tok);
    if (x->scores)
        rc |= gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, x->scores, (uint64_t)x->n_tok);
    rc |= gguf_set_str_arr(w, "tokenizer.ggml.merges", x->merges, x->n_merges);
    rc |= write_ids(w, x);
    if (x->chat_template)
        rc |= gguf_set_str(w, "tokenizer.chat_template", x->chat_template);
    rc |= write_actrm_keys(w, x);
    return rc ? nomem(x->err) : ACTRM_OK;
}

static void exporter_free(exporter *x)
{
    cJSON_Delete(x->tj);
    cJSON_Delete(x->tc);
    cJSON_Delete(x->prefix);
    cJSON_Delete(x->suffix);
    tok_pipeline_free(&x->pipe);
    tok_map_free(&x->by_text);
    for (size_t i = 0; i < x->n_owned; i++)
        free(x->owned[i]);
    free(x->owned);
    free(x->tokens);
    free(x->types);
    free(x->scores);
    free(x->merges);
}

static int read_sources(exporter *x)
{
    snprintf(x->tj_path, sizeof x->tj_path, "%s/tokenizer.json", x->dir);
    snprintf(x->tc_path, sizeof x->tc_path, "%s/tokenizer_config.json", x->dir);
    int rc = actrm_json_load(x->tj_path, &x->tj, x->err);
    if (rc || !actrm_file_exists(x->tc_path)) /* tokenizer_config.json is optional */
        return rc;
    return actrm_json_load(x->tc_path, &x->tc, x->err);
}

int actrm_tokenizer_export(gguf_writer *w, const char *hf_dir, int n_vocab, actrm_error *err)
{
    if (!w || !hf_dir)
        return actrm_error_set(err, ACTRM_ERR_ARG, "actrm_tokenizer_export: NULL argument");
    exporter x = {.dir = hf_dir, .err = err};
    int rc = read_sources(&x);
    if (!rc) rc = check_model(&x);
    if (!rc) rc = collect_tokens(&x, n_vocab);
    if (!rc) rc = collect_merges(&x);
    if (!rc && !x.pipe.byte_level) rc = spm_scores(&x);
    if (!rc) rc = special_tokens(&x);
    if (!rc) rc = chat_template(&x);
    if (!rc) rc = write_keys(w, &x);
    exporter_free(&x);
    return rc;
}
