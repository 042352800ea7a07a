/* ids -> text: the decoder chain of tokenizer.json (ByteLevel, Replace,
 * ByteFallback, Fuse, Strip, Metaspace) over the list of token strings,
 * then transformers' clean_up_tokenization when the tokenizer asks for it. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

typedef struct tok_list {
    actrm_buf *t;
    size_t n, cap;
} tok_list;

static void list_free(tok_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->t[i].p);
    free(l->t);
    memset(l, 0, sizeof *l);
}

/* Appends a new token holding len bytes of s. */
static int list_push(tok_list *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        actrm_buf *t = realloc(l->t, cap * sizeof *t);
        if (!t)
            return -1;
        l->t = t;
        l->cap = cap;
    }
    l->t[l->n] = (actrm_buf){0};
    return actrm_buf_append(&l->t[l->n++], s, len);
}

/* The bytes a token stands for under the GPT-2 map; a token with any
 * character outside the map keeps its own UTF-8 bytes (as HF does). */
static int bytelevel_bytes(const actrm_buf *t, actrm_buf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < t->len;) {
        uint32_t cp;
        int k = tok_utf8_next((const unsigned char *)t->p + i, t->len - i, &cp);
        int b = k ? tok_cp_to_byte(cp) : -1;
        if (b < 0) {
            out->len = start;
            return actrm_buf_append(out, t->p, t->len);
        }
        char c = (char)b;
        if (actrm_buf_append(out, &c, 1))
            return -1;
        i += (size_t)k;
    }
    return 0;
}

static int dec_bytelevel(tok_list *in, tok_list *out)
{
    actrm_buf bytes = {0};
    int rc = actrm_buf_append(&bytes, "", 0);
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = bytelevel_bytes(&in->t[i], &bytes);
    if (!rc)
        rc = list_push(out, "", 0) || tok_utf8_append_lossy(&out->t[out->n - 1], bytes.p, bytes.len);
    free(bytes.p);
    return rc ? -1 : 0;
}

static int byte_token_value(const actrm_buf *t)
{
    static const char hex[] = "0123456789ABCDEFabcdef";
    if (t->len != 6 || memcmp(t->p, "<0x", 3) != 0 || t->p[5] != '>' ||
        !memchr(hex, t->p[3], 22) || !memchr(hex, t->p[4], 22))
        return -1;
    char h[3] = {t->p[3], t->p[4], 0};
    return (int)strtol(h, NULL, 16);
}

/* A run of <0xXX> tokens becomes its UTF-8 text, or one U+FFFD per byte
 * when the run is not valid UTF-8. */
static int flush_bytes(actrm_buf *run, tok_list *out)
{
    if (!run->len)
        return 0;
    actrm_buf tmp = {0};
    int valid = tok_utf8_sanitize(run->p, run->len, &tmp);
    free(tmp.p);
    int rc = 0;
    if (valid == 1)
        rc = list_push(out, run->p, run->len);
    else
        for (size_t i = 0; i < run->len && !rc; i++)
            rc = list_push(out, "\xEF\xBF\xBD", 3);
    run->len = 0;
    return rc;
}

static int dec_bytefallback(tok_list *in, tok_list *out)
{
    actrm_buf run = {0};
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        int v = byte_token_value(&in->t[i]);
        char c = (char)v;
        if (v >= 0)
            rc = actrm_buf_append(&run, &c, 1);
        else
            rc = flush_bytes(&run, out) || list_push(out, in->t[i].p, in->t[i].len);
    }
    if (!rc)
        rc = flush_bytes(&run, out);
    free(run.p);
    return rc ? -1 : 0;
}

static int dec_strip(const tok_dec_step *st, tok_list *in, tok_list *out)
{
    size_t cl = strlen(st->a);
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->t[i].p;
        size_t a = 0, b = in->t[i].len;
        for (int k = 0; k < st->start && b - a >= cl && memcmp(s + a, st->a, cl) == 0; k++)
            a += cl;
        for (int k = 0; k < st->stop && b - a >= cl && memcmp(s + b - cl, st->a, cl) == 0; k++)
            b -= cl;
        if (list_push(out, s + a, b - a))
            return -1;
    }
    return 0;
}

static int dec_step(const tok_dec_step *st, tok_list *in, tok_list *out)
{
    int rc = 0;
    switch (st->kind) {
    case DEC_BYTELEVEL:
        return dec_bytelevel(in, out);
    case DEC_BYTEFALLBACK:
        return dec_bytefallback(in, out);
    case DEC_STRIP:
        return dec_strip(st, in, out);
    case DEC_FUSE:
        rc = list_push(out, "", 0);
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = actrm_buf_append(&out->t[0], in->t[i].p, in->t[i].len);
        return rc;
    case DEC_REPLACE:
    case DEC_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *with = st->kind == DEC_REPLACE ? st->b : " ";
            rc = list_push(out, "", 0) || tok_replace_all(&out->t[i], in->t[i].p, in->t[i].len, st->a, with);
            /* Metaspace drops the space it prepended, once, as tokenizers.js does */
            actrm_buf *t = &out->t[i];
            if (!rc && st->kind == DEC_METASPACE && i == 0 && st->prepend_scheme != PREPEND_NEVER &&
                t->len && t->p[0] == ' ')
                memmove(t->p, t->p + 1, t->len--);
        }
        return rc;
    }
    return -1;
}

/* transformers' clean_up_tokenization: spaces before punctuation and
 * English contractions are removed, in this order. */
static int clean_up(actrm_buf *text)
{
    static const char *const rules[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        actrm_buf out = {0};
        if (actrm_buf_append(&out, "", 0) || tok_replace_all(&out, text->p, text->len, rules[r][0], rules[r][1])) {
            free(out.p);
            return -1;
        }
        free(text->p);
        *text = out;
    }
    return 0;
}

static int run_chain(actrm_tokenizer *tok, tok_list *list)
{
    for (int i = 0; i < tok->pipe.n_dec; i++) {
        tok_list next = {0};
        if (dec_step(&tok->pipe.dec[i], list, &next)) {
            list_free(&next);
            return -1;
        }
        list_free(list);
        *list = next;
    }
    return 0;
}

/* out receives valid UTF-8, NUL-terminated. ids must be in range. */
int tok_decode(actrm_tokenizer *tok, const int32_t *ids, size_t n, actrm_buf *out)
{
    tok_list list = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = list_push(&list, tok->piece[ids[i]], tok->piece_len[ids[i]]);
    if (!rc)
        rc = run_chain(tok, &list);
    actrm_buf joined = {0};
    rc = rc || actrm_buf_append(&joined, "", 0);
    for (size_t i = 0; i < list.n && !rc; i++) {
        if (i && !tok->pipe.has_decoder)
            rc = actrm_buf_append(&joined, " ", 1); /* HF joins with spaces without a decoder */
        rc = rc || actrm_buf_append(&joined, list.t[i].p, list.t[i].len);
    }
    list_free(&list);
    if (!rc && tok->clean_up_spaces)
        rc = clean_up(&joined);
    out->len = 0;
    rc = rc || actrm_buf_append(out, "", 0) || tok_utf8_append_lossy(out, joined.p, joined.len);
    free(joined.p);
    return rc ? -1 : 0;
}
