/* Tokenizer building blocks: growable buffers, hash maps, UTF-8, byte map. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_impl.h"

/* ------------------------------------------------------------ buffers -- */

int tok_replace_all(actrm_buf *out, const char *s, size_t n, const char *pat, const char *with)
{
    size_t pl = strlen(pat), wl = strlen(with), run = 0;
    if (pl == 0) /* the pipeline parser rejects empty patterns; never loop on one */
        return actrm_buf_append(out, s, n);
    for (size_t i = 0; i + pl <= n;) {
        if (memcmp(s + i, pat, pl) == 0) {
            if (actrm_buf_append(out, s + run, i - run) || actrm_buf_append(out, with, wl))
                return -1;
            i += pl;
            run = i;
        } else {
            i++;
        }
    }
    return actrm_buf_append(out, s + run, n - run);
}

static int ids_reserve(tok_ids *v, size_t extra)
{
    if (v->len + extra <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->len + extra)
        cap *= 2;
    int32_t *p = realloc(v->p, cap * sizeof *p);
    if (!p)
        return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

int tok_ids_push(tok_ids *v, int32_t id)
{
    if (v->len == v->cap && ids_reserve(v, 1))
        return -1;
    v->p[v->len++] = id;
    return 0;
}

int tok_ids_append(tok_ids *v, const int32_t *ids, size_t n)
{
    if (ids_reserve(v, n))
        return -1;
    if (n)
        memcpy(v->p + v->len, ids, n * sizeof *ids);
    v->len += n;
    return 0;
}

/* ----------------------------------------------------------- hash maps -- */

/* 8 bytes at a time multiply-xorshift hash; quality is ample for token
 * strings and it is several times faster than a byte-wise FNV. */
uint64_t tok_hash(const char *s, size_t n)
{
    const uint64_t m = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x243F6A8885A308D3ull ^ (n * m);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * m;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * m;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

int tok_map_init(tok_map *m, size_t expected)
{
    m->cap = pow2_at_least(expected * 2);
    m->n = 0;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots)
        return -1;
    tok_map_clear(m);
    return 0;
}

void tok_map_clear(tok_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i].val = -1;
    m->n = 0;
}

void tok_map_free(tok_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static tok_map_slot *map_find(const tok_map *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        tok_map_slot *s = &m->slots[i];
        if (s->val < 0)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static int map_grow(tok_map *m)
{
    tok_map bigger = {0};
    bigger.cap = m->cap * 2;
    bigger.slots = malloc(bigger.cap * sizeof *bigger.slots);
    if (!bigger.slots)
        return -1;
    tok_map_clear(&bigger);
    for (size_t i = 0; i < m->cap; i++) {
        tok_map_slot *s = &m->slots[i];
        if (s->val >= 0)
            *map_find(&bigger, s->key, s->len, s->hash) = *s;
    }
    bigger.n = m->n;
    free(m->slots);
    *m = bigger;
    return 0;
}

int tok_map_put(tok_map *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m))
        return -1;
    uint64_t h = tok_hash(key, len);
    tok_map_slot *s = map_find(m, key, len, h);
    if (s->val >= 0)
        return 0;
    s->hash = h;
    s->key = key;
    s->len = (uint32_t)len;
    s->val = val;
    m->n++;
    return 1;
}

int32_t tok_map_get(const tok_map *m, const char *key, size_t len)
{
    if (!m->slots)
        return -1;
    return map_find(m, key, len, tok_hash(key, len))->val;
}

static uint64_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return k;
}

int tok_pair_map_init(tok_pair_map *m, size_t expected)
{
    m->cap = pow2_at_least(expected * 2);
    m->n = 0;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i].id = -1;
    return 0;
}

void tok_pair_map_free(tok_pair_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static tok_pair_slot *pair_find(const tok_pair_map *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    for (size_t i = pair_hash(key) & mask;; i = (i + 1) & mask)
        if (m->slots[i].id < 0 || m->slots[i].key == key)
            return &m->slots[i];
}

int tok_pair_map_put(tok_pair_map *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    if ((m->n + 1) * 2 > m->cap) {
        tok_pair_map bigger;
        if (tok_pair_map_init(&bigger, m->cap))
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].id >= 0)
                *pair_find(&bigger, m->slots[i].key) = m->slots[i];
        bigger.n = m->n;
        free(m->slots);
        *m = bigger;
    }
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    tok_pair_slot *s = pair_find(m, key);
    if (s->id >= 0)
        return 0;
    s->key = key;
    s->rank = rank;
    s->id = id;
    m->n++;
    return 1;
}

const tok_pair_slot *tok_pair_map_get(const tok_pair_map *m, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    const tok_pair_slot *s = pair_find(m, key);
    return s->id >= 0 ? s : NULL;
}

/* ---------------------------------------------------------------- UTF-8 -- */

static int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        if (n < 2 || !is_cont(s[1]))
            return 0;
        *cp = (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        /* E0 needs A0..BF (no overlong), ED needs 80..9F (no surrogates) */
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (n < 3 || s[1] < lo || s[1] > hi || !is_cont(s[2]))
            return 0;
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        /* F0 needs 90..BF (no overlong), F4 needs 80..8F (<= U+10FFFF) */
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (n < 4 || s[1] < lo || s[1] > hi || !is_cont(s[2]) || !is_cont(s[3]))
            return 0;
        *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return 4;
    }
    return 0;
}

int tok_utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    int k = tok_utf8_next(s, n, &cp);
    return k ? k : 1;
}

int tok_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static const char replacement_char[] = "\xEF\xBF\xBD";

/* Length of the maximal subpart of an ill-formed sequence at s: the longest
 * prefix that could start a valid sequence (at least 1). */
static size_t maximal_subpart(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    size_t k = 1;
    if (k < n && k < need && s[k] >= lo && s[k] <= hi)
        k++;
    else
        return 1;
    while (k < n && k < need && is_cont(s[k]))
        k++;
    return k;
}

/* Scans for the first invalid byte quickly (ASCII runs), so valid input
 * costs no copy. */
int tok_utf8_sanitize(const char *s, size_t n, actrm_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int k = tok_utf8_next(u + i, n - i, &cp);
        if (!k)
            break;
        i += (size_t)k;
    }
    if (i == n)
        return 1;
    if (actrm_buf_reserve(out, n + n / 2 + 8) || actrm_buf_append(out, s, i) ||
        tok_utf8_append_lossy(out, s + i, n - i))
        return -1;
    return 0;
}

int tok_utf8_append_lossy(actrm_buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    uint32_t cp;
    while (i < n) {
        int k = tok_utf8_next(u + i, n - i, &cp);
        if (k) {
            i += (size_t)k;
            continue;
        }
        if (actrm_buf_append(out, s + run, i - run) || actrm_buf_append(out, replacement_char, 3))
            return -1;
        i += maximal_subpart(u + i, n - i);
        run = i;
    }
    return actrm_buf_append(out, s + run, n - run);
}

int tok_is_whitespace(uint32_t cp)
{
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85)
        return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

int tok_is_word_char(uint32_t cp)
{
    if (cp == '_')
        return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* -------------------------------------------------------- GPT-2 bytes -- */

/* Printable Latin-1 bytes stand for themselves; the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) are mapped in byte order to U+0100..U+0143
 * (GPT-2's bytes_to_unicode). */
uint32_t tok_byte_to_cp(unsigned char b)
{
    if (b <= 0x20)
        return 256u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 256u + 33 + (b - 0x7Fu);
    if (b == 0xAD)
        return 256u + 67;
    return b;
}

int tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return tok_byte_to_cp((unsigned char)cp) == cp ? (int)cp : -1;
    uint32_t k = cp - 256;
    if (k < 33)
        return (int)k;
    if (k < 67)
        return (int)(0x7F + k - 33);
    return k == 67 ? 0xAD : -1;
}
