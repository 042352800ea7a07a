/*
 * actrm bench MODEL.gguf [--prompt-len N] [--gen N] [--threads N] [--reps N]
 *                        [--warmup N] [--json]
 *
 * Prefill: one actrm_session_eval() call over N random token ids into an
 * empty cache, asking for the logits of the last position (what a judge
 * prompt costs). Generation: N single-token calls from an empty cache, each
 * asking for the logits and feeding back their argmax (greedy decoding).
 * Both follow llama.cpp's llama-bench conventions (pp = one batch, tg = greedy
 * decodes from an empty cache), so bench/vs-llamacpp.sh can compare them.
 * Each rep is timed separately after the warm-up reps; the summary gives
 * median, min and max tokens/s. Peak RSS is the process high-water mark
 * (VmHWM), so it covers the mapped weights the runs touched, the KV cache and
 * every scratch buffer.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "actrm.h"
#include "cli.h"

typedef struct bench_opts {
    const char *model_path;
    int prompt_len; /* tokens in the prefill call; 0 skips prefill */
    int gen;        /* generated tokens; 0 skips generation */
    int threads;    /* 0: all cores */
    int reps, warmup;
    int json;
} bench_opts;

/* tok/s of each timed rep: [reps] per test. */
typedef struct bench_result {
    double *pp_tok_s;
    double *tg_tok_s;
    long peak_rss_bytes;
} bench_result;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: actrm bench MODEL.gguf [options]\n"
            "  Prefill and generation speed and peak memory, on random token ids.\n\n"
            "  --prompt-len N  tokens in one prefill call (default 512; 0 skips prefill)\n"
            "  --gen N         tokens generated one per call, greedy (default 32; 0 skips)\n"
            "  --threads N     worker threads (default 0 = all cores)\n"
            "  --reps N        timed repetitions (default 5)\n"
            "  --warmup N      untimed repetitions before them (default 1)\n"
            "  --json          print one JSON object: pp_tok_s and tg_tok_s (one value per\n"
            "                  rep), peak_rss_bytes and the settings\n");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set size of this process in bytes: VmHWM from
 * /proc/self/status, or ru_maxrss where /proc is missing. */
static long peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    }
    return kb * 1024;
}

static int parse_count(const char *flag, const char *s, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || *s == '\0' || *end != '\0' || errno || v < lo || v > INT_MAX) {
        fprintf(stderr, "actrm bench: %s needs an integer >= %d, got '%s'\n", flag, lo,
                s ? s : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Returns 0 to run, 1 when --help was printed, -1 on a bad command line. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    static const struct { const char *flag; size_t off; int lo; } counts[] = {
        {"--prompt-len", offsetof(bench_opts, prompt_len), 0},
        {"--gen", offsetof(bench_opts, gen), 0},
        {"--threads", offsetof(bench_opts, threads), 0},
        {"--reps", offsetof(bench_opts, reps), 1},
        {"--warmup", offsetof(bench_opts, warmup), 0},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int known = 0;
        if (cli_is_help(arg)) {
            usage(stdout);
            return 1;
        }
        for (size_t c = 0; c < sizeof counts / sizeof counts[0] && !known; c++) {
            if (strcmp(arg, counts[c].flag) != 0)
                continue;
            int *field = (int *)((char *)o + counts[c].off);
            if (parse_count(arg, i + 1 < argc ? argv[i + 1] : NULL, counts[c].lo, field))
                return -1;
            known = 1, i++;
        }
        if (known)
            continue;
        if (strcmp(arg, "--json") == 0) {
            o->json = 1;
        } else if (arg[0] != '-' && !o->model_path) {
            o->model_path = arg;
        } else {
            fprintf(stderr, "actrm bench: unexpected argument '%s' (see actrm bench --help)\n", arg);
            return -1;
        }
    }
    if (!o->model_path) {
        fprintf(stderr, "actrm bench: missing MODEL.gguf (see actrm bench --help)\n");
        return -1;
    }
    if (o->prompt_len == 0 && o->gen == 0) {
        fprintf(stderr, "actrm bench: --prompt-len and --gen are both 0, nothing to measure\n");
        return -1;
    }
    return 0;
}

/* Fixed pseudo-random ids in [0, n_vocab), the same on every run. */
static void fill_random_ids(int32_t *ids, int n, int n_vocab)
{
    uint64_t s = 0x2545f4914f6cdd1dULL;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)n_vocab);
    }
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* One prefill of n ids into an empty cache; *seconds is its wall time.
 * logits: [V], the last position's logits. */
static int time_prefill(actrm_session *s, const int32_t *ids, int n, float *logits,
                        double *seconds)
{
    actrm_eval_request req = {.logits = logits};
    int rc = actrm_session_truncate(s, 0);
    double t0 = now_seconds();
    if (rc == ACTRM_OK)
        rc = actrm_session_eval(s, ids, n, &req);
    *seconds = now_seconds() - t0;
    return rc;
}

/* n greedy single-token steps from an empty cache, starting from `first`.
 * logits: [V] scratch. */
static int time_generation(actrm_session *s, int32_t first, int n, int n_vocab,
                           float *logits, double *seconds)
{
    actrm_eval_request req = {.logits = logits};
    int rc = actrm_session_truncate(s, 0);
    int32_t tok = first;
    double t0 = now_seconds();
    for (int i = 0; i < n && rc == ACTRM_OK; i++) {
        rc = actrm_session_eval(s, &tok, 1, &req);
        tok = argmax(logits, n_vocab);
    }
    *seconds = now_seconds() - t0;
    return rc;
}

/* Runs warm-up and timed reps of both tests; fills res. */
static int run_reps(actrm_session *s, const bench_opts *o, int n_vocab, bench_result *res)
{
    int n_ids = o->prompt_len > 1 ? o->prompt_len : 1;
    int32_t *ids = malloc((size_t)n_ids * sizeof *ids);   /* [prompt_len] */
    float *logits = malloc((size_t)n_vocab * sizeof *logits); /* [V] */
    int rc = ids && logits ? ACTRM_OK : ACTRM_ERR_NOMEM;
    if (rc == ACTRM_OK)
        fill_random_ids(ids, n_ids, n_vocab);
    for (int r = -o->warmup; r < o->reps && rc == ACTRM_OK; r++) {
        double sec = 0;
        if (o->prompt_len > 0) {
            rc = time_prefill(s, ids, o->prompt_len, logits, &sec);
            if (r >= 0)
                res->pp_tok_s[r] = o->prompt_len / sec;
        }
        if (o->gen > 0 && rc == ACTRM_OK) {
            rc = time_generation(s, ids[0], o->gen, n_vocab, logits, &sec);
            if (r >= 0)
                res->tg_tok_s[r] = o->gen / sec;
        }
    }
    free(ids);
    free(logits);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n values (n >= 1). */
static void summarize(const double *v, int n, double *median, double *min, double *max)
{
    double *sorted = malloc((size_t)n * sizeof *sorted); /* [n] */
    if (!sorted) {
        *median = *min = *max = v[0];
        return;
    }
    memcpy(sorted, v, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    *median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    *min = sorted[0];
    *max = sorted[n - 1];
    free(sorted);
}

static const char *weight_type_name(int t)
{
    switch (t) {
    case 0: return "f32";
    case 1: return "f16";
    case 8: return "q8_0";
    case 30: return "bf16";
    default: return "?";
    }
}

static void print_text(const bench_opts *o, const actrm_model_info *info, int n_threads,
                       const bench_result *res)
{
    printf("model   %s (%s, %d layers, D %d, %s)\n", o->model_path, info->arch,
           info->n_layer, info->n_embd, weight_type_name(info->weight_type));
    printf("kernels %s, threads %d, reps %d (+%d warm-up)\n", actrm_isa_name(), n_threads,
           o->reps, o->warmup);
    printf("%-8s %12s %10s %10s\n", "test", "median t/s", "min", "max");
    const char *names[2] = {"pp", "tg"};
    const double *vals[2] = {res->pp_tok_s, res->tg_tok_s};
    int lens[2] = {o->prompt_len, o->gen};
    for (int k = 0; k < 2; k++) {
        if (lens[k] == 0)
            continue;
        double med, mn, mx;
        summarize(vals[k], o->reps, &med, &mn, &mx);
        char label[32];
        snprintf(label, sizeof label, "%s%d", names[k], lens[k]);
        printf("%-8s %12.2f %10.2f %10.2f\n", label, med, mn, mx);
    }
    printf("peak RSS %.1f MiB\n", (double)res->peak_rss_bytes / (1024.0 * 1024.0));
}

static int print_json(const bench_opts *o, const actrm_model_info *info, int n_threads,
                      const bench_result *res)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model_path);
    cJSON_AddStringToObject(j, "arch", info->arch);
    cJSON_AddStringToObject(j, "weight_type", weight_type_name(info->weight_type));
    cJSON_AddStringToObject(j, "isa", actrm_isa_name());
    cJSON_AddNumberToObject(j, "threads", n_threads);
    cJSON_AddNumberToObject(j, "prompt_len", o->prompt_len);
    cJSON_AddNumberToObject(j, "gen", o->gen);
    cJSON_AddNumberToObject(j, "reps", o->reps);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddItemToObject(j, "pp_tok_s", o->prompt_len
                              ? cJSON_CreateDoubleArray(res->pp_tok_s, o->reps)
                              : cJSON_CreateArray());
    cJSON_AddItemToObject(j, "tg_tok_s", o->gen
                              ? cJSON_CreateDoubleArray(res->tg_tok_s, o->reps)
                              : cJSON_CreateArray());
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)res->peak_rss_bytes);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) {
        fprintf(stderr, "actrm bench: out of memory\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

/* Loads the model, runs the reps and prints; returns the exit status. */
static int bench_model(const bench_opts *o)
{
    actrm_model *model = NULL;
    actrm_session *session = NULL;
    bench_result res = {0};
    int status = 1;
    int rc = actrm_model_init(&model, o->model_path);
    if (rc != ACTRM_OK) {
        fprintf(stderr, "actrm bench: %s\n",
                model ? actrm_model_errmsg(model) : actrm_status_string(rc));
        goto done;
    }
    const actrm_model_info *info = actrm_model_get_info(model);
    int n_ctx = o->prompt_len > o->gen ? o->prompt_len : o->gen;
    rc = actrm_session_init(&session, model, n_ctx, o->threads);
    if (rc != ACTRM_OK) {
        fprintf(stderr, "actrm bench: %s\n",
                session ? actrm_session_errmsg(session) : actrm_status_string(rc));
        goto done;
    }
    res.pp_tok_s = calloc((size_t)o->reps, sizeof(double));
    res.tg_tok_s = calloc((size_t)o->reps, sizeof(double));
    rc = res.pp_tok_s && res.tg_tok_s ? run_reps(session, o, info->n_vocab, &res)
                                      : ACTRM_ERR_NOMEM;
    if (rc != ACTRM_OK) {
        fprintf(stderr, "actrm bench: %s\n",
                rc == ACTRM_ERR_NOMEM ? "out of memory" : actrm_session_errmsg(session));
        goto done;
    }
    res.peak_rss_bytes = peak_rss_bytes();
    int n_threads = o->threads; /* 0 means all cores: report what that is */
    if (n_threads == 0)
        n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o->json) {
        status = print_json(o, info, n_threads, &res);
    } else {
        print_text(o, info, n_threads, &res);
        status = 0;
    }
done:
    free(res.pp_tok_s);
    free(res.tg_tok_s);
    actrm_session_free(session);
    actrm_model_free(model);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o = {.prompt_len = 512, .gen = 32, .threads = 0, .reps = 5, .warmup = 1};
    int p = parse_args(argc, argv, &o);
    if (p != 0)
        return p > 0 ? 0 : 2;
    return bench_model(&o);
}
