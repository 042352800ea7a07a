/* Shared pieces of the reward-model subcommands (extract, select, score,
 * eval): option parsing, opening model/tokenizer/judge, progress. */
#ifndef ACTRM_RM_CLI_H
#define ACTRM_RM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "actrm.h"
#include "cli_util.h"

/* Options a subcommand accepts (bit set passed to rm_parse). */
enum {
    RM_OPT_OUT = 1 << 0,      /* -o PATH */
    RM_OPT_STEER = 1 << 1,    /* --steer PATH */
    RM_OPT_FEWSHOT = 1 << 2,  /* --fewshot PATH */
    RM_OPT_JSON = 1 << 3,     /* --json PATH */
    RM_OPT_RESUME = 1 << 4,   /* --resume */
    RM_OPT_METHOD = 1 << 5,   /* --method NAME */
    RM_OPT_SHOTS = 1 << 6,    /* -k/--shots N */
    RM_OPT_PROMPTS = 1 << 7,  /* -M/--prompts N */
    RM_OPT_STEPS = 1 << 8,    /* --steps N, --masks N */
    RM_OPT_SAV = 1 << 9,      /* --sav-heads N */
    RM_OPT_SEED = 1 << 10,    /* --seed S */
    RM_OPT_CRITERION = 1 << 11, /* --criterion NAME */
    RM_OPT_TEMPLATE = 1 << 12,  /* --template PATH, --yes-token/--no-token ID */
    RM_OPT_THREADS = 1 << 13    /* -t/--threads N */
};

typedef struct rm_args {
    const char *pos[4];
    int n_pos;
    const char *out, *steer, *fewshot, *json, *method, *criterion, *template_path;
    int resume, k, M, steps, masks, sav_heads, threads;
    int has_seed, has_tokens;
    uint64_t seed;
    int32_t yes_token, no_token;
} rm_args;

/* Parses argv[1..] (argv[0] is the subcommand). Returns 0 to run, 1 after
 * printing help (exit 0), 2 after printing an error (exit 2). usage is the
 * full help text; n_pos is the exact count of positional arguments. */
int rm_parse(int argc, char **argv, unsigned allowed, int n_pos, const char *usage,
             rm_args *a);

/* Everything a reward-model subcommand works with. */
typedef struct rm_ctx {
    const char *cmd;
    actrm_model *model;
    actrm_tokenizer *tok;
    actrm_steer *steer;   /* loaded from --steer (or a positional), or NULL */
    actrm_judge *judge;
} rm_ctx;

/* Opens the model and tokenizer, the steering file steer_path (may be NULL)
 * and a judge (template from --template, else the steering file's, else the
 * default). Prints a one-line error and returns non-zero on failure. */
int rm_open(rm_ctx *c, const char *cmd, const char *model_path, const char *steer_path,
            const rm_args *a);
void rm_close(rm_ctx *c);

/* Progress on stderr with count, rate and ETA, only when stderr is a
 * terminal; quiet otherwise. */
typedef struct rm_progress {
    int tty;
    double t0, last;
    char what[32];
} rm_progress;

void rm_progress_init(rm_progress *p);
void rm_progress_update(rm_progress *p, const char *what, long done, long total);
void rm_progress_done(rm_progress *p);
/* Adapter for actrm_steer_options.progress (ctx = rm_progress *). */
void rm_progress_cb(void *ctx, const char *phase, long done, long total);

/* Records of a JSONL file matching criterion (NULL: all), for progress
 * totals; -1 if the file cannot be read. Only counted on a terminal. */
long rm_count_records(const rm_progress *p, const char *path, const char *criterion);

/* Formats a reward as a JSON number with float precision into obj[key],
 * replacing an existing key. Returns 0 on success. */
struct cJSON;
int rm_set_number(struct cJSON *obj, const char *key, float v);

#endif
