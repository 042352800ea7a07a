#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *actrm_status_string(int status)
{
    switch (status) {
    case ACTRM_OK: return "ok";
    case ACTRM_ERR_IO: return "I/O error";
    case ACTRM_ERR_FORMAT: return "malformed input";
    case ACTRM_ERR_UNSUPPORTED: return "unsupported";
    case ACTRM_ERR_NOMEM: return "out of memory";
    case ACTRM_ERR_ARG: return "invalid argument";
    case ACTRM_ERR_MISMATCH: return "made for another model";
    case ACTRM_ERR_LIMIT: return "capacity exceeded";
    case ACTRM_ERR_CPU: return "instruction set not available";
    default: return "unknown status";
    }
}

int actrm_error_set(actrm_error *err, int status, const char *fmt, ...)
{
    if (!err)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = status;
    return status;
}

int actrm_error_prefix(actrm_error *err, const char *fmt, ...)
{
    if (!err)
        return ACTRM_ERR_ARG;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    /* Errors from lower layers often already name the file: say it once. */
    if (strncmp(err->msg, prefix, plen) == 0 && err->msg[plen] == ':')
        return err->status;
    memcpy(old, err->msg, sizeof old);
    /* Built piecewise: the joined message is cut to fit, on purpose. */
    size_t cap = sizeof err->msg, n = 0;
    for (const char *part[] = {prefix, ": ", old, NULL}, **p = part; *p && n + 1 < cap; p++) {
        size_t len = strlen(*p);
        if (len > cap - 1 - n)
            len = cap - 1 - n;
        memcpy(err->msg + n, *p, len);
        n += len;
    }
    err->msg[n] = '\0';
    return err->status;
}

void actrm_error_clear(actrm_error *err)
{
    if (err) {
        err->status = ACTRM_OK;
        err->msg[0] = '\0';
    }
}
