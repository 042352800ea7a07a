/* actrm extract: mean head activations of few-shot prompts -> steering file. */
#include <stdio.h>

#include "cli.h"
#include "rm_cli.h"
#include "steer.h"

static const char usage[] =
    "usage: actrm extract MODEL.gguf FEWSHOT.jsonl -o STEER.gguf [options]\n"
    "\n"
    "Builds M in-context judge prompts (k labelled shots, then a query) from the\n"
    "few-shot set and writes the mean of every head's output z at the last token\n"
    "to a steering file (no heads selected yet: run actrm select next).\n"
    "FEWSHOT.jsonl (or .jsonl.gz): lines {prompt, response, label} or\n"
    "{prompt, chosen, rejected}; a pair gives a yes and a no example.\n"
    "\n"
    "options:\n"
    "  -o PATH            steering file to write (required)\n"
    "  -k, --shots N      shots per prompt (default 4)\n"
    "  -M, --prompts N    prompts averaged (default 100)\n"
    "  --seed S           seed of the shot sampling (default 0)\n"
    "  --criterion NAME   only lines whose criterion or subset is NAME\n"
    "  --template PATH    judge template JSON (see include/actrm.h)\n"
    "  --yes-token ID --no-token ID   answer token override\n"
    "  -t, --threads N    threads (default: all cores)\n";

int cmd_extract(int argc, char **argv)
{
    rm_args a;
    int rc = rm_parse(argc, argv,
                      RM_OPT_OUT | RM_OPT_SHOTS | RM_OPT_PROMPTS | RM_OPT_SEED |
                          RM_OPT_CRITERION | RM_OPT_TEMPLATE | RM_OPT_THREADS,
                      2, usage, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!a.out)
        return cli_fail("extract", "-o STEER.gguf is required"), 2;
    actrm_error err = {0};
    actrm_example *ex = NULL;
    size_t n = 0;
    if (examples_load(a.pos[1], a.criterion, &ex, &n, &err))
        return cli_fail("extract", "%s", err.msg);
    rm_ctx c;
    rc = rm_open(&c, "extract", a.pos[0], NULL, &a);
    rm_progress prog;
    rm_progress_init(&prog);
    actrm_steer_options so = {.k_shots = a.k, .n_prompts = a.M, .seed = a.seed,
                              .progress = rm_progress_cb, .progress_ctx = &prog};
    actrm_steer *s = NULL;
    if (!rc && actrm_judge_extract(c.judge, ex, n, &so, &s))
        rc = cli_fail("extract", "%s", actrm_judge_errmsg(c.judge));
    rm_progress_done(&prog);
    if (!rc && actrm_steer_save(s, a.out))
        rc = cli_fail("extract", "%s", actrm_steer_errmsg(s));
    if (!rc) {
        const actrm_steer_info *i = actrm_steer_get_info(s);
        fprintf(stderr, "actrm extract: %zu examples, %d prompts of %d shots -> %s\n", n,
                i->n_prompts, i->k_shots, a.out);
    }
    actrm_steer_free(s);
    rm_close(&c);
    examples_free(ex, n);
    return rc;
}
