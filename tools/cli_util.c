#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "actrm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

char *cli_read_file(const char *cmd, const char *path, size_t *len)
{
    char *text = NULL;
    actrm_error err = {0};
    int rc = strcmp(path, "-") == 0 ? actrm_read_stream(stdin, "standard input", &text, len, &err)
                                    : actrm_read_file(path, &text, len, &err);
    if (rc)
        cli_fail(cmd, "%s", err.msg);
    return text;
}

static const char id_separators[] = " ,[]\t\r\n";

int cli_parse_ids(const char *cmd, const char *opt, const char *list, int32_t **ids, size_t *n)
{
    size_t cap = 1, count = 0;
    for (const char *p = list; *p; p++)
        cap += strchr(id_separators, *p) != NULL;
    int32_t *out = malloc(cap * sizeof *out); /* [cap] >= the number of items */
    if (!out)
        return cli_fail(cmd, "out of memory");
    for (const char *p = list + strspn(list, id_separators); *p; p += strspn(p, id_separators)) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX || (*end && !strchr(id_separators, *end))) {
            free(out);
            return cli_fail(cmd, "%s item %zu ('%.*s') is not an integer", opt, count + 1,
                            (int)strcspn(p, id_separators), p);
        }
        out[count++] = (int32_t)v;
        p = end;
    }
    *ids = out;
    *n = count;
    return 0;
}
