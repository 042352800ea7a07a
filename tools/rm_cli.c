#include "rm_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_util.h"
#include "jsonl.h"
#include "steer.h"

/* ------------------------------------------------------------- arguments -- */

static int parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "actrm %s: %s wants an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo,
                hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

typedef struct opt_spec {
    const char *name, *alt;
    unsigned group;
    int takes_value;
} opt_spec;

static const opt_spec specs[] = {
    {"-o", "--output", RM_OPT_OUT, 1},        {"--steer", NULL, RM_OPT_STEER, 1},
    {"--fewshot", NULL, RM_OPT_FEWSHOT, 1},   {"--json", NULL, RM_OPT_JSON, 1},
    {"--resume", NULL, RM_OPT_RESUME, 0},     {"--method", NULL, RM_OPT_METHOD, 1},
    {"-k", "--shots", RM_OPT_SHOTS, 1},       {"-M", "--prompts", RM_OPT_PROMPTS, 1},
    {"--steps", NULL, RM_OPT_STEPS, 1},       {"--masks", NULL, RM_OPT_STEPS, 1},
    {"--sav-heads", NULL, RM_OPT_SAV, 1},     {"--seed", NULL, RM_OPT_SEED, 1},
    {"--criterion", NULL, RM_OPT_CRITERION, 1}, {"--template", NULL, RM_OPT_TEMPLATE, 1},
    {"--yes-token", NULL, RM_OPT_TEMPLATE, 1}, {"--no-token", NULL, RM_OPT_TEMPLATE, 1},
    {"-t", "--threads", RM_OPT_THREADS, 1},
};

/* Stores one option's value; 0 on a bad value (message printed). */
static int store(const char *cmd, const opt_spec *s, const char *v, rm_args *a)
{
    long n = 0;
    const char *name = s->name;
    if (!strcmp(name, "-o")) a->out = v;
    else if (!strcmp(name, "--steer")) a->steer = v;
    else if (!strcmp(name, "--fewshot")) a->fewshot = v;
    else if (!strcmp(name, "--json")) a->json = v;
    else if (!strcmp(name, "--resume")) a->resume = 1;
    else if (!strcmp(name, "--method")) a->method = v;
    else if (!strcmp(name, "--criterion")) a->criterion = v;
    else if (!strcmp(name, "--template")) a->template_path = v;
    else if (!strcmp(name, "--seed")) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 0);
        if (errno || *end || end == v || v[0] == '-') {
            fprintf(stderr, "actrm %s: --seed wants a non-negative integer, got '%s'\n", cmd, v);
            return 0;
        }
        a->seed = x, a->has_seed = 1;
    } else {
        /* Counts are >= 1; thread count 0 means all cores; token ids >= 0. */
        int zero_ok = !strcmp(name, "-t") || !strcmp(name, "--yes-token") ||
                      !strcmp(name, "--no-token");
        if (!parse_int(cmd, name, v, zero_ok ? 0 : 1, 1L << 30, &n))
            return 0;
        if (!strcmp(name, "-k")) a->k = (int)n;
        else if (!strcmp(name, "-M")) a->M = (int)n;
        else if (!strcmp(name, "--steps")) a->steps = (int)n;
        else if (!strcmp(name, "--masks")) a->masks = (int)n;
        else if (!strcmp(name, "--sav-heads")) a->sav_heads = (int)n;
        else if (!strcmp(name, "-t")) a->threads = (int)n;
        else if (!strcmp(name, "--yes-token")) a->yes_token = (int32_t)n, a->has_tokens |= 1;
        else if (!strcmp(name, "--no-token")) a->no_token = (int32_t)n, a->has_tokens |= 2;
    }
    return 1;
}

int rm_parse(int argc, char **argv, unsigned allowed, int n_pos, const char *usage, rm_args *a)
{
    const char *cmd = argv[0];
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (cli_is_help(arg)) {
            fputs(usage, stdout);
            return 1;
        }
        const opt_spec *s = NULL;
        for (size_t k = 0; k < sizeof specs / sizeof specs[0] && !s; k++)
            if (!strcmp(arg, specs[k].name) || (specs[k].alt && !strcmp(arg, specs[k].alt)))
                s = &specs[k];
        if (!s && arg[0] == '-' && arg[1]) {
            fprintf(stderr, "actrm %s: unknown option '%s' (see actrm %s --help)\n", cmd, arg, cmd);
            return 2;
        }
        if (!s) {
            if (a->n_pos >= n_pos || a->n_pos >= 4) {
                fprintf(stderr, "actrm %s: unexpected argument '%s' (see actrm %s --help)\n",
                        cmd, arg, cmd);
                return 2;
            }
            a->pos[a->n_pos++] = arg;
            continue;
        }
        if (!(s->group & allowed)) {
            fprintf(stderr, "actrm %s: option '%s' does not apply here\n", cmd, arg);
            return 2;
        }
        if (s->takes_value && i + 1 >= argc) {
            fprintf(stderr, "actrm %s: option '%s' needs a value\n", cmd, arg);
            return 2;
        }
        if (!store(cmd, s, s->takes_value ? argv[++i] : NULL, a))
            return 2;
    }
    if (a->n_pos != n_pos) {
        fprintf(stderr, "actrm %s: expected %d arguments, got %d\n\n%s", cmd, n_pos, a->n_pos,
                usage);
        return 2;
    }
    if (a->has_tokens && a->has_tokens != 3) {
        fprintf(stderr, "actrm %s: give both --yes-token and --no-token\n", cmd);
        return 2;
    }
    return 0;
}

/* --------------------------------------------------------------- opening -- */

int rm_open(rm_ctx *c, const char *cmd, const char *model_path, const char *steer_path,
            const rm_args *a)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    if (actrm_model_init(&c->model, model_path))
        return cli_fail(cmd, "%s", c->model ? actrm_model_errmsg(c->model) : "out of memory");
    if (actrm_tokenizer_init(&c->tok, model_path))
        return cli_fail(cmd, "%s", c->tok ? actrm_tokenizer_errmsg(c->tok) : "out of memory");
    if (steer_path) {
        if (actrm_steer_init(&c->steer, steer_path))
            return cli_fail(cmd, "%s", c->steer ? actrm_steer_errmsg(c->steer) : "out of memory");
        if (actrm_steer_check_model(c->steer, c->model))
            return cli_fail(cmd, "%s: %s", steer_path, actrm_steer_errmsg(c->steer));
    }
    char *tmpl = NULL;
    if (a->template_path && !(tmpl = cli_read_file(cmd, a->template_path, NULL)))
        return 1;
    actrm_judge_options jo = {.template_text = tmpl, .steer = c->steer,
                              .override_answers = a->has_tokens != 0,
                              .yes_token = a->yes_token, .no_token = a->no_token,
                              .n_threads = a->threads};
    int st = actrm_judge_init(&c->judge, c->model, c->tok, &jo);
    free(tmpl);
    if (!st)
        return 0;
    const char *msg = c->judge ? actrm_judge_errmsg(c->judge) : "out of memory";
    /* A malformed template is the file's fault: name it. */
    if (st == ACTRM_ERR_FORMAT && a->template_path)
        return cli_fail(cmd, "%s: %s", a->template_path, msg);
    return cli_fail(cmd, "%s", msg);
}

void rm_close(rm_ctx *c)
{
    actrm_judge_free(c->judge);
    actrm_steer_free(c->steer);
    actrm_tokenizer_free(c->tok);
    actrm_model_free(c->model);
    memset(c, 0, sizeof *c);
}

/* -------------------------------------------------------------- progress -- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rm_progress_init(rm_progress *p)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->t0 = now_s();
}

void rm_progress_update(rm_progress *p, const char *what, long done, long total)
{
    if (!p->tty)
        return;
    double t = now_s();
    if (strncmp(p->what, what, sizeof p->what - 1) != 0) {
        if (p->what[0])
            fputc('\n', stderr);
        snprintf(p->what, sizeof p->what, "%s", what);
        p->t0 = t;
        p->last = 0;
    }
    if (t - p->last < 0.1 && done != total)
        return;
    p->last = t;
    double rate = done / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
    fprintf(stderr, "\r%s %ld", what, done);
    if (total > 0)
        fprintf(stderr, "/%ld", total);
    fprintf(stderr, "  %.1f/s", rate);
    if (total > 0 && rate > 0) {
        long eta = (long)((total - done) / rate);
        fprintf(stderr, "  ETA %ld:%02ld", eta / 60, eta % 60);
    }
    fputs("   ", stderr);
    fflush(stderr);
}

void rm_progress_done(rm_progress *p)
{
    if (p->tty && p->what[0])
        fputc('\n', stderr);
    p->what[0] = 0;
}

void rm_progress_cb(void *ctx, const char *phase, long done, long total)
{
    rm_progress_update(ctx, phase, done, total);
}

long rm_count_records(const rm_progress *p, const char *path, const char *criterion)
{
    if (!p->tty)
        return -1;
    jsonl_reader *r;
    actrm_error err = {0};
    if (jsonl_reader_open(&r, path, &err))
        return -1;
    long n = 0;
    cJSON *obj;
    while (!jsonl_next(r, &obj, &err) && obj) {
        n += example_matches(obj, criterion);
        cJSON_Delete(obj);
    }
    jsonl_reader_close(r);
    return n;
}

int rm_set_number(cJSON *obj, const char *key, float v)
{
    char num[32];
    /* %.9g round-trips a float exactly and keeps lines short. */
    if (isfinite(v))
        snprintf(num, sizeof num, "%.9g", (double)v);
    else
        snprintf(num, sizeof num, "null");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    return cJSON_AddRawToObject(obj, key, num) ? 0 : 1;
}
