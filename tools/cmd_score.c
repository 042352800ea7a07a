/* actrm score: add a reward to every line of a JSONL file. */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "jsonl.h"
#include "rm_cli.h"
#include "steer.h"

static const char usage[] =
    "usage: actrm score MODEL.gguf [--steer STEER.gguf] IN.jsonl -o OUT.jsonl [options]\n"
    "\n"
    "Copies every line of IN (.jsonl or .jsonl.gz) to OUT and adds the reward\n"
    "log P(yes) - log P(no) of the judge prompt with the steering file's heads\n"
    "patched (without --steer: the zero-shot judge). A line {prompt, response}\n"
    "gets \"reward\"; a line {prompt, chosen, rejected} gets \"reward_chosen\" and\n"
    "\"reward_rejected\" (scored over their shared prefix). Lines are written and\n"
    "flushed one by one.\n"
    "\n"
    "options:\n"
    "  -o PATH            output JSONL (required)\n"
    "  --steer PATH       steering file from actrm select\n"
    "  --resume           keep OUT's complete lines and continue after them\n"
    "  --template PATH    judge template JSON (default: the steering file's)\n"
    "  --yes-token ID --no-token ID   answer token override\n"
    "  -t, --threads N    threads (default: all cores)\n";

/* Scores one record and adds its reward field(s). */
static int score_record(rm_ctx *c, const jsonl_reader *r, cJSON *obj, actrm_error *err)
{
    const char *prompt, *response, *chosen, *rejected = NULL;
    int st = jsonl_get_string(r, obj, "prompt", 0, &prompt, err);
    if (!st)
        st = jsonl_get_string(r, obj, "chosen", 0, &chosen, err);
    if (!st && chosen)
        st = jsonl_get_string(r, obj, "rejected", 1, &rejected, err);
    if (!st && !chosen)
        st = jsonl_get_string(r, obj, "response", 1, &response, err);
    if (st)
        return st;
    int method = c->steer ? ACTRM_REWARD_ACTIVATION : ACTRM_REWARD_ZEROSHOT;
    float rw[2];
    st = actrm_judge_score_pair(c->judge, method, c->steer, NULL, 0, prompt,
                                chosen ? chosen : response, rejected, rw);
    if (st)
        return actrm_error_set(err, st, "%s:%zu: %s", jsonl_reader_path(r), jsonl_line_no(r),
                               actrm_judge_errmsg(c->judge));
    int bad = chosen ? rm_set_number(obj, "reward_chosen", rw[0]) ||
                           rm_set_number(obj, "reward_rejected", rw[1])
                     : rm_set_number(obj, "reward", rw[0]);
    return bad ? actrm_error_set(err, ACTRM_ERR_NOMEM, "out of memory") : ACTRM_OK;
}

static int score_file(rm_ctx *c, const rm_args *a, actrm_error *err)
{
    size_t done = 0;
    int st = a->resume ? jsonl_resume(a->out, &done, err) : ACTRM_OK;
    jsonl_reader *r = NULL;
    jsonl_writer *w = NULL;
    if (!st)
        st = jsonl_reader_open(&r, a->pos[1], err);
    if (!st)
        st = jsonl_writer_open(&w, a->out, a->resume, err);
    rm_progress prog;
    rm_progress_init(&prog);
    long total = rm_count_records(&prog, a->pos[1], NULL), n = 0;
    cJSON *obj = NULL;
    while (!st && !(st = jsonl_next(r, &obj, err)) && obj) {
        if ((size_t)n++ >= done) {
            st = score_record(c, r, obj, err);
            if (!st)
                st = jsonl_writer_put(w, obj, err);
        }
        cJSON_Delete(obj);
        rm_progress_update(&prog, "score", n, total);
    }
    rm_progress_done(&prog);
    if (!st && (size_t)n < done)
        st = actrm_error_set(err, ACTRM_ERR_ARG,
                             "%s has %zu lines but %s only %ld: not its output?", a->out, done,
                             a->pos[1], n);
    /* A close error is reported only when nothing failed before it. */
    int cst = jsonl_writer_close(w, st ? NULL : err);
    jsonl_reader_close(r);
    return st ? st : cst;
}

int cmd_score(int argc, char **argv)
{
    rm_args a;
    int rc = rm_parse(argc, argv,
                      RM_OPT_OUT | RM_OPT_STEER | RM_OPT_RESUME | RM_OPT_TEMPLATE | RM_OPT_THREADS,
                      2, usage, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!a.out)
        return cli_fail("score", "-o OUT.jsonl is required"), 2;
    rm_ctx c;
    rc = rm_open(&c, "score", a.pos[0], a.steer, &a);
    actrm_error err = {0};
    if (!rc && c.steer && actrm_steer_get_info(c.steer)->n_selected == 0)
        rc = cli_fail("score", "%s has no heads selected (run actrm select)", a.steer);
    if (!rc && score_file(&c, &a, &err))
        rc = cli_fail("score", "%s", err.msg);
    rm_close(&c);
    return rc;
}
