/* Text stages of encoding: added-token splitting, normalizers and
 * pre-tokenizers, with the semantics of Hugging Face tokenizers. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_impl.h"

/* ------------------------------------------------------- added tokens -- */

static int32_t trie_new_node(tok_trie *t, unsigned char byte)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tok_trie_node *p = realloc(t->nodes, cap * sizeof *p);
        if (!p)
            return -1;
        t->nodes = p;
        t->cap = cap;
    }
    t->nodes[t->n] = (tok_trie_node){.child = -1, .sibling = -1, .added = -1, .byte = byte};
    return (int32_t)t->n++;
}

static int32_t trie_child(const tok_trie *t, int32_t node, unsigned char byte)
{
    for (int32_t c = t->nodes[node].child; c >= 0; c = t->nodes[c].sibling)
        if (t->nodes[c].byte == byte)
            return c;
    return -1;
}

/* The first token added with a given content wins, as in a vocabulary. */
int tok_trie_add(tok_trie *t, const char *s, size_t n, int32_t added)
{
    if (!t->nodes && trie_new_node(t, 0) < 0)
        return -1;
    if (n == 0)
        return 0;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = trie_child(t, node, b);
        if (c < 0) {
            if ((c = trie_new_node(t, b)) < 0)
                return -1;
            t->nodes[c].sibling = t->nodes[node].child;
            t->nodes[node].child = c;
        }
        node = c;
    }
    if (t->nodes[node].added < 0)
        t->nodes[node].added = added;
    t->first[(unsigned char)s[0]] = 1;
    return 0;
}

void tok_trie_free(tok_trie *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* Longest added token starting at s[0]; returns its index or -1. */
static int32_t trie_longest(const tok_trie *t, const char *s, size_t n, size_t *len)
{
    int32_t best = -1, node = 0;
    for (size_t i = 0; i < n; i++) {
        node = trie_child(t, node, (unsigned char)s[i]);
        if (node < 0)
            break;
        if (t->nodes[node].added >= 0) {
            best = t->nodes[node].added;
            *len = i + 1;
        }
    }
    return best;
}

/* Start of the code point that ends at pos (input is valid UTF-8). */
static size_t prev_cp_start(const char *s, size_t pos)
{
    size_t i = pos;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    return i > 0 ? i - 1 : 0;
}

static uint32_t cp_before(const char *s, size_t pos)
{
    size_t i = prev_cp_start(s, pos);
    uint32_t cp = 0xFFFD;
    tok_utf8_next((const unsigned char *)s + i, pos - i, &cp);
    return cp;
}

static uint32_t cp_at(const char *s, size_t n, size_t pos)
{
    uint32_t cp = 0xFFFD;
    tok_utf8_next((const unsigned char *)s + pos, n - pos, &cp);
    return cp;
}

static int push_segment(tok_segments *out, size_t off, size_t len, int32_t added)
{
    if (out->len == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        tok_segment *p = realloc(out->p, cap * sizeof *p);
        if (!p)
            return -1;
        out->p = p;
        out->cap = cap;
    }
    out->p[out->len++] = (tok_segment){off, len, added};
    return 0;
}

/* Leftmost-longest matching. A single_word token only counts between
 * non-word characters; lstrip/rstrip tokens swallow the whitespace beside
 * them (it is not encoded). */
int tok_added_split(const actrm_tokenizer *tok, const tok_trie *trie, const char *s, size_t n,
                    tok_segments *out)
{
    out->len = 0;
    size_t text_start = 0, i = 0;
    while (trie->nodes && i < n) {
        if (!trie->first[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        size_t mlen = 0;
        int32_t a = trie_longest(trie, s + i, n - i, &mlen);
        if (a < 0) {
            i++;
            continue;
        }
        const tok_added *at = &tok->added[a];
        size_t start = i, end = i + mlen;
        if (at->single_word && ((start > 0 && tok_is_word_char(cp_before(s, start))) ||
                                (end < n && tok_is_word_char(cp_at(s, n, end))))) {
            i = end;
            continue;
        }
        while (at->lstrip && start > text_start && tok_is_whitespace(cp_before(s, start)))
            start = prev_cp_start(s, start);
        while (at->rstrip && end < n && tok_is_whitespace(cp_at(s, n, end)))
            end += (size_t)tok_utf8_len((const unsigned char *)s + end, n - end);
        if (start > text_start && push_segment(out, text_start, start - text_start, -1))
            return -1;
        if (push_segment(out, start, end - start, a))
            return -1;
        text_start = i = end;
    }
    if (n > text_start && push_segment(out, text_start, n - text_start, -1))
        return -1;
    return 0;
}

/* --------------------------------------------------------- normalizers -- */

static int all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* A character NFC might change or combine with its neighbour: a mark or
 * other non-starter, a Hangul vowel/trailing jamo, or anything with a
 * canonical decomposition (precomposed Hangul syllables aside, which only
 * combine with a following trailing jamo). Every second element of a
 * canonical composition is a mark (Mn/Mc) or such a jamo. */
static int nfc_sensitive(uint32_t cp)
{
    if (cp < 0x80)
        return 0;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->combining_class || p->category == UTF8PROC_CATEGORY_MN || p->category == UTF8PROC_CATEGORY_MC ||
        p->category == UTF8PROC_CATEGORY_ME || (cp >= 0x1160 && cp <= 0x11FF))
        return 1;
    if (cp >= 0xAC00 && cp <= 0xD7A3)
        return 0;
    utf8proc_int32_t d[4];
    int boundclass = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 4, UTF8PROC_DECOMPOSE, &boundclass);
    return k != 1 || d[0] != (utf8proc_int32_t)cp;
}

static int map_form(int kind, const char *s, size_t n, actrm_buf *out)
{
    static const int opts[] = {
        [NORM_NFC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE,
        [NORM_NFD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
        [NORM_NFKC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
        [NORM_NFKD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
    };
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                        (utf8proc_option_t)opts[kind]);
    if (len < 0) /* cannot happen on sanitized input; keep the text as is */
        return actrm_buf_append(out, s, n);
    int rc = actrm_buf_append(out, res, (size_t)len);
    free(res);
    return rc;
}

/* NFC only where it can change something: each run of sensitive
 * characters together with the starter before it. Two adjacent insensitive
 * characters never interact under NFC, so the text between runs is copied
 * as is. This keeps NFC cheap on text that is already composed. */
static int nfc(const char *s, size_t n, actrm_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t copied = 0, prev_start = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_next(u + i, n - i, &cp);
        if (!k || !nfc_sensitive(cp)) {
            prev_start = i;
            i += k ? (size_t)k : 1;
            continue;
        }
        size_t start = i > 0 && prev_start >= copied ? prev_start : i, end = i;
        while (end < n) {
            k = tok_utf8_next(u + end, n - end, &cp);
            if (!k || !nfc_sensitive(cp))
                break;
            end += (size_t)k;
        }
        if (actrm_buf_append(out, s + copied, start - copied) || map_form(NORM_NFC, s + start, end - start, out))
            return -1;
        copied = prev_start = i = end;
    }
    return actrm_buf_append(out, s + copied, n - copied);
}

static int unicode_form(int kind, const char *s, size_t n, actrm_buf *out)
{
    if (all_ascii(s, n)) /* ASCII is invariant under every normal form */
        return actrm_buf_append(out, s, n);
    return kind == NORM_NFC ? nfc(s, n, out) : map_form(kind, s, n, out);
}

static int lowercase(const char *s, size_t n, actrm_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_next(u + i, n - i, &cp);
        char enc[4];
        if (!k) { /* unreachable on sanitized text */
            cp = u[i];
            k = 1;
        }
        int m = tok_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc);
        if (actrm_buf_append(out, enc, (size_t)m))
            return -1;
        i += (size_t)k;
    }
    return 0;
}

static int regex_match(pcre2_code *re, pcre2_match_data *md, const char *s, size_t n, size_t start)
{
    size_t jit = 0;
    pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit);
    if (jit)
        return pcre2_jit_match(re, (PCRE2_SPTR)s, n, start, 0, md, NULL);
    return pcre2_match(re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
}

/* Calls emit(off, len, is_match) for every match and every gap between
 * matches, in order, skipping empty ones. */
typedef int (*span_fn)(void *ctx, size_t off, size_t len, int is_match);

static int regex_spans(actrm_tokenizer *tok, pcre2_code *re, const char *s, size_t n, span_fn emit,
                       void *ctx)
{
    size_t pos = 0, gap = 0;
    while (pos < n) {
        int rc = regex_match(re, tok->md, s, n, pos);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            return -1;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match: step over one character */
            pos = ms + (size_t)tok_utf8_len((const unsigned char *)s + ms, n - ms);
            continue;
        }
        if (ms > gap && emit(ctx, gap, ms - gap, 0))
            return -1;
        if (emit(ctx, ms, me - ms, 1))
            return -1;
        gap = pos = me;
    }
    if (n > gap && emit(ctx, gap, n - gap, 0))
        return -1;
    return 0;
}

struct replace_ctx {
    const char *s, *with;
    actrm_buf *out;
};

static int replace_emit(void *vctx, size_t off, size_t len, int is_match)
{
    struct replace_ctx *c = vctx;
    if (is_match)
        return actrm_buf_append(c->out, c->with, strlen(c->with));
    return actrm_buf_append(c->out, c->s + off, len);
}

static int strip_whitespace(const char *s, size_t n, int left, int right, actrm_buf *out)
{
    size_t a = 0, b = n;
    uint32_t cp;
    while (left && a < b) {
        int k = tok_utf8_next((const unsigned char *)s + a, b - a, &cp);
        if (!k || !tok_is_whitespace(cp))
            break;
        a += (size_t)k;
    }
    while (right && b > a) {
        size_t p = prev_cp_start(s, b);
        if (!tok_utf8_next((const unsigned char *)s + p, b - p, &cp) || !tok_is_whitespace(cp))
            break;
        b = p;
    }
    return actrm_buf_append(out, s + a, b - a);
}

static int normalize_step(actrm_tokenizer *tok, const tok_norm_step *st, const char *s, size_t n,
                          actrm_buf *out)
{
    switch (st->kind) {
    case NORM_NFC: case NORM_NFD: case NORM_NFKC: case NORM_NFKD:
        return unicode_form(st->kind, s, n, out);
    case NORM_PREPEND: /* HF prepends only to non-empty text */
        if (n && actrm_buf_append(out, st->a, strlen(st->a)))
            return -1;
        return actrm_buf_append(out, s, n);
    case NORM_REPLACE:
        if (st->re) {
            struct replace_ctx c = {s, st->b, out};
            return regex_spans(tok, st->re, s, n, replace_emit, &c);
        }
        return tok_replace_all(out, s, n, st->a, st->b);
    case NORM_LOWERCASE:
        return lowercase(s, n, out);
    case NORM_STRIP:
        return strip_whitespace(s, n, st->left, st->right, out);
    }
    return actrm_buf_append(out, s, n);
}

/* out is overwritten with the normalized text. */
int tok_normalize(actrm_tokenizer *tok, const char *s, size_t n, actrm_buf *out)
{
    actrm_buf tmp = {0};
    out->len = 0;
    if (actrm_buf_append(out, s, n))
        return -1;
    for (int i = 0; i < tok->pipe.n_norm; i++) {
        tmp.len = 0;
        if (actrm_buf_append(&tmp, "", 0) || normalize_step(tok, &tok->pipe.norm[i], out->p, out->len, &tmp)) {
            free(tmp.p);
            return -1;
        }
        actrm_buf swap = *out;
        *out = tmp;
        tmp = swap;
    }
    free(tmp.p);
    return 0;
}

/* ------------------------------------------------------ pre-tokenizers -- */

void tok_pieces_free(tok_pieces *p)
{
    free(p->buf.p);
    free(p->span);
    memset(p, 0, sizeof *p);
}

static void pieces_reset(tok_pieces *p)
{
    p->buf.len = 0;
    p->n = 0;
}

/* Appends a new piece made of len bytes of s. */
static int pieces_push(tok_pieces *p, const char *s, size_t len)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct tok_span *sp = realloc(p->span, cap * sizeof *sp);
        if (!sp)
            return -1;
        p->span = sp;
        p->cap = cap;
    }
    p->span[p->n].off = (uint32_t)p->buf.len;
    p->span[p->n].len = (uint32_t)len;
    p->n++;
    return actrm_buf_append(&p->buf, s, len);
}

/* Grows the last piece by len bytes of s. */
static int pieces_extend(tok_pieces *p, const char *s, size_t len)
{
    p->span[p->n - 1].len += (uint32_t)len;
    return actrm_buf_append(&p->buf, s, len);
}

/* Split behaviours over the stream of (span, is_match) items of one piece,
 * following tokenizers' SplitDelimiterBehavior. MergedWithNext is handled
 * by holding back a delimiter until the next item arrives. */
struct split_ctx {
    const char *s;
    tok_pieces *out;
    int behavior, invert;
    int prev_match;  /* the previous item was a delimiter */
    int any;         /* an item was emitted for this piece */
    size_t pending_off, pending_len; /* MergedWithNext: delimiter held back */
    int pending;
};

static int split_emit(void *vctx, size_t off, size_t len, int is_match)
{
    struct split_ctx *c = vctx;
    const char *t = c->s + off;
    is_match ^= c->invert;
    int rc = 0;
    switch (c->behavior) {
    case SPLIT_REMOVED:
        rc = is_match ? 0 : pieces_push(c->out, t, len);
        break;
    case SPLIT_ISOLATED:
        rc = pieces_push(c->out, t, len);
        break;
    case SPLIT_MERGED_WITH_PREVIOUS:
        rc = is_match && !c->prev_match && c->any ? pieces_extend(c->out, t, len)
                                                  : pieces_push(c->out, t, len);
        break;
    case SPLIT_CONTIGUOUS:
        rc = is_match == c->prev_match && c->any ? pieces_extend(c->out, t, len)
                                                 : pieces_push(c->out, t, len);
        break;
    case SPLIT_MERGED_WITH_NEXT:
        /* scanning right to left in HF: a delimiter joins the following
         * non-delimiter; consecutive delimiters stay apart */
        if (c->pending) {
            rc = pieces_push(c->out, c->s + c->pending_off, c->pending_len);
            if (!rc && !is_match)
                rc = pieces_extend(c->out, t, len);
            c->pending = 0;
            if (!is_match)
                break;
        }
        if (is_match) {
            c->pending = 1;
            c->pending_off = off;
            c->pending_len = len;
        } else
            rc = pieces_push(c->out, t, len);
        break;
    }
    c->prev_match = is_match;
    c->any = 1;
    return rc;
}

static int split_flush(struct split_ctx *c)
{
    if (!c->pending)
        return 0;
    c->pending = 0;
    return pieces_push(c->out, c->s + c->pending_off, c->pending_len);
}

static int pre_split(actrm_tokenizer *tok, pcre2_code *re, int behavior, int invert, const char *s,
                     size_t n, tok_pieces *out)
{
    struct split_ctx c = {.s = s, .out = out, .behavior = behavior, .invert = invert};
    if (regex_spans(tok, re, s, n, split_emit, &c))
        return -1;
    return split_flush(&c);
}

static int pre_metaspace(const tok_pre_step *st, const char *s, size_t n, int at_start, tok_pieces *out)
{
    actrm_buf t = {0};
    size_t rl = strlen(st->replacement);
    int prepend = st->prepend_scheme == PREPEND_ALWAYS || (st->prepend_scheme == PREPEND_FIRST && at_start);
    int rc = tok_replace_all(&t, s, n, " ", st->replacement);
    if (!rc && prepend && !(t.len >= rl && memcmp(t.p, st->replacement, rl) == 0)) {
        actrm_buf u = {0};
        rc = actrm_buf_append(&u, st->replacement, rl) || actrm_buf_append(&u, t.p, t.len);
        free(t.p);
        t = u;
    }
    if (!rc && !st->split)
        rc = pieces_push(out, t.p, t.len);
    else if (!rc) { /* each replacement character starts a new word */
        size_t start = 0;
        for (size_t i = rl; i + rl <= t.len && !rc; i++)
            if (memcmp(t.p + i, st->replacement, rl) == 0) {
                rc = pieces_push(out, t.p + start, i - start);
                start = i;
                i += rl - 1;
            }
        if (!rc && t.len > start)
            rc = pieces_push(out, t.p + start, t.len - start);
    }
    free(t.p);
    return rc ? -1 : 0;
}

static int pre_step(actrm_tokenizer *tok, const tok_pre_step *st, const char *s, size_t n, int at_start,
                    tok_pieces *out)
{
    switch (st->kind) {
    case PRE_SPLIT:
        return pre_split(tok, st->re, st->behavior, st->invert, s, n, out);
    case PRE_METASPACE:
        return pre_metaspace(st, s, n, at_start, out);
    case PRE_BYTELEVEL: {
        /* the byte mapping itself is implicit: the model works on raw bytes */
        actrm_buf t = {0};
        int rc = 0;
        if (st->add_prefix_space && !(n && s[0] == ' ')) {
            rc = actrm_buf_append(&t, " ", 1) || actrm_buf_append(&t, s, n);
            s = t.p;
            n = t.len;
        }
        if (!rc)
            rc = st->re ? pre_split(tok, st->re, SPLIT_ISOLATED, 0, s, n, out) : pieces_push(out, s, n);
        free(t.p);
        return rc ? -1 : 0;
    }
    }
    return pieces_push(out, s, n);
}

/* out receives the pieces of s. Steps run in order, each on every piece
 * the previous one produced; at_start marks text at offset 0 of the input
 * (Metaspace's prepend_scheme "first"). */
int tok_pretokenize(actrm_tokenizer *tok, const char *s, size_t n, int at_start, tok_pieces *out)
{
    tok_pieces tmp = {0};
    pieces_reset(out);
    int rc = pieces_push(out, s, n);
    for (int i = 0; i < tok->pipe.n_pre && !rc; i++) {
        pieces_reset(&tmp);
        for (size_t k = 0; k < out->n && !rc; k++) {
            const char *p = out->buf.p + out->span[k].off;
            int first = at_start && k == 0;
            rc = pre_step(tok, &tok->pipe.pre[i], p, out->span[k].len, first, &tmp);
        }
        tok_pieces swap = *out;
        *out = tmp;
        tmp = swap;
    }
    tok_pieces_free(&tmp);
    return rc;
}
