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

/* prompts.json of a model, parsed. */
static cJSON *load_prompts(const char *model, char *path, size_t cap)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s/golden/prompts.json", model);
    cJSON *root = fixture_read_json(fixture_path(path, cap, rel));
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

int fixture_is_fresh(const char *path)
{
    struct stat cached, exe;
    if (stat(path, &cached) != 0)
        return 0;
    if (stat("/proc/self/exe", &exe) != 0)
        return 1;
    return cached.st_mtim.tv_sec > exe.st_mtim.tv_sec ||
           (cached.st_mtim.tv_sec == exe.st_mtim.tv_sec && cached.st_mtim.tv_nsec >= exe.st_mtim.tv_nsec);
}

const char *fixture_hf_gguf(char *buf, size_t cap, const char *hf_rel, const char *name,
                            const char *out_type)
{
    const char *type = out_type ? out_type : "src";
    mkdir(FIXTURE_CACHE_DIR, 0755);
    int n = snprintf(buf, cap, "%s/%s-%s.gguf", FIXTURE_CACHE_DIR, name, type);
    cr_assert(n > 0 && (size_t)n < cap);
    if (fixture_is_fresh(buf))
        return buf;
    /* Convert under a private name, then rename: test binaries of other
     * builds may be converting the same model at the same time. */
    char hf_dir[512], tmp[600], err[1024] = "";
    fixture_path(hf_dir, sizeof hf_dir, hf_rel);
    snprintf(tmp, sizeof tmp, "%s.%d.gguf", buf, (int)getpid());
    int rc = actrm_hf_convert(hf_dir, tmp, out_type, err, sizeof err);
    cr_assert_eq(rc, ACTRM_OK, "converting %s to %s: %s", hf_dir, type, err);
    cr_assert_eq(rename(tmp, buf), 0, "rename %s -> %s", tmp, buf);
    return buf;
}

const char *fixture_model_gguf(char *buf, size_t cap, const char *model, const char *out_type)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", model);
    return fixture_hf_gguf(buf, cap, rel, model, out_type);
}

const char *fixture_judge_gguf(char *buf, size_t cap)
{
    return fixture_hf_gguf(buf, cap, "judge/model", "judge", NULL);
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

/* Plain stdio and cJSON here, not the library's readers: the helpers must
 * not depend on the code under test. */
char *fixture_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0, "cannot seek %s", path);
    long size = ftell(f);
    cr_assert(size >= 0, "cannot tell the size of %s", path);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size, "short read of %s", path);
    fclose(f);
    text[size] = '\0';
    if (len)
        *len = (size_t)size;
    return text;
}

cJSON *fixture_read_json(const char *path)
{
    size_t len;
    char *text = fixture_read_file(path, &len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    cr_assert(root, "%s: invalid JSON", path);
    return root;
}

void fixture_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    size_t put = fwrite(data, 1, len, f);
    cr_assert(fclose(f) == 0 && put == len, "cannot write %s", path);
}

void fixture_write_text(const char *path, const char *text)
{
    fixture_write_file(path, text, strlen(text));
}

int fixture_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}
