#include "jsonl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

struct jsonl_reader {
    gzFile gz;
    char *path;
    size_t line_no;
    char *buf;      /* [cap] the current line, NUL-terminated */
    size_t cap;
};

int jsonl_reader_open(jsonl_reader **out, const char *path, actrm_error *err)
{
    *out = NULL;
    jsonl_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)) || !(r->buf = malloc(r->cap = 4096))) {
        jsonl_reader_close(r);
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    }
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        int e = errno;
        jsonl_reader_close(r);
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", path,
                               e ? strerror(e) : "gzopen failed");
    }
    gzbuffer(r->gz, 1 << 16);
    *out = r;
    return ACTRM_OK;
}

void jsonl_reader_close(jsonl_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    free(r->path);
    free(r->buf);
    free(r);
}

size_t jsonl_line_no(const jsonl_reader *r) { return r->line_no; }
const char *jsonl_reader_path(const jsonl_reader *r) { return r->path; }

/* Reads one whole line (any length) into r->buf without its '\n'.
 * *got is 0 at the end of the file. */
static int read_line(jsonl_reader *r, int *got, actrm_error *err)
{
    size_t len = 0;
    *got = 0;
    for (;;) {
        if (r->cap - len < 2) {
            char *nb = realloc(r->buf, r->cap * 2);
            if (!nb)
                return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s:%zu: line too long for memory",
                                       r->path, r->line_no + 1);
            r->buf = nb;
            r->cap *= 2;
        }
        if (!gzgets(r->gz, r->buf + len, (int)(r->cap - len > 1 << 30 ? 1 << 30 : r->cap - len)))
            break;
        len += strlen(r->buf + len);
        *got = 1;
        if (len > 0 && r->buf[len - 1] == '\n')
            break;
    }
    int zerr = 0;
    const char *zmsg = gzerror(r->gz, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s:%zu: read error: %s", r->path,
                               r->line_no + 1, zmsg);
    /* Z_BUF_ERROR here means a gzip stream cut short. */
    if (zerr == Z_BUF_ERROR)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s:%zu: truncated gzip data", r->path,
                               r->line_no + 1);
    if (!*got)
        return ACTRM_OK;
    r->line_no++;
    while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r'))
        len--;
    r->buf[len] = 0;
    return ACTRM_OK;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r')
            return 0;
    return 1;
}

int jsonl_next(jsonl_reader *r, cJSON **obj, actrm_error *err)
{
    *obj = NULL;
    for (;;) {
        int got, st = read_line(r, &got, err);
        if (st || !got)
            return st;
        if (is_blank(r->buf))
            continue;
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithOpts(r->buf, &end, 1);
        if (!j) {
            size_t col = end ? (size_t)(end - r->buf) + 1 : 1;
            return actrm_error_set(err, ACTRM_ERR_FORMAT,
                                   "%s:%zu: malformed JSON near column %zu", r->path,
                                   r->line_no, col);
        }
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s:%zu: expected a JSON object",
                                   r->path, r->line_no);
        }
        *obj = j;
        return ACTRM_OK;
    }
}

int jsonl_get_string(const jsonl_reader *r, const cJSON *obj, const char *key,
                     int required, const char **out, actrm_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return ACTRM_OK;
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s:%zu: missing field \"%s\"",
                               r->path, r->line_no, key);
    }
    if (!cJSON_IsString(v))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s:%zu: field \"%s\" must be a string",
                               r->path, r->line_no, key);
    *out = v->valuestring;
    return ACTRM_OK;
}

int jsonl_get_bool(const jsonl_reader *r, const cJSON *obj, const char *key, int *out,
                   actrm_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v))
        *out = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v))
        *out = v->valuedouble != 0;
    else
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s:%zu: %s field \"%s\" (true/false)",
                               r->path, r->line_no, v ? "bad" : "missing", key);
    return ACTRM_OK;
}

/* Scans f and returns the offset just past the last '\n' and the number of
 * non-blank complete lines before it. */
static int scan_complete_lines(FILE *f, const char *path, long *keep, size_t *n_lines,
                               actrm_error *err)
{
    char chunk[1 << 15];
    long pos = 0;
    int line_has_text = 0;
    size_t got;
    *keep = 0;
    *n_lines = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        for (size_t i = 0; i < got; i++) {
            char c = chunk[i];
            if (c == '\n') {
                *n_lines += line_has_text;
                line_has_text = 0;
                *keep = pos + (long)i + 1;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                line_has_text = 1;
            }
        }
        pos += (long)got;
    }
    if (ferror(f))
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: read error: %s", path, strerror(errno));
    return ACTRM_OK;
}

int jsonl_resume(const char *path, size_t *n_complete, actrm_error *err)
{
    *n_complete = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return ACTRM_OK;
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    long keep;
    int st = scan_complete_lines(f, path, &keep, n_complete, err);
    long size = ftell(f);
    fclose(f);
    if (st)
        return st;
    if (size > keep && truncate(path, keep) != 0)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot cut the partial last line: %s",
                               path, strerror(errno));
    return ACTRM_OK;
}

struct jsonl_writer {
    FILE *f;
    char *path;
};

int jsonl_writer_open(jsonl_writer **out, const char *path, int append, actrm_error *err)
{
    *out = NULL;
    jsonl_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    }
    w->f = fopen(path, append ? "ab" : "wb");
    if (!w->f) {
        int e = errno;
        free(w->path);
        free(w);
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open for writing: %s", path,
                               strerror(e));
    }
    *out = w;
    return ACTRM_OK;
}

int jsonl_writer_put(jsonl_writer *w, const cJSON *obj, actrm_error *err)
{
    char *text = cJSON_PrintUnformatted(obj);
    if (!text)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", w->path);
    /* Text and newline go out in one write so a kill leaves at most one
     * partial line, which jsonl_resume() removes. */
    size_t len = strlen(text);
    text[len] = '\n';
    size_t put = fwrite(text, 1, len + 1, w->f);
    free(text);
    if (put != len + 1 || fflush(w->f) != 0)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: write error: %s", w->path,
                               strerror(errno));
    return ACTRM_OK;
}

int jsonl_writer_close(jsonl_writer *w, actrm_error *err)
{
    if (!w)
        return ACTRM_OK;
    int st = ACTRM_OK;
    if (fclose(w->f) != 0)
        st = actrm_error_set(err, ACTRM_ERR_IO, "%s: write error: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return st;
}
