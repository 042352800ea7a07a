/* actrm tokenize MODEL.gguf (--text T | --file F) [--special] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "cli_util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: actrm tokenize MODEL.gguf (--text T | --file F) [--special] [--json]\n\n"
            "Prints the token ids of a text with the tokenizer stored in MODEL.gguf, the same\n"
            "ids Hugging Face's tokenizer gives. Special tokens written in the text (such as\n"
            "<|im_start|>) are recognised. Bytes that are not valid UTF-8 are read as U+FFFD.\n\n"
            "options:\n"
            "  --text T    the text to encode\n"
            "  --file F    encode the bytes of file F as they are (- for standard input)\n"
            "  --special   add BOS/EOS as the tokenizer's post-processor does\n"
            "  --json      print one JSON array of ids on one line\n"
            "              (default: the ids on one line, separated by spaces)\n"
            "  -h, --help  show this help\n");
}

static void print_ids(const int32_t *ids, size_t n, int json)
{
    if (json)
        putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? (json ? ",%d" : " %d") : "%d", ids[i]);
    if (json)
        putchar(']');
    putchar('\n');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *file = NULL;
    int special = 0, json = 0, n_pos;
    const cli_opt opts[] = {{"--text", &text, NULL}, {"--file", &file, NULL},
                            {"--special", NULL, &special}, {"--json", NULL, &json}};
    int rc = cli_parse(argc, argv, opts, CLI_COUNT(opts), &model, 1, &n_pos, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!model || !text == !file) {
        fprintf(stderr, "actrm tokenize: expected MODEL.gguf and one of --text or --file (see actrm tokenize --help)\n");
        return 2;
    }
    size_t len = text ? strlen(text) : 0;
    char *data = NULL;
    if (file && !(data = cli_read_file("tokenize", file, &len)))
        return 1;
    actrm_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    rc = actrm_tokenizer_init(&tok, model);
    if (!rc)
        rc = actrm_tokenizer_encode(tok, text ? text : data, len, special ? ACTRM_ENCODE_ADD_SPECIAL : 0, &ids, &n);
    if (rc)
        fprintf(stderr, "actrm tokenize: %s\n", tok ? actrm_tokenizer_errmsg(tok) : actrm_status_string(rc));
    else
        print_ids(ids, n, json);
    free(ids);
    free(data);
    actrm_tokenizer_free(tok);
    return rc ? 1 : 0;
}
