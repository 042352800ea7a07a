/* actrm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] */
#include <stdio.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"

static void convert_usage(FILE *f)
{
    fprintf(f,
            "usage: actrm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0]\n\n"
            "Converts a Hugging Face model directory (config.json, model.safetensors or\n"
            "sharded safetensors with model.safetensors.index.json, tokenizer.json,\n"
            "tokenizer_config.json) to one GGUF file, readable by actrm and llama.cpp.\n"
            "Architectures: LlamaForCausalLM, MistralForCausalLM (no sliding window),\n"
            "Qwen2ForCausalLM, Qwen3ForCausalLM.\n\n"
            "options:\n"
            "  --type T   weight type of the 2-D tensors (default: the source dtype);\n"
            "             q8_0 stores a tensor whose rows are not a multiple of 32 as f16.\n"
            "             Norms and biases are always f32.\n"
            "  -h, --help show this help\n");
}

int cmd_convert(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL}, *type = NULL;
    int n_paths = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            convert_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
            type = argv[++i];
        } else if (strncmp(argv[i], "--type=", 7) == 0) {
            type = argv[i] + 7;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "actrm convert: unknown or incomplete option '%s' (see actrm convert --help)\n", argv[i]);
            return 2;
        } else if (n_paths < 2) {
            paths[n_paths++] = argv[i];
        } else {
            fprintf(stderr, "actrm convert: unexpected argument '%s' (see actrm convert --help)\n", argv[i]);
            return 2;
        }
    }
    if (n_paths != 2) {
        fprintf(stderr, "actrm convert: expected HF_DIR and OUT.gguf (see actrm convert --help)\n");
        return 2;
    }
    char msg[1024];
    int status = actrm_convert_hf(paths[0], paths[1], type, msg, sizeof msg);
    if (status) {
        fprintf(stderr, "actrm convert: %s\n", msg);
        return 1;
    }
    return 0;
}
