/*
 * JSON Lines input and output (internal).
 *
 * Reader: one JSON object per line; blank lines are skipped. Every file is
 * read through zlib's gzopen, which reads gzip-compressed and plain files
 * alike (whatever the name), so `x.jsonl.gz` works wherever `x.jsonl` does.
 * A malformed line is an ACTRM_ERR_FORMAT error naming `file:line`.
 *
 * Writer: one object per line, flushed after every line, so a killed run
 * leaves at most one partial trailing line. jsonl_resume() cuts that line
 * and counts the complete ones, so a run can continue where it stopped.
 */
#ifndef ACTRM_JSONL_H
#define ACTRM_JSONL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "error.h"

typedef struct jsonl_reader jsonl_reader;

/* Opens path for reading (plain or gzip). */
int jsonl_reader_open(jsonl_reader **out, const char *path, actrm_error *err);
void jsonl_reader_close(jsonl_reader *r);

/* Reads the next non-blank line and parses it as a JSON object. On success
 * *obj is the object (free with cJSON_Delete), or NULL at the end of the
 * file. A line that is not a JSON object is ACTRM_ERR_FORMAT naming
 * path:line; a damaged gzip stream is ACTRM_ERR_IO. */
int jsonl_next(jsonl_reader *r, cJSON **obj, actrm_error *err);

/* The 1-based number of the line jsonl_next() returned last. */
size_t jsonl_line_no(const jsonl_reader *r);
const char *jsonl_reader_path(const jsonl_reader *r);

/* Field accessors for one parsed line; errors name path:line and the key.
 * A missing optional string gives *out = NULL. */
int jsonl_get_string(const jsonl_reader *r, const cJSON *obj, const char *key,
                     int required, const char **out, actrm_error *err);
/* A boolean, or a number (non-zero = true). */
int jsonl_get_bool(const jsonl_reader *r, const cJSON *obj, const char *key,
                   int *out, actrm_error *err);

/* Prepares path for appending after an interrupted run: if it exists, a
 * partial trailing line (no final '\n') is cut off and *n_complete receives
 * the number of complete non-blank lines kept. A missing file gives 0. */
int jsonl_resume(const char *path, size_t *n_complete, actrm_error *err);

typedef struct jsonl_writer jsonl_writer;

/* Opens path for writing: truncated, or appended to when append is set. */
int jsonl_writer_open(jsonl_writer **out, const char *path, int append,
                      actrm_error *err);
/* Writes obj unformatted on one line and flushes it. */
int jsonl_writer_put(jsonl_writer *w, const cJSON *obj, actrm_error *err);
/* Closes the file; reports a failed final write. w may be NULL. */
int jsonl_writer_close(jsonl_writer *w, actrm_error *err);

#endif
