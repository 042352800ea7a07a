/* Placeholder: the tokenizer helper replaces this with the real export. */
#include "tokenizer.h"

int actrm_tokenizer_export(gguf_writer *w, const char *hf_dir, int n_vocab,
                           actrm_error *err)
{
    (void)w;
    (void)hf_dir;
    (void)n_vocab;
    (void)err;
    return ACTRM_OK;
}
