/* BPE on one pre-token ("piece"), with a memo of recent pieces.
 *
 * Symbols start as single bytes (byte-level) or characters (SentencePiece
 * style, with <0xXX> byte fallback or unk), then the adjacent pair of lowest
 * rank is merged until none is left; ties go to the leftmost pair, as in
 * Hugging Face tokenizers. Ranks come from the merges list, or for
 * llama.cpp SentencePiece files without merges from the token scores (the
 * merged token with the highest score first). A binary heap of candidate
 * pairs keeps long pieces (SentencePiece text has no pre-tokenizer, so a
 * whole line is one piece) at O(n log n). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

#define CACHE_MAX_PIECE 256             /* longer pieces are not memoised */
#define CACHE_ARENA (8u << 20)          /* bytes of cached piece text */
#define CACHE_MAX_IDS (4u << 20)        /* ids held by the cache */

/* ------------------------------------------------------------------ heap -- */

static int cand_less(const tok_merge_cand *a, const tok_merge_cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(tok_merge_cand *h, size_t *n, tok_merge_cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
}

static tok_merge_cand heap_pop(tok_merge_cand *h, size_t *n)
{
    tok_merge_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tok_merge_cand *best = &last;
        if (l < *n && cand_less(&h[l], best)) {
            m = l;
            best = &h[l];
        }
        if (r < *n && cand_less(&h[r], best))
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* --------------------------------------------------------------- symbols -- */

static int reserve_scratch(actrm_tokenizer *tok, size_t n)
{
    if (n > tok->cap_syms) {
        tok_sym *s = realloc(tok->syms, n * sizeof *s);
        if (!s)
            return -1;
        tok->syms = s;
        tok->cap_syms = n;
    }
    /* each merge adds at most two candidates to the n-1 initial ones */
    size_t hn = 3 * n + 4;
    if (hn > tok->cap_heap) {
        tok_merge_cand *h = realloc(tok->heap, hn * sizeof *h);
        if (!h)
            return -1;
        tok->heap = h;
        tok->cap_heap = hn;
    }
    return 0;
}

static void add_sym(tok_sym *syms, size_t *n, int32_t id, size_t off, size_t len, int frozen)
{
    size_t i = (*n)++;
    syms[i] = (tok_sym){.id = id, .prev = (int32_t)i - 1, .next = (int32_t)i + 1,
                        .off = (uint32_t)off, .len = (uint32_t)len, .frozen = frozen};
}

/* Initial symbols of a SentencePiece-style word: known characters, else
 * their bytes as <0xXX> tokens, else unk (consecutive unks fused). */
static size_t char_symbols(const actrm_tokenizer *tok, const char *s, size_t n, tok_sym *syms)
{
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t k = (size_t)tok_utf8_len((const unsigned char *)s + i, n - i);
        int32_t id = tok_map_get(&tok->model_vocab, s + i, k);
        int bytes_ok = tok->byte_fallback;
        for (size_t b = 0; id < 0 && bytes_ok && b < k; b++)
            bytes_ok = tok->byte_id[(unsigned char)s[i + b]] >= 0;
        if (id >= 0)
            add_sym(syms, &ns, id, i, k, 0);
        else if (bytes_ok)
            for (size_t b = 0; b < k; b++)
                add_sym(syms, &ns, tok->byte_id[(unsigned char)s[i + b]], i + b, 1, 1);
        else if (tok->fuse_unk && ns && syms[ns - 1].frozen == 2)
            syms[ns - 1].len += (uint32_t)k;
        else
            add_sym(syms, &ns, tok->unk_id, i, k, 2);
        i += k;
    }
    return ns;
}

static size_t byte_symbols(const actrm_tokenizer *tok, const char *s, size_t n, tok_sym *syms)
{
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_id[(unsigned char)s[i]];
        add_sym(syms, &ns, id >= 0 ? id : tok->unk_id, i, 1, id < 0 ? 2 : 0);
    }
    return ns;
}

/* The merge of symbols a and b: its rank and token, or 0 if none. */
static int pair_merge(const actrm_tokenizer *tok, const char *s, const tok_sym *a, const tok_sym *b,
                      int32_t *rank, int32_t *id)
{
    if (a->frozen || b->frozen || a->id < 0 || b->id < 0)
        return 0;
    if (tok->use_merges) {
        const tok_pair_slot *m = tok_pair_map_get(&tok->merges, a->id, b->id);
        if (!m)
            return 0;
        *rank = m->rank;
        *id = m->id;
        return 1;
    }
    int32_t t = tok_map_get(&tok->model_vocab, s + a->off, a->len + b->len);
    if (t < 0)
        return 0;
    *rank = tok->score_rank[t];
    *id = t;
    return 1;
}

static void push_candidate(actrm_tokenizer *tok, const char *s, size_t *nh, int32_t l, int32_t r)
{
    const tok_sym *a = &tok->syms[l], *b = &tok->syms[r];
    tok_merge_cand c = {.left = l, .right = r, .left_id = a->id, .right_id = b->id};
    if (pair_merge(tok, s, a, b, &c.rank, &c.new_id))
        heap_push(tok->heap, nh, c);
}

static void merge_all(actrm_tokenizer *tok, const char *s, size_t ns)
{
    tok_sym *syms = tok->syms;
    size_t nh = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        push_candidate(tok, s, &nh, (int32_t)i, (int32_t)i + 1);
    while (nh) {
        tok_merge_cand c = heap_pop(tok->heap, &nh);
        tok_sym *a = &syms[c.left], *b = &syms[c.right];
        /* stale: one side was merged away or changed since the push */
        if (a->len == 0 || b->len == 0 || a->next != c.right || a->id != c.left_id ||
            b->id != c.right_id)
            continue;
        a->id = c.new_id;
        a->len += b->len;
        a->next = b->next;
        if (b->next >= 0)
            syms[b->next].prev = c.left;
        b->len = 0;
        if (a->prev >= 0)
            push_candidate(tok, s, &nh, a->prev, c.left);
        if (a->next >= 0)
            push_candidate(tok, s, &nh, c.left, a->next);
    }
}

static int bpe_word(actrm_tokenizer *tok, const char *s, size_t n, tok_ids *out)
{
    if (tok->ignore_merges) {
        int32_t id = tok_map_get(&tok->model_vocab, s, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    if (reserve_scratch(tok, n))
        return -1;
    size_t ns = tok->pipe.byte_level ? byte_symbols(tok, s, n, tok->syms)
                                     : char_symbols(tok, s, n, tok->syms);
    if (ns == 0)
        return 0;
    tok->syms[ns - 1].next = -1;
    if (ns > 1)
        merge_all(tok, s, ns);
    for (int32_t i = 0; i >= 0; i = tok->syms[i].next)
        if (tok->syms[i].id >= 0 && tok_ids_push(out, tok->syms[i].id))
            return -1;
    return 0;
}

/* ----------------------------------------------------------------- cache -- */

void tok_cache_free(tok_cache *c)
{
    tok_map_free(&c->map);
    free(c->arena);
    free(c->pool.p);
    free(c->ent);
    memset(c, 0, sizeof *c);
}

static void cache_reset(tok_cache *c)
{
    tok_map_clear(&c->map);
    c->arena_len = 0;
    c->pool.len = 0;
    c->n_ent = 0;
}

/* Remembers piece -> ids[0..n); failures only mean "not cached". */
static void cache_put(tok_cache *c, const char *s, size_t len, const int32_t *ids, size_t n)
{
    if (!c->arena) {
        if (tok_map_init(&c->map, 1 << 16) || !(c->arena = malloc(CACHE_ARENA)))
            return;
        c->arena_cap = CACHE_ARENA;
    }
    if (c->arena_len + len > c->arena_cap || c->pool.len + n > CACHE_MAX_IDS)
        cache_reset(c);
    if (c->n_ent == c->cap_ent) {
        size_t cap = c->cap_ent ? c->cap_ent * 2 : 4096;
        struct tok_cache_entry *e = realloc(c->ent, cap * sizeof *e);
        if (!e)
            return;
        c->ent = e;
        c->cap_ent = cap;
    }
    size_t pool_off = c->pool.len;
    if (tok_ids_append(&c->pool, ids, n))
        return;
    char *key = c->arena + c->arena_len;
    memcpy(key, s, len);
    if (tok_map_put(&c->map, key, len, (int32_t)c->n_ent) != 1) {
        c->pool.len = pool_off;
        return;
    }
    c->arena_len += len;
    c->ent[c->n_ent++] = (struct tok_cache_entry){(uint32_t)pool_off, (uint32_t)n};
}

int tok_bpe_encode_piece(actrm_tokenizer *tok, const char *s, size_t n, tok_ids *out)
{
    if (n == 0)
        return 0;
    tok_cache *c = &tok->cache;
    int cacheable = n <= CACHE_MAX_PIECE;
    if (cacheable && c->arena) {
        int32_t e = tok_map_get(&c->map, s, n);
        if (e >= 0)
            return tok_ids_append(out, c->pool.p + c->ent[e].off, c->ent[e].n);
    }
    size_t before = out->len;
    if (bpe_word(tok, s, n, out))
        return -1;
    if (cacheable)
        cache_put(c, s, n, out->p + before, out->len - before);
    return 0;
}

/* In a SentencePiece vocabulary (checked at load: tok->spm_word_split) no
 * token has U+2581 right after another character, so no merge crosses a
 * point where a U+2581 follows a non-U+2581 character. The text (one
 * piece, as there is no pre-tokenizer) is split into words there and each
 * word is merged and cached alone, which gives the same ids. */
int tok_bpe_encode(actrm_tokenizer *tok, const char *s, size_t n, tok_ids *out)
{
    static const char meta[] = "\xE2\x96\x81";
    if (!tok->spm_word_split)
        return tok_bpe_encode_piece(tok, s, n, out);
    size_t start = 0;
    for (size_t i = 3; i + 3 <= n; i++) {
        if (memcmp(s + i, meta, 3) != 0)
            continue;
        if (memcmp(s + i - 3, meta, 3) != 0) {
            if (tok_bpe_encode_piece(tok, s + start, i - start, out))
                return -1;
            start = i;
        }
        i += 2;
    }
    return tok_bpe_encode_piece(tok, s + start, n - start, out);
}
