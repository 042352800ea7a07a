/* actrm: command-line front end. Each subcommand lives in tools/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"convert", cmd_convert, "convert a Hugging Face model directory to GGUF"},
    {"forward", cmd_forward, "run the model on token ids or text; write logits, head outputs, hidden states"},
    {"tokenize", cmd_tokenize, "text -> token ids"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"chat", cmd_chat, "render a conversation with the model's chat template"},
    {"extract", cmd_extract, "mean head activations from few-shot prompts -> steering file"},
    {"select", cmd_select, "choose heads (REINFORCE or SAV) for a steering file"},
    {"score", cmd_score, "add a reward to every line of a JSONL file"},
    {"eval", cmd_eval, "pairwise accuracy of a reward method on preference pairs"},
    {"bench", cmd_bench, "prefill and generation speed, peak memory"},
    {"info", cmd_info, "CPU features, kernel path, and a model's metadata"},
};

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static void usage(FILE *f)
{
    fprintf(f, "actrm %s - activation reward models on the CPU\n\n"
               "usage: actrm COMMAND [options]   (actrm COMMAND --help for its options)\n\ncommands:\n",
            ACTRM_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment:\n  ACTRM_ISA=ref|avx2|avx512|neon  force a kernel path\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("actrm %s\n", ACTRM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "actrm: unknown command '%s' (see actrm --help)\n", argv[1]);
    return 2;
}
