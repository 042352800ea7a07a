/* Pairwise evaluation statistics, ICL shot choice, and SAV (Sparse Attention
 * Vectors, Mitra et al. 2024) head voting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonl.h"
#include "steer.h"

void wilson_interval(double correct, long n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0, *hi = 1;
        return;
    }
    const double z = 1.959963984540054, z2 = z * z;
    double p = correct / (double)n, dn = (double)n;
    double denom = 1.0 + z2 / dn;
    double centre = (p + z2 / (2 * dn)) / denom;
    double half = z * sqrt(p * (1 - p) / dn + z2 / (4 * dn * dn)) / denom;
    *lo = centre - half < 0 ? 0 : centre - half;
    *hi = centre + half > 1 ? 1 : centre + half;
}

void actrm_accuracy_add(actrm_accuracy *acc, float chosen, float rejected)
{
    acc->n++;
    acc->correct += chosen > rejected ? 1.0 : chosen == rejected ? 0.5 : 0.0;
    acc->acc = acc->correct / (double)acc->n;
    wilson_interval(acc->correct, acc->n, &acc->lo, &acc->hi);
}

void actrm_shots_pick(uint64_t seed, uint64_t index, size_t n_pool, int k, size_t *idx)
{
    actrm_rng r;
    rng_seed(&r, rng_mix(seed, index));
    if ((size_t)k > n_pool)
        k = (int)n_pool;
    rng_distinct(&r, n_pool, SIZE_MAX, k, idx);
}

/* ------------------------------------------------------------------- SAV -- */

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* class_means[c][h][:] = mean of z[e][h][:] over examples of label c. */
static int class_means_of(const float *z, const int *labels, size_t n, int n_heads, int hd,
                          float *class_means)
{
    size_t per = (size_t)n_heads * hd;
    double *sum = calloc(2 * per, sizeof *sum); /* [2, n_heads, hd] */
    size_t count[2] = {0, 0};
    if (!sum)
        return ACTRM_ERR_NOMEM;
    for (size_t e = 0; e < n; e++) {
        int c = labels[e] != 0;
        count[c]++;
        for (size_t i = 0; i < per; i++)
            sum[c * per + i] += z[e * per + i];
    }
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < per; i++)
            class_means[c * per + i] = count[c] ? (float)(sum[c * per + i] / count[c]) : 0.0f;
    free(sum);
    return ACTRM_OK;
}

int sav_fit(const float *z, const int *labels, size_t n, int n_heads, int hd,
            float *class_means, float *acc)
{
    size_t per = (size_t)n_heads * hd;
    if (class_means_of(z, labels, n, n_heads, hd, class_means))
        return ACTRM_ERR_NOMEM;
    for (int h = 0; h < n_heads; h++) {
        size_t hits = 0;
        for (size_t e = 0; e < n; e++) {
            const float *zh = z + e * per + (size_t)h * hd;
            double c_no = cosine(zh, class_means + (size_t)h * hd, hd);
            double c_yes = cosine(zh, class_means + per + (size_t)h * hd, hd);
            hits += (c_yes > c_no) == (labels[e] != 0);
        }
        acc[h] = n ? (float)hits / (float)n : 0.0f;
    }
    return ACTRM_OK;
}

int sav_top(const float *acc, int n_heads, int k, float *mask)
{
    memset(mask, 0, (size_t)n_heads * sizeof *mask);
    if (k > n_heads)
        k = n_heads;
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int h = 0; h < n_heads; h++)
            if (mask[h] == 0 && (best < 0 || acc[h] > acc[best]))
                best = h;
        mask[best] = 1;
    }
    return k;
}

float sav_score(const float *z, const float *class_means, const float *mask, int n_heads,
                int hd)
{
    size_t per = (size_t)n_heads * hd;
    int n_sel = 0, yes = 0;
    double margin = 0;
    for (int h = 0; h < n_heads; h++) {
        if (mask[h] == 0)
            continue;
        const float *zh = z + (size_t)h * hd;
        double c_no = cosine(zh, class_means + (size_t)h * hd, hd);
        double c_yes = cosine(zh, class_means + per + (size_t)h * hd, hd);
        yes += c_yes > c_no;
        margin += c_yes - c_no;
        n_sel++;
    }
    if (n_sel == 0)
        return 0.0f;
    /* |mean margin| <= 2, so 0.2 * it moves the score by less than one vote:
     * votes decide, the margin only breaks ties. */
    return (float)((yes + 0.2 * margin / n_sel) / n_sel);
}

/* ------------------------------------------------------------------ data -- */

int example_matches(const void *cjson_obj, const char *want)
{
    if (!want)
        return 1;
    static const char *keys[2] = {"criterion", "subset"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive((const cJSON *)cjson_obj, keys[k]);
        if (cJSON_IsString(v) && !strcmp(v->valuestring, want))
            return 1;
    }
    return 0;
}

void examples_free(actrm_example *ex, size_t n)
{
    for (size_t i = 0; ex && i < n; i++) {
        free((char *)ex[i].prompt);
        free((char *)ex[i].response);
    }
    free(ex);
}

static int push_example(actrm_example **ex, size_t *n, size_t *cap, const char *prompt,
                        const char *response, int label)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        actrm_example *ne = realloc(*ex, nc * sizeof *ne);
        if (!ne)
            return ACTRM_ERR_NOMEM;
        *ex = ne, *cap = nc;
    }
    actrm_example e = {strdup(prompt ? prompt : ""), strdup(response), label};
    if (!e.prompt || !e.response) {
        free((char *)e.prompt), free((char *)e.response);
        return ACTRM_ERR_NOMEM;
    }
    (*ex)[(*n)++] = e;
    return ACTRM_OK;
}

/* One record: a labelled example or a preference pair. */
static int record_examples(const jsonl_reader *r, const cJSON *obj, actrm_example **ex,
                           size_t *n, size_t *cap, actrm_error *err)
{
    const char *prompt, *response, *chosen, *rejected;
    int st = jsonl_get_string(r, obj, "prompt", 0, &prompt, err);
    if (!st)
        st = jsonl_get_string(r, obj, "chosen", 0, &chosen, err);
    if (st)
        return st;
    if (chosen) {
        st = jsonl_get_string(r, obj, "rejected", 1, &rejected, err);
        if (!st)
            st = push_example(ex, n, cap, prompt, chosen, 1);
        if (!st)
            st = push_example(ex, n, cap, prompt, rejected, 0);
    } else {
        int label = 0;
        st = jsonl_get_string(r, obj, "response", 1, &response, err);
        if (!st)
            st = jsonl_get_bool(r, obj, "label", &label, err);
        if (!st)
            st = push_example(ex, n, cap, prompt, response, label);
    }
    if (st == ACTRM_ERR_NOMEM)
        actrm_error_set(err, st, "%s:%zu: out of memory", jsonl_reader_path(r),
                        jsonl_line_no(r));
    return st;
}

int examples_load(const char *path, const char *want, actrm_example **out, size_t *n,
                  actrm_error *err)
{
    *out = NULL;
    *n = 0;
    jsonl_reader *r;
    int st = jsonl_reader_open(&r, path, err);
    if (st)
        return st;
    actrm_example *ex = NULL;
    size_t cap = 0;
    cJSON *obj;
    while (!(st = jsonl_next(r, &obj, err)) && obj) {
        if (example_matches(obj, want))
            st = record_examples(r, obj, &ex, n, &cap, err);
        cJSON_Delete(obj);
        if (st)
            break;
    }
    jsonl_reader_close(r);
    if (!st && *n == 0)
        st = actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: no examples%s%s", path,
                             want ? " for criterion " : "", want ? want : "");
    if (st) {
        examples_free(ex, *n);
        *n = 0;
        return st;
    }
    *out = ex;
    return ACTRM_OK;
}
