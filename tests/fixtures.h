/*
 * Shared test helpers (linked into every test binary): paths into
 * ../shared/fixtures, golden .npy and prompt loading, fixture models
 * converted once to GGUF and cached, and whole-file I/O. Failures abort
 * the calling test with a Criterion assertion naming the file.
 */
#ifndef ACTRM_TEST_FIXTURES_H
#define ACTRM_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"

struct cJSON;

#define FIXTURES_DIR "../shared/fixtures"
#define FIXTURE_CACHE_DIR "/tmp/actrm-test-cache"

/* FIXTURES_DIR "/" rel, written to buf. Returns buf. */
const char *fixture_path(char *buf, size_t cap, const char *rel);

/* Loads FIXTURES_DIR/models/<model>/golden/<file> of the given dtype. */
void fixture_golden_npy(const char *model, const char *file, int dtype, actrm_npy *out);

/* The ids of prompt i of <model>/golden/prompts.json (malloc'ed). */
int32_t *fixture_prompt_ids(const char *model, int i, int *n);

/* The text of prompt i of <model>/golden/prompts.json (malloc'ed). */
char *fixture_prompt_text(const char *model, int i);

/* Path of models/<model> converted with actrm_hf_convert to out_type ("f32",
 * "q8_0", ... or NULL for the source dtype), cached as
 * FIXTURE_CACHE_DIR/<model>-<type|src>.gguf and redone when older than the
 * running test binary (so a changed converter is picked up). */
const char *fixture_model_gguf(char *buf, size_t cap, const char *model, const char *out_type);

/* Like fixture_model_gguf for any Hugging Face directory FIXTURES_DIR/<hf_rel>,
 * cached as FIXTURE_CACHE_DIR/<name>-<type|src>.gguf. */
const char *fixture_hf_gguf(char *buf, size_t cap, const char *hf_rel, const char *name,
                            const char *out_type);

/* FIXTURES_DIR/judge/model (the bundled judge model) converted as is. */
const char *fixture_judge_gguf(char *buf, size_t cap);

/* True if path exists and is at least as new as the running test binary
 * (so a cached file made by an older build is redone). */
int fixture_is_fresh(const char *path);

/* A fresh per-process path FIXTURE_CACHE_DIR/tmp-<pid>-<name>. */
const char *fixture_tmp_path(char *buf, size_t cap, const char *name);

/* The whole file, malloc'ed and NUL-terminated; *len (may be NULL)
 * excludes the NUL. */
char *fixture_read_file(const char *path, size_t *len);

/* A JSON file, parsed (free with cJSON_Delete). */
struct cJSON *fixture_read_json(const char *path);

/* Writes len bytes of data, or a string, to path (replacing it). */
void fixture_write_file(const char *path, const void *data, size_t len);
void fixture_write_text(const char *path, const char *text);

int fixture_file_exists(const char *path);

/* max_i |a[i] - ref[i]| and max_i |ref[i]|. */
void fixture_max_err(const float *a, const float *ref, size_t n, double *max_err, double *max_ref);

#endif
