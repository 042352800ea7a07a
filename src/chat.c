/* Chat-template rendering.
 *
 * actrm does not interpret Jinja. Each template family it knows is written
 * here as plain C that produces, byte for byte, what Hugging Face's
 * @huggingface/jinja renders from the real templates of that family (the
 * fixtures in shared/fixtures/chat were made that way). Small differences
 * between released versions of a family's template (a default system turn,
 * a space before [INST], ...) are read from distinctive pieces of the
 * template text, so one renderer serves every version of its family.
 *
 * Two properties of @huggingface/jinja matter for exactness and are mirrored
 * here on purpose:
 *   - `| trim`, strip(), lstrip() and rstrip() remove JavaScript white space
 *     (String.prototype.trim), and the latter three ignore their argument:
 *     `x.strip('\n')` also removes spaces and tabs.
 *   - raise_exception(msg) aborts the whole rendering with msg; we return
 *     ACTRM_ERR_ARG with the same message.
 */
#include "chat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer.h"
#include "util.h"

/* ------------------------------------------------------------ strings -- */

/* A view of part of a string (not NUL-terminated). */
typedef struct span {
    const char *p;
    size_t n;
} span;

static span span_of(const char *s)
{
    return (span){s, strlen(s)};
}

static void sb_putspan(actrm_buf *b, span s)
{
    actrm_buf_append(b, s.p, s.n);
}

/* JavaScript's white space and line terminators: what String.trim removes. */
static int is_js_space(uint32_t c)
{
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000: case 0xFEFF:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* Decodes the UTF-8 sequence of exactly n bytes at s; returns 0 if s is not
 * one well-formed sequence of that length (such bytes are never trimmed). */
static int utf8_decode_exact(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    if (n < 1 || n > 4)
        return 0;
    size_t want = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (want != n)
        return 0;
    uint32_t c = s[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return 1;
}

static size_t utf8_seq_len(unsigned char lead)
{
    return lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3
         : (lead & 0xF8) == 0xF0 ? 4 : 1;
}

static span js_trim_start(span s)
{
    while (s.n > 0) {
        size_t k = utf8_seq_len((unsigned char)s.p[0]);
        uint32_t c;
        if (k > s.n || !utf8_decode_exact((const unsigned char *)s.p, k, &c) || !is_js_space(c))
            break;
        s.p += k;
        s.n -= k;
    }
    return s;
}

static span js_trim_end(span s)
{
    while (s.n > 0) {
        size_t k = 1; /* length of the last code point: step back over continuation bytes */
        while (k < 4 && k < s.n && ((unsigned char)s.p[s.n - k] & 0xC0) == 0x80)
            k++;
        uint32_t c;
        if (!utf8_decode_exact((const unsigned char *)s.p + s.n - k, k, &c) || !is_js_space(c))
            break;
        s.n -= k;
    }
    return s;
}

static span js_trim(span s)
{
    return js_trim_end(js_trim_start(s));
}

/* First / last occurrence of needle in s, or NULL. */
static const char *span_find(span s, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= s.n && i <= s.n - m; i++)
        if (memcmp(s.p + i, needle, m) == 0)
            return s.p + i;
    return NULL;
}

static const char *span_find_last(span s, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = s.n + 1; m <= s.n && i-- > 0;)
        if (i + m <= s.n && memcmp(s.p + i, needle, m) == 0)
            return s.p + i;
    return NULL;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* -------------------------------------------------- rendering context -- */

typedef struct chat_ctx {
    const char *tmpl; /* template text; NULL: the family's default version */
    const char *bos, *eos;
    const actrm_chat_message *msgs;
    size_t n;
    int add_generation_prompt;
    int enable_thinking; /* -1 template default, 0 off, 1 on */
    actrm_buf out;
    actrm_error *err;
} chat_ctx;

static int tmpl_has(const chat_ctx *c, const char *needle)
{
    return c->tmpl && strstr(c->tmpl, needle);
}

static int role_is(const chat_ctx *c, size_t i, const char *role)
{
    return i < c->n && strcmp(c->msgs[i].role, role) == 0;
}

/* The template's raise_exception(message). */
static int raise_exception(chat_ctx *c, const char *message)
{
    return actrm_error_set(c->err, ACTRM_ERR_ARG, "%s", message);
}

/* The raw text of a template string literal from s up to the first
 * occurrence of stop. Fails (returns 0) when stop is missing, the text is
 * empty, or an unescaped quote or newline comes first: then the text is not
 * one literal (e.g. it is concatenated with a variable). */
static int literal_until(const char *s, const char *stop, span *raw)
{
    const char *end = s ? strstr(s, stop) : NULL;
    if (!end || end == s)
        return 0;
    for (const char *r = s; r < end; r++) {
        if (*r == '\'' || *r == '"' || *r == '\n')
            return 0;
        if (*r == '\\' && r + 1 < end)
            r++;
    }
    *raw = (span){s, (size_t)(end - s)};
    return 1;
}

/* Writes a literal's raw text resolving the escapes \n, \t, \\, \' and \". */
static void sb_put_unescaped(actrm_buf *b, span raw)
{
    for (size_t i = 0; i < raw.n; i++) {
        char ch = raw.p[i];
        if (ch == '\\' && i + 1 < raw.n) {
            ch = raw.p[++i];
            ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
        }
        actrm_buf_append(b, &ch, 1);
    }
}

/* ------------------------------------------------------------- ChatML -- */

static void chatml_turn(chat_ctx *c, const char *role, span content)
{
    actrm_buf_puts(&c->out, "<|im_start|>");
    actrm_buf_puts(&c->out, role);
    actrm_buf_puts(&c->out, "\n");
    sb_putspan(&c->out, content);
    actrm_buf_puts(&c->out, "<|im_end|>\n");
}

/* Qwen2 and Qwen2.5 write a fixed system turn when the conversation has none,
 * as one literal '<|im_start|>system\n<default><|im_end|>\n' in the template
 * (with "\n" escaped or as a real newline). Finds the default's raw text.
 * Qwen3's '<|im_start|>system\n' + messages[0].content is no default. */
static int chatml_default_system(const char *tmpl, span *raw)
{
    static const char *const heads[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
    for (const char *s = tmpl; s && (s = strstr(s, "<|im_start|>system")); s++)
        for (size_t h = 0; h < 2; h++)
            if (starts_with(s, heads[h]) && literal_until(s + strlen(heads[h]), "<|im_end|>", raw))
                return 1;
    return 0;
}

/* Writes the template's default system turn when the conversation has no
 * system message. Qwen2 writes it inside the message loop (at loop.first),
 * so an empty conversation gets none; Qwen2.5 writes it before the loop. */
static void chatml_put_default_system(chat_ctx *c)
{
    span text;
    int in_loop = tmpl_has(c, "loop.first and messages[0]");
    if (!chatml_default_system(c->tmpl, &text) || role_is(c, 0, "system") || (in_loop && c->n == 0))
        return;
    actrm_buf_puts(&c->out, "<|im_start|>system\n");
    sb_put_unescaped(&c->out, text);
    actrm_buf_puts(&c->out, "<|im_end|>\n");
}

/* Qwen3: the index of the last real user query, i.e. the last user message
 * that is not a wrapped tool response; n-1 when there is none. */
static long qwen3_last_query_index(const chat_ctx *c)
{
    for (size_t i = c->n; i-- > 0;) {
        const char *text = c->msgs[i].content;
        if (role_is(c, i, "user") &&
            !(starts_with(text, "<tool_response>") && ends_with(text, "</tool_response>")))
            return (long)i;
    }
    return (long)c->n - 1;
}

/* Qwen3 assistant turn. Reasoning written inline as <think>...</think> is
 * split off; it is kept only for turns after the last user query (the current
 * agentic step), and the final turn always gets a (possibly empty) think block. */
static void qwen3_assistant_turn(chat_ctx *c, size_t i, long last_query)
{
    span content = span_of(c->msgs[i].content), reasoning = {"", 0};
    const char *first_close = span_find(content, "</think>");
    if (first_close) {
        span before = js_trim_end((span){content.p, (size_t)(first_close - content.p)});
        const char *open = span_find_last(before, "<think>");
        if (open)
            before = (span){open + 7, (size_t)(before.p + before.n - (open + 7))};
        reasoning = js_trim_start(before);
        const char *last_close = span_find_last(content, "</think>") + 8;
        content = js_trim_start((span){last_close, (size_t)(content.p + content.n - last_close)});
    }
    int is_last = i + 1 == c->n;
    actrm_buf_puts(&c->out, "<|im_start|>assistant\n");
    if ((long)i > last_query && (is_last || reasoning.n > 0)) {
        actrm_buf_puts(&c->out, "<think>\n");
        sb_putspan(&c->out, js_trim(reasoning));
        actrm_buf_puts(&c->out, "\n</think>\n\n");
        content = js_trim_start(content);
    }
    sb_putspan(&c->out, content);
    actrm_buf_puts(&c->out, "<|im_end|>\n");
}

/* Qwen2.5/Qwen3: consecutive tool results form one user turn of
 * <tool_response> blocks. */
static void qwen_tool_turn(chat_ctx *c, size_t i)
{
    if (i == 0 || !role_is(c, i - 1, "tool"))
        actrm_buf_puts(&c->out, "<|im_start|>user");
    actrm_buf_puts(&c->out, "\n<tool_response>\n");
    actrm_buf_puts(&c->out, c->msgs[i].content);
    actrm_buf_puts(&c->out, "\n</tool_response>");
    if (i + 1 == c->n || !role_is(c, i + 1, "tool"))
        actrm_buf_puts(&c->out, "<|im_end|>\n");
}

/* Plain ChatML (and Qwen2) writes every message as a turn of its role. The
 * Qwen2.5/Qwen3 templates (recognised by their tool-response blocks) know
 * system, user, assistant and tool and drop other roles; Qwen3 (recognised by
 * </think>) also handles reasoning. */
static int render_chatml(chat_ctx *c)
{
    int qwen_roles = tmpl_has(c, "<tool_response>");
    int qwen3_think = tmpl_has(c, "</think>");
    long last_query = qwen3_last_query_index(c);

    chatml_put_default_system(c);
    for (size_t i = 0; i < c->n; i++) {
        const char *role = c->msgs[i].role;
        if (qwen3_think && strcmp(role, "assistant") == 0)
            qwen3_assistant_turn(c, i, last_query);
        else if (qwen_roles && strcmp(role, "tool") == 0)
            qwen_tool_turn(c, i);
        else if (!qwen_roles || strcmp(role, "user") == 0 || strcmp(role, "system") == 0 ||
                 strcmp(role, "assistant") == 0)
            chatml_turn(c, role, span_of(c->msgs[i].content));
    }
    if (c->add_generation_prompt) {
        actrm_buf_puts(&c->out, "<|im_start|>assistant\n");
        /* Thinking-only models (Qwen3-*-Thinking-2507) open the think block
         * themselves; Qwen3 without thinking gets an empty one so that the
         * model skips it. */
        if (tmpl_has(c, "'<|im_start|>assistant\\n<think>\\n'"))
            actrm_buf_puts(&c->out, "<think>\n");
        else if (tmpl_has(c, "enable_thinking") && c->enable_thinking == 0)
            actrm_buf_puts(&c->out, "<think>\n\n</think>\n\n");
    }
    return ACTRM_OK;
}

/* ------------------------------------------------------------ Llama 3 -- */

static void llama3_turn(chat_ctx *c, const char *role, span content)
{
    actrm_buf_puts(&c->out, "<|start_header_id|>");
    actrm_buf_puts(&c->out, role);
    actrm_buf_puts(&c->out, "<|end_header_id|>\n\n");
    sb_putspan(&c->out, content);
    actrm_buf_puts(&c->out, "<|eot_id|>");
}

/* "Today Date" of the Llama 3.1+ system turn. Llama 3.2 templates call
 * strftime_now("%d %b %Y") (the local date, as @huggingface/jinja provides
 * it); Llama 3.1 templates default date_string to a fixed literal. */
static void llama31_put_today(chat_ctx *c)
{
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    span date;
    const char *assign = strstr(c->tmpl, "date_string = \"");
    if (strstr(c->tmpl, "strftime_now")) {
        char buf[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        snprintf(buf, sizeof buf, "%02d %s %d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
        actrm_buf_puts(&c->out, buf);
    } else if (assign && literal_until(assign + 15, "\"", &date)) {
        sb_put_unescaped(&c->out, date);
    } else {
        actrm_buf_puts(&c->out, "26 Jul 2024");
    }
}

/* Writes s as a JSON string the way JSON.stringify does (what the tojson
 * filter of @huggingface/jinja gives for a string): only '"', '\\' and
 * control characters are escaped; other bytes pass through. */
static void sb_put_json_string(actrm_buf *b, const char *s)
{
    actrm_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': actrm_buf_puts(b, "\\\""); break;
        case '\\': actrm_buf_puts(b, "\\\\"); break;
        case '\b': actrm_buf_puts(b, "\\b"); break;
        case '\f': actrm_buf_puts(b, "\\f"); break;
        case '\n': actrm_buf_puts(b, "\\n"); break;
        case '\r': actrm_buf_puts(b, "\\r"); break;
        case '\t': actrm_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                actrm_buf_puts(b, esc);
            } else {
                actrm_buf_append(b, (const char *)p, 1);
            }
        }
    }
    actrm_buf_puts(b, "\"");
}

/* A tool result: the template passes string content (iterable in Jinja's
 * eyes) through tojson, so it arrives quoted. */
static void llama31_tool_turn(chat_ctx *c, const char *content)
{
    actrm_buf_puts(&c->out, "<|start_header_id|>ipython<|end_header_id|>\n\n");
    sb_put_json_string(&c->out, content);
    actrm_buf_puts(&c->out, "<|eot_id|>");
}

/* Llama 3.1/3.2/3.3: BOS, then always a system turn that starts with the
 * knowledge cut-off and today's date; the conversation's own system message
 * (trimmed) follows them. Tool results use the ipython role. */
static int render_llama31(chat_ctx *c)
{
    span cutoff = {"December 2023", 13};
    literal_until(strstr(c->tmpl, "Cutting Knowledge Date: ") + 24, "\\n", &cutoff);

    size_t first = role_is(c, 0, "system") ? 1 : 0;
    actrm_buf_puts(&c->out, c->bos);
    actrm_buf_puts(&c->out, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: ");
    sb_put_unescaped(&c->out, cutoff);
    actrm_buf_puts(&c->out, "\nToday Date: ");
    llama31_put_today(c);
    actrm_buf_puts(&c->out, "\n\n");
    if (first)
        sb_putspan(&c->out, js_trim(span_of(c->msgs[0].content)));
    actrm_buf_puts(&c->out, "<|eot_id|>");
    for (size_t i = first; i < c->n; i++) {
        if (role_is(c, i, "tool") || role_is(c, i, "ipython"))
            llama31_tool_turn(c, c->msgs[i].content);
        else
            llama3_turn(c, c->msgs[i].role, js_trim(span_of(c->msgs[i].content)));
    }
    if (c->add_generation_prompt)
        actrm_buf_puts(&c->out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return ACTRM_OK;
}

/* Llama 3 (3.0): BOS before the first message, each message trimmed. The
 * original Meta-Llama-3-Instruct template ends with the assistant header
 * unconditionally; later copies test add_generation_prompt. */
static int render_llama3(chat_ctx *c)
{
    if (tmpl_has(c, "Cutting Knowledge Date: "))
        return render_llama31(c);
    for (size_t i = 0; i < c->n; i++) {
        if (i == 0)
            actrm_buf_puts(&c->out, c->bos);
        llama3_turn(c, c->msgs[i].role, js_trim(span_of(c->msgs[i].content)));
    }
    int always_prompt = c->tmpl && !strstr(c->tmpl, "add_generation_prompt");
    if (always_prompt || c->add_generation_prompt)
        actrm_buf_puts(&c->out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return ACTRM_OK;
}

/* -------------------------------------------------------------- Gemma -- */

/* Gemma 3: BOS; a system message becomes a prefix of the first turn; turns
 * must alternate user/model starting with the user; content is trimmed.
 * Gemma 1/2 templates refuse a system message instead. */
static int render_gemma(chat_ctx *c)
{
    static const char alternate[] = "Conversation roles must alternate user/assistant/user/assistant/...";
    actrm_buf_puts(&c->out, c->bos);
    size_t first = 0;
    span prefix = {"", 0};
    if (role_is(c, 0, "system")) {
        if (tmpl_has(c, "System role not supported"))
            return raise_exception(c, "System role not supported");
        prefix = span_of(c->msgs[0].content);
        first = 1;
    }
    for (size_t i = first; i < c->n; i++) {
        size_t k = i - first; /* position among the alternating turns */
        if (role_is(c, i, "user") != (k % 2 == 0))
            return raise_exception(c, alternate);
        actrm_buf_puts(&c->out, "<start_of_turn>");
        actrm_buf_puts(&c->out, role_is(c, i, "assistant") ? "model" : c->msgs[i].role);
        actrm_buf_puts(&c->out, "\n");
        if (k == 0 && first) {
            sb_putspan(&c->out, prefix);
            actrm_buf_puts(&c->out, "\n\n");
        }
        sb_putspan(&c->out, js_trim(span_of(c->msgs[i].content)));
        actrm_buf_puts(&c->out, "<end_of_turn>\n");
    }
    if (c->add_generation_prompt)
        actrm_buf_puts(&c->out, "<start_of_turn>model\n");
    return ACTRM_OK;
}

/* ------------------------------------------------------------ Mistral -- */

#define TOOL_ID_MSG "Tool call IDs should be alphanumeric strings with length 9!"

enum mistral_system { SYSTEM_REFUSED, SYSTEM_FIRST_USER, SYSTEM_LAST_USER };

/* What distinguishes the released Mistral [INST] templates. */
typedef struct mistral_style {
    const char *inst_open;   /* "[INST] " or " [INST] " (v0.1, 2024 revision) */
    const char *inst_close;  /* " [/INST]" (v1 tokenizer) or "[/INST]" (v3) */
    const char *reply_lead;  /* " " in the 2024 revisions, "" in the first v0.2 */
    int trim_reply;          /* v0.3 trims assistant content */
    enum mistral_system system;
    int check_all_first;     /* v0.3 checks alternation before writing anything */
    const char *alternate_msg, *roles_msg;
} mistral_style;

/* Without a template text: the widely used v0.2 layout
 * "<s>[INST] user [/INST]assistant</s>", with a system message put in front
 * of the first user message as Mistral documents for its v1 tokenizer. */
static mistral_style mistral_style_of(const chat_ctx *c)
{
    mistral_style st = {"[INST] ", " [/INST]", "", 0, SYSTEM_FIRST_USER, 0,
                        "After the optional system message, conversation roles must alternate "
                        "user/assistant/user/assistant/...",
                        "Only user and assistant roles are supported, with the exception of an "
                        "initial optional system message!"};
    if (!c->tmpl)
        return st;
    if (tmpl_has(c, "' [INST] '") || tmpl_has(c, "\" [INST] \""))
        st.inst_open = " [INST] ";
    if (!tmpl_has(c, " [/INST]'") && !tmpl_has(c, " [/INST]\""))
        st.inst_close = "[/INST]";
    if (tmpl_has(c, "' ' + message") || tmpl_has(c, "\" \" + message"))
        st.reply_lead = " ";
    st.trim_reply = tmpl_has(c, "[\"content\"]|trim") || tmpl_has(c, "['content']|trim") ||
                    tmpl_has(c, "[\"content\"] | trim") || tmpl_has(c, "['content'] | trim");
    st.system = tmpl_has(c, "loop.last and system_message") ? SYSTEM_LAST_USER
              : tmpl_has(c, "loop.first and system_message") ? SYSTEM_FIRST_USER
              : SYSTEM_REFUSED;
    st.check_all_first = tmpl_has(c, "ns.index");
    if (!tmpl_has(c, "After the optional system message"))
        st.alternate_msg = "Conversation roles must alternate user/assistant/user/assistant/...";
    if (!tmpl_has(c, "with the exception of an initial optional system message"))
        st.roles_msg = "Only user and assistant roles are supported!";
    return st;
}

static int mistral_is_tool(const chat_ctx *c, size_t i)
{
    return role_is(c, i, "tool") || role_is(c, i, "tool_results");
}

/* v0.3 checks alternation over the whole conversation first, not counting
 * tool results. */
static int mistral_check_alternation(chat_ctx *c, const mistral_style *st, size_t first)
{
    size_t k = 0;
    for (size_t i = first; i < c->n; i++) {
        if (mistral_is_tool(c, i))
            continue;
        if (role_is(c, i, "user") != (k++ % 2 == 0))
            return raise_exception(c, st->alternate_msg);
    }
    return ACTRM_OK;
}

static void mistral_user(chat_ctx *c, const mistral_style *st, size_t i, const char *system)
{
    actrm_buf_puts(&c->out, st->inst_open);
    if (system) {
        actrm_buf_puts(&c->out, system);
        actrm_buf_puts(&c->out, "\n\n");
    }
    actrm_buf_puts(&c->out, c->msgs[i].content);
    actrm_buf_puts(&c->out, st->inst_close);
}

static void mistral_assistant(chat_ctx *c, const mistral_style *st, size_t i)
{
    span reply = span_of(c->msgs[i].content);
    actrm_buf_puts(&c->out, st->reply_lead);
    sb_putspan(&c->out, st->trim_reply ? js_trim(reply) : reply);
    actrm_buf_puts(&c->out, c->eos);
}

/* Mistral [INST]: BOS, user turns in [INST] ... [/INST], each assistant reply
 * closed by EOS; roles must alternate from a user turn. The generation
 * prompt is implicit (a rendering ending in [/INST]). */
static int render_mistral(chat_ctx *c)
{
    mistral_style st = mistral_style_of(c);
    size_t first = 0;
    const char *system = NULL;
    if (st.system != SYSTEM_REFUSED && role_is(c, 0, "system")) {
        system = c->msgs[0].content;
        first = 1;
    }
    if (st.check_all_first && mistral_check_alternation(c, &st, first))
        return c->err->status;
    actrm_buf_puts(&c->out, c->bos);
    for (size_t i = first; i < c->n; i++) {
        if (!st.check_all_first && role_is(c, i, "user") != ((i - first) % 2 == 0))
            return raise_exception(c, st.alternate_msg);
        /* v0.3 tool results need a tool_call_id, which plain messages lack. */
        if (st.check_all_first && mistral_is_tool(c, i) && tmpl_has(c, TOOL_ID_MSG))
            return raise_exception(c, TOOL_ID_MSG);
        int gets_system = (st.system == SYSTEM_FIRST_USER && i == first) ||
                          (st.system == SYSTEM_LAST_USER && i + 1 == c->n);
        if (role_is(c, i, "user"))
            mistral_user(c, &st, i, gets_system ? system : NULL);
        else if (role_is(c, i, "assistant"))
            mistral_assistant(c, &st, i);
        else
            return raise_exception(c, st.roles_msg);
    }
    return ACTRM_OK;
}

/* ---------------------------------------------------------- families -- */

typedef struct chat_family {
    const char *name;
    const char *marker; /* template text that identifies the family */
    int (*render)(chat_ctx *c);
} chat_family;

static const chat_family families[] = {
    {"chatml", "<|im_start|>", render_chatml},
    {"llama3", "<|start_header_id|>", render_llama3},
    {"gemma", "<start_of_turn>", render_gemma},
    {"mistral", "[INST]", render_mistral},
};
#define N_FAMILIES (sizeof families / sizeof families[0])
#define FAMILY_LIST "chatml, llama3, gemma, mistral"

static const chat_family *family_detect(const char *tmpl)
{
    for (size_t i = 0; tmpl && i < N_FAMILIES; i++)
        if (strstr(tmpl, families[i].marker))
            return &families[i];
    return NULL;
}

static const chat_family *family_named(const char *name)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(name, families[i].name) == 0)
            return &families[i];
    return NULL;
}

const char *actrm_chat_detect_family(const char *tmpl)
{
    const chat_family *f = family_detect(tmpl);
    return f ? f->name : NULL;
}

/* The family to render with. A family chosen by the caller ignores a
 * template of another family and renders its own default version. */
static int family_choose(const char **tmpl, const actrm_chat_options *opt,
                         const chat_family **out, actrm_error *err)
{
    const chat_family *detected = family_detect(*tmpl);
    if (opt->family) {
        *out = family_named(opt->family);
        if (!*out)
            return actrm_error_set(err, ACTRM_ERR_ARG,
                                   "unknown chat template family '%s' (known: " FAMILY_LIST ")",
                                   opt->family);
        if (detected != *out)
            *tmpl = NULL;
        return ACTRM_OK;
    }
    if (!*tmpl)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "no chat template: choose a family with --chat-template FAMILY "
                               "(" FAMILY_LIST ")");
    if (!detected)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "chat template not recognised as any known family; choose one "
                               "with --chat-template FAMILY (" FAMILY_LIST ")");
    *out = detected;
    return ACTRM_OK;
}

static int messages_check(const actrm_chat_message *msgs, size_t n, actrm_error *err)
{
    if (n > 0 && !msgs)
        return actrm_error_set(err, ACTRM_ERR_ARG, "messages: NULL array of %zu messages", n);
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role)
            return actrm_error_set(err, ACTRM_ERR_ARG, "message %zu: missing 'role'", i + 1);
        if (!msgs[i].content)
            return actrm_error_set(err, ACTRM_ERR_ARG, "message %zu: missing 'content'", i + 1);
    }
    return ACTRM_OK;
}

int actrm_chat_render_template(const char *tmpl, const char *bos, const char *eos,
                               const actrm_chat_message *msgs, size_t n_msgs,
                               const actrm_chat_options *opt, char **out,
                               actrm_error *err)
{
    /* NULL options: detect the family, add the generation prompt, template
     * default for thinking. */
    static const actrm_chat_options defaults = {1, -1, NULL};
    actrm_error local = {0};
    if (!err)
        err = &local;
    actrm_error_clear(err);
    if (!out)
        return actrm_error_set(err, ACTRM_ERR_ARG, "chat render: NULL output pointer");
    *out = NULL;
    if (!opt)
        opt = &defaults;
    const chat_family *family;
    int st = messages_check(msgs, n_msgs, err);
    if (!st)
        st = family_choose(&tmpl, opt, &family, err);
    if (st)
        return st;

    chat_ctx c = {tmpl, bos ? bos : "", eos ? eos : "", msgs, n_msgs,
                  opt->add_generation_prompt, opt->enable_thinking, {0}, err};
    st = family->render(&c);
    if (!st) /* an empty rendering is still a string */
        actrm_buf_append(&c.out, "", 0);
    if (!st && c.out.oom)
        st = actrm_error_set(err, ACTRM_ERR_NOMEM, "chat render: out of memory");
    if (st) {
        free(c.out.p);
        return st;
    }
    *out = c.out.p;
    return ACTRM_OK;
}

/* The public entry: the template and the BOS/EOS strings come from the
 * tokenizer's GGUF; errors land in the tokenizer's errmsg. */
int actrm_tokenizer_chat_render(actrm_tokenizer *tok, const actrm_chat_message *msgs, size_t n_msgs,
                                const actrm_chat_options *options, char **out)
{
    if (!tok) {
        if (out)
            *out = NULL;
        return ACTRM_ERR_ARG;
    }
    const char *bos = actrm_tokenizer_piece(tok, actrm_tokenizer_bos(tok));
    const char *eos = actrm_tokenizer_piece(tok, actrm_tokenizer_eos(tok));
    return actrm_chat_render_template(actrm_tokenizer_chat_template(tok), bos, eos, msgs, n_msgs,
                                      options, out, actrm_tokenizer_error(tok));
}
