/* Chat-template rendering (internal): the template families actrm knows. */
#ifndef ACTRM_CHAT_H
#define ACTRM_CHAT_H

#include "actrm.h"
#include "error.h"

/* The family of a Jinja chat template, detected from its text: "chatml",
 * "llama3", "gemma", "mistral", or NULL when unknown. */
const char *actrm_chat_detect_family(const char *tmpl);

/* Renders msgs with template tmpl (may be NULL when opt->family is set).
 * bos/eos are the tokenizer's special token strings (may be ""). The result
 * must equal what Hugging Face's Jinja rendering of the template gives. */
int actrm_chat_render_template(const char *tmpl, const char *bos, const char *eos,
                               const actrm_chat_message *msgs, size_t n_msgs,
                               const actrm_chat_options *opt, char **out,
                               actrm_error *err);

#endif
