/*
 * Activation reward model internals: the seeded generator, the judge
 * template, the judge handle's prompt evaluation, REINFORCE head selection,
 * SAV voting and the steering handle. Public entry points are in actrm.h.
 */
#ifndef ACTRM_STEER_H
#define ACTRM_STEER_H

#include <stddef.h>
#include <stdint.h>

#include "actrm.h"
#include "error.h"

/* ------------------------------------------------------------- generator -- */

/* xoshiro256** (Blackman & Vigna), state filled by splitmix64 from a seed. */
typedef struct actrm_rng {
    uint64_t s[4];
} actrm_rng;

void rng_seed(actrm_rng *r, uint64_t seed);
uint64_t rng_next(actrm_rng *r);
double rng_uniform(actrm_rng *r);              /* in [0, 1), 53 bits */
uint64_t rng_below(actrm_rng *r, uint64_t n);  /* uniform in [0, n), n > 0 */
/* k distinct values of [0, n) other than `skip` (SIZE_MAX: none), in random
 * order. Needs k <= n - (skip < n). */
void rng_distinct(actrm_rng *r, size_t n, size_t skip, int k, size_t *out);
/* A seed for item `index` of a run seeded with `seed` (independent streams). */
uint64_t rng_mix(uint64_t seed, uint64_t index);

/* -------------------------------------------------------------- template -- */

enum { JUDGE_CHAT_AUTO = -1, JUDGE_CHAT_NEVER = 0, JUDGE_CHAT_ALWAYS = 1 };

typedef struct judge_template {
    char *query;     /* with {prompt} and {response} */
    char *yes, *no;  /* answer texts; NULL: mode default */
    char *shot_end;  /* after a shot's answer in plain mode */
    char *system;    /* system message in chat mode, or NULL */
    int chat;        /* JUDGE_CHAT_* */
    int has_tokens;  /* yes_token/no_token given */
    int32_t yes_token, no_token;
} judge_template;

/* Parses template JSON; errors name `origin` and the field. */
int judge_template_parse(judge_template *t, const char *json, const char *origin,
                         actrm_error *err);
/* The built-in default for plain or chat mode. */
int judge_template_default(judge_template *t, int chat);
void judge_template_free(judge_template *t);
/* Canonical JSON text of t (malloc'ed), used to compare templates. */
char *judge_template_json(const judge_template *t);
/* query with {prompt} and {response} replaced (malloc'ed). */
char *judge_fill(const char *query, const char *prompt, const char *response);

/* ----------------------------------------------------------------- judge -- */

/* A session and the tokens whose KV it holds, so that prompts sharing a
 * prefix with the previous one only evaluate the rest. */
typedef struct judge_cache {
    actrm_session *sess;   /* NULL until first use */
    int n_ctx;             /* capacity of sess */
    int32_t *tok;          /* [n] tokens in the KV cache */
    int n, cap;
} judge_cache;

struct actrm_judge {
    actrm_error err;
    const actrm_model *model;
    actrm_tokenizer *tok;
    int n_layer, n_head, head_dim, n_vocab;
    judge_template tmpl;
    char *tmpl_json;       /* canonical template text */
    int use_chat;          /* prompts go through the chat template */
    int32_t yes_id, no_id;
    int n_threads;
    judge_cache main;      /* for scoring and extraction */
    judge_cache *slots;    /* [n_slots] one per few-shot prompt during select */
    int n_slots;
    float *logits;         /* [cap_branch, V] branch logits */
    float *heads;          /* [L, cap_branch, H, hd] captured z, or NULL */
    int cap_branch, cap_heads;
};

/* Token ids of the prompt: shots (in order) then the query. *ids malloc'ed. */
int judge_tokens(actrm_judge *j, const actrm_example *shots, size_t n_shots,
                 const char *prompt, const char *response, int32_t **ids, int *n_ids);

/* Evaluates n_branch continuations of prompt ids[0..n) at its last token:
 * the session is brought to hold ids[0..n-1) (reusing the longest common
 * prefix already cached), then ids[n-1] runs once per patch set (sets NULL:
 * one unpatched branch). Logits land in j->logits [n_branch, V]; with
 * want_heads, z in j->heads [L, n_branch, H, hd]. */
int judge_eval_last(actrm_judge *j, const int32_t *ids, int n, int n_branch,
                    const actrm_patch_set *sets, int want_heads);

/* The same in prefix slot `slot` of n_slots (made on first use), so that
 * REINFORCE computes each few-shot prompt's prefix once for all its steps.
 * judge_release_slots() frees them. */
int judge_eval_last_slot(actrm_judge *j, int slot, int n_slots, const int32_t *ids, int n,
                         int n_branch, const actrm_patch_set *sets);
void judge_release_slots(actrm_judge *j);

/* log P(yes) - log P(no) = logit(yes) - logit(no) of one logit row. */
float judge_reward(const actrm_judge *j, const float *logits);
/* Cross-entropy of the answer token for label over the full vocabulary. */
float judge_answer_loss(const actrm_judge *j, const float *logits, int label);

/* Evaluates the whole prompt from an empty cache in one batch, with patches
 * at its last position, and returns its reward: the reference path that the
 * shared-prefix path must reproduce. */
int judge_reward_full(actrm_judge *j, const int32_t *ids, int n,
                      const actrm_head_patch *patches, int n_patches, float *reward);

/* ----------------------------------------------------------------- steer -- */

struct actrm_steer {
    actrm_error err;
    actrm_steer_info info;
    char *model_name, *template_text, *method;
    int n_heads;              /* L*H */
    float *mean_z;            /* [L, H, hd] */
    float *mask;              /* [L, H] 0/1 */
    float *logits;            /* [L, H] REINFORCE logits, or NULL */
    float *sav_means;         /* [2, L, H, hd] class means (no, yes), or NULL */
    float *sav_acc;           /* [L, H] SAV nearest-mean accuracy, or NULL */
};

/* An empty steering handle shaped for the judge's model and template. */
int steer_new(actrm_steer **out, const actrm_judge *j);
/* Recomputes the derived info fields (n_selected, has_sav, strings) after
 * the arrays changed. */
void steer_sync_info(actrm_steer *s);
/* ACTRM_OK if steer matches the judge's model, template and answer tokens;
 * else ACTRM_ERR_MISMATCH in j->err. */
int steer_check_judge(actrm_judge *j, const actrm_steer *steer);
/* Patch list of the selected heads, z = the mean activations. patches holds
 * L*H entries; returns the count. */
int steer_patches(const actrm_steer *s, const float *mask, actrm_head_patch *patches);

/* Mean z over in-context prompts given as explicit (query, shots) indices
 * into examples: prompt m is shots[m*k .. m*k+k) then query[m]. Writes
 * mean_z [L, H, hd]. This is extraction without the sampling. */
int steer_mean_of_prompts(actrm_judge *j, const actrm_example *examples,
                          const size_t *query, const size_t *shots, int k, int n_prompts,
                          float *mean_z, const actrm_steer_options *opt);

/* Mean z at the last token of `count` prompts given as token ids. */
int steer_mean_of_ids(actrm_judge *j, const int32_t *const *ids, const int *n, int count,
                      float *mean_z);

/* ------------------------------------------------------------- REINFORCE -- */

/* Losses of n_masks head masks ([n_masks, n_heads] 0/1) on example ex. */
typedef int (*reinforce_loss_fn)(void *ctx, size_t ex, const uint8_t *masks,
                                 int n_masks, float *losses);

typedef struct reinforce_config {
    int n_heads;
    size_t n_examples;
    int steps, n_masks, n_final;
    float lr, init;
    uint64_t seed;
    void (*progress)(void *ctx, const char *phase, long done, long total);
    void *progress_ctx;
} reinforce_config;

typedef struct reinforce_result {
    float *logits;      /* [n_heads] out: final Bernoulli logits */
    uint8_t *mask;      /* [n_heads] out: the kept mask */
    float final_loss;   /* mean loss of the kept mask over all examples */
    float *step_loss;   /* [steps] out, optional: mean loss of each step's masks */
} reinforce_result;

/* Runs REINFORCE (issue 5's method) with losses from fn. */
int reinforce_run(const reinforce_config *cfg, reinforce_loss_fn fn, void *ctx,
                  reinforce_result *res, actrm_error *err);

/* ------------------------------------------------------------------- SAV -- */

/* z: [n, n_heads, hd] last-token head outputs of the zero-shot prompts,
 * labels [n]. Writes class_means [2, n_heads, hd] (no, yes) and acc
 * [n_heads], the fraction of examples whose nearest class mean (cosine)
 * per head is their own class. ACTRM_ERR_NOMEM is the only failure. */
int sav_fit(const float *z, const int *labels, size_t n, int n_heads, int hd,
            float *class_means, float *acc);
/* Marks the k heads of highest accuracy (ties: lower index) in mask. */
int sav_top(const float *acc, int n_heads, int k, float *mask);
/* (yes votes + 0.2 * mean cosine margin) / heads, over the masked heads:
 * the vote fraction, with the margin breaking ties only. */
float sav_score(const float *z, const float *class_means, const float *mask,
                int n_heads, int hd);

/* Wilson score interval for p = correct/n at 95% (z = 1.96). */
void wilson_interval(double correct, long n, double *lo, double *hi);

#endif

/* ------------------------------------------------------------------ data -- */

/* True if a JSONL record belongs to criterion `want` (NULL: every record):
 * its "criterion" or its "subset" field equals want. */
int example_matches(const void *cjson_obj, const char *want);

/* Reads few-shot examples from JSONL (plain or .gz): lines {prompt,
 * response, label} or {prompt, chosen, rejected} (one yes and one no
 * example), keeping those of criterion `want` (NULL: all). Strings are
 * copied; free with examples_free. Errors name file:line and the field. */
int examples_load(const char *path, const char *want, actrm_example **out, size_t *n,
                  actrm_error *err);
void examples_free(actrm_example *ex, size_t n);
