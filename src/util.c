/* Shared internal helpers; see util.h. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

/* ------------------------------------------------------------- files -- */

int actrm_read_stream(FILE *f, const char *name, char **text, size_t *len, actrm_error *err)
{
    actrm_buf b = {0};
    char chunk[1 << 16];
    size_t got;
    *text = NULL;
    /* The empty append leaves a NUL-terminated buffer even for an empty file. */
    int oom = actrm_buf_append(&b, "", 0);
    while (!oom && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        oom = actrm_buf_append(&b, chunk, got);
    if (oom) {
        free(b.p);
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", name);
    }
    if (ferror(f)) {
        free(b.p);
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: read error", name);
    }
    *text = b.p;
    if (len)
        *len = b.len;
    return ACTRM_OK;
}

int actrm_read_file(const char *path, char **text, size_t *len, actrm_error *err)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = actrm_read_stream(f, path, text, len, err);
    fclose(f);
    return rc;
}

int actrm_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* -------------------------------------------------------------- JSON -- */

static int line_of(const char *text, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset; i++)
        line += text[i] == '\n';
    return line;
}

int actrm_json_parse(const char *text, size_t len, const char *name, cJSON **out,
                     actrm_error *err)
{
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (*out)
        return ACTRM_OK;
    size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: invalid JSON near line %d", name,
                           line_of(text, at));
}

int actrm_json_load(const char *path, cJSON **out, actrm_error *err)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = actrm_read_file(path, &text, &len, err);
    if (rc == ACTRM_OK)
        rc = actrm_json_parse(text, len, path, out, err);
    free(text);
    return rc;
}

/* ----------------------------------------------------------- strings -- */

int actrm_buf_reserve(actrm_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    /* Sizes past SIZE_MAX / 4 count as out of memory, so nothing below wraps. */
    if (extra > SIZE_MAX / 4 || b->len > SIZE_MAX / 4) {
        b->oom = 1;
        return -1;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int actrm_buf_append(actrm_buf *b, const void *s, size_t n)
{
    if (actrm_buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int actrm_buf_puts(actrm_buf *b, const char *s)
{
    return actrm_buf_append(b, s, strlen(s));
}

void actrm_format_dims(char *buf, size_t cap, int n, const uint64_t *dims)
{
    if (cap == 0)
        return;
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}
