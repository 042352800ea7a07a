/* Tokenizer internals shared with the converter and chat rendering. */
#ifndef ACTRM_TOKENIZER_H
#define ACTRM_TOKENIZER_H

#include "actrm.h"
#include "error.h"
#include "gguf.h"

/* Writes the tokenizer of a Hugging Face directory (tokenizer.json,
 * tokenizer_config.json) as llama.cpp-compatible tokenizer.ggml.* keys, plus
 * the actrm.tokenizer.* keys exactness needs, and tokenizer.chat_template.
 * n_vocab is the model's vocabulary size (config.json); the token list is
 * padded to it as llama.cpp does. Unsupported tokenizer types (WordPiece,
 * Unigram, ...) are ACTRM_ERR_UNSUPPORTED naming the file and field. */
int actrm_tokenizer_export(gguf_writer *w, const char *hf_dir, int n_vocab,
                           actrm_error *err);

/* The chat template stored with the tokenizer, or NULL. */
const char *actrm_tokenizer_chat_template(const actrm_tokenizer *tok);
/* The text of token id (NUL-terminated), or NULL if out of range. */
const char *actrm_tokenizer_piece(const actrm_tokenizer *tok, int32_t id);
/* The tokenizer's error slot, for code that renders on its behalf. */
actrm_error *actrm_tokenizer_error(actrm_tokenizer *tok);

#endif
