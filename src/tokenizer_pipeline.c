/* Parses tokenizer.json's normalizer / pre_tokenizer / decoder objects into
 * the steps the encoder and decoder run, and knows the regexes behind
 * llama.cpp's tokenizer.ggml.pre names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

/* GPT-2's pattern (ByteLevel use_regex, llama.cpp "default"/"gpt-2"). */
const char tok_regex_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Llama 3 (llama.cpp "llama-bpe") and Qwen2/2.5/3 ("qwen2"): they differ
 * only in how many digits one pre-token may hold. */
static const char regex_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char regex_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const struct {
    const char *name;
    const char *regex;
} known_pre[] = {
    {"llama-bpe", regex_llama3},
    {"llama3", regex_llama3},
    {"qwen2", regex_qwen2},
    {"default", tok_regex_gpt2},
    {"gpt-2", tok_regex_gpt2},
};

const char *tok_pre_regex_for_name(const char *pre_name)
{
    for (size_t i = 0; i < sizeof known_pre / sizeof known_pre[0]; i++)
        if (strcmp(pre_name, known_pre[i].name) == 0)
            return known_pre[i].regex;
    return NULL;
}

const char *tok_pre_name_for_regex(const char *regex)
{
    if (strcmp(regex, regex_llama3) == 0)
        return "llama-bpe";
    if (strcmp(regex, regex_qwen2) == 0)
        return "qwen2";
    if (strcmp(regex, tok_regex_gpt2) == 0)
        return "gpt-2";
    return "default";
}

pcre2_code *tok_regex_compile(const char *pattern, int literal, actrm_error *err,
                              const char *field)
{
    int code;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s: regex /%s/ does not compile at offset %zu: %s",
                        field, pattern, (size_t)off, (const char *)msg);
        return NULL;
    }
    /* JIT is an optimisation: without it pcre2_match still works. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* ------------------------------------------------------------- helpers -- */

static int is_null(const cJSON *j)
{
    return !j || cJSON_IsNull(j);
}

static const char *type_of(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

static const char *str_field(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int bool_field(const cJSON *j, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static int nomem(actrm_error *err)
{
    return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
}

static int unsupported(actrm_error *err, const char *path, const char *what)
{
    return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s.type '%s' is not supported", path, what);
}

/* {"String": s} or {"Regex": r}: returns the text and whether it is a regex. */
static int pattern_field(const cJSON *j, const char *path, const char **text, int *is_regex,
                         actrm_error *err)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
    if (cJSON_IsString(s)) {
        *text = s->valuestring;
        *is_regex = 0;
        return ACTRM_OK;
    }
    if (cJSON_IsString(r)) {
        *text = r->valuestring;
        *is_regex = 1;
        return ACTRM_OK;
    }
    return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", path);
}

static int prepend_scheme_field(const cJSON *j)
{
    const char *s = str_field(j, "prepend_scheme");
    if (s && strcmp(s, "first") == 0)
        return PREPEND_FIRST;
    if (s && strcmp(s, "never") == 0)
        return PREPEND_NEVER;
    if (!s && !bool_field(j, "add_prefix_space", 1))
        return PREPEND_NEVER; /* older files spell it add_prefix_space */
    return PREPEND_ALWAYS;
}

/* Calls one(step) for a single object, or for each element of a Sequence
 * whose list is under list_key. */
typedef int (*step_fn)(tok_pipeline *p, const cJSON *j, const char *path, actrm_error *err);

static int for_each_step(tok_pipeline *p, const cJSON *j, const char *path, const char *list_key,
                         step_fn one, actrm_error *err)
{
    if (is_null(j))
        return ACTRM_OK;
    if (strcmp(type_of(j), "Sequence") != 0)
        return one(p, j, path, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, list_key);
    if (!cJSON_IsArray(list))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.%s: expected an array", path, list_key);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s[%d]", path, list_key, i++);
        int rc = for_each_step(p, it, sub, list_key, one, err);
        if (rc)
            return rc;
    }
    return ACTRM_OK;
}

/* ---------------------------------------------------------- normalizer -- */

/* arr (n elements of size bytes) grown by one zeroed element; NULL when out
 * of memory, arr then being unchanged. */
static void *append_zeroed(void *arr, int n, size_t size)
{
    char *a = realloc(arr, (size_t)(n + 1) * size);
    if (a)
        memset(a + (size_t)n * size, 0, size);
    return a;
}

static tok_norm_step *push_norm(tok_pipeline *p)
{
    tok_norm_step *a = append_zeroed(p->norm, p->n_norm, sizeof *a);
    if (a)
        p->norm = a;
    return a ? &a[p->n_norm++] : NULL;
}

static int parse_norm(tok_pipeline *p, const cJSON *j, const char *path, actrm_error *err)
{
    static const struct { const char *name; int kind; } simple[] = {
        {"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC},
        {"NFKD", NORM_NFKD}, {"Lowercase", NORM_LOWERCASE},
    };
    const char *type = type_of(j);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].name) == 0) {
            tok_norm_step *s = push_norm(p);
            if (!s)
                return nomem(err);
            s->kind = simple[i].kind;
            return ACTRM_OK;
        }
    if (strcmp(type, "Prepend") == 0) {
        const char *pre = str_field(j, "prepend");
        if (!pre)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.prepend: missing", path);
        tok_norm_step *s = push_norm(p);
        if (!s || !(s->a = strdup(pre)))
            return nomem(err);
        s->kind = NORM_PREPEND;
        return ACTRM_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *pat, *content = str_field(j, "content");
        int is_regex, rc = pattern_field(j, path, &pat, &is_regex, err);
        if (rc)
            return rc;
        if (!content)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.content: missing", path);
        if (!*pat)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.pattern: empty", path);
        tok_norm_step *s = push_norm(p);
        if (!s || !(s->a = strdup(pat)) || !(s->b = strdup(content)))
            return nomem(err);
        s->kind = NORM_REPLACE;
        if (is_regex && !(s->re = tok_regex_compile(pat, 0, err, path)))
            return err->status;
        if (!is_regex && !*pat)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s.pattern: empty string", path);
        return ACTRM_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        tok_norm_step *s = push_norm(p);
        if (!s)
            return nomem(err);
        s->kind = NORM_STRIP;
        s->left = bool_field(j, "strip_left", 1);
        s->right = bool_field(j, "strip_right", 1);
        return ACTRM_OK;
    }
    return unsupported(err, path, type);
}

/* ------------------------------------------------------- pre-tokenizer -- */

static tok_pre_step *push_pre(tok_pipeline *p)
{
    tok_pre_step *a = append_zeroed(p->pre, p->n_pre, sizeof *a);
    if (a)
        p->pre = a;
    return a ? &a[p->n_pre++] : NULL;
}

static int behavior_field(const cJSON *j, const char *path, int *out, actrm_error *err)
{
    static const struct { const char *name; int v; } names[] = {
        {"Removed", SPLIT_REMOVED}, {"Isolated", SPLIT_ISOLATED},
        {"MergedWithPrevious", SPLIT_MERGED_WITH_PREVIOUS},
        {"MergedWithNext", SPLIT_MERGED_WITH_NEXT}, {"Contiguous", SPLIT_CONTIGUOUS},
    };
    const char *b = str_field(j, "behavior");
    for (size_t i = 0; b && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(b, names[i].name) == 0) {
            *out = names[i].v;
            return ACTRM_OK;
        }
    return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s.behavior '%s' is not supported", path,
                           b ? b : "(missing)");
}

static int add_split(tok_pipeline *p, const char *regex, int literal, int behavior, int invert,
                     const char *path, actrm_error *err)
{
    tok_pre_step *s = push_pre(p);
    if (!s)
        return nomem(err);
    s->kind = PRE_SPLIT;
    s->behavior = behavior;
    s->invert = invert;
    s->re = tok_regex_compile(regex, literal, err, path);
    return s->re ? ACTRM_OK : err->status;
}

static int parse_pre(tok_pipeline *p, const cJSON *j, const char *path, actrm_error *err)
{
    const char *type = type_of(j);
    if (strcmp(type, "Split") == 0) {
        const char *pat;
        int is_regex, behavior = SPLIT_ISOLATED, rc = pattern_field(j, path, &pat, &is_regex, err);
        if (rc || (rc = behavior_field(j, path, &behavior, err)))
            return rc;
        return add_split(p, pat, !is_regex, behavior, bool_field(j, "invert", 0), path, err);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        tok_pre_step *s = push_pre(p);
        if (!s)
            return nomem(err);
        s->kind = PRE_BYTELEVEL;
        s->add_prefix_space = bool_field(j, "add_prefix_space", 1);
        p->byte_level = 1;
        if (bool_field(j, "use_regex", 1) && !(s->re = tok_regex_compile(tok_regex_gpt2, 0, err, path)))
            return err->status;
        return ACTRM_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = str_field(j, "replacement");
        tok_pre_step *s = push_pre(p);
        if (!s || !(s->replacement = strdup(rep ? rep : "\xE2\x96\x81")))
            return nomem(err);
        s->kind = PRE_METASPACE;
        s->prepend_scheme = prepend_scheme_field(j);
        s->split = bool_field(j, "split", 1);
        return ACTRM_OK;
    }
    if (strcmp(type, "Digits") == 0)
        return add_split(p, "\\p{N}", 0, bool_field(j, "individual_digits", 0) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS,
                         0, path, err);
    if (strcmp(type, "WhitespaceSplit") == 0)
        return add_split(p, "\\s+", 0, SPLIT_REMOVED, 0, path, err);
    if (strcmp(type, "Whitespace") == 0)
        return add_split(p, "\\w+|[^\\w\\s]+", 0, SPLIT_REMOVED, 1, path, err);
    return unsupported(err, path, type);
}

/* ------------------------------------------------------------- decoder -- */

static tok_dec_step *push_dec(tok_pipeline *p)
{
    tok_dec_step *a = append_zeroed(p->dec, p->n_dec, sizeof *a);
    if (a)
        p->dec = a;
    return a ? &a[p->n_dec++] : NULL;
}

static int parse_dec(tok_pipeline *p, const cJSON *j, const char *path, actrm_error *err)
{
    const char *type = type_of(j);
    tok_dec_step *s;
    if (strcmp(type, "ByteLevel") == 0 || strcmp(type, "ByteFallback") == 0 ||
        strcmp(type, "Fuse") == 0) {
        if (!(s = push_dec(p)))
            return nomem(err);
        s->kind = type[0] == 'F' ? DEC_FUSE : type[4] == 'L' ? DEC_BYTELEVEL : DEC_BYTEFALLBACK;
        return ACTRM_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *pat, *content = str_field(j, "content");
        int is_regex, rc = pattern_field(j, path, &pat, &is_regex, err);
        if (rc)
            return rc;
        if (is_regex)
            return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s.pattern: a Regex pattern is not supported in a decoder", path);
        if (!content || !*pat)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: missing pattern or content", path);
        if (!(s = push_dec(p)) || !(s->a = strdup(pat)) || !(s->b = strdup(content)))
            return nomem(err);
        s->kind = DEC_REPLACE;
        return ACTRM_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        const char *c = str_field(j, "content");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "start");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "stop");
        if (!(s = push_dec(p)) || !(s->a = strdup(c ? c : " ")))
            return nomem(err);
        s->kind = DEC_STRIP;
        s->start = cJSON_IsNumber(st) ? st->valueint : 0;
        s->stop = cJSON_IsNumber(sp) ? sp->valueint : 0;
        return ACTRM_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = str_field(j, "replacement");
        if (!(s = push_dec(p)) || !(s->a = strdup(rep ? rep : "\xE2\x96\x81")))
            return nomem(err);
        s->kind = DEC_METASPACE;
        s->prepend_scheme = prepend_scheme_field(j);
        return ACTRM_OK;
    }
    return unsupported(err, path, type);
}

int tok_pipeline_parse(tok_pipeline *p, const cJSON *normalizer, const cJSON *pre_tokenizer,
                       const cJSON *decoder, actrm_error *err)
{
    memset(p, 0, sizeof *p);
    int rc = for_each_step(p, normalizer, "normalizer", "normalizers", parse_norm, err);
    if (!rc)
        rc = for_each_step(p, pre_tokenizer, "pre_tokenizer", "pretokenizers", parse_pre, err);
    if (!rc)
        rc = for_each_step(p, decoder, "decoder", "decoders", parse_dec, err);
    p->has_decoder = !is_null(decoder);
    if (rc)
        tok_pipeline_free(p);
    return rc;
}

void tok_pipeline_free(tok_pipeline *p)
{
    for (int i = 0; i < p->n_norm; i++) {
        free(p->norm[i].a);
        free(p->norm[i].b);
        pcre2_code_free(p->norm[i].re);
    }
    for (int i = 0; i < p->n_pre; i++) {
        pcre2_code_free(p->pre[i].re);
        free(p->pre[i].replacement);
    }
    for (int i = 0; i < p->n_dec; i++) {
        free(p->dec[i].a);
        free(p->dec[i].b);
    }
    free(p->norm);
    free(p->pre);
    free(p->dec);
    memset(p, 0, sizeof *p);
}
