/*
 * Tokenizer tests against ../shared/fixtures/tokenizer: every golden row
 * (Hugging Face tokenizers.js output on the real tokenizer.json) must match
 * exactly, through a GGUF written by actrm_tokenizer_export and through a
 * llama.cpp-style GGUF without actrm.* keys. Edge cases: invalid UTF-8,
 * empty text, a 1 MB line, special tokens only, unsupported tokenizers.
 */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actrm.h"
#include "fixtures.h"
#include "gguf.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"

#define TOK_DIR FIXTURES_DIR "/tokenizer"

/* tokenizer fixture -> the fixture model whose config.json gives vocab_size */
static const struct tok_fixture {
    const char *name, *model;
} tok_fixtures[] = {{"qwen3", "qwen3-tiny"}, {"llama3", "llama3-tiny"}, {"spm32k", "spm-tiny"}};

static int model_vocab_size(const char *model)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES_DIR "/models/%s/config.json", model);
    cJSON *cfg = fixture_read_json(path);
    cJSON *v = cJSON_GetObjectItem(cfg, "vocab_size");
    cr_assert(cJSON_IsNumber(v), "%s: no vocab_size", path);
    int n = v->valueint;
    cJSON_Delete(cfg);
    return n;
}

static const struct tok_fixture *find_fixture(const char *name)
{
    for (size_t i = 0; i < sizeof tok_fixtures / sizeof tok_fixtures[0]; i++)
        if (strcmp(tok_fixtures[i].name, name) == 0)
            return &tok_fixtures[i];
    cr_assert_fail("unknown fixture %s", name);
    return NULL;
}

/* Writes a tokenizer-only GGUF for fixture name (padded to the fixture
 * model's vocab_size); cached like fixture_model_gguf and redone when older
 * than the test binary. */
static const char *tokenizer_gguf(char *buf, size_t cap, const char *name)
{
    mkdir(FIXTURE_CACHE_DIR, 0755);
    snprintf(buf, cap, "%s/tok-%s.gguf", FIXTURE_CACHE_DIR, name);
    if (fixture_is_fresh(buf))
        return buf;
    char dir[512], tmp[512];
    snprintf(dir, sizeof dir, TOK_DIR "/%s", name);
    fixture_tmp_path(tmp, sizeof tmp, "tok.gguf");
    gguf_writer *w = gguf_writer_new();
    actrm_error err = {0};
    int rc = actrm_tokenizer_export(w, dir, model_vocab_size(find_fixture(name)->model), &err);
    cr_assert_eq(rc, ACTRM_OK, "export %s: %s", dir, err.msg);
    rc = gguf_writer_write(w, tmp, &err);
    cr_assert_eq(rc, ACTRM_OK, "write %s: %s", tmp, err.msg);
    gguf_writer_free(w);
    cr_assert_eq(rename(tmp, buf), 0);
    return buf;
}

/* A copy of src without the actrm.* keys (and, if drop_merges, without
 * tokenizer.ggml.merges, as llama.cpp's SentencePiece files come). */
static const char *llamacpp_copy(char *buf, size_t cap, const char *src, int drop_merges)
{
    actrm_gguf *g;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&g, src, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const gguf_kv *kv = gguf_kv_at(g, i);
        if (kv->key.len >= 6 && memcmp(kv->key.ptr, "actrm.", 6) == 0)
            continue;
        if (drop_merges && kv->key.len == 21 && memcmp(kv->key.ptr, "tokenizer.ggml.merges", 21) == 0)
            continue;
        cr_assert_eq(gguf_set_kv_from(w, kv), ACTRM_OK);
    }
    fixture_tmp_path(buf, cap, drop_merges ? "llamacpp-nomerges.gguf" : "llamacpp.gguf");
    cr_assert_eq(gguf_writer_write(w, buf, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    gguf_close(g);
    return buf;
}

static actrm_tokenizer *open_tok(const char *path)
{
    actrm_tokenizer *tok = NULL;
    int rc = actrm_tokenizer_init(&tok, path);
    cr_assert_eq(rc, ACTRM_OK, "init %s: %s", path, actrm_tokenizer_errmsg(tok));
    return tok;
}

static actrm_tokenizer *fixture_tok(const char *name)
{
    char path[512];
    return open_tok(tokenizer_gguf(path, sizeof path, name));
}

/* ------------------------------------------------------- golden rows -- */

static int ids_equal(const cJSON *want, const int32_t *got, size_t n)
{
    if ((size_t)cJSON_GetArraySize(want) != n)
        return 0;
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, want)
        if (v->valueint != got[i++])
            return 0;
    return 1;
}

static char *ids_text(const int32_t *ids, size_t n)
{
    size_t cap = 16 + n * 12;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "[");
    for (size_t i = 0; i < n && i < 64; i++)
        p += sprintf(p, "%s%d", i ? "," : "", ids[i]);
    sprintf(p, "%s]", n > 64 ? ",..." : "");
    return s;
}

typedef struct row_check {
    int ids, with_special, decoded;
} row_check;

/* Checks every row of name/golden.jsonl; returns the number of failing rows. */
static int check_golden(actrm_tokenizer *tok, const char *name, row_check what, int verbose)
{
    char path[512];
    snprintf(path, sizeof path, TOK_DIR "/%s/golden.jsonl", name);
    char *text = fixture_read_file(path, NULL);
    int line = 0, bad = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *row = cJSON_Parse(l);
        cr_assert(row, "%s:%d: bad JSON", path, line);
        const char *t = cJSON_GetObjectItem(row, "text")->valuestring;
        int32_t *ids, *ids_sp;
        size_t n, n_sp;
        cr_assert_eq(actrm_tokenizer_encode(tok, t, strlen(t), 0, &ids, &n), ACTRM_OK);
        cr_assert_eq(actrm_tokenizer_encode(tok, t, strlen(t), ACTRM_ENCODE_ADD_SPECIAL, &ids_sp, &n_sp),
                     ACTRM_OK);
        char *dec;
        size_t dlen;
        const cJSON *want_ids = cJSON_GetObjectItem(row, "ids");
        size_t nw = (size_t)cJSON_GetArraySize(want_ids), k = 0;
        int32_t *golden_ids = malloc((nw ? nw : 1) * sizeof *golden_ids);
        const cJSON *v;
        cJSON_ArrayForEach(v, want_ids)
            golden_ids[k++] = v->valueint;
        cr_assert_eq(actrm_tokenizer_decode(tok, golden_ids, nw, &dec, &dlen), ACTRM_OK);
        const char *want_dec = cJSON_GetObjectItem(row, "decoded")->valuestring;
        int ok_ids = !what.ids || ids_equal(want_ids, ids, n);
        int ok_sp = !what.with_special || ids_equal(cJSON_GetObjectItem(row, "ids_with_special"), ids_sp, n_sp);
        int ok_dec = !what.decoded || (strlen(want_dec) == dlen && memcmp(want_dec, dec, dlen) == 0);
        if (!(ok_ids && ok_sp && ok_dec)) {
            bad++;
            if (verbose) {
                char *got = ids_text(ids, n);
                cr_log_error("%s:%d %s%s%s text=%.60s got=%s decoded=%.60s", path, line, ok_ids ? "" : "[ids]",
                             ok_sp ? "" : "[ids_with_special]", ok_dec ? "" : "[decoded]", t, got, dec);
                free(got);
            }
        }
        free(golden_ids);
        free(ids);
        free(ids_sp);
        free(dec);
        cJSON_Delete(row);
    }
    free(text);
    cr_assert_gt(line, 50, "%s: expected the full golden file", path);
    return bad;
}

static void golden_all(const char *name)
{
    actrm_tokenizer *tok = fixture_tok(name);
    int bad = check_golden(tok, name, (row_check){1, 1, 1}, 1);
    cr_expect_eq(bad, 0, "%s: %d golden rows differ", name, bad);
    actrm_tokenizer_free(tok);
}

Test(tokenizer, golden_qwen3) { golden_all("qwen3"); }
Test(tokenizer, golden_llama3) { golden_all("llama3"); }
Test(tokenizer, golden_spm32k) { golden_all("spm32k"); }

/* llama.cpp-made files carry no actrm.* keys: the pre-tokenizer comes from
 * tokenizer.ggml.pre, the rest from tokenizer.ggml.model. */
static void golden_llamacpp(const char *name, int drop_merges)
{
    char src[512], path[512];
    tokenizer_gguf(src, sizeof src, name);
    actrm_tokenizer *tok = open_tok(llamacpp_copy(path, sizeof path, src, drop_merges));
    int bad = check_golden(tok, name, (row_check){1, 1, 1}, 1);
    cr_expect_eq(bad, 0, "%s (llama.cpp style): %d golden rows differ", name, bad);
    actrm_tokenizer_free(tok);
    unlink(path);
}

Test(tokenizer, llamacpp_style_qwen3) { golden_llamacpp("qwen3", 0); }
Test(tokenizer, llamacpp_style_llama3) { golden_llamacpp("llama3", 0); }
Test(tokenizer, llamacpp_style_spm32k) { golden_llamacpp("spm32k", 0); }
/* SentencePiece files from llama.cpp have scores instead of merges. */
Test(tokenizer, llamacpp_style_spm32k_scores) { golden_llamacpp("spm32k", 1); }

/* Control and unknown tokens are split out of the text of a llama.cpp
 * file too: "<s></s><unk>" are tokens 1, 2, 0 of tokenizer.json. */
Test(tokenizer, llamacpp_style_special_tokens)
{
    char src[512], path[512];
    tokenizer_gguf(src, sizeof src, "spm32k");
    actrm_tokenizer *tok = open_tok(llamacpp_copy(path, sizeof path, src, 1));
    int32_t *ids;
    size_t n;
    cr_assert_eq(actrm_tokenizer_encode(tok, "<s></s><unk>", 12, 0, &ids, &n), ACTRM_OK);
    cr_expect(n == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 0);
    free(ids);
    actrm_tokenizer_free(tok);
    unlink(path);
}

Test(tokenizer, llamacpp_unknown_pre_is_unsupported)
{
    char src[512], path[512];
    tokenizer_gguf(src, sizeof src, "qwen3");
    actrm_gguf *g;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&g, src, &err), ACTRM_OK);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const gguf_kv *kv = gguf_kv_at(g, i);
        if (kv->key.len < 6 || memcmp(kv->key.ptr, "actrm.", 6) != 0)
            gguf_set_kv_from(w, kv);
    }
    gguf_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
    fixture_tmp_path(path, sizeof path, "badpre.gguf");
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK);
    gguf_writer_free(w);
    gguf_close(g);
    actrm_tokenizer *tok = NULL;
    cr_expect_eq(actrm_tokenizer_init(&tok, path), ACTRM_ERR_UNSUPPORTED);
    cr_expect(strstr(actrm_tokenizer_errmsg(tok), "tokenizer.ggml.pre 'no-such-pre'"), "%s",
              actrm_tokenizer_errmsg(tok));
    actrm_tokenizer_free(tok);
    unlink(path);
}

/* --------------------------------------------------------- edge cases -- */

static void encode(actrm_tokenizer *tok, const char *s, size_t n, int flags, int32_t **ids, size_t *n_ids)
{
    int rc = actrm_tokenizer_encode(tok, s, n, flags, ids, n_ids);
    cr_assert_eq(rc, ACTRM_OK, "encode: %s", actrm_tokenizer_errmsg(tok));
}

/* decode(ids) must give back text[0..len) exactly. */
static void expect_decodes_to(actrm_tokenizer *tok, const int32_t *ids, size_t n, const char *text,
                              size_t len, const char *what)
{
    char *back;
    size_t blen;
    cr_assert_eq(actrm_tokenizer_decode(tok, ids, n, &back, &blen), ACTRM_OK);
    cr_expect(blen == len && memcmp(back, text, len) == 0, "%s: decode(encode(x)) != x", what);
    free(back);
}

static void expect_same_ids(actrm_tokenizer *tok, const char *a, size_t na, const char *b, const char *what)
{
    int32_t *x, *y;
    size_t nx, ny;
    encode(tok, a, na, 0, &x, &nx);
    encode(tok, b, strlen(b), 0, &y, &ny);
    cr_expect(nx == ny && memcmp(x, y, nx * sizeof *x) == 0, "%s", what);
    free(x);
    free(y);
}

/* Invalid UTF-8 reads as U+FFFD per maximal ill-formed subsequence
 * (documented in actrm.h); the expected strings are what Python's
 * bytes.decode("utf-8", errors="replace") gives for each input. */
Test(tokenizer, invalid_utf8_reads_as_replacement_chars)
{
#define FFFD "\xEF\xBF\xBD"
    for (size_t f = 0; f < 3; f++) {
        actrm_tokenizer *tok = fixture_tok(tok_fixtures[f].name);
        expect_same_ids(tok, "a\xff" "b", 3, "a" FFFD "b", "stray byte");
        expect_same_ids(tok, "x\xC3", 2, "x" FFFD, "truncated 2-byte sequence at the end");
        expect_same_ids(tok, "\xF0\x9F\x98 ok", 6, FFFD " ok", "truncated 4-byte sequence: one U+FFFD");
        expect_same_ids(tok, "\xC0\xAF/", 3, FFFD FFFD "/", "overlong encoding");
        expect_same_ids(tok, "\xED\xA0\x80", 3, FFFD FFFD FFFD, "surrogate");
        expect_same_ids(tok, "\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, "above U+10FFFF");
        char nul[] = {'a', 0, 'b'};
        int32_t *ids;
        size_t n;
        encode(tok, nul, 3, 0, &ids, &n); /* embedded NUL is ordinary text */
        cr_expect_geq(n, 2);
        free(ids);
        actrm_tokenizer_free(tok);
    }
#undef FFFD
}

/* A byte-level token that is half a character decodes to U+FFFD. */
Test(tokenizer, decode_of_partial_character_is_replacement)
{
    actrm_tokenizer *tok = fixture_tok("qwen3");
    /* GPT-2's byte map sends byte 0xE2 to U+00E2 'â' */
    int32_t id = actrm_tokenizer_piece_id(tok, "\xC3\xA2");
    cr_assert_geq(id, 0);
    char *text;
    size_t len;
    cr_assert_eq(actrm_tokenizer_decode(tok, &id, 1, &text, &len), ACTRM_OK);
    cr_expect_str_eq(text, "\xEF\xBF\xBD");
    free(text);
    int32_t bad = actrm_tokenizer_n_vocab(tok);
    cr_expect_eq(actrm_tokenizer_decode(tok, &bad, 1, &text, &len), ACTRM_ERR_ARG);
    cr_expect(strstr(actrm_tokenizer_errmsg(tok), "ids[0]"), "%s", actrm_tokenizer_errmsg(tok));
    actrm_tokenizer_free(tok);
}

Test(tokenizer, empty_text)
{
    /* BOS only where the post-processor adds one (spm32k's <s> = 1) */
    const int32_t want_special[] = {-1, -1, 1};
    for (size_t f = 0; f < 3; f++) {
        actrm_tokenizer *tok = fixture_tok(tok_fixtures[f].name);
        int32_t *ids;
        size_t n;
        encode(tok, "", 0, 0, &ids, &n);
        cr_expect_eq(n, 0);
        free(ids);
        encode(tok, NULL, 0, ACTRM_ENCODE_ADD_SPECIAL, &ids, &n);
        cr_expect_eq(n, want_special[f] < 0 ? 0u : 1u, "%s", tok_fixtures[f].name);
        if (n == 1)
            cr_expect_eq(ids[0], want_special[f]);
        free(ids);
        char *text;
        size_t len = 99;
        cr_assert_eq(actrm_tokenizer_decode(tok, NULL, 0, &text, &len), ACTRM_OK);
        cr_expect_eq(len, 0);
        cr_expect_str_eq(text, "");
        free(text);
        actrm_tokenizer_free(tok);
    }
}

/* "Hello world Hello world ... " as one 1 MB line. The expected ids are
 * the golden ones of "Hello", " world", " Hello" and " " (byte-level) or
 * "▁Hello", "▁world", "▁" (SentencePiece, where the whole line is a single
 * BPE word). */
Test(tokenizer, one_megabyte_single_line)
{
    static const struct {
        const char *name;
        int32_t first, world, hello, tail;
    } cases[] = {
        {"qwen3", 9707, 1879, 21927, 220},
        {"llama3", 9906, 1917, 22691, 220},
        {"spm32k", 22557, 1526, 22557, 28705},
    };
    const char unit[] = "Hello world ";
    size_t reps = (1u << 20) / (sizeof unit - 1), len = reps * (sizeof unit - 1);
    char *text = malloc(len + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * (sizeof unit - 1), unit, sizeof unit - 1);
    text[len] = 0;
    for (size_t c = 0; c < 3; c++) {
        actrm_tokenizer *tok = fixture_tok(cases[c].name);
        int32_t *ids;
        size_t n;
        encode(tok, text, len, 0, &ids, &n);
        cr_assert_eq(n, 2 * reps + 1, "%s: %zu ids", cases[c].name, n);
        int ok = ids[0] == cases[c].first && ids[n - 1] == cases[c].tail;
        for (size_t i = 1; ok && i + 1 < n; i++)
            ok = ids[i] == (i % 2 ? cases[c].world : cases[c].hello);
        cr_expect(ok, "%s: unexpected ids", cases[c].name);
        expect_decodes_to(tok, ids, n, text, len, cases[c].name);
        free(ids);
        actrm_tokenizer_free(tok);
    }
    free(text);
}

/* One 1 MB word: a single BPE piece of 2^20 symbols (the merge heap's
 * worst case). The golden row of 72 'a's is nine "aaaaaaaa" tokens, so
 * with equal ranks merged leftmost first any multiple of 8 gives the same
 * blocks. */
Test(tokenizer, one_megabyte_single_word)
{
    static const struct {
        const char *name;
        int32_t block8;
    } cases[] = {{"qwen3", 69440}, {"llama3", 70540}, {"spm32k", -1}};
    size_t len = 1u << 20;
    char *text = malloc(len + 1);
    memset(text, 'a', len);
    text[len] = 0;
    for (size_t c = 0; c < 3; c++) {
        actrm_tokenizer *tok = fixture_tok(cases[c].name);
        int32_t *ids;
        size_t n;
        encode(tok, text, len, 0, &ids, &n);
        if (cases[c].block8 >= 0) {
            int ok = n == len / 8;
            for (size_t i = 0; ok && i < n; i++)
                ok = ids[i] == cases[c].block8;
            cr_expect(ok, "%s: %zu ids, expected %zu x %d", cases[c].name, n, len / 8, cases[c].block8);
        }
        expect_decodes_to(tok, ids, n, text, len, cases[c].name);
        free(ids);
        actrm_tokenizer_free(tok);
    }
    free(text);
}

/* GPT-2's byte map: printable Latin-1 stands for itself, the 68 other
 * bytes take U+0100.. in order (so ' ' is U+0120 'Ġ', '\n' U+010A 'Ċ'). */
Test(tokenizer, gpt2_byte_map)
{
    cr_expect_eq(tok_byte_to_cp(' '), 0x120u);
    cr_expect_eq(tok_byte_to_cp('\n'), 0x10Au);
    cr_expect_eq(tok_byte_to_cp('A'), (uint32_t)'A');
    cr_expect_eq(tok_byte_to_cp(0xAD), 0x143u);
    cr_expect_eq(tok_byte_to_cp(0xFF), 0xFFu);
    int hits = 0;
    for (uint32_t cp = 0; cp < 0x200; cp++)
        hits += tok_cp_to_byte(cp) >= 0;
    cr_expect_eq(hits, 256, "the map is a bijection onto 256 code points");
    for (int b = 0; b < 256; b++)
        cr_expect_eq(tok_cp_to_byte(tok_byte_to_cp((unsigned char)b)), b);
}

/* Ids of the added tokens as listed in each tokenizer.json. */
Test(tokenizer, only_special_tokens)
{
    static const struct {
        const char *name, *text;
        int32_t ids[4];
        size_t n;
        int bos_prefix;
    } cases[] = {
        {"qwen3", "<|im_start|><|im_end|><|endoftext|>", {151644, 151645, 151643}, 3, 0},
        {"llama3", "<|begin_of_text|><|eot_id|><|end_of_text|>", {128000, 128009, 128001}, 3, 0},
        {"spm32k", "<s></s><unk>", {1, 2, 0}, 3, 1},
    };
    for (size_t c = 0; c < 3; c++) {
        actrm_tokenizer *tok = fixture_tok(cases[c].name);
        int32_t *ids;
        size_t n;
        encode(tok, cases[c].text, strlen(cases[c].text), 0, &ids, &n);
        cr_expect(n == cases[c].n && memcmp(ids, cases[c].ids, n * sizeof *ids) == 0, "%s", cases[c].name);
        char *back;
        size_t blen;
        cr_assert_eq(actrm_tokenizer_decode(tok, ids, n, &back, &blen), ACTRM_OK);
        cr_expect_str_eq(back, cases[c].text, "%s: special tokens decode to their text", cases[c].name);
        free(back);
        free(ids);
        encode(tok, cases[c].text, strlen(cases[c].text), ACTRM_ENCODE_ADD_SPECIAL, &ids, &n);
        cr_expect_eq(n, cases[c].n + (size_t)cases[c].bos_prefix, "%s", cases[c].name);
        free(ids);
        actrm_tokenizer_free(tok);
    }
}

Test(tokenizer, accessors_and_padding)
{
    actrm_tokenizer *tok = fixture_tok("qwen3");
    cr_expect_eq(actrm_tokenizer_n_vocab(tok), model_vocab_size("qwen3-tiny"));
    cr_expect_eq(actrm_tokenizer_piece_id(tok, "<|im_end|>"), 151645);
    cr_expect_eq(actrm_tokenizer_eos(tok), 151645); /* tokenizer_config eos_token */
    cr_expect_eq(actrm_tokenizer_bos(tok), -1);     /* bos_token is null */
    cr_expect_str_eq(actrm_tokenizer_piece(tok, 151645), "<|im_end|>");
    cr_expect_null(actrm_tokenizer_piece(tok, -1));
    cr_expect_null(actrm_tokenizer_piece(tok, actrm_tokenizer_n_vocab(tok)));
    /* ids above the last real token are padding, never produced */
    const char *pad = actrm_tokenizer_piece(tok, 151700);
    cr_expect(pad && strncmp(pad, "[PAD", 4) == 0, "%s", pad ? pad : "(null)");
    cr_expect_eq(actrm_tokenizer_piece_id(tok, "no such piece"), -1);
    cr_expect_not_null(actrm_tokenizer_error(tok));

    cJSON *j = fixture_read_json(TOK_DIR "/qwen3/tokenizer_config.json");
    const char *want = cJSON_GetObjectItem(j, "chat_template")->valuestring;
    cr_expect_str_eq(actrm_tokenizer_chat_template(tok), want);
    cJSON_Delete(j);
    actrm_tokenizer_free(tok);

    tok = fixture_tok("llama3");
    cr_expect_eq(actrm_tokenizer_bos(tok), 128000);
    cr_expect_eq(actrm_tokenizer_eos(tok), 128001);
    actrm_tokenizer_free(tok);
    tok = fixture_tok("spm32k");
    cr_expect_eq(actrm_tokenizer_bos(tok), 1);
    cr_expect_eq(actrm_tokenizer_eos(tok), 2);
    cr_expect_eq(actrm_tokenizer_piece_id(tok, "<0x0A>"), 13); /* byte tokens start at id 3 */
    cr_expect_null(actrm_tokenizer_chat_template(tok));         /* none in tokenizer_config.json */
    actrm_tokenizer_free(tok);
}

/* NFC (Qwen's normalizer) composes conjoining Hangul jamo and combining
 * marks, whichever characters surround them. */
Test(tokenizer, nfc_composes_jamo_and_marks)
{
    actrm_tokenizer *tok = fixture_tok("qwen3");
    expect_same_ids(tok, "\xE1\x84\x80\xE1\x85\xA1", 6, "\xEA\xB0\x80", "U+1100 U+1161 -> U+AC00");
    expect_same_ids(tok, "x \xEA\xB0\x80\xE1\x86\xA8!", 9, "x \xEA\xB0\x81!", "U+AC00 U+11A8 -> U+AC01");
    expect_same_ids(tok, "ao\xCC\x88\xCC\xA3z", 7, "a\xE1\xBB\x8D\xCC\x88z", "o + U+0308 U+0323 reordered and composed");
    expect_same_ids(tok, "\xE2\x84\xAB", 3, "\xC3\x85", "U+212B ANGSTROM SIGN -> U+00C5");
    actrm_tokenizer_free(tok);
}

/* transformers' clean_up_tokenization runs when tokenizer_config.json
 * sets clean_up_tokenization_spaces (Llama 3: true, Qwen3: false). */
Test(tokenizer, decode_clean_up_spaces)
{
    static const struct {
        const char *name, *decoded;
    } cases[] = {{"llama3", "Hello, world! Isn't it?"}, {"qwen3", "Hello , world ! Is n't it ?"}};
    const char *text = "Hello , world ! Is n't it ?";
    for (size_t c = 0; c < 2; c++) {
        actrm_tokenizer *tok = fixture_tok(cases[c].name);
        int32_t *ids;
        size_t n;
        encode(tok, text, strlen(text), 0, &ids, &n);
        char *back;
        size_t blen;
        cr_assert_eq(actrm_tokenizer_decode(tok, ids, n, &back, &blen), ACTRM_OK);
        cr_expect_str_eq(back, cases[c].decoded, "%s", cases[c].name);
        free(back);
        free(ids);
        actrm_tokenizer_free(tok);
    }
}

/* --------------------------------------------- synthetic tokenizers -- */

/* Exports a tokenizer.json given as text and opens it. */
static actrm_tokenizer *synthetic_tok(const char *name, const char *tokenizer_json)
{
    char dir[512], path[700];
    fixture_tmp_path(dir, sizeof dir, name);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    fixture_write_text(path, tokenizer_json);
    gguf_writer *w = gguf_writer_new();
    actrm_error err = {0};
    cr_assert_eq(actrm_tokenizer_export(w, dir, 0, &err), ACTRM_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/tok.gguf", dir);
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    actrm_tokenizer *tok = open_tok(path);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    rmdir(dir);
    return tok;
}

static void expect_ids(actrm_tokenizer *tok, const char *text, const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n;
    encode(tok, text, strlen(text), 0, &ids, &n);
    char *got = ids_text(ids, n);
    cr_expect(n == n_want && memcmp(ids, want, n * sizeof *ids) == 0, "'%s' -> %s", text, got);
    free(got);
    free(ids);
}

#define EXPECT_IDS(tok, text, ...)                                                                   \
    do {                                                                                             \
        const int32_t want_[] = {__VA_ARGS__};                                                       \
        expect_ids(tok, text, want_, sizeof want_ / sizeof want_[0]);                                \
    } while (0)

/* Added-token flags as tokenizers defines them: lstrip/rstrip swallow the
 * whitespace on that side, single_word matches only between non-word
 * characters, normalized tokens match the normalized (here lowercased)
 * text. The vocabulary is single characters without merges, so every
 * other character is its own id. */
Test(tokenizer, added_token_flags)
{
    actrm_tokenizer *tok = synthetic_tok(
        "flags",
        "{\"added_tokens\": ["
        " {\"id\": 10, \"content\": \"<l>\", \"single_word\": false, \"lstrip\": true, \"rstrip\": false,"
        "  \"normalized\": false, \"special\": true},"
        " {\"id\": 11, \"content\": \"<r>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": true,"
        "  \"normalized\": false, \"special\": true},"
        " {\"id\": 12, \"content\": \"sw\", \"single_word\": true, \"lstrip\": false, \"rstrip\": false,"
        "  \"normalized\": false, \"special\": false},"
        " {\"id\": 13, \"content\": \"<n>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
        "  \"normalized\": true, \"special\": false}],"
        " \"normalizer\": {\"type\": \"Lowercase\"}, \"pre_tokenizer\": null, \"post_processor\": null,"
        " \"decoder\": null,"
        " \"model\": {\"type\": \"BPE\", \"merges\": [], \"vocab\": {\"a\": 0, \"b\": 1, \"s\": 2, \"w\": 3,"
        "  \" \": 4, \"<\": 5, \">\": 6, \"l\": 7, \"r\": 8, \"n\": 9}}}");
    EXPECT_IDS(tok, "a <l>b", 0, 10, 1);
    EXPECT_IDS(tok, "a  <l> b", 0, 10, 4, 1);
    EXPECT_IDS(tok, "a<r>  b", 0, 11, 1);
    EXPECT_IDS(tok, "sw asw sw", 12, 4, 0, 2, 3, 4, 12);
    EXPECT_IDS(tok, "sw_", 2, 3);
    EXPECT_IDS(tok, "<N>", 13);
    EXPECT_IDS(tok, "a<n>", 0, 13);
    EXPECT_IDS(tok, "<L>", 5, 7, 6); /* not normalized: matched in the raw text only */
    actrm_tokenizer_free(tok);
}

/* Metaspace with prepend_scheme "first": spaces become U+2581 and one is
 * prepended only to text at the very start of the input, not after an
 * added token; the decoder drops that first one again. */
Test(tokenizer, metaspace_prepend_first)
{
    actrm_tokenizer *tok = synthetic_tok(
        "metaspace",
        "{\"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"single_word\": false, \"lstrip\": false,"
        "  \"rstrip\": false, \"normalized\": false, \"special\": true}],"
        " \"normalizer\": null,"
        " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"first\","
        "  \"split\": false},"
        " \"post_processor\": null,"
        " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"first\","
        "  \"split\": false},"
        " \"model\": {\"type\": \"BPE\", \"merges\": [[\"\u2581\", \"a\"]],"
        "  \"vocab\": {\"\u2581\": 0, \"a\": 1, \"b\": 2, \"<s>\": 3, \"\u2581a\": 4}}}");
    EXPECT_IDS(tok, "a b", 4, 0, 2);
    EXPECT_IDS(tok, "a<s>a", 4, 3, 1);
    EXPECT_IDS(tok, " a", 4); /* already starts with U+2581: nothing prepended */
    const int32_t ids[] = {4, 0, 2};
    char *text;
    size_t len;
    cr_assert_eq(actrm_tokenizer_decode(tok, ids, 3, &text, &len), ACTRM_OK);
    cr_expect_str_eq(text, "a b");
    free(text);
    actrm_tokenizer_free(tok);
}

/* ---------------------------------------------------- export failures -- */

/* Writes tokenizer.json (and an empty tokenizer_config.json) to a fresh dir. */
static const char *tmp_hf_dir(char *buf, size_t cap, const char *name, const char *tokenizer_json)
{
    fixture_tmp_path(buf, cap, name);
    mkdir(buf, 0755);
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", buf);
    fixture_write_text(path, tokenizer_json);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", buf);
    fixture_write_text(path, "{}");
    return buf;
}

static void remove_hf_dir(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

static void expect_export_error(const char *name, const char *json, int status, const char *needle)
{
    char dir[512];
    tmp_hf_dir(dir, sizeof dir, name, json);
    gguf_writer *w = gguf_writer_new();
    actrm_error err = {0};
    int rc = actrm_tokenizer_export(w, dir, 0, &err);
    cr_expect_eq(rc, status, "%s: status %d (%s)", name, rc, err.msg);
    cr_expect(strstr(err.msg, "tokenizer.json") && strstr(err.msg, needle), "%s: message '%s' lacks '%s'", name,
              err.msg, needle);
    gguf_writer_free(w);
    remove_hf_dir(dir);
}

Test(tokenizer, unsupported_tokenizers_rejected_at_export)
{
    expect_export_error("wordpiece",
                        "{\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                        " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
                        " \"continuing_subword_prefix\": \"##\", \"vocab\": {\"[UNK]\": 0, \"a\": 1}}}",
                        ACTRM_ERR_UNSUPPORTED, "model.type 'WordPiece'");
    expect_export_error("unigram",
                        "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"a\", -1.5]]}}",
                        ACTRM_ERR_UNSUPPORTED, "model.type 'Unigram'");
    expect_export_error("bertnorm",
                        "{\"normalizer\": {\"type\": \"BertNormalizer\"}, \"pre_tokenizer\": null,"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        ACTRM_ERR_UNSUPPORTED, "normalizer.type 'BertNormalizer'");
    expect_export_error("badjson", "{\"model\": ", ACTRM_ERR_FORMAT, "invalid JSON");
}

/* Replacing "" would never advance: it must be refused, not loop. */
Test(tokenizer, empty_replace_pattern_rejected_at_export, .timeout = 20)
{
    expect_export_error("emptyreplace",
                        "{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \"\"},"
                        " \"content\": \"x\"}, \"pre_tokenizer\": null,"
                        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                        ACTRM_ERR_FORMAT, "normalizer.pattern: empty");
}

Test(tokenizer, missing_file_is_io_error)
{
    gguf_writer *w = gguf_writer_new();
    actrm_error err = {0};
    cr_expect_eq(actrm_tokenizer_export(w, "/nonexistent-dir", 0, &err), ACTRM_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent-dir/tokenizer.json"), "%s", err.msg);
    gguf_writer_free(w);
    actrm_tokenizer *tok = NULL;
    cr_expect_neq(actrm_tokenizer_init(&tok, "/nonexistent.gguf"), ACTRM_OK);
    cr_expect(strstr(actrm_tokenizer_errmsg(tok), "/nonexistent.gguf"), "%s", actrm_tokenizer_errmsg(tok));
    int32_t *ids;
    size_t n;
    cr_expect_eq(actrm_tokenizer_encode(tok, "a", 1, 0, &ids, &n), ACTRM_ERR_ARG);
    actrm_tokenizer_free(tok);
}
