/* actrm select: choose the heads of a steering file (REINFORCE or SAV). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rm_cli.h"
#include "steer.h"

static const char usage[] =
    "usage: actrm select MODEL.gguf STEER.gguf FEWSHOT.jsonl -o OUT.gguf [options]\n"
    "\n"
    "Chooses which heads to patch, on the zero-shot judge prompts of the few-shot\n"
    "set, and writes the steering file with its head mask. OUT may be STEER.\n"
    "  reinforce  one Bernoulli logit per head (init -1), masks sampled per step,\n"
    "             loss = cross-entropy of the right answer with the masked heads\n"
    "             patched, z-normalised advantages, Adam lr 0.1; the best of 10\n"
    "             final masks on the few-shot set is kept.\n"
    "  sav        heads ranked by nearest-class-mean (cosine) accuracy, top N kept\n"
    "             (also what `eval --method sav` votes with).\n"
    "\n"
    "options:\n"
    "  -o PATH            steering file to write (required)\n"
    "  --method M         reinforce (default) or sav\n"
    "  --steps N          REINFORCE steps (default 600)\n"
    "  --masks N          masks per step (default 32)\n"
    "  --sav-heads N      heads SAV keeps (default 20)\n"
    "  --seed S           seed (default: the steering file's)\n"
    "  --criterion NAME   only lines whose criterion or subset is NAME\n"
    "  -t, --threads N    threads (default: all cores)\n";

int cmd_select(int argc, char **argv)
{
    rm_args a;
    int rc = rm_parse(argc, argv,
                      RM_OPT_OUT | RM_OPT_METHOD | RM_OPT_STEPS | RM_OPT_SAV | RM_OPT_SEED |
                          RM_OPT_CRITERION | RM_OPT_THREADS,
                      3, usage, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!a.out)
        return cli_fail("select", "-o OUT.gguf is required"), 2;
    int method = ACTRM_SELECT_REINFORCE;
    if (a.method && !strcmp(a.method, "sav"))
        method = ACTRM_SELECT_SAV;
    else if (a.method && strcmp(a.method, "reinforce") != 0)
        return cli_fail("select", "--method is reinforce or sav, not '%s'", a.method), 2;
    actrm_error err = {0};
    actrm_example *ex = NULL;
    size_t n = 0;
    if (examples_load(a.pos[2], a.criterion, &ex, &n, &err))
        return cli_fail("select", "%s", err.msg);
    rm_ctx c;
    rc = rm_open(&c, "select", a.pos[0], a.pos[1], &a);
    rm_progress prog;
    rm_progress_init(&prog);
    if (!rc) {
        actrm_steer_options so = {.method = method, .steps = a.steps, .n_masks = a.masks,
                                  .sav_heads = a.sav_heads,
                                  .seed = a.has_seed ? a.seed : actrm_steer_get_info(c.steer)->seed,
                                  .progress = rm_progress_cb, .progress_ctx = &prog};
        if (actrm_judge_select(c.judge, c.steer, ex, n, &so))
            rc = cli_fail("select", "%s", actrm_judge_errmsg(c.judge));
    }
    rm_progress_done(&prog);
    if (!rc && actrm_steer_save(c.steer, a.out))
        rc = cli_fail("select", "%s", actrm_steer_errmsg(c.steer));
    if (!rc) {
        int lh[2 * 4096], nsel = actrm_steer_heads(c.steer, lh, 4096);
        fprintf(stderr, "actrm select: %s kept %d heads:", method == ACTRM_SELECT_SAV ? "sav" : "reinforce", nsel);
        for (int i = 0; i < nsel && i < 4096; i++)
            fprintf(stderr, " %d.%d", lh[2 * i], lh[2 * i + 1]);
        if (method == ACTRM_SELECT_REINFORCE)
            fprintf(stderr, " (few-shot loss %.4f)", actrm_steer_get_info(c.steer)->final_loss);
        fprintf(stderr, " -> %s\n", a.out);
    }
    rm_close(&c);
    examples_free(ex, n);
    return rc;
}
