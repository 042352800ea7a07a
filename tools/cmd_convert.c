/* actrm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] */
#include <stdio.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "cli_util.h"

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
    int n_paths;
    const cli_opt opts[] = {{"--type", &type, NULL}};
    int rc = cli_parse(argc, argv, opts, CLI_COUNT(opts), paths, 2, &n_paths, convert_usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (n_paths != 2) {
        fprintf(stderr, "actrm convert: expected HF_DIR and OUT.gguf (see actrm convert --help)\n");
        return 2;
    }
    char msg[1024];
    int status = actrm_hf_convert(paths[0], paths[1], type, msg, sizeof msg);
    if (status) {
        fprintf(stderr, "actrm convert: %s\n", msg);
        return 1;
    }
    return 0;
}
