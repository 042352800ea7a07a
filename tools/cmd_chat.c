/* actrm chat: render a conversation with the model's chat template and print
 * the prompt exactly, with no newline added. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "cli_util.h"
#include "util.h"

typedef struct chat_args {
    const char *model;
    const char *messages;
    int add_generation_prompt;
    int enable_thinking; /* -1: template default */
    const char *family;
} chat_args;

/* The conversation read from M.json; strings point into json. */
typedef struct conversation {
    cJSON *json;
    actrm_chat_message *msgs;
    size_t n;
} conversation;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: actrm chat MODEL.gguf --messages M.json [options]\n\n"
            "Renders the conversation in M.json with the chat template stored in the\n"
            "model's GGUF (tokenizer.chat_template) and prints the prompt exactly, with no\n"
            "newline added. M.json is a JSON array of {\"role\": ..., \"content\": ...}\n"
            "objects; roles are system, user and assistant (messages are numbered from 1\n"
            "in errors).\n\n"
            "options:\n"
            "  --messages M.json          the conversation (required)\n"
            "  --no-generation-prompt     do not end with the assistant's header\n"
            "  --enable-thinking=BOOL     true or false, for templates that have it (Qwen3);\n"
            "                             default: the template's default\n"
            "  --chat-template FAMILY     render as FAMILY instead of the detected one:\n"
            "                             chatml, llama3, gemma or mistral\n"
            "  -h, --help                 show this help\n");
}

static int parse_bool(const char *text, int *out)
{
    if (strcmp(text, "true") == 0)
        *out = 1;
    else if (strcmp(text, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static int is_family(const char *name)
{
    static const char *const families[] = {"chatml", "llama3", "gemma", "mistral"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(name, families[i]) == 0)
            return 1;
    return 0;
}

/* Value of "--name=VALUE" or "--name VALUE"; NULL if arg is not that option.
 * Sets *missing when the value is absent. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Returns 0 to run, 1 when --help was printed, -1 on a bad command line. */
static int parse_args(int argc, char **argv, chat_args *a)
{
    *a = (chat_args){NULL, NULL, 1, -1, NULL};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int missing = 0;
        if (cli_is_help(arg)) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--no-generation-prompt") == 0) {
            a->add_generation_prompt = 0;
        } else if (strcmp(arg, "--enable-thinking") == 0) {
            a->enable_thinking = 1;
        } else if (strncmp(arg, "--enable-thinking=", 18) == 0) {
            if (parse_bool(arg + 18, &a->enable_thinking))
                return cli_fail("chat", "--enable-thinking: '%s' is neither true nor false", arg + 18), -1;
        } else if ((v = option_value(argc, argv, &i, "--messages", &missing))) {
            a->messages = v;
        } else if ((v = option_value(argc, argv, &i, "--chat-template", &missing))) {
            a->family = v;
        } else if (missing) {
            return cli_fail("chat", "option %s needs a value (see actrm chat --help)", arg), -1;
        } else if (arg[0] == '-' || a->model) {
            return cli_fail("chat", "unexpected argument '%s' (see actrm chat --help)", arg), -1;
        } else {
            a->model = arg;
        }
    }
    if (!a->model)
        return cli_fail("chat", "missing MODEL.gguf (see actrm chat --help)"), -1;
    if (!a->messages)
        return cli_fail("chat", "missing --messages M.json (see actrm chat --help)"), -1;
    if (a->family && !is_family(a->family))
        return cli_fail("chat", "--chat-template: unknown family '%s' (chatml, llama3, gemma or mistral)",
                    a->family), -1;
    return 0;
}

/* The string field key of message i (1-based in messages), or NULL after
 * printing the error. */
static const char *message_field(const char *path, size_t i, const cJSON *m, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    if (!v)
        return cli_fail("chat", "%s: message %zu: missing '%s'", path, i + 1, key), NULL;
    if (!cJSON_IsString(v))
        return cli_fail("chat", "%s: message %zu: '%s' is not a string", path, i + 1, key), NULL;
    return v->valuestring;
}

static int conversation_load(const char *path, conversation *conv)
{
    actrm_error err = {0};
    if (actrm_json_load(path, &conv->json, &err))
        return cli_fail("chat", "%s", err.msg);
    if (!cJSON_IsArray(conv->json))
        return cli_fail("chat", "%s: expected a JSON array of {\"role\", \"content\"} objects", path);
    conv->n = (size_t)cJSON_GetArraySize(conv->json);
    conv->msgs = calloc(conv->n + 1, sizeof *conv->msgs);
    if (!conv->msgs)
        return cli_fail("chat", "out of memory");
    size_t i = 0;
    for (const cJSON *m = conv->json->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m))
            return cli_fail("chat", "%s: message %zu: not an object", path, i + 1);
        conv->msgs[i].role = message_field(path, i, m, "role");
        if (!conv->msgs[i].role)
            return 1;
        conv->msgs[i].content = message_field(path, i, m, "content");
        if (!conv->msgs[i].content)
            return 1;
    }
    return 0;
}

/* Renders and prints; errors name the file at fault: the conversation for a
 * template's objection, the model for a missing or unknown template. */
static int render_and_print(actrm_tokenizer *tok, const chat_args *a, const conversation *conv)
{
    actrm_chat_options opt = {a->add_generation_prompt, a->enable_thinking, a->family};
    char *prompt = NULL;
    int st = actrm_tokenizer_chat_render(tok, conv->msgs, conv->n, &opt, &prompt);
    if (st)
        return cli_fail("chat", "%s: %s", st == ACTRM_ERR_UNSUPPORTED ? a->model : a->messages,
                    actrm_tokenizer_errmsg(tok));
    size_t n = strlen(prompt);
    int bad = fwrite(prompt, 1, n, stdout) != n || fflush(stdout) != 0;
    free(prompt);
    return bad ? cli_fail("chat", "cannot write to standard output") : 0;
}

int cmd_chat(int argc, char **argv)
{
    chat_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc > 0 ? 0 : 2;
    conversation conv = {0};
    actrm_tokenizer *tok = NULL;
    rc = conversation_load(a.messages, &conv);
    if (rc == 0 && actrm_tokenizer_init(&tok, a.model)) {
        const char *msg = tok ? actrm_tokenizer_errmsg(tok) : "out of memory";
        rc = strstr(msg, a.model) ? cli_fail("chat", "%s", msg) : cli_fail("chat", "%s: %s", a.model, msg);
    }
    if (rc == 0)
        rc = render_and_print(tok, &a, &conv);
    actrm_tokenizer_free(tok);
    free(conv.msgs);
    cJSON_Delete(conv.json);
    return rc;
}
