/*
 * Tokenizer: loading from GGUF and the public encode/decode API.
 *
 * Two kinds of files are read:
 *  - written by `actrm convert`: besides llama.cpp's tokenizer.ggml.* keys
 *    they hold actrm.tokenizer.* keys with tokenizer.json's own normalizer,
 *    pre_tokenizer, decoder, BPE options and added tokens (as JSON text), so
 *    encoding follows Hugging Face exactly;
 *  - made by llama.cpp: the same JSON is synthesised from
 *    tokenizer.ggml.model and tokenizer.ggml.pre (see llamacpp_config()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

#define KEY_FORMAT "actrm.tokenizer.format"
#define ACTRM_TOKENIZER_FORMAT 1

/* What the pipeline is built from, whichever the source. */
typedef struct tok_config {
    cJSON *normalizer, *pre_tokenizer, *decoder, *model, *added, *post;
    int clean_up_spaces;
} tok_config;

static void config_free(tok_config *c)
{
    cJSON_Delete(c->normalizer);
    cJSON_Delete(c->pre_tokenizer);
    cJSON_Delete(c->decoder);
    cJSON_Delete(c->model);
    cJSON_Delete(c->added);
    cJSON_Delete(c->post);
    memset(c, 0, sizeof *c);
}

static int nomem(actrm_error *err)
{
    return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------- vocab -- */

static int load_pieces(actrm_tokenizer *tok, const actrm_gguf *g)
{
    const gguf_str *strs;
    uint64_t n;
    int rc = gguf_get_str_arr(g, "tokenizer.ggml.tokens", &strs, &n, &tok->err);
    if (rc)
        return rc;
    if (n == 0 || n > INT32_MAX)
        return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "tokenizer.ggml.tokens: %llu tokens",
                               (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += strs[i].len + 1;
    tok->n_vocab = (int)n;
    tok->arena = malloc(total);
    tok->piece = malloc(n * sizeof *tok->piece);
    tok->piece_len = malloc(n * sizeof *tok->piece_len);
    tok->type = malloc(n * sizeof *tok->type);
    tok->added_index = malloc(n * sizeof *tok->added_index);
    if (!tok->arena || !tok->piece || !tok->piece_len || !tok->type || !tok->added_index ||
        tok_map_init(&tok->by_piece, n))
        return nomem(&tok->err);
    char *p = tok->arena;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(p, strs[i].ptr, strs[i].len);
        p[strs[i].len] = 0;
        tok->piece[i] = p;
        tok->piece_len[i] = (uint32_t)strs[i].len;
        tok->added_index[i] = -1;
        if (tok_map_put(&tok->by_piece, p, strs[i].len, (int32_t)i) < 0)
            return nomem(&tok->err);
        p += strs[i].len + 1;
    }
    return ACTRM_OK;
}

static int load_types_scores(actrm_tokenizer *tok, const actrm_gguf *g)
{
    const void *data;
    uint64_t n;
    for (int i = 0; i < tok->n_vocab; i++)
        tok->type[i] = TOK_TYPE_NORMAL;
    if (gguf_find_kv(g, "tokenizer.ggml.token_type")) {
        int rc = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &data, &n, &tok->err);
        if (rc)
            return rc;
        if (n != (uint64_t)tok->n_vocab)
            return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT,
                                   "tokenizer.ggml.token_type has %llu entries for %d tokens",
                                   (unsigned long long)n, tok->n_vocab);
        memcpy(tok->type, data, n * sizeof *tok->type);
    }
    if (gguf_find_kv(g, "tokenizer.ggml.scores")) {
        int rc = gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, &data, &n, &tok->err);
        if (rc)
            return rc;
        if (n != (uint64_t)tok->n_vocab)
            return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT,
                                   "tokenizer.ggml.scores has %llu entries for %d tokens",
                                   (unsigned long long)n, tok->n_vocab);
        if (!(tok->score = malloc(n * sizeof *tok->score)))
            return nomem(&tok->err);
        memcpy(tok->score, data, n * sizeof *tok->score);
    }
    return ACTRM_OK;
}

/* Optional token-id key; -1 when absent. */
static int optional_id(actrm_tokenizer *tok, const actrm_gguf *g, const char *key, int32_t *out)
{
    uint32_t v;
    *out = -1;
    if (!gguf_find_kv(g, key))
        return ACTRM_OK;
    int rc = gguf_get_u32(g, key, &v, &tok->err);
    if (rc)
        return rc;
    if (v >= (uint32_t)tok->n_vocab)
        return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "%s = %u is not below the vocabulary size %d",
                               key, v, tok->n_vocab);
    *out = (int32_t)v;
    return ACTRM_OK;
}

static int optional_bool(actrm_tokenizer *tok, const actrm_gguf *g, const char *key, int dflt, int *out)
{
    *out = dflt;
    return gguf_find_kv(g, key) ? gguf_get_bool(g, key, out, &tok->err) : ACTRM_OK;
}

static int is_model_token(const actrm_tokenizer *tok, int32_t id)
{
    int t = tok->type[id];
    return tok->added_index[id] < 0 &&
           (t == TOK_TYPE_NORMAL || t == TOK_TYPE_UNKNOWN || t == TOK_TYPE_BYTE);
}

/* Byte-level vocabularies are keyed by the raw bytes each token stands for,
 * so pieces of input text are looked up without mapping them first. */
static int build_model_vocab(actrm_tokenizer *tok)
{
    if (tok_map_init(&tok->model_vocab, (size_t)tok->n_vocab))
        return nomem(&tok->err);
    if (!tok->pipe.byte_level) {
        for (int32_t i = 0; i < tok->n_vocab; i++)
            if (is_model_token(tok, i) && tok_map_put(&tok->model_vocab, tok->piece[i], tok->piece_len[i], i) < 0)
                return nomem(&tok->err);
        return ACTRM_OK;
    }
    size_t total = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++)
        total += tok->piece_len[i];
    char *p = tok->model_arena = malloc(total + 1);
    if (!p)
        return nomem(&tok->err);
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        if (!is_model_token(tok, i))
            continue;
        const unsigned char *s = (const unsigned char *)tok->piece[i];
        size_t n = tok->piece_len[i], len = 0, k = 0;
        int ok = 1;
        while (ok && k < n) {
            uint32_t cp;
            int m = tok_utf8_next(s + k, n - k, &cp);
            int b = m ? tok_cp_to_byte(cp) : -1;
            ok = b >= 0;
            p[len++] = (char)b;
            k += m ? (size_t)m : 1;
        }
        if (ok && len) {
            if (tok_map_put(&tok->model_vocab, p, len, i) < 0)
                return nomem(&tok->err);
            p += len;
        }
    }
    return ACTRM_OK;
}

/* True if U+2581 occurs in s after some other character. */
static int meta_inside(const char *s, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            if (i > 0 && (i < 3 || memcmp(s + i - 3, "\xE2\x96\x81", 3) != 0))
                return 1;
            i += 2;
        }
    return 0;
}

/* Whether SentencePiece text may be cut into words (see tok_bpe_encode). */
static int can_split_words(const actrm_tokenizer *tok)
{
    if (tok->pipe.byte_level || tok->pipe.n_pre || tok->ignore_merges ||
        tok_map_get(&tok->model_vocab, "\xE2\x96\x81", 3) < 0)
        return 0;
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if (is_model_token(tok, i) && meta_inside(tok->piece[i], tok->piece_len[i]))
            return 0;
    return 1;
}

static void find_byte_ids(actrm_tokenizer *tok)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        char c = (char)b;
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_id[b] = tok->pipe.byte_level ? tok_map_get(&tok->model_vocab, &c, 1)
                                               : tok_map_get(&tok->by_piece, name, 6);
    }
}

static int load_merges(actrm_tokenizer *tok, const actrm_gguf *g)
{
    const gguf_str *m;
    uint64_t n;
    int rc = gguf_get_str_arr(g, "tokenizer.ggml.merges", &m, &n, &tok->err);
    if (rc)
        return rc;
    if (tok_pair_map_init(&tok->merges, n))
        return nomem(&tok->err);
    actrm_buf joined = {0};
    for (uint64_t r = 0; r < n; r++) {
        /* "a b": the separator is the first space after the first byte */
        const char *sp = m[r].len > 1 ? memchr(m[r].ptr + 1, ' ', m[r].len - 1) : NULL;
        if (!sp) {
            free(joined.p);
            return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "tokenizer.ggml.merges[%llu]: no space in '%.*s'",
                                   (unsigned long long)r, (int)m[r].len, m[r].ptr);
        }
        size_t la = (size_t)(sp - m[r].ptr), lb = m[r].len - la - 1;
        int32_t a = tok_map_get(&tok->by_piece, m[r].ptr, la);
        int32_t b = tok_map_get(&tok->by_piece, sp + 1, lb);
        joined.len = 0;
        if (actrm_buf_append(&joined, m[r].ptr, la) || actrm_buf_append(&joined, sp + 1, lb)) {
            free(joined.p);
            return nomem(&tok->err);
        }
        int32_t ab = tok_map_get(&tok->by_piece, joined.p, joined.len);
        /* a merge whose parts are not tokens can never apply; HF ignores it too */
        if (a >= 0 && b >= 0 && ab >= 0 && tok_pair_map_put(&tok->merges, a, b, (int32_t)r, ab) < 0) {
            free(joined.p);
            return nomem(&tok->err);
        }
    }
    free(joined.p);
    tok->use_merges = 1;
    return ACTRM_OK;
}

struct scored_id {
    float score;
    int32_t id;
};

static int by_score_desc(const void *a, const void *b)
{
    const struct scored_id *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Scores mode (llama.cpp SentencePiece files): the rank of a merge is the
 * dense rank of its result's score, best first. */
static int build_score_ranks(actrm_tokenizer *tok)
{
    if (!tok->score)
        return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT,
                               "neither tokenizer.ggml.merges nor tokenizer.ggml.scores is present");
    struct scored_id *order = malloc((size_t)tok->n_vocab * sizeof *order);
    tok->score_rank = malloc((size_t)tok->n_vocab * sizeof *tok->score_rank);
    if (!order || !tok->score_rank) {
        free(order);
        return nomem(&tok->err);
    }
    for (int32_t i = 0; i < tok->n_vocab; i++)
        order[i] = (struct scored_id){tok->score[i], i};
    qsort(order, (size_t)tok->n_vocab, sizeof *order, by_score_desc);
    int32_t rank = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        if (i && order[i].score != order[i - 1].score)
            rank++;
        tok->score_rank[order[i].id] = rank;
    }
    free(order);
    return ACTRM_OK;
}

/* ------------------------------------------------------------- config -- */

/* A JSON value stored as a string under key; a missing key is an error. */
static int json_key(actrm_tokenizer *tok, const actrm_gguf *g, const char *key, cJSON **out)
{
    char *text = NULL;
    int rc = gguf_get_strdup(g, key, &text, &tok->err);
    if (rc)
        return rc;
    rc = actrm_json_parse(text, strlen(text), key, out, &tok->err);
    free(text);
    return rc;
}

static int actrm_config(actrm_tokenizer *tok, const actrm_gguf *g, tok_config *c)
{
    uint32_t format;
    int rc = gguf_get_u32(g, KEY_FORMAT, &format, &tok->err);
    if (rc)
        return rc;
    if (format != ACTRM_TOKENIZER_FORMAT)
        return actrm_error_set(&tok->err, ACTRM_ERR_UNSUPPORTED, "%s = %u (this build reads %d)",
                               KEY_FORMAT, format, ACTRM_TOKENIZER_FORMAT);
    if ((rc = json_key(tok, g, "actrm.tokenizer.normalizer", &c->normalizer)) ||
        (rc = json_key(tok, g, "actrm.tokenizer.pre_tokenizer", &c->pre_tokenizer)) ||
        (rc = json_key(tok, g, "actrm.tokenizer.decoder", &c->decoder)) ||
        (rc = json_key(tok, g, "actrm.tokenizer.model", &c->model)) ||
        (rc = json_key(tok, g, "actrm.tokenizer.added_tokens", &c->added)) ||
        (rc = json_key(tok, g, "actrm.tokenizer.post_processor", &c->post)))
        return rc;
    return optional_bool(tok, g, "actrm.tokenizer.clean_up_tokenization_spaces", 0, &c->clean_up_spaces);
}

static cJSON *typed(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static cJSON *with_pattern(cJSON *o, const char *kind, const char *pattern)
{
    cJSON *p = cJSON_AddObjectToObject(o, "pattern");
    cJSON_AddStringToObject(p, kind, pattern);
    return o;
}

static cJSON *sequence(const char *list_key, cJSON **items, int n)
{
    cJSON *seq = typed("Sequence");
    cJSON *list = cJSON_AddArrayToObject(seq, list_key);
    for (int i = 0; i < n; i++)
        if (items[i])
            cJSON_AddItemToArray(list, items[i]);
    return seq;
}

/* Byte-level BPE as llama.cpp runs it for a known tokenizer.ggml.pre. Qwen
 * tokenizers also NFC-normalize in Hugging Face; llama.cpp skips that, we
 * follow Hugging Face. */
static int gpt2_config(actrm_tokenizer *tok, tok_config *c)
{
    const char *pre = tok->pre_name[0] ? tok->pre_name : "default";
    const char *regex = tok_pre_regex_for_name(pre);
    if (!regex)
        return actrm_error_set(&tok->err, ACTRM_ERR_UNSUPPORTED,
                               "tokenizer.ggml.pre '%s' is not supported (known: llama-bpe, qwen2, default, gpt-2)", pre);
    cJSON *split = with_pattern(typed("Split"), "Regex", regex);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON *bl = typed("ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON *steps[] = {split, bl};
    c->pre_tokenizer = sequence("pretokenizers", steps, 2);
    c->normalizer = strcmp(pre, "qwen2") == 0 ? typed("NFC") : cJSON_CreateNull();
    c->decoder = typed("ByteLevel");
    c->model = typed("BPE");
    int llama3 = strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0;
    cJSON_AddBoolToObject(c->model, "ignore_merges", llama3);
    c->clean_up_spaces = llama3;
    return ACTRM_OK;
}

/* SentencePiece-style BPE: spaces become U+2581, one is prepended to each
 * text segment, unknown characters fall back to <0xXX> byte tokens. */
static int spm_config(actrm_tokenizer *tok, const actrm_gguf *g, tok_config *c)
{
    static const char meta[] = "\xE2\x96\x81";
    int space_prefix, rc = optional_bool(tok, g, "tokenizer.ggml.add_space_prefix", 1, &space_prefix);
    if (rc)
        return rc;
    cJSON *prepend = NULL, *strip = NULL;
    if (space_prefix) {
        prepend = typed("Prepend");
        cJSON_AddStringToObject(prepend, "prepend", meta);
        strip = typed("Strip");
        cJSON_AddStringToObject(strip, "content", " ");
        cJSON_AddNumberToObject(strip, "start", 1);
        cJSON_AddNumberToObject(strip, "stop", 0);
    }
    cJSON *to_meta = with_pattern(typed("Replace"), "String", " ");
    cJSON_AddStringToObject(to_meta, "content", meta);
    cJSON *norm[] = {prepend, to_meta};
    c->normalizer = sequence("normalizers", norm, 2);
    c->pre_tokenizer = cJSON_CreateNull();
    cJSON *from_meta = with_pattern(typed("Replace"), "String", meta);
    cJSON_AddStringToObject(from_meta, "content", " ");
    cJSON *dec[] = {from_meta, typed("ByteFallback"), typed("Fuse"), strip};
    c->decoder = sequence("decoders", dec, 4);
    c->model = typed("BPE");
    cJSON_AddBoolToObject(c->model, "byte_fallback", 1);
    cJSON_AddBoolToObject(c->model, "fuse_unk", 1);
    int32_t unk;
    if ((rc = optional_id(tok, g, "tokenizer.ggml.unknown_token_id", &unk)))
        return rc;
    for (int32_t i = 0; unk < 0 && i < tok->n_vocab; i++)
        if (tok->type[i] == TOK_TYPE_UNKNOWN)
            unk = i;
    if (unk >= 0)
        cJSON_AddStringToObject(c->model, "unk_token", tok->piece[unk]);
    return ACTRM_OK;
}

/* llama.cpp matches control, user-defined and unknown tokens in text
 * (Hugging Face lists such tokens, e.g. <unk> <s> </s>, as added tokens). */
static cJSON *llamacpp_added(const actrm_tokenizer *tok)
{
    cJSON *list = cJSON_CreateArray();
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        int t = tok->type[i];
        if (t != TOK_TYPE_CONTROL && t != TOK_TYPE_USER_DEFINED && t != TOK_TYPE_UNKNOWN)
            continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", tok->piece[i]);
        cJSON_AddBoolToObject(a, "special", t != TOK_TYPE_USER_DEFINED);
        cJSON_AddItemToArray(list, a);
    }
    return list;
}

static int llamacpp_config(actrm_tokenizer *tok, const actrm_gguf *g, tok_config *c)
{
    int is_spm = strcmp(tok->model_name, "llama") == 0;
    int rc = is_spm ? spm_config(tok, g, c) : gpt2_config(tok, c);
    if (rc)
        return rc;
    c->added = llamacpp_added(tok);
    /* llama.cpp adds BOS by default for SentencePiece and Llama 3 */
    int add_bos, add_eos;
    int dflt_bos = is_spm || cJSON_IsTrue(cJSON_GetObjectItem(c->model, "ignore_merges"));
    if ((rc = optional_bool(tok, g, "tokenizer.ggml.add_bos_token", dflt_bos, &add_bos)) ||
        (rc = optional_bool(tok, g, "tokenizer.ggml.add_eos_token", 0, &add_eos)))
        return rc;
    c->post = cJSON_CreateObject();
    cJSON *pre = cJSON_AddArrayToObject(c->post, "single_prefix");
    cJSON *suf = cJSON_AddArrayToObject(c->post, "single_suffix");
    if (add_bos && tok->bos >= 0)
        cJSON_AddItemToArray(pre, cJSON_CreateNumber(tok->bos));
    if (add_eos && tok->eos >= 0)
        cJSON_AddItemToArray(suf, cJSON_CreateNumber(tok->eos));
    return ACTRM_OK;
}

/* ---------------------------------------------------- applying config -- */

static int json_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int apply_model(actrm_tokenizer *tok, const cJSON *m)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0)
        return actrm_error_set(&tok->err, ACTRM_ERR_UNSUPPORTED, "model.type '%s' is not supported (only BPE)",
                               cJSON_IsString(type) ? type->valuestring : "?");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(m, "unk_token");
    tok->unk_id = cJSON_IsString(unk) ? tok_map_get(&tok->by_piece, unk->valuestring, strlen(unk->valuestring)) : -1;
    tok->byte_fallback = json_bool(m, "byte_fallback");
    tok->fuse_unk = json_bool(m, "fuse_unk");
    tok->ignore_merges = json_bool(m, "ignore_merges");
    return ACTRM_OK;
}

static int apply_added(actrm_tokenizer *tok, const cJSON *list)
{
    if (!cJSON_IsArray(list))
        return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "added_tokens: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(list);
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added)
        return nomem(&tok->err);
    const cJSON *a;
    cJSON_ArrayForEach(a, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= tok->n_vocab || !cJSON_IsString(content))
            return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "added_tokens[%zu]: bad id or content", tok->n_added);
        tok_added *t = &tok->added[tok->n_added];
        t->id = id->valueint;
        if (!(t->content = strdup(content->valuestring)))
            return nomem(&tok->err);
        t->len = strlen(t->content);
        t->lstrip = (unsigned char)json_bool(a, "lstrip");
        t->rstrip = (unsigned char)json_bool(a, "rstrip");
        t->single_word = (unsigned char)json_bool(a, "single_word");
        t->normalized = (unsigned char)json_bool(a, "normalized");
        t->special = (unsigned char)json_bool(a, "special");
        tok->added_index[t->id] = (int32_t)tok->n_added++;
    }
    return ACTRM_OK;
}

/* Non-normalized tokens are matched in the raw text; normalized ones in
 * the normalized text, by their normalized content (as HF builds it). */
static int build_tries(actrm_tokenizer *tok)
{
    actrm_buf norm = {0};
    int rc = 0;
    for (size_t i = 0; i < tok->n_added && !rc; i++) {
        const tok_added *a = &tok->added[i];
        if (!a->normalized)
            rc = tok_trie_add(&tok->trie_raw, a->content, a->len, (int32_t)i);
        else
            rc = tok_normalize(tok, a->content, a->len, &norm) ||
                 tok_trie_add(&tok->trie_norm, norm.p, norm.len, (int32_t)i);
    }
    free(norm.p);
    return rc ? nomem(&tok->err) : ACTRM_OK;
}

static int id_list(actrm_tokenizer *tok, const cJSON *post, const char *key, int32_t **out, size_t *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(post, key);
    if (!cJSON_IsArray(arr))
        return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "post_processor.%s: expected an array", key);
    *n = (size_t)cJSON_GetArraySize(arr);
    if (!(*out = malloc((*n ? *n : 1) * sizeof **out)))
        return nomem(&tok->err);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= tok->n_vocab)
            return actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "post_processor.%s[%zu]: bad token id", key, i);
        (*out)[i++] = v->valueint;
    }
    return ACTRM_OK;
}

static int apply_config(actrm_tokenizer *tok, const actrm_gguf *g, const tok_config *c)
{
    int rc = tok_pipeline_parse(&tok->pipe, c->normalizer, c->pre_tokenizer, c->decoder, &tok->err);
    if (rc || (rc = apply_model(tok, c->model)) || (rc = apply_added(tok, c->added)))
        return rc;
    if (!(tok->md = pcre2_match_data_create(32, NULL)))
        return nomem(&tok->err);
    if ((rc = build_tries(tok)) || (rc = build_model_vocab(tok)))
        return rc;
    find_byte_ids(tok);
    tok->spm_word_split = can_split_words(tok);
    if (gguf_find_kv(g, "tokenizer.ggml.merges"))
        rc = load_merges(tok, g);
    else if (tok->pipe.byte_level)
        rc = actrm_error_set(&tok->err, ACTRM_ERR_FORMAT, "tokenizer.ggml.merges: missing (required for model '%s')",
                             tok->model_name);
    else
        rc = build_score_ranks(tok);
    if (rc || (rc = id_list(tok, c->post, "single_prefix", &tok->prefix_ids, &tok->n_prefix)) ||
        (rc = id_list(tok, c->post, "single_suffix", &tok->suffix_ids, &tok->n_suffix)))
        return rc;
    tok->clean_up_spaces = c->clean_up_spaces;
    return ACTRM_OK;
}

static int load_strings(actrm_tokenizer *tok, const actrm_gguf *g)
{
    int rc = gguf_get_strdup(g, "tokenizer.ggml.model", &tok->model_name, &tok->err);
    if (rc)
        return rc;
    if (strcmp(tok->model_name, "gpt2") != 0 && strcmp(tok->model_name, "llama") != 0)
        return actrm_error_set(&tok->err, ACTRM_ERR_UNSUPPORTED,
                               "tokenizer.ggml.model '%s' is not supported (only 'gpt2' and 'llama')",
                               tok->model_name);
    if (gguf_find_kv(g, "tokenizer.ggml.pre"))
        rc = gguf_get_strdup(g, "tokenizer.ggml.pre", &tok->pre_name, &tok->err);
    else if (!(tok->pre_name = strdup("")))
        rc = nomem(&tok->err);
    if (!rc && gguf_find_kv(g, "tokenizer.chat_template"))
        rc = gguf_get_strdup(g, "tokenizer.chat_template", &tok->chat_template, &tok->err);
    return rc;
}

static int load(actrm_tokenizer *tok, const char *path)
{
    actrm_gguf *g = NULL;
    tok_config cfg = {0};
    int rc = gguf_open(&g, path, &tok->err);
    if (rc)
        return rc;
    if ((rc = load_strings(tok, g)) || (rc = load_pieces(tok, g)) || (rc = load_types_scores(tok, g)) ||
        (rc = optional_id(tok, g, "tokenizer.ggml.bos_token_id", &tok->bos)) ||
        (rc = optional_id(tok, g, "tokenizer.ggml.eos_token_id", &tok->eos)))
        goto done;
    rc = gguf_find_kv(g, KEY_FORMAT) ? actrm_config(tok, g, &cfg) : llamacpp_config(tok, g, &cfg);
    if (!rc)
        rc = apply_config(tok, g, &cfg);
done:
    config_free(&cfg);
    gguf_close(g);
    if (rc)
        actrm_error_prefix(&tok->err, "%s", path);
    return rc;
}

/* ---------------------------------------------------------- public API -- */

int actrm_tokenizer_init(actrm_tokenizer **out, const char *gguf_path)
{
    if (!out)
        return ACTRM_ERR_ARG;
    *out = NULL;
    actrm_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return ACTRM_ERR_NOMEM;
    *out = tok;
    tok->bos = tok->eos = tok->unk_id = -1;
    if (!gguf_path)
        return actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_init: gguf_path is NULL");
    int rc = load(tok, gguf_path);
    if (rc)
        tok->n_vocab = 0; /* marks the handle unusable */
    return rc;
}

void actrm_tokenizer_free(actrm_tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->n_added; i++)
        free((char *)tok->added[i].content);
    free(tok->added);
    free(tok->added_index);
    tok_trie_free(&tok->trie_raw);
    tok_trie_free(&tok->trie_norm);
    tok_pipeline_free(&tok->pipe);
    tok_map_free(&tok->by_piece);
    tok_map_free(&tok->model_vocab);
    tok_pair_map_free(&tok->merges);
    tok_cache_free(&tok->cache);
    pcre2_match_data_free(tok->md);
    free(tok->model_arena);
    free(tok->arena);
    free(tok->piece);
    free(tok->piece_len);
    free(tok->type);
    free(tok->score);
    free(tok->score_rank);
    free(tok->prefix_ids);
    free(tok->suffix_ids);
    free(tok->model_name);
    free(tok->pre_name);
    free(tok->chat_template);
    free(tok->syms);
    free(tok->heap);
    free(tok);
}

const char *actrm_tokenizer_errmsg(const actrm_tokenizer *tok)
{
    return tok ? tok->err.msg : "no tokenizer (out of memory)";
}

typedef struct encode_scratch {
    actrm_buf norm;
    tok_segments segs;
    tok_pieces pieces;
} encode_scratch;

static int encode_pieces(actrm_tokenizer *tok, const char *s, size_t n, int at_start, encode_scratch *sc,
                         tok_ids *out)
{
    if (tok_pretokenize(tok, s, n, at_start, &sc->pieces))
        return -1;
    for (size_t i = 0; i < sc->pieces.n; i++)
        if (tok_bpe_encode(tok, sc->pieces.buf.p + sc->pieces.span[i].off, sc->pieces.span[i].len, out))
            return -1;
    return 0;
}

/* One stretch of text between raw added tokens. */
static int encode_text(actrm_tokenizer *tok, const char *s, size_t n, int at_start, encode_scratch *sc,
                       tok_ids *out)
{
    if (tok->pipe.n_norm) {
        if (tok_normalize(tok, s, n, &sc->norm))
            return -1;
        s = sc->norm.p;
        n = sc->norm.len;
    }
    if (!tok->trie_norm.nodes)
        return encode_pieces(tok, s, n, at_start, sc, out);
    /* the segment list of the caller is in use: split into a local one */
    tok_segments segs = {0};
    int rc = tok_added_split(tok, &tok->trie_norm, s, n, &segs);
    for (size_t i = 0; i < segs.len && !rc; i++) {
        const tok_segment *g = &segs.p[i];
        rc = g->added >= 0 ? tok_ids_push(out, tok->added[g->added].id)
                           : encode_pieces(tok, s + g->off, g->len, at_start && g->off == 0, sc, out);
    }
    free(segs.p);
    return rc;
}

int actrm_tokenizer_encode(actrm_tokenizer *tok, const char *text, size_t len, int flags, int32_t **ids,
                           size_t *n_ids)
{
    if (!tok || !ids || !n_ids)
        return tok ? actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_encode: NULL argument")
                   : ACTRM_ERR_ARG;
    *ids = NULL;
    *n_ids = 0;
    if (!tok->n_vocab)
        return actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_encode: the tokenizer failed to load");
    if (!text && len)
        return actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_encode: text is NULL");
    actrm_buf clean = {0};
    encode_scratch sc = {0};
    tok_ids out = {0};
    int valid = tok_utf8_sanitize(text ? text : "", len, &clean);
    const char *s = valid == 1 ? text : clean.p;
    size_t n = valid == 1 ? len : clean.len;
    int rc = valid < 0 || tok_ids_push(&out, 0); /* non-NULL even when empty */
    out.len = 0;
    if (!rc && (flags & ACTRM_ENCODE_ADD_SPECIAL))
        rc = tok_ids_append(&out, tok->prefix_ids, tok->n_prefix);
    if (!rc)
        rc = tok_added_split(tok, &tok->trie_raw, s, n, &sc.segs);
    for (size_t i = 0; i < sc.segs.len && !rc; i++) {
        const tok_segment *g = &sc.segs.p[i];
        rc = g->added >= 0 ? tok_ids_push(&out, tok->added[g->added].id)
                           : encode_text(tok, s + g->off, g->len, g->off == 0, &sc, &out);
    }
    if (!rc && (flags & ACTRM_ENCODE_ADD_SPECIAL))
        rc = tok_ids_append(&out, tok->suffix_ids, tok->n_suffix);
    free(clean.p);
    free(sc.norm.p);
    free(sc.segs.p);
    tok_pieces_free(&sc.pieces);
    if (rc) {
        free(out.p);
        return nomem(&tok->err);
    }
    *ids = out.p;
    *n_ids = out.len;
    return ACTRM_OK;
}

int actrm_tokenizer_decode(actrm_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text, size_t *len)
{
    if (!tok || !text || (!ids && n_ids))
        return tok ? actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_decode: NULL argument")
                   : ACTRM_ERR_ARG;
    *text = NULL;
    if (len)
        *len = 0;
    if (!tok->n_vocab)
        return actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_decode: the tokenizer failed to load");
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return actrm_error_set(&tok->err, ACTRM_ERR_ARG, "actrm_tokenizer_decode: ids[%zu] = %d is outside 0..%d",
                                   i, ids[i], tok->n_vocab - 1);
    actrm_buf out = {0};
    if (tok_decode(tok, ids, n_ids, &out)) {
        free(out.p);
        return nomem(&tok->err);
    }
    *text = out.p;
    if (len)
        *len = out.len;
    return ACTRM_OK;
}

int actrm_tokenizer_n_vocab(const actrm_tokenizer *tok)
{
    return tok ? tok->n_vocab : 0;
}

int32_t actrm_tokenizer_piece_id(const actrm_tokenizer *tok, const char *piece)
{
    if (!tok || !piece || !tok->n_vocab)
        return -1;
    return tok_map_get(&tok->by_piece, piece, strlen(piece));
}

int32_t actrm_tokenizer_bos(const actrm_tokenizer *tok)
{
    return tok && tok->n_vocab ? tok->bos : -1;
}

int32_t actrm_tokenizer_eos(const actrm_tokenizer *tok)
{
    return tok && tok->n_vocab ? tok->eos : -1;
}

const char *actrm_tokenizer_chat_template(const actrm_tokenizer *tok)
{
    return tok ? tok->chat_template : NULL;
}

const char *actrm_tokenizer_piece(const actrm_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0 || id >= tok->n_vocab)
        return NULL;
    return tok->piece[id];
}

actrm_error *actrm_tokenizer_error(actrm_tokenizer *tok)
{
    return tok ? &tok->err : NULL;
}
