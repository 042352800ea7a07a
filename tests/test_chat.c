/* Chat-template rendering against the fixtures made by @huggingface/jinja
 * from the real templates, and against documented formats. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "fixtures.h"

#define CHAT_DIR FIXTURES_DIR "/chat/"

/* bos/eos of a fixture's tokens.json; null becomes "". */
static void read_special_tokens(const char *name, char **bos, char **eos)
{
    char path[256];
    snprintf(path, sizeof path, CHAT_DIR "%s.tokens.json", name);
    cJSON *j = fixture_read_json(path);
    const cJSON *b = cJSON_GetObjectItem(j, "bos_token"), *e = cJSON_GetObjectItem(j, "eos_token");
    *bos = strdup(cJSON_IsString(b) ? b->valuestring : "");
    *eos = strdup(cJSON_IsString(e) ? e->valuestring : "");
    cJSON_Delete(j);
}

static char *read_template(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, CHAT_DIR "%s.jinja", name);
    return fixture_read_file(path, NULL);
}

/* Renders one fixture row and compares it with its `rendered` field: with
 * the tokenizer of a GGUF when tok is set, else with tmpl, bos and eos. */
static void check_row(const char *name, int line_no, const cJSON *row, actrm_tokenizer *tok,
                      const char *tmpl, const char *bos, const char *eos)
{
    const cJSON *jm = cJSON_GetObjectItem(row, "messages");
    size_t n = (size_t)cJSON_GetArraySize(jm);
    actrm_chat_message *msgs = calloc(n + 1, sizeof *msgs);
    for (size_t i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(jm, (int)i);
        msgs[i].role = cJSON_GetObjectItem(m, "role")->valuestring;
        msgs[i].content = cJSON_GetObjectItem(m, "content")->valuestring;
    }
    const cJSON *think = cJSON_GetObjectItem(row, "enable_thinking");
    actrm_chat_options opt = {cJSON_IsTrue(cJSON_GetObjectItem(row, "add_generation_prompt")),
                              think ? cJSON_IsTrue(think) : -1, NULL};
    char *out = NULL;
    actrm_error err = {0};
    int st = tok ? actrm_tokenizer_chat_render(tok, msgs, n, &opt, &out)
                 : actrm_chat_render_template(tmpl, bos, eos, msgs, n, &opt, &out, &err);
    cr_assert_eq(st, ACTRM_OK, "%s.jsonl line %d: %s", name, line_no,
                 tok ? actrm_tokenizer_errmsg(tok) : err.msg);
    cr_expect_str_eq(out, cJSON_GetObjectItem(row, "rendered")->valuestring,
                     "%s.jsonl line %d differs", name, line_no);
    free(out);
    free(msgs);
}

static void check_fixture(const char *name, int min_rows, actrm_tokenizer *tok)
{
    char path[256], *bos, *eos;
    snprintf(path, sizeof path, CHAT_DIR "%s.jsonl", name);
    char *tmpl = read_template(name), *text = fixture_read_file(path, NULL);
    read_special_tokens(name, &bos, &eos);
    int rows = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *row = cJSON_Parse(line);
        cr_assert(row, "%s line %d: bad JSON", path, rows + 1);
        check_row(name, ++rows, row, tok, tmpl, bos, eos);
        cJSON_Delete(row);
    }
    cr_expect_geq(rows, min_rows, "%s: only %d rows", path, rows);
    free(tmpl);
    free(text);
    free(bos);
    free(eos);
}

Test(chat, qwen3_fixture_rows_match) { check_fixture("qwen3", 16, NULL); }
Test(chat, llama3_fixture_rows_match) { check_fixture("llama3", 8, NULL); }
Test(chat, gemma3_fixture_rows_match) { check_fixture("gemma3", 8, NULL); }

Test(chat, families_are_detected_from_the_real_templates)
{
    static const char *const names[][2] = {{"qwen3", "chatml"}, {"llama3", "llama3"}, {"gemma3", "gemma"}};
    for (size_t i = 0; i < 3; i++) {
        char *tmpl = read_template(names[i][0]);
        const char *family = actrm_chat_detect_family(tmpl);
        cr_expect(family && strcmp(family, names[i][1]) == 0, "%s.jinja detected as %s",
                  names[i][0], family ? family : "(null)");
        free(tmpl);
    }
    cr_expect_str_eq(actrm_chat_detect_family("{{ bos_token }}[INST] {{ x }} [/INST]"), "mistral");
    cr_expect_null(actrm_chat_detect_family("{% for m in messages %}{{ m.content }}{% endfor %}"));
    cr_expect_null(actrm_chat_detect_family(NULL));
}

/* ---------------------------------------------------------------- helpers */

static const actrm_chat_message judge_chat[] = {
    {"user", "Hi"}, {"assistant", "Hello"}, {"user", "How are you?"}};

/* Renders and returns the status; *out is the text or the error message. */
static int render(const char *tmpl, const char *bos, const char *eos, const actrm_chat_message *m,
                  size_t n, int add_generation_prompt, int enable_thinking, const char *family,
                  char **out)
{
    actrm_chat_options opt = {add_generation_prompt, enable_thinking, family};
    actrm_error err = {0};
    int st = actrm_chat_render_template(tmpl, bos, eos, m, n, &opt, out, &err);
    if (st)
        *out = strdup(err.msg);
    return st;
}

/* ------------------------------------------------------------- errors -- */

Test(chat, unknown_template_names_the_option_and_the_families)
{
    char *out;
    int st = render("{% for m in messages %}{{ m.content }}{% endfor %}", "", "", judge_chat, 3,
                    1, -1, NULL, &out);
    cr_expect_eq(st, ACTRM_ERR_UNSUPPORTED);
    cr_expect(strstr(out, "--chat-template FAMILY"), "message: %s", out);
    cr_expect(strstr(out, "chatml") && strstr(out, "llama3") && strstr(out, "gemma") &&
              strstr(out, "mistral"), "message: %s", out);
    free(out);

    st = render(NULL, "", "", judge_chat, 3, 1, -1, NULL, &out);
    cr_expect_eq(st, ACTRM_ERR_UNSUPPORTED, "no template and no family");
    cr_expect(strstr(out, "--chat-template FAMILY"), "message: %s", out);
    free(out);

    st = render(NULL, "", "", judge_chat, 3, 1, -1, "vicuna", &out);
    cr_expect_eq(st, ACTRM_ERR_ARG);
    cr_expect(strstr(out, "vicuna") && strstr(out, "chatml"), "message: %s", out);
    free(out);
}

Test(chat, a_message_without_content_is_named)
{
    actrm_chat_message m[] = {{"user", "a"}, {"assistant", NULL}};
    char *out;
    cr_expect_eq(render(NULL, "", "", m, 2, 1, -1, "chatml", &out), ACTRM_ERR_ARG);
    cr_expect_str_eq(out, "message 2: missing 'content'");
    free(out);
}

/* Gemma's template raises on roles that do not alternate; the message we
 * return must be the template's own text. */
Test(chat, gemma_role_order_error_is_the_templates_message)
{
    char *tmpl = read_template("gemma3"), *out;
    actrm_chat_message m[] = {{"user", "a"}, {"user", "b"}};
    cr_expect_eq(render(tmpl, "<bos>", "", m, 2, 1, -1, NULL, &out), ACTRM_ERR_ARG);
    cr_expect(strlen(out) > 20 && strstr(tmpl, out), "not the template's message: %s", out);
    free(out);
    actrm_chat_message starts_with_model[] = {{"assistant", "a"}};
    cr_expect_eq(render(tmpl, "<bos>", "", starts_with_model, 1, 1, -1, NULL, &out), ACTRM_ERR_ARG);
    free(out);
    free(tmpl);
}

/* ------------------------------------------------------------- Qwen 3 -- */

/* Expected strings below were rendered by @huggingface/jinja 0.5.13 from the
 * fixture qwen3.jinja (an independent implementation). */
Test(chat, qwen3_reasoning_is_kept_only_after_the_last_query)
{
    char *tmpl = read_template("qwen3"), *out;
    actrm_chat_message m[] = {
        {"user", "Q"},
        {"assistant", "x<think>a<think>b</think>c</think>\n\nd"},
        {"user", "Q2"},
        {"assistant", "<think>zz</think>A"}};
    cr_assert_eq(render(tmpl, "", "<|im_end|>", m, 4, 0, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nd<|im_end|>\n"
                          "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nzz\n"
                          "</think>\n\nA<|im_end|>\n");
    free(out);
    free(tmpl);
}

Test(chat, qwen3_final_turn_gets_a_think_block_and_strip_trims_all_space)
{
    char *tmpl = read_template("qwen3"), *out;
    actrm_chat_message m[] = {
        {"user", "Q"}, {"assistant", "A0"}, {"assistant", "<think>\n r1 \n</think>\n\n\nA1"}};
    cr_assert_eq(render(tmpl, "", "", m, 3, 0, -1, NULL, &out), ACTRM_OK, "%s", out);
    /* @huggingface/jinja's strip('\n') removes the spaces around r1 too. */
    cr_expect_str_eq(out, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA0<|im_end|>\n"
                          "<|im_start|>assistant\n<think>\nr1\n</think>\n\nA1<|im_end|>\n");
    free(out);
    free(tmpl);
}

Test(chat, qwen3_tool_results_merge_into_one_user_turn)
{
    char *tmpl = read_template("qwen3"), *out;
    actrm_chat_message m[] = {{"system", "S"}, {"system", "S2"}, {"bogus", "B"},
                              {"tool", "T1"},  {"tool", "T2"},   {"assistant", "A"}};
    cr_assert_eq(render(tmpl, "", "", m, 6, 1, 1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n"
                          "<|im_start|>user\n<tool_response>\nT1\n</tool_response>\n<tool_response>\n"
                          "T2\n</tool_response><|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
                          "<|im_start|>assistant\n");
    free(out);
    free(tmpl);
}

/* Qwen3-*-Thinking-2507 templates are the Qwen3 one with a generation
 * prompt that opens the think block; built here from the fixture template. */
Test(chat, qwen3_thinking_2507_opens_the_think_block)
{
    char *qwen3 = read_template("qwen3"), *out;
    char *tail = strstr(qwen3, "{%- if add_generation_prompt %}");
    cr_assert(tail, "qwen3.jinja has no generation prompt block");
    *tail = '\0';
    size_t cap = strlen(qwen3) + 128;
    char *tmpl = malloc(cap);
    snprintf(tmpl, cap, "%s{%%- if add_generation_prompt %%}\n    "
                        "{{- '<|im_start|>assistant\\n<think>\\n' }}\n{%%- endif %%}\n", qwen3);
    cr_assert_eq(render(tmpl, "", "", judge_chat, 1, 1, 0, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n");
    free(out);
    free(tmpl);
    free(qwen3);
}

Test(chat, chatml_without_a_template_is_plain_chatml)
{
    char *out;
    cr_assert_eq(render(NULL, "", "", judge_chat, 3, 1, 0, "chatml", &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
                          "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n");
    free(out);
}

/* Qwen2.5-Instruct adds its default system turn when none is given
 * (tokenizer_config.json of Qwen/Qwen2.5-*-Instruct). Template abridged here
 * to the parts that matter without tools. */
Test(chat, qwen25_default_system_turn)
{
    static const char tmpl[] =
        "{%- if messages[0]['role'] == 'system' %}\n"
        "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
        "{%- else %}\n"
        "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\\n' }}\n"
        "{%- endif %}\n"
        "{%- for message in messages %}{%- if message.role == 'user' or message.role == 'assistant' "
        "%}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
        "{%- elif message.role == 'tool' %}{{- '\\n<tool_response>\\n' }}{%- endif %}{%- endfor %}\n"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
    char *out;
    cr_assert_eq(render(tmpl, "", "", judge_chat, 1, 1, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a "
                          "helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                          "<|im_start|>assistant\n");
    free(out);
    actrm_chat_message with_system[] = {{"system", "Judge."}, {"user", "Hi"}};
    cr_assert_eq(render(tmpl, "", "", with_system, 2, 0, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|im_start|>system\nJudge.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    free(out);
}

/* -------------------------------------------------- Gemma and Llama 3 -- */

/* @huggingface/jinja's trim is JavaScript's: NBSP and U+3000 go, U+0085 stays. */
Test(chat, trim_follows_javascript_white_space)
{
    char *tmpl = read_template("gemma3"), *out;
    actrm_chat_message m[] = {{"user", "\xc2\xa0\t U \xe3\x80\x80\n"}, {"assistant", "\xc2\x85x"}};
    cr_assert_eq(render(tmpl, "<bos>", "", m, 2, 0, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<bos><start_of_turn>user\nU<end_of_turn>\n<start_of_turn>model\n"
                          "\xc2\x85x<end_of_turn>\n");
    free(out);
    free(tmpl);
}

/* The fixture's Meta-Llama-3-Instruct template always ends with the
 * assistant header; without a template add_generation_prompt is honoured. */
Test(chat, llama3_generation_prompt)
{
    char *out;
    cr_assert_eq(render(NULL, "<|begin_of_text|>", "", judge_chat, 1, 0, -1, "llama3", &out),
                 ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    free(out);
}

/* Llama 3.1 (meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json): a system
 * turn with the knowledge cut-off and date_string (default "26 Jul 2024")
 * always comes first; the template is abridged here to its tool-free parts. */
Test(chat, llama31_system_turn_with_dates)
{
    static const char tmpl[] =
        "{{- bos_token }}\n"
        "{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}\n"
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
        "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = \"\" %}{%- endif %}\n"
        "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
        "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
        "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
        "{{- system_message }}{{- \"<|eot_id|>\" }}\n"
        "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
        "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}\n"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
        "{%- endif %}\n";
    actrm_chat_message m[] = {{"system", " Judge. "}, {"user", "Hi "}};
    char *out;
    cr_assert_eq(render(tmpl, "<|begin_of_text|>", "", m, 2, 1, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                          "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                          "Judge.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out);
}

/* ------------------------------------------------------------ Mistral -- */

/* The first Mistral-7B-Instruct-v0.2 template (tokenizer_config.json, Dec
 * 2023) and its model card: "<s>[INST] What is your favourite condiment?
 * [/INST]" ... "</s>" "[INST] Do you have mayonnaise recipes? [/INST]". */
Test(chat, mistral_v02_documented_format)
{
    static const char tmpl[] =
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
        "{% endfor %}";
    static const char expected[] = "<s>[INST] Hi [/INST]Hello</s>[INST] How are you? [/INST]";
    char *out;
    cr_assert_eq(render(tmpl, "<s>", "</s>", judge_chat, 3, 1, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, expected);
    free(out);
    /* The same layout is the default when only the family is named. */
    cr_assert_eq(render(NULL, "<s>", "</s>", judge_chat, 3, 1, -1, "mistral", &out), ACTRM_OK);
    cr_expect_str_eq(out, expected);
    free(out);
    /* This template has no system role: it fails on role order. */
    actrm_chat_message sys[] = {{"system", "S"}, {"user", "Hi"}};
    cr_expect_eq(render(tmpl, "<s>", "</s>", sys, 2, 1, -1, NULL, &out), ACTRM_ERR_ARG);
    cr_expect_str_eq(out, "Conversation roles must alternate user/assistant/user/assistant/...");
    free(out);
}

/* Without a template, a system message goes in front of the first user
 * message, separated by a blank line (Mistral's documented convention for
 * its v1 tokenizer). */
Test(chat, mistral_default_prepends_the_system_message)
{
    actrm_chat_message m[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"},
                              {"user", "Bye"}};
    char *out;
    cr_assert_eq(render(NULL, "<s>", "</s>", m, 4, 1, -1, "mistral", &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<s>[INST] Be brief.\n\nHi [/INST]Hello</s>[INST] Bye [/INST]");
    free(out);
    actrm_chat_message bad[] = {{"user", "Hi"}, {"user", "again"}};
    cr_expect_eq(render(NULL, "<s>", "</s>", bad, 2, 1, -1, "mistral", &out), ACTRM_ERR_ARG);
    cr_expect(strstr(out, "conversation roles must alternate"), "%s", out);
    free(out);
}

/* Mistral's documented v3 tokenizer layout (mistral-common):
 * "<s>[INST] user message[/INST] assistant message</s>[INST] new user
 * message[/INST]", system message before the last user message. Template of
 * Mistral-7B-Instruct-v0.3, abridged to its tool-free parts. */
Test(chat, mistral_v03_documented_format)
{
    static const char tmpl[] =
        "{%- if messages[0][\"role\"] == \"system\" %}{%- set system_message = messages[0][\"content\"] %}"
        "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
        "{%- set ns = namespace() %}{%- set ns.index = 0 %}"
        "{%- for message in loop_messages %}{%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}"
        "{{- raise_exception(\"After the optional system message, conversation roles must alternate "
        "user/assistant/user/assistant/...\") }}{%- endif %}{%- set ns.index = ns.index + 1 %}{%- endfor %}"
        "{{- bos_token }}{%- for message in loop_messages %}{%- if message[\"role\"] == \"user\" %}"
        "{%- if loop.last and system_message is defined %}"
        "{{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}"
        "{%- else %}{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}{%- endif %}"
        "{%- elif message[\"role\"] == \"assistant\" %}{{- \" \" + message[\"content\"]|trim + eos_token}}"
        "{%- endif %}{%- endfor %}";
    actrm_chat_message m[] = {{"system", "S"}, {"user", "user message"},
                              {"assistant", "assistant message "}, {"user", "new user message"}};
    char *out;
    cr_assert_eq(render(tmpl, "<s>", "</s>", m, 4, 1, -1, NULL, &out), ACTRM_OK, "%s", out);
    cr_expect_str_eq(out, "<s>[INST] user message[/INST] assistant message</s>[INST] S\n\n"
                          "new user message[/INST]");
    free(out);
}

/* ------------------------------------------ through a converted GGUF -- */

/* The tokenizer of fixture model `model` converted to GGUF (cached). */
static actrm_tokenizer *tokenizer_of_fixture_model(const char *model)
{
    char path[512];
    fixture_model_gguf(path, sizeof path, model, NULL);
    actrm_tokenizer *tok = NULL;
    int st = actrm_tokenizer_init(&tok, path);
    cr_assert_eq(st, ACTRM_OK, "%s", tok ? actrm_tokenizer_errmsg(tok) : "out of memory");
    return tok;
}

/* The fixture models carry the same templates as the chat fixtures; BOS
 * comes from the GGUF's bos_token_id. */
Test(chat, llama3_rows_through_a_converted_gguf)
{
    actrm_tokenizer *tok = tokenizer_of_fixture_model("llama3-tiny");
    check_fixture("llama3", 8, tok);
    actrm_tokenizer_free(tok);
}

Test(chat, qwen3_rows_through_a_converted_gguf)
{
    actrm_tokenizer *tok = tokenizer_of_fixture_model("qwen3-tiny");
    check_fixture("qwen3", 16, tok);
    actrm_tokenizer_free(tok);
}

/* spm-tiny (Mistral-7B-v0.1 vocabulary) ships no template: the family must
 * be named, and <s>/</s> come from its vocabulary. */
Test(chat, model_without_template_needs_a_family)
{
    actrm_tokenizer *tok = tokenizer_of_fixture_model("spm-tiny");
    char *out = NULL;
    actrm_chat_options opt = {1, -1, NULL};
    cr_expect_eq(actrm_tokenizer_chat_render(tok, judge_chat, 3, &opt, &out), ACTRM_ERR_UNSUPPORTED);
    cr_expect(strstr(actrm_tokenizer_errmsg(tok), "--chat-template FAMILY"), "%s",
              actrm_tokenizer_errmsg(tok));
    cr_expect_null(out);
    opt.family = "mistral";
    cr_assert_eq(actrm_tokenizer_chat_render(tok, judge_chat, 3, &opt, &out), ACTRM_OK, "%s",
                 actrm_tokenizer_errmsg(tok));
    cr_expect_str_eq(out, "<s>[INST] Hi [/INST]Hello</s>[INST] How are you? [/INST]");
    free(out);
    actrm_tokenizer_free(tok);
}
