/*
 * Small internal helpers shared by the library's readers and writers (and
 * by the CLI): whole-file reading, JSON loading with line numbers in errors,
 * a growable string, and shape formatting for messages.
 */
#ifndef ACTRM_UTIL_H
#define ACTRM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

struct cJSON;

/* ------------------------------------------------------------- files -- */

/* Reads the rest of f into a malloc'ed buffer with a NUL after the data;
 * *len (may be NULL) excludes the NUL. `name` names f in messages. A read
 * error is ACTRM_ERR_IO; f is not closed. */
int actrm_read_stream(FILE *f, const char *name, char **text, size_t *len, actrm_error *err);

/* The same for the file at path; a file that cannot be opened is
 * ACTRM_ERR_IO "path: cannot open: <reason>". */
int actrm_read_file(const char *path, char **text, size_t *len, actrm_error *err);

/* True if path exists (as anything stat() can see). */
int actrm_file_exists(const char *path);

/* -------------------------------------------------------------- JSON -- */

/* Parses len bytes of JSON. A syntax error is ACTRM_ERR_FORMAT
 * "name: invalid JSON near line N". Free *out with cJSON_Delete(). */
int actrm_json_parse(const char *text, size_t len, const char *name, struct cJSON **out,
                     actrm_error *err);

/* Reads and parses a JSON file (errors as above, naming path). */
int actrm_json_load(const char *path, struct cJSON **out, actrm_error *err);

/* ----------------------------------------------------------- strings -- */

/* A growable byte string, NUL-terminated after every successful append.
 * Zero-initialise it. An allocation failure is sticky (oom stays set and
 * later appends do nothing), so a builder may append freely and check once
 * at the end; every call also returns 0, or -1 once out of memory. */
typedef struct actrm_buf {
    char *p;
    size_t len, cap;
    int oom;
} actrm_buf;

/* Room for extra more bytes plus the NUL. */
int actrm_buf_reserve(actrm_buf *b, size_t extra);
int actrm_buf_append(actrm_buf *b, const void *s, size_t n);
int actrm_buf_puts(actrm_buf *b, const char *s);

/* "[a, b, c]" of n dims into buf (cut to fit cap). */
void actrm_format_dims(char *buf, size_t cap, int n, const uint64_t *dims);

#endif
