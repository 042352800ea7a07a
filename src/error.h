/* Error reporting shared by every handle: a status plus a formatted message. */
#ifndef ACTRM_ERROR_H
#define ACTRM_ERROR_H

#include "actrm.h"

typedef struct actrm_error {
    int status;
    char msg[1024];
} actrm_error;

/* Records status and a printf-style message in err (if non-NULL) and returns
 * status, so callers can write `return actrm_error_set(err, ...)`. */
int actrm_error_set(actrm_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the message already in err, unless it already
 * starts with that prefix; returns err->status. */
int actrm_error_prefix(actrm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void actrm_error_clear(actrm_error *err);

#endif
