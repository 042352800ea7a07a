/* .npy reader/writer; see npy.h. Format: a 6-byte magic, a version, a header
 * length, then a Python dict literal with descr/fortran_order/shape, padded so
 * that the data starts at a multiple of 64 bytes. */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20)

void actrm_npy_free(actrm_npy *a)
{
    if (a) {
        free(a->data);
        a->data = NULL;
    }
}

/* Points at the value of 'key' in the header dict, or NULL. */
static const char *header_value(const char *hdr, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(hdr, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int parse_descr(const char *path, const char *hdr, int dtype, actrm_error *err)
{
    static const char *const names[] = {"<f4", "<i4"};
    const char *v = header_value(hdr, "descr");
    if (!v || (*v != '\'' && *v != '"'))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header has no 'descr'", path);
    const char *end = strchr(v + 1, *v);
    if (!end)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header field 'descr' is unterminated", path);
    size_t len = (size_t)(end - v - 1);
    if (len != 3 || memcmp(v + 1, names[dtype], 3) != 0)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: header field 'descr' is '%.*s', expected '%s'",
                               path, (int)len, v + 1, names[dtype]);
    return ACTRM_OK;
}

static int parse_fortran_order(const char *path, const char *hdr, actrm_error *err)
{
    const char *v = header_value(hdr, "fortran_order");
    if (!v)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header has no 'fortran_order'", path);
    if (strncmp(v, "False", 5) != 0)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: header field 'fortran_order' must be False", path);
    return ACTRM_OK;
}

static int parse_shape(const char *path, const char *hdr, actrm_npy *a, actrm_error *err)
{
    const char *p = header_value(hdr, "shape");
    if (!p || *p != '(')
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header field 'shape' is missing or not a tuple", path);
    p++;
    a->ndim = 0;
    a->n = 1;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == ')')
            return ACTRM_OK;
        if (!isdigit((unsigned char)*p) || a->ndim == ACTRM_NPY_MAX_DIMS)
            return actrm_error_set(err, ACTRM_ERR_FORMAT,
                                   "%s: header field 'shape' is malformed or has more than %d dims",
                                   path, ACTRM_NPY_MAX_DIMS);
        errno = 0;
        char *end;
        unsigned long long d = strtoull(p, &end, 10);
        if (errno || d > (unsigned long long)INT64_MAX || (d && a->n > SIZE_MAX / 4 / d))
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header field 'shape' is too large", path);
        a->shape[a->ndim++] = (int64_t)d;
        a->n *= (size_t)d;
        p = end;
    }
}

/* Reads the magic, version and header dict; leaves f at the first data byte. */
static int read_header(FILE *f, const char *path, char **hdr_out, actrm_error *err)
{
    unsigned char pre[10];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, 6) != 0)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    uint32_t hlen;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: truncated header length", path);
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        unsigned char l[4];
        if (fread(l, 1, 4, f) != 4)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: truncated header length", path);
        hlen = (uint32_t)l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
    } else {
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s: unsupported .npy version %d", path, major);
    }
    if (hlen > NPY_MAX_HEADER)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header length %u is too large", path, hlen);
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory for the header", path);
    if (fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: truncated header", path);
    }
    hdr[hlen] = '\0';
    *hdr_out = hdr;
    return ACTRM_OK;
}

static int read_body(FILE *f, const char *path, int dtype, actrm_npy *out, actrm_error *err)
{
    char *hdr = NULL;
    int rc = read_header(f, path, &hdr, err);
    if (rc == ACTRM_OK)
        rc = parse_descr(path, hdr, dtype, err);
    if (rc == ACTRM_OK)
        rc = parse_fortran_order(path, hdr, err);
    if (rc == ACTRM_OK)
        rc = parse_shape(path, hdr, out, err);
    free(hdr);
    if (rc != ACTRM_OK)
        return rc;
    out->dtype = dtype;
    out->data = malloc(out->n ? out->n * 4 : 1);
    if (!out->data)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory for %zu values", path, out->n);
    if (fread(out->data, 4, out->n, f) != out->n) {
        actrm_npy_free(out);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: truncated data (expected %zu values)", path, out->n);
    }
    return ACTRM_OK;
}

int actrm_npy_read(const char *path, int dtype, actrm_npy *out, actrm_error *err)
{
    memset(out, 0, sizeof *out);
    if (dtype != ACTRM_NPY_F32 && dtype != ACTRM_NPY_I32)
        return actrm_error_set(err, ACTRM_ERR_ARG, "%s: unknown dtype %d requested", path, dtype);
    FILE *f = fopen(path, "rb");
    if (!f)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_body(f, path, dtype, out, err);
    fclose(f);
    return rc;
}

/* The dict literal, padded with spaces and a final newline so that the data
 * starts at a multiple of 64 bytes (10 bytes of preamble in version 1.0). */
static int format_header(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(buf, cap, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "), }");
    size_t total = (10 + n + 1 + 63) / 64 * 64 - 10;
    if (total >= cap)
        return -1;
    memset(buf + n, ' ', total - 1 - n);
    buf[total - 1] = '\n';
    return (int)total;
}

int actrm_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                        int ndim, actrm_error *err)
{
    char hdr[512];
    size_t n = 1;
    if (ndim < 0 || ndim > ACTRM_NPY_MAX_DIMS)
        return actrm_error_set(err, ACTRM_ERR_ARG, "%s: %d dims is out of range", path, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return actrm_error_set(err, ACTRM_ERR_ARG, "%s: negative dim %d", path, i);
        if (shape[i] > 0 && n > SIZE_MAX / sizeof(float) / (uint64_t)shape[i])
            return actrm_error_set(err, ACTRM_ERR_ARG, "%s: shape has more elements than memory", path);
        n *= (size_t)shape[i];
    }
    int hlen = format_header(hdr, sizeof hdr, shape, ndim);
    if (hlen < 0)
        return actrm_error_set(err, ACTRM_ERR_ARG, "%s: shape header too long", path);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)hlen, f) == (size_t)hlen &&
             fwrite(data, 4, n, f) == n;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return ACTRM_OK;
}
