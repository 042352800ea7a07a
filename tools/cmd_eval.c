/* actrm eval: pairwise accuracy of a reward method on preference pairs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "jsonl.h"
#include "rm_cli.h"
#include "steer.h"

static const char usage[] =
    "usage: actrm eval MODEL.gguf PAIRS.jsonl --method METHOD [options]\n"
    "\n"
    "Scores both responses of every pair {prompt, chosen, rejected[, subset]} and\n"
    "counts the pair correct when reward(chosen) > reward(rejected) (a tie counts\n"
    "1/2). Prints accuracy per subset and overall with a 95% Wilson interval.\n"
    "  activation  zero-shot judge prompt with the selected heads patched (--steer)\n"
    "  zeroshot    zero-shot judge prompt, P(yes) vs P(no)\n"
    "  icl         k shots from --fewshot in the prompt (drawn per pair, seeded)\n"
    "  sav         SAV head voting (--steer selected with --method sav)\n"
    "\n"
    "options:\n"
    "  --method M         activation, zeroshot, icl or sav (required)\n"
    "  --steer PATH       steering file (activation, sav; also gives the template)\n"
    "  --fewshot PATH     few-shot examples for icl\n"
    "  -k, --shots N      icl shots per prompt (default: the steering file's, or 4)\n"
    "  --seed S           seed of the icl shot choice (default 0)\n"
    "  --criterion NAME   only pairs (and shots) whose criterion or subset is NAME\n"
    "  -o PATH            per-pair rewards, one JSON line per pair, written as it goes\n"
    "  --resume           continue after the last complete line of -o\n"
    "  --json PATH        the accuracy table as JSON\n"
    "  --template PATH    judge template JSON (default: the steering file's)\n"
    "  --yes-token ID --no-token ID   answer token override\n"
    "  -t, --threads N    threads (default: all cores)\n";

static const char *method_names[] = {"activation", "zeroshot", "icl", "sav"};

/* Accuracy per subset, in order of first appearance, plus the total. */
typedef struct table {
    char **name;
    actrm_accuracy *acc;
    int n, cap;
    actrm_accuracy all;
} table;

static int table_add(table *t, const char *subset, float chosen, float rejected)
{
    int i = 0;
    while (i < t->n && strcmp(t->name[i], subset) != 0)
        i++;
    if (i == t->n) {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 16;
            char **nn = realloc(t->name, (size_t)cap * sizeof *nn);
            if (nn)
                t->name = nn;
            actrm_accuracy *na = realloc(t->acc, (size_t)cap * sizeof *na);
            if (na)
                t->acc = na;
            if (!nn || !na)
                return ACTRM_ERR_NOMEM;
            t->cap = cap;
        }
        if (!(t->name[i] = strdup(subset)))
            return ACTRM_ERR_NOMEM;
        memset(&t->acc[i], 0, sizeof t->acc[i]);
        t->n++;
    }
    actrm_accuracy_add(&t->acc[i], chosen, rejected);
    actrm_accuracy_add(&t->all, chosen, rejected);
    return ACTRM_OK;
}

static void table_free(table *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->name[i]);
    free(t->name), free(t->acc);
}

static void print_row(const char *name, const actrm_accuracy *a)
{
    printf("%-16s %7ld  %8.3f  [%.3f, %.3f]\n", name, a->n, a->acc, a->lo, a->hi);
}

static void table_print(const table *t, const char *method, const char *pairs)
{
    printf("method %s on %s\n%-16s %7s  %8s  %s\n", method, pairs, "subset", "pairs", "accuracy",
           "95% interval");
    for (int i = 0; i < t->n; i++)
        print_row(t->name[i], &t->acc[i]);
    print_row("all", &t->all);
}

/* Adds item (may be NULL: a failed creation) to obj under key; frees item
 * and returns 0 on failure. */
static int add_owned(cJSON *obj, const char *key, cJSON *item)
{
    if (obj && item && cJSON_AddItemToObject(obj, key, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static cJSON *acc_json(const actrm_accuracy *a)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "pairs", (double)a->n) &&
             cJSON_AddNumberToObject(o, "correct", a->correct) &&
             cJSON_AddNumberToObject(o, "accuracy", a->acc) &&
             cJSON_AddNumberToObject(o, "ci95_low", a->lo) &&
             cJSON_AddNumberToObject(o, "ci95_high", a->hi);
    if (ok)
        return o;
    cJSON_Delete(o);
    return NULL;
}

static int table_write_json(const table *t, const char *method, const char *path,
                            actrm_error *err)
{
    cJSON *root = cJSON_CreateObject(), *subs = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "method", method);
    for (int i = 0; i < t->n && ok; i++)
        ok = add_owned(subs, t->name[i], acc_json(&t->acc[i]));
    if (ok)
        ok = add_owned(root, "subsets", subs);
    else
        cJSON_Delete(subs);
    ok = ok && add_owned(root, "overall", acc_json(&t->all));
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    FILE *f = fopen(path, "wb");
    int written = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    written = f && fclose(f) == 0 && written;
    free(text);
    return written ? ACTRM_OK : actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot write", path);
}

/* Everything one evaluation run needs. */
typedef struct eval_run {
    rm_ctx c;
    const rm_args *a;
    int method, k;
    actrm_example *pool;   /* icl shot pool [n_pool] */
    size_t n_pool;
    actrm_example *shots;  /* [k] */
    size_t *shot_idx;      /* [k] */
    table t;
} eval_run;

/* Restores the statistics of pairs already in the -o file (after --resume). */
static int load_done(eval_run *e, size_t *done, actrm_error *err)
{
    int st = jsonl_resume(e->a->out, done, err);
    jsonl_reader *r = NULL;
    if (st || *done == 0)
        return st;
    st = jsonl_reader_open(&r, e->a->out, err);
    cJSON *obj;
    while (!st && !(st = jsonl_next(r, &obj, err)) && obj) {
        const char *subset;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "reward_chosen");
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "reward_rejected");
        st = jsonl_get_string(r, obj, "subset", 1, &subset, err);
        if (!st && (!cJSON_IsNumber(c) || !cJSON_IsNumber(j)))
            st = actrm_error_set(err, ACTRM_ERR_FORMAT, "%s:%zu: missing reward_chosen/rejected",
                                 e->a->out, jsonl_line_no(r));
        if (!st && table_add(&e->t, subset, (float)c->valuedouble, (float)j->valuedouble))
            st = actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
        cJSON_Delete(obj);
    }
    jsonl_reader_close(r);
    return st;
}

static const char *subset_of(const cJSON *obj)
{
    static const char *keys[2] = {"subset", "criterion"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, keys[k]);
        if (cJSON_IsString(v))
            return v->valuestring;
    }
    return "all";
}

/* Scores pair number idx (record obj) and records it. */
static int eval_pair(eval_run *e, const jsonl_reader *r, cJSON *obj, size_t idx,
                     jsonl_writer *w, actrm_error *err)
{
    const char *prompt, *chosen, *rejected;
    int st = jsonl_get_string(r, obj, "prompt", 0, &prompt, err);
    if (!st)
        st = jsonl_get_string(r, obj, "chosen", 1, &chosen, err);
    if (!st)
        st = jsonl_get_string(r, obj, "rejected", 1, &rejected, err);
    if (st)
        return st;
    if (e->method == ACTRM_REWARD_ICL) {
        actrm_shots_pick(e->a->seed, idx, e->n_pool, e->k, e->shot_idx);
        for (int i = 0; i < e->k; i++)
            e->shots[i] = e->pool[e->shot_idx[i]];
    }
    float rw[2];
    st = actrm_judge_score_pair(e->c.judge, e->method, e->c.steer, e->shots, (size_t)e->k,
                                prompt, chosen, rejected, rw);
    if (st)
        return actrm_error_set(err, st, "%s:%zu: %s", jsonl_reader_path(r), jsonl_line_no(r),
                               actrm_judge_errmsg(e->c.judge));
    const char *subset = subset_of(obj);
    if (table_add(&e->t, subset, rw[0], rw[1]))
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
    if (!w)
        return ACTRM_OK;
    cJSON *line = cJSON_CreateObject();
    int bad = !line || !cJSON_AddNumberToObject(line, "index", (double)idx) ||
              !cJSON_AddStringToObject(line, "subset", subset) ||
              rm_set_number(line, "reward_chosen", rw[0]) ||
              rm_set_number(line, "reward_rejected", rw[1]);
    st = bad ? actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory")
             : jsonl_writer_put(w, line, err);
    cJSON_Delete(line);
    return st;
}

static int eval_file(eval_run *e, actrm_error *err)
{
    const rm_args *a = e->a;
    size_t done = 0;
    int st = a->resume ? load_done(e, &done, err) : ACTRM_OK;
    jsonl_reader *r = NULL;
    jsonl_writer *w = NULL;
    if (!st)
        st = jsonl_reader_open(&r, a->pos[1], err);
    if (!st && a->out)
        st = jsonl_writer_open(&w, a->out, a->resume, err);
    rm_progress prog;
    rm_progress_init(&prog);
    long total = rm_count_records(&prog, a->pos[1], a->criterion);
    size_t idx = 0;
    cJSON *obj = NULL;
    while (!st && !(st = jsonl_next(r, &obj, err)) && obj) {
        if (example_matches(obj, a->criterion)) {
            if (idx >= done)
                st = eval_pair(e, r, obj, idx, w, err);
            idx++;
            rm_progress_update(&prog, "eval", (long)idx, total);
        }
        cJSON_Delete(obj);
    }
    rm_progress_done(&prog);
    if (!st && idx < done)
        st = actrm_error_set(err, ACTRM_ERR_ARG, "%s has %zu lines but %s only %zu pairs",
                             a->out, done, a->pos[1], idx);
    /* A close error is reported only when nothing failed before it. */
    int cst = jsonl_writer_close(w, st ? NULL : err);
    jsonl_reader_close(r);
    return st ? st : cst;
}

/* Checks the options of the method and loads the icl pool. */
static int eval_prepare(eval_run *e, actrm_error *err)
{
    const rm_args *a = e->a;
    if ((e->method == ACTRM_REWARD_ACTIVATION || e->method == ACTRM_REWARD_SAV) && !a->steer)
        return actrm_error_set(err, ACTRM_ERR_ARG, "--method %s needs --steer",
                               method_names[e->method]);
    if (a->resume && !a->out)
        return actrm_error_set(err, ACTRM_ERR_ARG, "--resume needs -o");
    const actrm_steer_info *si = e->c.steer ? actrm_steer_get_info(e->c.steer) : NULL;
    if (e->method == ACTRM_REWARD_ACTIVATION && si->n_selected == 0)
        return actrm_error_set(err, ACTRM_ERR_ARG, "%s has no heads selected (run actrm select)",
                               a->steer);
    if (e->method == ACTRM_REWARD_SAV && !si->has_sav)
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "%s has no SAV selection (run actrm select --method sav)", a->steer);
    if (e->method != ACTRM_REWARD_ICL)
        return ACTRM_OK;
    if (!a->fewshot)
        return actrm_error_set(err, ACTRM_ERR_ARG, "--method icl needs --fewshot");
    int st = examples_load(a->fewshot, a->criterion, &e->pool, &e->n_pool, err);
    if (st)
        return st;
    e->k = a->k ? a->k : e->c.steer ? actrm_steer_get_info(e->c.steer)->k_shots : 4;
    if ((size_t)e->k > e->n_pool)
        e->k = (int)e->n_pool;
    e->shots = calloc((size_t)e->k + 1, sizeof *e->shots);
    e->shot_idx = calloc((size_t)e->k + 1, sizeof *e->shot_idx);
    if (!e->shots || !e->shot_idx)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory");
    return ACTRM_OK;
}

int cmd_eval(int argc, char **argv)
{
    rm_args a;
    int rc = rm_parse(argc, argv,
                      RM_OPT_OUT | RM_OPT_STEER | RM_OPT_FEWSHOT | RM_OPT_JSON | RM_OPT_RESUME |
                          RM_OPT_METHOD | RM_OPT_SHOTS | RM_OPT_SEED | RM_OPT_CRITERION |
                          RM_OPT_TEMPLATE | RM_OPT_THREADS,
                      2, usage, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    eval_run e = {.a = &a, .method = -1};
    for (int m = 0; m < 4 && a.method; m++)
        if (!strcmp(a.method, method_names[m]))
            e.method = m;
    if (e.method < 0)
        return cli_fail("eval", "--method is activation, zeroshot, icl or sav"), 2;
    rc = rm_open(&e.c, "eval", a.pos[0], a.steer, &a);
    actrm_error err = {0};
    if (!rc && (eval_prepare(&e, &err) || eval_file(&e, &err)))
        rc = cli_fail("eval", "%s", err.msg);
    if (!rc) {
        table_print(&e.t, method_names[e.method], a.pos[1]);
        if (a.json && table_write_json(&e.t, method_names[e.method], a.json, &err))
            rc = cli_fail("eval", "%s", err.msg);
    }
    rm_close(&e.c);
    examples_free(e.pool, e.n_pool);
    free(e.shots), free(e.shot_idx);
    table_free(&e.t);
    return rc;
}
