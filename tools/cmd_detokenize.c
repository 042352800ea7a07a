/* actrm detokenize MODEL.gguf --ids 1,2,3 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "cli_util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: actrm detokenize MODEL.gguf --ids 1,2,3\n\n"
            "Prints the text of token ids with the tokenizer stored in MODEL.gguf, as\n"
            "Hugging Face's decode does (special tokens kept), exactly, with no newline\n"
            "added. Ids may be separated by commas or spaces, and may be given as the JSON\n"
            "array `actrm tokenize --json` prints. Bytes that do not form valid UTF-8 (a\n"
            "character cut between ids) are printed as U+FFFD.\n\n"
            "options:\n"
            "  --ids LIST  the token ids\n"
            "  -h, --help  show this help\n");
}

int cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL, *list = NULL;
    int n_pos;
    const cli_opt opts[] = {{"--ids", &list, NULL}};
    int rc = cli_parse(argc, argv, opts, CLI_COUNT(opts), &model, 1, &n_pos, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!model || !list) {
        fprintf(stderr, "actrm detokenize: expected MODEL.gguf and --ids (see actrm detokenize --help)\n");
        return 2;
    }
    size_t n;
    int32_t *ids;
    if (cli_parse_ids("detokenize", "--ids", list, &ids, &n))
        return 2;
    actrm_tokenizer *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    rc = actrm_tokenizer_init(&tok, model);
    if (!rc)
        rc = actrm_tokenizer_decode(tok, ids, n, &text, &len);
    if (rc)
        fprintf(stderr, "actrm detokenize: %s\n", tok ? actrm_tokenizer_errmsg(tok) : actrm_status_string(rc));
    else
        fwrite(text, 1, len, stdout);
    free(text);
    free(ids);
    actrm_tokenizer_free(tok);
    return rc ? 1 : 0;
}
