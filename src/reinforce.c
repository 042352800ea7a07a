/* Seeded generator and REINFORCE head selection (issue 5, after Multimodal
 * Task Vectors): one Bernoulli logit per head, masks sampled per step,
 * policy gradient with z-normalised losses as advantages, Adam. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "steer.h"

/* ------------------------------------------------------------- generator -- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(actrm_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(actrm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double rng_uniform(actrm_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t rng_below(actrm_rng *r, uint64_t n)
{
    /* Rejection keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_next(r);
    while (x >= limit);
    return x % n;
}

void rng_distinct(actrm_rng *r, size_t n, size_t skip, int k, size_t *out)
{
    /* Rejection: k is small and n may be large, so a repeated or skipped
     * draw is simply drawn again (the caller guarantees k candidates). */
    for (int i = 0; i < k; i++) {
        for (;;) {
            size_t c = (size_t)rng_below(r, n);
            int dup = c == skip;
            for (int j = 0; j < i && !dup; j++)
                dup = out[j] == c;
            if (!dup) {
                out[i] = c;
                break;
            }
        }
    }
}

uint64_t rng_mix(uint64_t seed, uint64_t index)
{
    uint64_t x = seed ^ (index * 0xd1342543de82ef95ull);
    splitmix64(&x);
    return splitmix64(&x);
}

/* ------------------------------------------------------------- REINFORCE -- */

#define P_MIN 1e-3
#define P_MAX (1.0 - 1e-3)
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8

typedef struct adam {
    double *m, *v; /* [n] moments */
    int t;
} adam;

static void adam_step(adam *a, double *theta, const double *grad, int n, double lr)
{
    a->t++;
    double c1 = 1.0 - pow(ADAM_B1, a->t), c2 = 1.0 - pow(ADAM_B2, a->t);
    for (int i = 0; i < n; i++) {
        a->m[i] = ADAM_B1 * a->m[i] + (1.0 - ADAM_B1) * grad[i];
        a->v[i] = ADAM_B2 * a->v[i] + (1.0 - ADAM_B2) * grad[i] * grad[i];
        theta[i] -= lr * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + ADAM_EPS);
    }
}

/* Bernoulli probabilities from logits, clamped as the method prescribes.
 * clamped[i] records whether the clamp was active (zero gradient there). */
static void probabilities(const double *theta, int n, double *p, uint8_t *clamped)
{
    for (int i = 0; i < n; i++) {
        double q = 1.0 / (1.0 + exp(-theta[i]));
        clamped[i] = q < P_MIN || q > P_MAX;
        p[i] = q < P_MIN ? P_MIN : q > P_MAX ? P_MAX : q;
    }
}

static void sample_masks(actrm_rng *r, const double *p, int n, int n_masks, uint8_t *masks)
{
    for (int m = 0; m < n_masks; m++)
        for (int i = 0; i < n; i++)
            masks[(size_t)m * n + i] = rng_uniform(r) < p[i];
}

/* Advantages: losses z-normalised over the step's masks (unbiased std, as
 * torch.std computes it, plus 1e-3). */
static void advantages(const float *loss, int n, double *adv)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += loss[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (loss[i] - mean) * (loss[i] - mean);
    double sd = n > 1 ? sqrt(var / (n - 1)) : 0.0;
    for (int i = 0; i < n; i++)
        adv[i] = (loss[i] - mean) / (sd + 1e-3);
}

/* Gradient of sum_m log p(mask_m) * adv_m with respect to the logits:
 * d log p(mask)/d theta_i = mask_i - p_i where the clamp is inactive. */
static void policy_gradient(const uint8_t *masks, const double *adv, const double *p,
                            const uint8_t *clamped, int n, int n_masks, double *grad)
{
    for (int i = 0; i < n; i++) {
        double g = 0;
        for (int m = 0; m < n_masks; m++)
            g += adv[m] * ((double)masks[(size_t)m * n + i] - p[i]);
        grad[i] = clamped[i] ? 0.0 : g;
    }
}

/* Samples n_final masks from p and keeps the one with the lowest mean loss
 * over every example (the first on ties). */
static int pick_final(const reinforce_config *cfg, reinforce_loss_fn fn, void *ctx,
                      actrm_rng *r, const double *p, uint8_t *masks, float *losses,
                      reinforce_result *res)
{
    int n = cfg->n_heads, nf = cfg->n_final;
    sample_masks(r, p, n, nf, masks);
    double *total = calloc((size_t)nf, sizeof *total);
    if (!total)
        return ACTRM_ERR_NOMEM;
    int st = ACTRM_OK;
    for (size_t e = 0; e < cfg->n_examples && !st; e++) {
        st = fn(ctx, e, masks, nf, losses);
        for (int m = 0; m < nf && !st; m++)
            total[m] += losses[m];
    }
    if (!st) {
        int best = 0;
        for (int m = 1; m < nf; m++)
            if (total[m] < total[best])
                best = m;
        memcpy(res->mask, masks + (size_t)best * n, (size_t)n);
        res->final_loss = (float)(total[best] / (double)cfg->n_examples);
    }
    free(total);
    return st;
}

typedef struct reinforce_work {
    double *theta, *p, *grad, *adv; /* [n_heads] x3, [n_masks] */
    uint8_t *clamped;               /* [n_heads] */
    uint8_t *masks;                 /* [max(n_masks, n_final), n_heads] */
    float *losses;                  /* [max(n_masks, n_final)] */
    adam opt;
} reinforce_work;

static void work_free(reinforce_work *w)
{
    free(w->theta), free(w->p), free(w->grad), free(w->adv), free(w->clamped);
    free(w->masks), free(w->losses), free(w->opt.m), free(w->opt.v);
}

static int work_alloc(reinforce_work *w, int n, int n_masks, int n_final)
{
    int nm = n_masks > n_final ? n_masks : n_final;
    memset(w, 0, sizeof *w);
    w->theta = calloc((size_t)n, sizeof *w->theta);
    w->p = calloc((size_t)n, sizeof *w->p);
    w->grad = calloc((size_t)n, sizeof *w->grad);
    w->adv = calloc((size_t)nm, sizeof *w->adv);
    w->clamped = calloc((size_t)n, 1);
    w->masks = calloc((size_t)nm * n, 1);
    w->losses = calloc((size_t)nm, sizeof *w->losses);
    w->opt.m = calloc((size_t)n, sizeof(double));
    w->opt.v = calloc((size_t)n, sizeof(double));
    if (!w->theta || !w->p || !w->grad || !w->adv || !w->clamped || !w->masks ||
        !w->losses || !w->opt.m || !w->opt.v) {
        work_free(w);
        return ACTRM_ERR_NOMEM;
    }
    return ACTRM_OK;
}

int reinforce_run(const reinforce_config *cfg, reinforce_loss_fn fn, void *ctx,
                  reinforce_result *res, actrm_error *err)
{
    int n = cfg->n_heads;
    if (n <= 0 || cfg->n_examples == 0 || cfg->steps < 0 || cfg->n_masks < 2 ||
        cfg->n_final < 1 || !(cfg->lr > 0))
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "REINFORCE: need heads, examples, >= 2 masks per step, "
                               ">= 1 final mask and lr > 0");
    reinforce_work w;
    if (work_alloc(&w, n, cfg->n_masks, cfg->n_final))
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "REINFORCE: out of memory");
    actrm_rng rng;
    rng_seed(&rng, cfg->seed);
    for (int i = 0; i < n; i++)
        w.theta[i] = cfg->init;
    int st = ACTRM_OK;
    for (int step = 0; step < cfg->steps && !st; step++) {
        size_t ex = (size_t)rng_below(&rng, cfg->n_examples);
        probabilities(w.theta, n, w.p, w.clamped);
        sample_masks(&rng, w.p, n, cfg->n_masks, w.masks);
        st = fn(ctx, ex, w.masks, cfg->n_masks, w.losses);
        if (st)
            break;
        advantages(w.losses, cfg->n_masks, w.adv);
        policy_gradient(w.masks, w.adv, w.p, w.clamped, n, cfg->n_masks, w.grad);
        adam_step(&w.opt, w.theta, w.grad, n, cfg->lr);
        if (res->step_loss) {
            double s = 0;
            for (int m = 0; m < cfg->n_masks; m++)
                s += w.losses[m];
            res->step_loss[step] = (float)(s / cfg->n_masks);
        }
        if (cfg->progress)
            cfg->progress(cfg->progress_ctx, "select", step + 1, cfg->steps);
    }
    if (!st) {
        probabilities(w.theta, n, w.p, w.clamped);
        st = pick_final(cfg, fn, ctx, &rng, w.p, w.masks, w.losses, res);
    }
    if (!st)
        for (int i = 0; i < n; i++)
            res->logits[i] = (float)w.theta[i];
    work_free(&w);
    if (st == ACTRM_ERR_NOMEM && (!err || !err->msg[0]))
        return actrm_error_set(err, st, "REINFORCE: out of memory");
    return st;
}
