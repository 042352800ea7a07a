/*
 * Encode speed of each fixture tokenizer on ~1 MB of mixed text.
 *
 * The text is built deterministically from the golden test strings (prose,
 * code, numbers, CJK, Arabic, Devanagari, emoji, special-token markup):
 * random golden lines interleaved with random runs of their words, so it is
 * not one short string repeated. Run from the project root (`make bench`);
 * the tokenizers are exported from ../shared/fixtures/tokenizer to GGUF in
 * /tmp first. "cold" is a fresh handle's first pass (the piece cache starts
 * empty), "warm" the best of three further passes. Times are the thread's
 * CPU time, so a busy machine does not distort the single-core speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "actrm.h"
#include "gguf.h"
#include "tokenizer.h"

#define FIXTURES "../shared/fixtures/tokenizer"
#define TARGET_BYTES (1u << 20)

static const char *const names[] = {"qwen3", "llama3", "spm32k"};

typedef struct strs {
    char **s;
    size_t n, cap;
} strs;

static void push(strs *v, char *s)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->s = realloc(v->s, v->cap * sizeof *v->s);
        if (!v->s) {
            perror("bench_tokenizer");
            exit(1);
        }
    }
    v->s[v->n++] = s;
}

static int read_golden_texts(strs *lines)
{
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[256], buf[1 << 16];
        snprintf(path, sizeof path, FIXTURES "/%s/golden.jsonl", names[f]);
        FILE *fp = fopen(path, "r");
        if (!fp) {
            fprintf(stderr, "bench_tokenizer: cannot open %s (run from the project root)\n", path);
            return -1;
        }
        while (fgets(buf, sizeof buf, fp)) {
            cJSON *row = cJSON_Parse(buf);
            const cJSON *t = cJSON_GetObjectItem(row, "text");
            if (cJSON_IsString(t) && t->valuestring[0])
                push(lines, strdup(t->valuestring));
            cJSON_Delete(row);
        }
        fclose(fp);
    }
    return 0;
}

static void split_words(const strs *lines, strs *words)
{
    for (size_t i = 0; i < lines->n; i++) {
        char *copy = strdup(lines->s[i]), *save = NULL;
        for (char *w = strtok_r(copy, " \n\t", &save); w; w = strtok_r(NULL, " \n\t", &save))
            push(words, strdup(w));
        free(copy);
    }
}

static uint64_t next_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

static char *mixed_text(const strs *lines, const strs *words, size_t *len)
{
    char *text = malloc(TARGET_BYTES + 4096);
    size_t n = 0;
    uint64_t rng = 42;
    static const char *const seps[] = {" ", " ", " ", " ", ", ", ". ", "\n", "\n\n", "  ", "\t"};
    while (n < TARGET_BYTES) {
        const char *piece;
        if (next_rand(&rng) % 3 == 0)
            piece = lines->s[next_rand(&rng) % lines->n];
        else
            piece = words->s[next_rand(&rng) % words->n];
        const char *sep = seps[next_rand(&rng) % (sizeof seps / sizeof seps[0])];
        size_t a = strlen(piece), b = strlen(sep);
        if (n + a + b > TARGET_BYTES + 4000)
            break;
        memcpy(text + n, piece, a);
        memcpy(text + n + a, sep, b);
        n += a + b;
    }
    text[n] = 0;
    *len = n;
    return text;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int export_gguf(const char *name, const char *path)
{
    char dir[256];
    snprintf(dir, sizeof dir, FIXTURES "/%s", name);
    gguf_writer *w = gguf_writer_new();
    actrm_error err = {0};
    int rc = w ? actrm_tokenizer_export(w, dir, 0, &err) : ACTRM_ERR_NOMEM;
    if (!rc)
        rc = gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    if (rc)
        fprintf(stderr, "bench_tokenizer: %s: %s\n", name, err.msg);
    return rc;
}

/* Seconds for one encode of text, or -1 on error. */
static double time_encode(actrm_tokenizer *tok, const char *text, size_t len, size_t *n_ids)
{
    int32_t *ids;
    double t0 = now();
    if (actrm_tokenizer_encode(tok, text, len, 0, &ids, n_ids)) {
        fprintf(stderr, "bench_tokenizer: %s\n", actrm_tokenizer_errmsg(tok));
        return -1;
    }
    double dt = now() - t0;
    free(ids);
    return dt;
}

static int bench_one(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/actrm-bench-tok-%d-%s.gguf", (int)getpid(), name);
    if (export_gguf(name, path))
        return 1;
    actrm_tokenizer *tok = NULL;
    double t0 = now();
    int rc = actrm_tokenizer_init(&tok, path);
    double load = now() - t0;
    unlink(path);
    if (rc) {
        fprintf(stderr, "bench_tokenizer: %s\n", actrm_tokenizer_errmsg(tok));
        actrm_tokenizer_free(tok);
        return 1;
    }
    size_t n_ids = 0;
    double cold = time_encode(tok, text, len, &n_ids), warm = 1e30;
    for (int r = 0; r < 3 && cold >= 0; r++) {
        double t = time_encode(tok, text, len, &n_ids);
        if (t < 0) {
            cold = -1;
            break;
        }
        warm = t < warm ? t : warm;
    }
    actrm_tokenizer_free(tok);
    if (cold < 0)
        return 1;
    double mb = (double)len / 1e6;
    printf("%-7s load %6.1f ms  %8zu ids  encode cold %6.1f MB/s  warm %6.1f MB/s\n", name, load * 1e3, n_ids,
           mb / cold, mb / warm);
    return 0;
}

int main(void)
{
    strs lines = {0}, words = {0};
    if (read_golden_texts(&lines))
        return 1;
    split_words(&lines, &words);
    size_t len;
    char *text = mixed_text(&lines, &words, &len);
    printf("tokenizer encode speed, one thread (CPU time), %.2f MB of mixed text\n", (double)len / 1e6);
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        rc |= bench_one(names[i], text, len);
    free(text);
    for (size_t i = 0; i < lines.n; i++)
        free(lines.s[i]);
    for (size_t i = 0; i < words.n; i++)
        free(words.s[i]);
    free(lines.s);
    free(words.s);
    return rc;
}
