/*
 * bench_select: wall time of `select` (REINFORCE head selection) at the
 * method's defaults, and its speedup over recomputing every prompt in full.
 *
 *   bench_select [MODEL.gguf FEWSHOT.jsonl] [--criterion C] [--template PATH]
 *                [--steps N] [--full-steps N] [-M PROMPTS] [-t THREADS]
 *
 * Without a model it uses the bundled judge (models/judge, converted once to
 * /tmp/actrm-bench/judge.gguf) and its `short` criterion, which is what
 * `make bench` runs.
 *
 * Shared-prefix path (actrm's): per step, the KV of the judge prompt minus
 * its last token is computed once (and kept while the example repeats), and
 * the 32 masks run as one actrm_session_eval_branches() call, logits at the
 * last position only. Baseline: the same REINFORCE run, but every mask
 * evaluates its whole prompt from an empty cache, patches at the last
 * position. The baseline runs --full-steps steps (default 60) and its time
 * per step gives the speedup and the extrapolated full-run time. Step times
 * exclude the final pick of the best of 10 masks (timed separately).
 * -M only changes extraction (default 100), e.g. to keep a large model's
 * run short; select's cost does not depend on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "actrm.h"
#include "steer.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the process: with one thread, robust to other load. */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

typedef struct bench_opts {
    const char *model, *fewshot, *criterion, *template_path;
    int steps, full_steps, threads, prompts;
} bench_opts;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
        buf[n] = 0;
    else
        free(buf), buf = NULL;
    fclose(f);
    return buf;
}

/* The bundled judge as GGUF, converted when missing or older than it. */
static const char *judge_model(void)
{
    static const char *path = "/tmp/actrm-bench/judge.gguf";
    struct stat src, dst;
    if (stat("models/judge/model.safetensors", &src) != 0) {
        fprintf(stderr, "bench_select: run from the project root (models/judge not found)\n");
        return NULL;
    }
    if (stat(path, &dst) == 0 && dst.st_mtime >= src.st_mtime)
        return path;
    mkdir("/tmp/actrm-bench", 0755);
    char err[1024];
    if (actrm_hf_convert("models/judge", path, NULL, err, sizeof err)) {
        fprintf(stderr, "bench_select: %s\n", err);
        return NULL;
    }
    return path;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){NULL, NULL, NULL, NULL, 600, 60, 1, 100};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--criterion") && v) o->criterion = v, i++;
        else if (!strcmp(a, "--template") && v) o->template_path = v, i++;
        else if (!strcmp(a, "--steps") && v) o->steps = atoi(v), i++;
        else if (!strcmp(a, "--full-steps") && v) o->full_steps = atoi(v), i++;
        else if (!strcmp(a, "-t") && v) o->threads = atoi(v), i++;
        else if (!strcmp(a, "-M") && v) o->prompts = atoi(v), i++;
        else if (a[0] != '-' && npos == 0) o->model = a, npos++;
        else if (a[0] != '-' && npos == 1) o->fewshot = a, npos++;
        else {
            fprintf(stderr, "usage: bench_select [MODEL.gguf FEWSHOT.jsonl] [--criterion C] "
                            "[--template PATH] [--steps N] [--full-steps N] [-M N] [-t N]\n");
            return 0;
        }
    }
    if (!o->model) {
        o->model = judge_model();
        o->fewshot = "models/judge/fewshot.jsonl";
        o->criterion = o->criterion ? o->criterion : "short";
        o->template_path = o->template_path ? o->template_path : "models/judge/template.json";
    }
    return o->model && o->fewshot && o->steps > 0 && o->full_steps > 0 && o->prompts > 0;
}

/* Records when the last REINFORCE step finished (progress callback). */
typedef struct step_clock {
    double t_steps_done, cpu_steps_done;
} step_clock;

static void on_progress(void *ctx, const char *phase, long done, long total)
{
    if (!strcmp(phase, "select") && done == total) {
        ((step_clock *)ctx)->t_steps_done = now_s();
        ((step_clock *)ctx)->cpu_steps_done = cpu_s();
    }
}

/* ---------------------------------------------- full-recompute baseline -- */

typedef struct full_ctx {
    actrm_judge *j;
    const actrm_steer *s;
    actrm_session *sess;
    int32_t **ids;         /* [n][len] zero-shot prompts */
    int *len, *label;
    actrm_head_patch *patches; /* [L*H] */
    float *fmask;          /* [L*H] */
} full_ctx;

/* Every mask evaluates the whole prompt from an empty cache. */
static int full_loss(void *ctx, size_t ex, const uint8_t *masks, int n_masks, float *losses)
{
    full_ctx *c = ctx;
    int nh = c->s->n_heads;
    for (int m = 0; m < n_masks; m++) {
        for (int i = 0; i < nh; i++)
            c->fmask[i] = masks[(size_t)m * nh + i];
        int np = steer_patches(c->s, c->fmask, c->patches);
        actrm_eval_request req = {.logits = c->j->logits, .patches = c->patches,
                                  .n_patches = np, .patch_pos = c->len[ex] - 1};
        int st = actrm_session_truncate(c->sess, 0);
        if (!st)
            st = actrm_session_eval(c->sess, c->ids[ex], c->len[ex], &req);
        if (st) {
            fprintf(stderr, "bench_select: %s\n", actrm_session_errmsg(c->sess));
            return st;
        }
        losses[m] = judge_answer_loss(c->j, c->j->logits, c->label[ex]);
    }
    return ACTRM_OK;
}

static double run_full_baseline(actrm_judge *j, const actrm_steer *s, const actrm_example *ex,
                                size_t n, int steps, int threads, double *cpu)
{
    full_ctx c = {j, s, NULL, calloc(n, sizeof(int32_t *)), calloc(n, sizeof(int)),
                  calloc(n, sizeof(int)), calloc((size_t)s->n_heads, sizeof(actrm_head_patch)),
                  calloc((size_t)s->n_heads, sizeof(float))};
    int max_len = 0, st = ACTRM_OK;
    for (size_t e = 0; e < n && !st; e++) {
        st = judge_tokens(j, NULL, 0, ex[e].prompt, ex[e].response, &c.ids[e], &c.len[e]);
        c.label[e] = ex[e].label;
        max_len = c.len[e] > max_len ? c.len[e] : max_len;
    }
    if (!st)
        st = actrm_session_init(&c.sess, j->model, max_len, threads);
    double t = -1;
    if (!st) {
        uint8_t *mask = calloc((size_t)s->n_heads, 1);
        float *logits = calloc((size_t)s->n_heads, sizeof(float));
        step_clock clk = {0};
        reinforce_config cfg = {.n_heads = s->n_heads, .n_examples = n, .steps = steps,
                                .n_masks = 32, .n_final = 1, .lr = 0.1f, .init = -1.0f,
                                .progress = on_progress, .progress_ctx = &clk};
        reinforce_result res = {.logits = logits, .mask = mask};
        actrm_error err = {0};
        double t0 = now_s(), c0 = cpu_s();
        if (!reinforce_run(&cfg, full_loss, &c, &res, &err)) {
            t = clk.t_steps_done - t0;
            *cpu = clk.cpu_steps_done - c0;
        }
        free(mask), free(logits);
    }
    actrm_session_free(c.sess);
    for (size_t e = 0; e < n; e++)
        free(c.ids[e]);
    free(c.ids), free(c.len), free(c.label), free(c.patches), free(c.fmask);
    return t;
}

/* ----------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    bench_opts o;
    if (!parse_args(argc, argv, &o))
        return 2;
    actrm_model *model = NULL;
    actrm_tokenizer *tok = NULL;
    actrm_judge *j = NULL;
    actrm_example *ex = NULL;
    size_t n = 0;
    actrm_error err = {0};
    char *tmpl = o.template_path ? slurp(o.template_path) : NULL;
    actrm_judge_options jo = {.template_text = tmpl, .n_threads = o.threads};
    if (actrm_model_init(&model, o.model) || actrm_tokenizer_init(&tok, o.model) ||
        actrm_judge_init(&j, model, tok, &jo) ||
        examples_load(o.fewshot, o.criterion, &ex, &n, &err)) {
        fprintf(stderr, "bench_select: %s%s%s%s\n", model ? actrm_model_errmsg(model) : "",
                tok ? actrm_tokenizer_errmsg(tok) : "", j ? actrm_judge_errmsg(j) : "", err.msg);
        return 1;
    }
    const actrm_model_info *mi = actrm_model_get_info(model);
    printf("bench_select: %s (%s, %d layers, %d heads, vocab %d), isa %s, %d thread(s)\n",
           o.model, mi->arch, mi->n_layer, mi->n_head, mi->n_vocab, actrm_isa_name(), o.threads);
    printf("few-shot: %zu examples%s%s\n", n, o.criterion ? " of " : "",
           o.criterion ? o.criterion : "");

    step_clock clk = {0};
    actrm_steer_options so = {.steps = o.steps, .n_prompts = o.prompts,
                              .progress = on_progress, .progress_ctx = &clk};
    actrm_steer *s = NULL;
    double t0 = now_s();
    if (actrm_judge_extract(j, ex, n, &so, &s)) {
        fprintf(stderr, "bench_select: %s\n", actrm_judge_errmsg(j));
        return 1;
    }
    double t_extract = now_s() - t0;
    t0 = now_s();
    double c0 = cpu_s();
    if (actrm_judge_select(j, s, ex, n, &so)) {
        fprintf(stderr, "bench_select: %s\n", actrm_judge_errmsg(j));
        return 1;
    }
    double t_select = now_s() - t0;
    /* select = steps x 32 masks, then 10 final masks over the few-shot set. */
    double per_step = (clk.t_steps_done - t0) / o.steps;
    double cpu_per_step = (clk.cpu_steps_done - c0) / o.steps;
    printf("extract (k=4, M=%d):  %8.2f s\n", o.prompts, t_extract);
    printf("select  (%d steps x 32 masks + best of 10):  %8.2f s   (%.2f ms/step, final pick "
           "%.2f s, %d heads kept)\n",
           o.steps, t_select, 1e3 * per_step, now_s() - clk.t_steps_done,
           actrm_steer_get_info(s)->n_selected);
    printf("  CPU time per step: %.2f ms\n", 1e3 * cpu_per_step);

    int fs = o.full_steps < o.steps ? o.full_steps : o.steps;
    double cpu_full = 0, t_full = run_full_baseline(j, s, ex, n, fs, o.threads, &cpu_full);
    if (t_full > 0) {
        double full_per_step = t_full / fs;
        printf("full recomputation (%d steps):  %8.2f s   (%.2f ms/step; %d steps: ~%.1f s)\n",
               fs, t_full, 1e3 * full_per_step, o.steps, full_per_step * o.steps);
        printf("  CPU time per step: %.2f ms\n", 1e3 * cpu_full / fs);
        printf("speedup of the shared-prefix batched path: %.1fx wall, %.1fx CPU time\n",
               full_per_step / per_step, (cpu_full / fs) / cpu_per_step);
    }
    actrm_steer_free(s);
    examples_free(ex, n);
    actrm_judge_free(j);
    actrm_tokenizer_free(tok);
    actrm_model_free(model);
    free(tmpl);
    return 0;
}
