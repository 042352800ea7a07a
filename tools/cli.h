/* Subcommands of the actrm CLI. Each returns the process exit status and
 * prints a one-line error to stderr on failure. argv[0] is the subcommand. */
#ifndef ACTRM_CLI_H
#define ACTRM_CLI_H

int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_select(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* True if argv[i] is -h or --help. */
int cli_is_help(const char *arg);

#endif
