/*
 * Tokenizer internals (private to src/tokenizer*.c).
 *
 * Encoding follows Hugging Face tokenizers' pipeline:
 *   sanitize UTF-8 -> split out added tokens (raw text) -> normalize each
 *   remaining segment -> split out "normalized" added tokens -> pre-tokenize
 *   into pieces -> BPE each piece -> post-process (BOS/EOS).
 * The normalizer, pre-tokenizer and decoder are described by the same JSON
 * objects as in tokenizer.json; for llama.cpp-made GGUF files equivalent
 * JSON is synthesised from tokenizer.ggml.model/pre, so both sources go
 * through one parser (tokenizer_pipeline.c).
 */
#ifndef ACTRM_TOKENIZER_IMPL_H
#define ACTRM_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdint.h>

#include "tokenizer.h"
#include "util.h"

/* Token types, llama.cpp numbering (tokenizer.ggml.token_type). */
enum {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6
};

/* ------------------------------------------------------------ buffers -- */

typedef struct tok_ids {
    int32_t *p;
    size_t len, cap;
} tok_ids;

/* Byte strings are actrm_buf (util.h). Both return 0, or -1 when out of
 * memory. */
int tok_ids_push(tok_ids *v, int32_t id);
/* Appends s[0..n) to out with every occurrence of pat (non-empty) replaced,
 * scanning left to right without overlaps. */
int tok_replace_all(actrm_buf *out, const char *s, size_t n, const char *pat, const char *with);
int tok_ids_append(tok_ids *v, const int32_t *ids, size_t n);

/* ----------------------------------------------------------- hash maps -- */

/* Byte string -> int32. Keys are not copied: they must outlive the map. */
typedef struct tok_map_slot {
    uint64_t hash;
    const char *key;
    uint32_t len;
    int32_t val; /* -1 marks an empty slot */
} tok_map_slot;

typedef struct tok_map {
    tok_map_slot *slots;
    size_t cap, n; /* cap is a power of two */
} tok_map;

uint64_t tok_hash(const char *s, size_t n);
int tok_map_init(tok_map *m, size_t expected);
void tok_map_free(tok_map *m);
void tok_map_clear(tok_map *m);
/* Inserts key -> val (val >= 0) unless key is present. Returns 1 if
 * inserted, 0 if present, -1 when out of memory. */
int tok_map_put(tok_map *m, const char *key, size_t len, int32_t val);
int32_t tok_map_get(const tok_map *m, const char *key, size_t len); /* -1 if absent */

/* (left id, right id) -> merge rank and merged id. */
typedef struct tok_pair_slot {
    uint64_t key;
    int32_t rank;
    int32_t id; /* -1 marks an empty slot */
} tok_pair_slot;

typedef struct tok_pair_map {
    tok_pair_slot *slots;
    size_t cap, n;
} tok_pair_map;

int tok_pair_map_init(tok_pair_map *m, size_t expected);
void tok_pair_map_free(tok_pair_map *m);
/* Keeps the first (lowest-rank) entry of a pair; -1 when out of memory. */
int tok_pair_map_put(tok_pair_map *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const tok_pair_slot *tok_pair_map_get(const tok_pair_map *m, int32_t a, int32_t b);

/* ---------------------------------------------------------------- UTF-8 -- */

/* Length of the valid UTF-8 sequence at s (n bytes available) and its code
 * point, or 0 if s does not start a valid sequence (overlong, surrogate,
 * truncated, > U+10FFFF). */
int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char out[4]);
/* Length of the next code point, treating an invalid byte as length 1. */
int tok_utf8_len(const unsigned char *s, size_t n);
/* Appends s with each maximal invalid subsequence replaced by U+FFFD
 * (Unicode's "maximal subpart" practice: Python's errors="replace", Rust's
 * from_utf8_lossy, WHATWG). */
int tok_utf8_append_lossy(actrm_buf *out, const char *s, size_t n);
/* Returns 1 if s is valid UTF-8 (nothing appended), else appends the
 * tok_utf8_append_lossy copy of s to out and returns 0; -1 when out of
 * memory. */
int tok_utf8_sanitize(const char *s, size_t n, actrm_buf *out);
int tok_is_whitespace(uint32_t cp); /* Unicode White_Space */
int tok_is_word_char(uint32_t cp);  /* alphanumeric or '_' */

/* GPT-2 byte-level map: byte -> code point, and back (-1 if not a byte). */
uint32_t tok_byte_to_cp(unsigned char b);
int tok_cp_to_byte(uint32_t cp);

/* ------------------------------------------------------------- pipeline -- */

enum tok_norm_kind {
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD,
    NORM_PREPEND, NORM_REPLACE, NORM_LOWERCASE, NORM_STRIP
};

typedef struct tok_norm_step {
    int kind;
    char *a, *b;        /* prepend: a; replace: a (String pattern) -> b */
    pcre2_code *re;     /* replace with a Regex pattern */
    int left, right;    /* strip */
} tok_norm_step;

enum tok_pre_kind { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE };
enum tok_split_behavior {
    SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_WITH_PREVIOUS,
    SPLIT_MERGED_WITH_NEXT, SPLIT_CONTIGUOUS
};
enum tok_prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct tok_pre_step {
    int kind;
    pcre2_code *re;        /* split; byte-level with use_regex (GPT-2 pattern) */
    int behavior, invert;  /* split */
    int add_prefix_space;  /* byte-level */
    char *replacement;     /* metaspace, UTF-8 */
    int prepend_scheme;    /* metaspace */
    int split;             /* metaspace: split into words at the replacement */
} tok_pre_step;

enum tok_dec_kind {
    DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE
};

typedef struct tok_dec_step {
    int kind;
    char *a, *b;        /* replace a -> b; strip/metaspace: a = the character */
    int start, stop;    /* strip counts */
    int prepend_scheme; /* metaspace */
} tok_dec_step;

typedef struct tok_pipeline {
    tok_norm_step *norm;
    int n_norm;
    tok_pre_step *pre;
    int n_pre;
    tok_dec_step *dec;
    int n_dec;
    int has_decoder; /* 0: tokens are joined with spaces, as HF does */
    int byte_level;  /* a ByteLevel pre-tokenizer: the BPE works on raw bytes */
} tok_pipeline;

/* Parses tokenizer.json's "normalizer", "pre_tokenizer" and "decoder"
 * objects (each may be NULL or JSON null). Unsupported types are
 * ACTRM_ERR_UNSUPPORTED naming the field path, e.g.
 * "pre_tokenizer.pretokenizers[1].type 'Punctuation'". */
int tok_pipeline_parse(tok_pipeline *p, const cJSON *normalizer,
                       const cJSON *pre_tokenizer, const cJSON *decoder,
                       actrm_error *err);
void tok_pipeline_free(tok_pipeline *p);
pcre2_code *tok_regex_compile(const char *pattern, int literal, actrm_error *err,
                              const char *field);

/* Regexes of llama.cpp's tokenizer.ggml.pre names (NULL if unknown), and the
 * reverse mapping for export ("default" when the regex is not a known one). */
const char *tok_pre_regex_for_name(const char *pre_name);
const char *tok_pre_name_for_regex(const char *regex);
extern const char tok_regex_gpt2[];

/* -------------------------------------------------------- added tokens -- */

typedef struct tok_added {
    int32_t id;
    const char *content; /* NUL-terminated, owned by the tokenizer */
    size_t len;
    unsigned char lstrip, rstrip, single_word, normalized, special;
} tok_added;

/* Byte trie over added-token contents for leftmost-longest matching. */
typedef struct tok_trie_node {
    int32_t child;   /* first child, -1 if none */
    int32_t sibling; /* next sibling, -1 if none */
    int32_t added;   /* index into tokenizer->added ending here, or -1 */
    unsigned char byte;
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes;
    size_t n, cap;
    unsigned char first[256]; /* first bytes of any content, for skipping */
} tok_trie;

/* A span of the input: text (added < 0) or an added token. */
typedef struct tok_segment {
    size_t off, len;
    int32_t added;
} tok_segment;

typedef struct tok_segments {
    tok_segment *p;
    size_t len, cap;
} tok_segments;

/* Pre-tokenizer output: pieces are spans of buf. */
typedef struct tok_pieces {
    actrm_buf buf;
    struct tok_span { uint32_t off, len; } *span;
    size_t n, cap;
} tok_pieces;

/* --------------------------------------------------------------- BPE -- */

typedef struct tok_sym {
    int32_t id;
    int32_t prev, next;
    uint32_t off, len; /* bytes of the word this symbol covers */
    int32_t frozen;    /* byte-fallback or unk symbols never merge */
} tok_sym;

typedef struct tok_merge_cand {
    int32_t rank, left, right, new_id, left_id, right_id;
} tok_merge_cand;

/* Memo of piece -> ids. Keys live in a fixed arena; when the arena or the
 * id pool fills up the whole cache is dropped, so memory stays bounded. */
typedef struct tok_cache {
    tok_map map;      /* piece bytes -> entry index */
    char *arena;
    size_t arena_len, arena_cap;
    tok_ids pool;     /* ids of every cached piece */
    struct tok_cache_entry { uint32_t off, n; } *ent;
    size_t n_ent, cap_ent;
} tok_cache;

/* ---------------------------------------------------------- tokenizer -- */

struct actrm_tokenizer {
    actrm_error err;
    int n_vocab;
    char *model_name;          /* tokenizer.ggml.model */
    char *pre_name;            /* tokenizer.ggml.pre, or "" */

    /* pieces, NUL-terminated in one arena: piece[id] */
    char *arena;
    const char **piece;
    uint32_t *piece_len;
    int32_t *type;             /* [n_vocab] token types */
    float *score;              /* [n_vocab] or NULL */
    tok_map by_piece;          /* stored text -> id */

    /* BPE model */
    tok_map model_vocab;       /* model-space bytes (raw bytes if byte-level) -> id */
    char *model_arena;         /* keys of model_vocab when byte-level */
    tok_pair_map merges;       /* used when use_merges */
    int use_merges;            /* else ranks come from scores (llama.cpp SPM) */
    int32_t *score_rank;       /* [n_vocab] dense rank of -score, scores mode */
    int32_t byte_id[256];      /* id of each single byte (-1 if none) */
    int32_t unk_id;
    int fuse_unk, byte_fallback, ignore_merges;
    int spm_word_split;        /* see tok_bpe_encode */

    tok_pipeline pipe;

    tok_added *added;
    size_t n_added;
    int32_t *added_index;      /* [n_vocab] index into added, or -1 */
    tok_trie trie_raw, trie_norm;

    int32_t *prefix_ids, *suffix_ids; /* post-processor, single sequence */
    size_t n_prefix, n_suffix;
    int32_t bos, eos;
    int clean_up_spaces;
    char *chat_template;

    /* scratch, reused across calls (handles are single-threaded) */
    tok_cache cache;
    pcre2_match_data *md;
    tok_sym *syms;
    size_t cap_syms;
    tok_merge_cand *heap;
    size_t cap_heap;
};

/* tokenizer_text.c */
/* out is overwritten with the normalized text. */
int tok_normalize(actrm_tokenizer *tok, const char *s, size_t n, actrm_buf *out);
int tok_pretokenize(actrm_tokenizer *tok, const char *s, size_t n, int at_start,
                    tok_pieces *out);
void tok_pieces_free(tok_pieces *p);
int tok_trie_add(tok_trie *t, const char *s, size_t n, int32_t added);
void tok_trie_free(tok_trie *t);
/* Splits s into text segments and added-token segments, using trie. */
int tok_added_split(const actrm_tokenizer *tok, const tok_trie *trie,
                    const char *s, size_t n, tok_segments *out);

/* tokenizer_bpe.c */
int tok_bpe_encode_piece(actrm_tokenizer *tok, const char *s, size_t n, tok_ids *out);
/* Like tok_bpe_encode_piece, splitting SentencePiece text into words first
 * when that cannot change the result (spm_word_split). */
int tok_bpe_encode(actrm_tokenizer *tok, const char *s, size_t n, tok_ids *out);
void tok_cache_free(tok_cache *c);

/* tokenizer_decode.c */
int tok_decode(actrm_tokenizer *tok, const int32_t *ids, size_t n, actrm_buf *out);

#endif
