/* Helpers shared by the CLI subcommands: one-line errors, whole-file input
 * and token id lists. Each prints its own error as "actrm CMD: message". */
#ifndef ACTRM_CLI_UTIL_H
#define ACTRM_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One option of a subcommand: "--name VALUE" / "--name=VALUE" stores the
 * value in *value; a flag (value == NULL) sets *flag to 1. */
typedef struct cli_opt {
    const char *name;
    const char **value;
    int *flag;
} cli_opt;

#define CLI_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Parses argv[1..] (argv[0] is the subcommand) against n_opts options and
 * up to max_pos positional arguments, stored in pos[] and counted in *n_pos.
 * -h/--help prints usage to stdout. Returns 0 to run, 1 after help (exit
 * 0), 2 after an error naming the argument (exit 2). */
int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos,
              int max_pos, int *n_pos, void (*usage)(FILE *));

/* Prints "actrm CMD: msg" to stderr and returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The whole of path ("-": standard input), malloc'ed and NUL-terminated;
 * *len (may be NULL) excludes the NUL. NULL after printing the error
 * (naming path). */
char *cli_read_file(const char *cmd, const char *path, size_t *len);

/* Parses token ids separated by commas and/or white space, optionally in
 * [ ] (so `actrm tokenize --json` output is accepted), into a malloc'ed
 * array. Range checks against the vocabulary are left to the library.
 * Returns 0, or 1 after printing an error naming `opt` and the bad item. */
int cli_parse_ids(const char *cmd, const char *opt, const char *list, int32_t **ids, size_t *n);

#endif
