#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

/* The option arg names (as "--name" or "--name=VALUE"), or NULL. */
static const cli_opt *find_opt(const cli_opt *opts, int n_opts, const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (int o = 0; o < n_opts; o++) {
        size_t len = strlen(opts[o].name);
        if (strncmp(arg, opts[o].name, len) != 0)
            continue;
        if (arg[len] == '\0')
            return &opts[o];
        if (arg[len] == '=' && opts[o].value) {
            *inline_value = arg + len + 1;
            return &opts[o];
        }
    }
    return NULL;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos,
              int max_pos, int *n_pos, void (*usage)(FILE *))
{
    const char *cmd = argv[0];
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (cli_is_help(arg)) {
            usage(stdout);
            return 1;
        }
        const cli_opt *o = find_opt(opts, n_opts, arg, &value);
        if (o && !o->value) {
            *o->flag = 1;
        } else if (o && (value || i + 1 < argc)) {
            *o->value = value ? value : argv[++i];
        } else if (o) {
            cli_fail(cmd, "option %s needs a value (see actrm %s --help)", arg, cmd);
            return 2;
        } else if (arg[0] == '-' && arg[1]) {
            cli_fail(cmd, "unknown option '%s' (see actrm %s --help)", arg, cmd);
            return 2;
        } else if (*n_pos < max_pos) {
            pos[(*n_pos)++] = arg;
        } else {
            cli_fail(cmd, "unexpected argument '%s' (see actrm %s --help)", arg, cmd);
            return 2;
        }
    }
    return 0;
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
