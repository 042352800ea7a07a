/* Shared test helpers; see fixtures.h. */
#include "fixtures.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actrm.h"

const char *fixture_path(char *buf, size_t cap, const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", FIXTURES_DIR, rel);
    cr_assert(n > 0 && (size_t)n < cap, "fixture path too long: %s", rel);
    return buf;
}

void fixture_golden_npy(const char *model, const char *file, int dtype, actrm_npy *out)
{
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "models/%s/golden/%s", model, file);
    fixture_path(path, sizeof path, rel);
    actrm_error err = {0};
    cr_assert_eq(actrm_npy_read(path, dtype, out, &err), ACTRM_OK, "%s", err.msg);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert(size >= 0);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size, "short read of %s", path);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* prompts.json of a model, parsed. */
static cJSON *load_prompts(const char *model, char *path, size_t cap)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s/golden/prompts.json", model);
    char *text = slurp(fixture_path(path, cap, rel));
    cJSON *root = cJSON_Parse(text);
    free(text);
    cr_assert(cJSON_IsArray(root), "%s: not a JSON array", path);
    return root;
}

char *fixture_prompt_text(const char *model, int i)
{
    char path[512];
    cJSON *root = load_prompts(model, path, sizeof path);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(root, i), "text");
    cr_assert(cJSON_IsString(text), "%s: prompt %d has no text", path, i);
    char *out = strdup(text->valuestring);
    cr_assert(out);
    cJSON_Delete(root);
    return out;
}

int32_t *fixture_prompt_ids(const char *model, int i, int *n)
{
    char path[512];
    cJSON *root = load_prompts(model, path, sizeof path);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(root, i), "ids");
    cr_assert(cJSON_IsArray(ids), "%s: prompt %d has no ids", path, i);
    *n = cJSON_GetArraySize(ids);
    int32_t *out = malloc((size_t)*n * sizeof *out);
    cr_assert(out);
    for (int k = 0; k < *n; k++)
        out[k] = (int32_t)cJSON_GetArrayItem(ids, k)->valuedouble;
    cJSON_Delete(root);
    return out;
}

/* True if path exists and is at least as new as the running executable. */
static int cache_is_fresh(const char *path)
{
    struct stat cached, exe;
    if (stat(path, &cached) != 0)
        return 0;
    if (stat("/proc/self/exe", &exe) != 0)
        return 1;
    return cached.st_mtim.tv_sec > exe.st_mtim.tv_sec ||
           (cached.st_mtim.tv_sec == exe.st_mtim.tv_sec && cached.st_mtim.tv_nsec >= exe.st_mtim.tv_nsec);
}

const char *fixture_model_gguf(char *buf, size_t cap, const char *model, const char *out_type)
{
    mkdir(FIXTURE_CACHE_DIR, 0755);
    int n = snprintf(buf, cap, "%s/%s-%s.gguf", FIXTURE_CACHE_DIR, model, out_type ? out_type : "src");
    cr_assert(n > 0 && (size_t)n < cap);
    if (cache_is_fresh(buf))
        return buf;
    /* Convert under a private name, then rename: test binaries of other
     * builds may be converting the same model at the same time. */
    char rel[256], hf_dir[512], tmp[600], err[1024] = "";
    snprintf(rel, sizeof rel, "models/%s", model);
    fixture_path(hf_dir, sizeof hf_dir, rel);
    snprintf(tmp, sizeof tmp, "%s.%d.gguf", buf, (int)getpid());
    int rc = actrm_convert_hf(hf_dir, tmp, out_type, err, sizeof err);
    cr_assert_eq(rc, ACTRM_OK, "converting %s to %s: %s", hf_dir, out_type ? out_type : "src", err);
    cr_assert_eq(rename(tmp, buf), 0, "rename %s -> %s", tmp, buf);
    return buf;
}

const char *fixture_tmp_path(char *buf, size_t cap, const char *name)
{
    mkdir(FIXTURE_CACHE_DIR, 0755);
    int n = snprintf(buf, cap, "%s/tmp-%d-%s", FIXTURE_CACHE_DIR, (int)getpid(), name);
    cr_assert(n > 0 && (size_t)n < cap);
    return buf;
}

void fixture_max_err(const float *a, const float *ref, size_t n, double *max_err, double *max_ref)
{
    double e = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= e)) /* NaN counts as an infinite error */
            e = isnan(d) ? INFINITY : d;
        r = fmax(r, fabs((double)ref[i]));
    }
    *max_err = e;
    *max_ref = r;
}
