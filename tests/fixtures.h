/*
 * Shared test helpers (linked into every test binary): paths into
 * ../shared/fixtures, golden .npy and prompt loading, and fixture models
 * converted once to GGUF and cached. Failures abort the calling test with a
 * Criterion assertion naming the file.
 */
#ifndef ACTRM_TEST_FIXTURES_H
#define ACTRM_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"

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

/* Path of models/<model> converted with actrm_convert_hf to out_type ("f32",
 * "q8_0", ... or NULL for the source dtype), cached as
 * FIXTURE_CACHE_DIR/<model>-<type|src>.gguf and redone when older than the
 * running test binary (so a changed converter is picked up). */
const char *fixture_model_gguf(char *buf, size_t cap, const char *model, const char *out_type);

/* A fresh per-process path FIXTURE_CACHE_DIR/tmp-<pid>-<name>. */
const char *fixture_tmp_path(char *buf, size_t cap, const char *name);

/* max_i |a[i] - ref[i]| and max_i |ref[i]|. */
void fixture_max_err(const float *a, const float *ref, size_t n, double *max_err, double *max_ref);

#endif
