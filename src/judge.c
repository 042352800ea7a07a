/* The judge: template, prompt rendering, answer tokens, and evaluation of a
 * prompt's last token over a cached shared prefix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "steer.h"
#include "tokenizer.h"
#include "util.h"

/* -------------------------------------------------------------- template -- */

void judge_template_free(judge_template *t)
{
    if (!t)
        return;
    free(t->query), free(t->yes), free(t->no), free(t->shot_end), free(t->system);
    memset(t, 0, sizeof *t);
    t->chat = JUDGE_CHAT_AUTO;
}

static int parse_chat_mode(const cJSON *v, int *mode)
{
    if (!v) {
        *mode = JUDGE_CHAT_AUTO;
        return 1;
    }
    if (cJSON_IsBool(v)) {
        *mode = cJSON_IsTrue(v) ? JUDGE_CHAT_ALWAYS : JUDGE_CHAT_NEVER;
        return 1;
    }
    if (!cJSON_IsString(v))
        return 0;
    const char *s = v->valuestring;
    *mode = !strcmp(s, "auto") ? JUDGE_CHAT_AUTO : !strcmp(s, "always") ? JUDGE_CHAT_ALWAYS
          : !strcmp(s, "never") ? JUDGE_CHAT_NEVER : 2;
    return *mode != 2;
}

/* Copies an optional string field: 1 on success (*out NULL if absent), 0
 * if present with another type, -1 when out of memory. */
static int take_string(const cJSON *obj, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v))
        return 0;
    *out = strdup(v->valuestring);
    return *out ? 1 : -1;
}

static int take_token(const cJSON *obj, const char *key, int32_t *out, int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = v != NULL;
    if (!v)
        return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT32_MAX ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (int32_t)v->valuedouble;
    return 1;
}

/* 1 when every field is valid, 0 with *bad naming the first invalid one,
 * -1 when out of memory. */
static int template_fields(judge_template *t, const cJSON *j, const char **bad)
{
    static const char *known[] = {"query", "yes", "no", "shot_end", "system", "chat",
                                  "yes_token", "no_token", "description", NULL};
    for (const cJSON *it = j->child; it; it = it->next) {
        int ok = 0;
        for (const char **k = known; *k && !ok; k++)
            ok = !strcmp(it->string, *k);
        if (!ok)
            return *bad = it->string, 0;
    }
    static const char *strings[] = {"query", "yes", "no", "shot_end", "system"};
    char **dst[] = {&t->query, &t->yes, &t->no, &t->shot_end, &t->system};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        int ok = take_string(j, strings[i], dst[i]);
        if (ok <= 0)
            return ok < 0 ? -1 : (*bad = strings[i], 0);
    }
    int has_yes = 0, has_no = 0;
    if (!t->query)
        return *bad = "query", 0;
    if (!parse_chat_mode(cJSON_GetObjectItemCaseSensitive(j, "chat"), &t->chat))
        return *bad = "chat", 0;
    if (!take_token(j, "yes_token", &t->yes_token, &has_yes))
        return *bad = "yes_token", 0;
    if (!take_token(j, "no_token", &t->no_token, &has_no))
        return *bad = "no_token", 0;
    if (has_yes != has_no)
        return *bad = has_yes ? "no_token" : "yes_token", 0;
    t->has_tokens = has_yes;
    if (!strstr(t->query, "{response}"))
        return *bad = "query", 0;
    return 1;
}

int judge_template_parse(judge_template *t, const char *json, const char *origin,
                         actrm_error *err)
{
    memset(t, 0, sizeof *t);
    t->chat = JUDGE_CHAT_AUTO;
    cJSON *j;
    int st = actrm_json_parse(json, strlen(json), origin, &j, err);
    if (st)
        return st;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: judge template is not a JSON object",
                               origin);
    }
    const char *bad = NULL;
    int ok = template_fields(t, j, &bad);
    char badcopy[128] = "";
    if (!ok)
        snprintf(badcopy, sizeof badcopy, "%s", bad);
    cJSON_Delete(j);
    if (ok > 0)
        return ACTRM_OK;
    judge_template_free(t);
    if (ok < 0)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", origin);
    return actrm_error_set(err, ACTRM_ERR_FORMAT,
                           "%s: judge template field \"%s\" is missing, unknown or invalid "
                           "(query: a string with {response}; yes/no/shot_end/system: strings; "
                           "chat: auto|always|never; yes_token/no_token: both, ids)",
                           origin, badcopy);
}

int judge_template_default(judge_template *t, int chat)
{
    memset(t, 0, sizeof *t);
    t->chat = JUDGE_CHAT_AUTO;
    t->query = strdup(chat ? "Here is a prompt and a response.\n\nPrompt: {prompt}\n"
                             "Response: {response}\n\nIs the response good? Answer Yes or No."
                           : "Prompt: {prompt}\nResponse: {response}\n"
                             "Is the response good? Answer Yes or No.\nAnswer:");
    return t->query ? ACTRM_OK : ACTRM_ERR_NOMEM;
}

char *judge_template_json(const judge_template *t)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    static const char *modes[] = {"never", "always"};
    cJSON_AddStringToObject(j, "query", t->query);
    if (t->yes)
        cJSON_AddStringToObject(j, "yes", t->yes);
    if (t->no)
        cJSON_AddStringToObject(j, "no", t->no);
    if (t->shot_end)
        cJSON_AddStringToObject(j, "shot_end", t->shot_end);
    if (t->system)
        cJSON_AddStringToObject(j, "system", t->system);
    cJSON_AddStringToObject(j, "chat", t->chat == JUDGE_CHAT_AUTO ? "auto" : modes[t->chat]);
    if (t->has_tokens) {
        cJSON_AddNumberToObject(j, "yes_token", t->yes_token);
        cJSON_AddNumberToObject(j, "no_token", t->no_token);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

char *judge_fill(const char *query, const char *prompt, const char *response)
{
    static const char *keys[2] = {"{prompt}", "{response}"};
    const char *vals[2] = {prompt ? prompt : "", response ? response : ""};
    size_t len = 0;
    /* Two passes over the same loop: measure, then copy. */
    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? malloc(len + 1) : NULL;
        if (pass && !out)
            return NULL;
        size_t n = 0;
        for (const char *q = query; *q;) {
            int hit = -1;
            for (int k = 0; k < 2 && hit < 0; k++)
                if (!strncmp(q, keys[k], strlen(keys[k])))
                    hit = k;
            size_t add = hit < 0 ? 1 : strlen(vals[hit]);
            if (pass)
                memcpy(out + n, hit < 0 ? q : vals[hit], add);
            n += add;
            q += hit < 0 ? 1 : strlen(keys[hit]);
        }
        if (pass) {
            out[n] = 0;
            return out;
        }
        len = n;
    }
    return NULL;
}

/* ------------------------------------------------------------- rendering -- */

static const char *answer_text(const actrm_judge *j, int label)
{
    return label ? j->tmpl.yes : j->tmpl.no;
}

/* The answer without surrounding white space, for an assistant turn. */
static char *trimmed(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

static int render_plain(actrm_judge *j, const actrm_example *shots, size_t n_shots,
                        const char *prompt, const char *response, char **text)
{
    actrm_buf b = {0};
    for (size_t i = 0; i < n_shots; i++) {
        char *q = judge_fill(j->tmpl.query, shots[i].prompt, shots[i].response);
        if (!q) {
            b.oom = 1;
            break;
        }
        actrm_buf_puts(&b, q);
        actrm_buf_puts(&b, answer_text(j, shots[i].label));
        actrm_buf_puts(&b, j->tmpl.shot_end);
        free(q);
    }
    char *q = judge_fill(j->tmpl.query, prompt, response);
    if (q)
        actrm_buf_puts(&b, q);
    free(q);
    if (!q || b.oom) {
        free(b.p);
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge prompt: out of memory");
    }
    *text = b.p;
    return ACTRM_OK;
}

static int render_chat(actrm_judge *j, const actrm_example *shots, size_t n_shots,
                       const char *prompt, const char *response, char **text)
{
    size_t n_msg = 2 * n_shots + 2, m = 0;
    actrm_chat_message *msgs = calloc(n_msg, sizeof *msgs);
    char **owned = calloc(n_msg, sizeof *owned); /* strings to free */
    int st = ACTRM_OK;
    if (!msgs || !owned)
        st = ACTRM_ERR_NOMEM;
    if (!st && j->tmpl.system)
        msgs[m++] = (actrm_chat_message){"system", j->tmpl.system};
    for (size_t i = 0; i < n_shots && !st; i++) {
        owned[2 * i] = judge_fill(j->tmpl.query, shots[i].prompt, shots[i].response);
        owned[2 * i + 1] = trimmed(answer_text(j, shots[i].label));
        msgs[m++] = (actrm_chat_message){"user", owned[2 * i]};
        msgs[m++] = (actrm_chat_message){"assistant", owned[2 * i + 1]};
        if (!owned[2 * i] || !owned[2 * i + 1])
            st = ACTRM_ERR_NOMEM;
    }
    char *q = st ? NULL : judge_fill(j->tmpl.query, prompt, response);
    if (!st && !q)
        st = ACTRM_ERR_NOMEM;
    if (!st) {
        msgs[m++] = (actrm_chat_message){"user", q};
        actrm_chat_options co = {.add_generation_prompt = 1, .enable_thinking = -1};
        st = actrm_tokenizer_chat_render(j->tok, msgs, m, &co, text);
        if (st)
            actrm_error_set(&j->err, st, "judge prompt: chat template: %s",
                            actrm_tokenizer_errmsg(j->tok));
    }
    free(q);
    for (size_t i = 0; owned && i < n_msg; i++)
        free(owned[i]);
    free(owned);
    free(msgs);
    if (st == ACTRM_ERR_NOMEM)
        return actrm_error_set(&j->err, st, "judge prompt: out of memory");
    return st;
}

int actrm_judge_render(actrm_judge *j, const actrm_example *shots, size_t n_shots,
                       const char *prompt, const char *response, char **text)
{
    *text = NULL;
    if (!response)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "judge prompt: no response given");
    return j->use_chat ? render_chat(j, shots, n_shots, prompt, response, text)
                       : render_plain(j, shots, n_shots, prompt, response, text);
}

static int encode_text(actrm_judge *j, const char *text, int32_t **ids, int *n_ids)
{
    size_t n = 0;
    /* Chat templates write BOS themselves; plain text gets the tokenizer's. */
    int flags = j->use_chat ? 0 : ACTRM_ENCODE_ADD_SPECIAL;
    int st = actrm_tokenizer_encode(j->tok, text, strlen(text), flags, ids, &n);
    if (st)
        return actrm_error_set(&j->err, st, "judge prompt: tokenizer: %s",
                               actrm_tokenizer_errmsg(j->tok));
    if (n == 0 || n > INT32_MAX) {
        free(*ids);
        *ids = NULL;
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "judge prompt: encodes to %zu tokens", n);
    }
    *n_ids = (int)n;
    return ACTRM_OK;
}

int judge_tokens(actrm_judge *j, const actrm_example *shots, size_t n_shots,
                 const char *prompt, const char *response, int32_t **ids, int *n_ids)
{
    char *text = NULL;
    *ids = NULL;
    int st = actrm_judge_render(j, shots, n_shots, prompt, response, &text);
    if (!st)
        st = encode_text(j, text, ids, n_ids);
    free(text);
    return st;
}

/* --------------------------------------------------------- answer tokens -- */

/* The token that starts `answer` right after the prompt for a fixed example:
 * tokenize the prompt alone and prompt + answer; the prompt's tokens must be
 * a prefix of the latter, and the next token is the answer token. */
static int derive_answer_token(actrm_judge *j, const char *answer, int32_t *id)
{
    static const char *ex_prompt = "What is the capital of France?";
    static const char *ex_response = "Paris.";
    char *text = NULL;
    int32_t *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    int st = actrm_judge_render(j, NULL, 0, ex_prompt, ex_response, &text);
    if (st)
        return st;
    char *ans = j->use_chat ? trimmed(answer) : strdup(answer);
    actrm_buf full = {0};
    actrm_buf_puts(&full, text);
    actrm_buf_puts(&full, ans ? ans : "");
    if (!ans || full.oom)
        st = actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
    if (!st)
        st = encode_text(j, text, &a, &na);
    if (!st)
        st = encode_text(j, full.p, &b, &nb);
    if (!st && (nb <= na || memcmp(a, b, (size_t)na * sizeof *a) != 0))
        st = actrm_error_set(&j->err, ACTRM_ERR_UNSUPPORTED,
                             "judge template: the answer \"%s\" does not start a new token "
                             "after the prompt (it merges with the prompt's last token); "
                             "give yes_token/no_token explicitly",
                             ans);
    if (!st)
        *id = b[na];
    free(text), free(ans), free(full.p), free(a), free(b);
    return st;
}

static int resolve_answers(actrm_judge *j, const actrm_judge_options *opt)
{
    judge_template *t = &j->tmpl;
    if (!t->yes)
        t->yes = strdup(j->use_chat ? "Yes" : " Yes");
    if (!t->no)
        t->no = strdup(j->use_chat ? "No" : " No");
    if (!t->shot_end)
        t->shot_end = strdup("\n");
    if (!t->yes || !t->no || !t->shot_end)
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
    if (opt && opt->override_answers) {
        t->has_tokens = 1;
        t->yes_token = opt->yes_token;
        t->no_token = opt->no_token;
    }
    int st = ACTRM_OK;
    if (t->has_tokens) {
        j->yes_id = t->yes_token;
        j->no_id = t->no_token;
    } else {
        st = derive_answer_token(j, t->yes, &j->yes_id);
        if (!st)
            st = derive_answer_token(j, t->no, &j->no_id);
    }
    if (st)
        return st;
    if (j->yes_id < 0 || j->yes_id >= j->n_vocab || j->no_id < 0 || j->no_id >= j->n_vocab ||
        j->yes_id == j->no_id)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG,
                               "judge: answer tokens yes=%d no=%d must be distinct ids below %d",
                               (int)j->yes_id, (int)j->no_id, j->n_vocab);
    return ACTRM_OK;
}

/* ---------------------------------------------------------------- handle -- */

static int load_template(actrm_judge *j, const actrm_judge_options *opt)
{
    if (opt && opt->template_text)
        return judge_template_parse(&j->tmpl, opt->template_text, "judge template", &j->err);
    if (opt && opt->steer)
        return judge_template_parse(&j->tmpl, opt->steer->info.template_text,
                                    "steering file template", &j->err);
    int chat = actrm_tokenizer_chat_template(j->tok) != NULL;
    if (judge_template_default(&j->tmpl, chat))
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
    return ACTRM_OK;
}

static int judge_setup(actrm_judge *j, const actrm_judge_options *opt)
{
    const actrm_model_info *mi = actrm_model_get_info(j->model);
    j->n_layer = mi->n_layer;
    j->n_head = mi->n_head;
    j->head_dim = mi->head_dim;
    j->n_vocab = mi->n_vocab;
    j->n_threads = opt ? opt->n_threads : 0;
    int st = load_template(j, opt);
    if (st)
        return st;
    int has_chat = actrm_tokenizer_chat_template(j->tok) != NULL;
    j->use_chat = j->tmpl.chat == JUDGE_CHAT_ALWAYS || (j->tmpl.chat == JUDGE_CHAT_AUTO && has_chat);
    st = resolve_answers(j, opt);
    if (st)
        return st;
    if (opt && opt->steer && opt->steer->info.yes_token >= 0 && !opt->override_answers &&
        !opt->template_text) {
        j->yes_id = opt->steer->info.yes_token;
        j->no_id = opt->steer->info.no_token;
    }
    j->tmpl_json = judge_template_json(&j->tmpl);
    if (!j->tmpl_json)
        return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
    return ACTRM_OK;
}

int actrm_judge_init(actrm_judge **out, const actrm_model *model, actrm_tokenizer *tok,
                     const actrm_judge_options *opt)
{
    *out = NULL;
    actrm_judge *j = calloc(1, sizeof *j);
    if (!j)
        return ACTRM_ERR_NOMEM;
    j->model = model;
    j->tok = tok;
    *out = j;
    if (!model || !tok)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "judge: model and tokenizer are required");
    return judge_setup(j, opt);
}

void actrm_judge_free(actrm_judge *j)
{
    if (!j)
        return;
    judge_release_slots(j);
    actrm_session_free(j->main.sess);
    free(j->main.tok);
    judge_template_free(&j->tmpl);
    free(j->tmpl_json), free(j->logits), free(j->heads);
    free(j);
}

const char *actrm_judge_errmsg(const actrm_judge *j) { return j ? j->err.msg : ""; }

void actrm_judge_answer_tokens(const actrm_judge *j, int32_t *yes, int32_t *no)
{
    *yes = j->yes_id;
    *no = j->no_id;
}

/* ------------------------------------------------------------ evaluation -- */

/* Makes sure c's session holds n positions (at least min_ctx), growing it
 * (and dropping the cache) if needed. */
static int ensure_context(actrm_judge *j, judge_cache *c, int n, int min_ctx)
{
    if (c->sess && n <= c->n_ctx)
        return ACTRM_OK;
    const actrm_model_info *mi = actrm_model_get_info(j->model);
    if (mi->n_ctx_train > 0 && n > mi->n_ctx_train)
        return actrm_error_set(&j->err, ACTRM_ERR_LIMIT,
                               "judge prompt of %d tokens exceeds the model's context (%d)", n,
                               mi->n_ctx_train);
    int cap = c->n_ctx > 0 ? c->n_ctx : min_ctx;
    while (cap < n)
        cap *= 2;
    if (mi->n_ctx_train > 0 && cap > mi->n_ctx_train)
        cap = mi->n_ctx_train;
    actrm_session_free(c->sess);
    c->sess = NULL;
    c->n = 0;
    int st = actrm_session_init(&c->sess, j->model, cap, j->n_threads);
    if (st) {
        actrm_error_set(&j->err, st, "judge: session: %s", actrm_session_errmsg(c->sess));
        actrm_session_free(c->sess);
        c->sess = NULL;
        return st;
    }
    c->n_ctx = cap;
    return ACTRM_OK;
}

static int ensure_buffers(actrm_judge *j, int n_branch, int want_heads)
{
    size_t V = (size_t)j->n_vocab, zh = (size_t)j->n_layer * j->n_head * j->head_dim;
    if (n_branch > j->cap_branch) {
        float *l = realloc(j->logits, (size_t)n_branch * V * sizeof *l);
        if (!l)
            return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory for logits");
        j->logits = l;
        j->cap_branch = n_branch;
    }
    if (want_heads && n_branch > j->cap_heads) {
        float *h = realloc(j->heads, (size_t)n_branch * zh * sizeof *h);
        if (!h)
            return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory for heads");
        j->heads = h;
        j->cap_heads = n_branch;
    }
    return ACTRM_OK;
}

/* Brings c's session to hold exactly ids[0..n), reusing the cached prefix. */
static int set_prefix(actrm_judge *j, judge_cache *c, const int32_t *ids, int n)
{
    int k = 0;
    while (k < n && k < c->n && c->tok[k] == ids[k])
        k++;
    int st = actrm_session_truncate(c->sess, k);
    c->n = k;
    if (!st && n > k)
        st = actrm_session_eval(c->sess, ids + k, n - k, NULL);
    if (st)
        return actrm_error_set(&j->err, st, "judge: %s", actrm_session_errmsg(c->sess));
    if (n > c->cap) {
        int32_t *nt = realloc(c->tok, (size_t)n * sizeof *nt);
        if (!nt) {
            actrm_session_truncate(c->sess, k);
            return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
        }
        c->tok = nt;
        c->cap = n;
    }
    memcpy(c->tok + k, ids + k, (size_t)(n - k) * sizeof *ids);
    c->n = n;
    return ACTRM_OK;
}

static int eval_last_in(actrm_judge *j, judge_cache *c, int min_ctx, const int32_t *ids, int n,
                        int n_branch, const actrm_patch_set *sets, int want_heads)
{
    static const actrm_patch_set none = {NULL, 0};
    if (n <= 0 || n_branch <= 0)
        return actrm_error_set(&j->err, ACTRM_ERR_ARG, "judge: empty prompt or no branches");
    int st = ensure_context(j, c, n, min_ctx);
    if (!st)
        st = ensure_buffers(j, n_branch, want_heads);
    if (!st)
        st = set_prefix(j, c, ids, n - 1);
    if (st)
        return st;
    st = actrm_session_eval_branches(c->sess, ids[n - 1], n_branch, sets ? sets : &none,
                                     j->logits, want_heads ? j->heads : NULL);
    if (st)
        return actrm_error_set(&j->err, st, "judge: %s", actrm_session_errmsg(c->sess));
    return ACTRM_OK;
}

/* A fresh session starts at this many positions and doubles as needed. */
#define MAIN_MIN_CTX 256

int judge_eval_last(actrm_judge *j, const int32_t *ids, int n, int n_branch,
                    const actrm_patch_set *sets, int want_heads)
{
    return eval_last_in(j, &j->main, MAIN_MIN_CTX, ids, n, n_branch, sets, want_heads);
}

int judge_eval_last_slot(actrm_judge *j, int slot, int n_slots, const int32_t *ids, int n,
                         int n_branch, const actrm_patch_set *sets)
{
    if (!j->slots || j->n_slots != n_slots) {
        judge_release_slots(j);
        j->slots = calloc((size_t)n_slots, sizeof *j->slots);
        if (!j->slots)
            return actrm_error_set(&j->err, ACTRM_ERR_NOMEM, "judge: out of memory");
        j->n_slots = n_slots;
    }
    /* Sized to the prompt, with room for a whole batch of branches. */
    return eval_last_in(j, &j->slots[slot], n_branch > 16 ? n_branch : 16, ids, n, n_branch,
                        sets, 0);
}

void judge_release_slots(actrm_judge *j)
{
    for (int i = 0; i < j->n_slots; i++) {
        actrm_session_free(j->slots[i].sess);
        free(j->slots[i].tok);
    }
    free(j->slots);
    j->slots = NULL;
    j->n_slots = 0;
}

float judge_reward(const actrm_judge *j, const float *logits)
{
    return logits[j->yes_id] - logits[j->no_id];
}

float judge_answer_loss(const actrm_judge *j, const float *logits, int label)
{
    float mx = logits[0];
    for (int v = 1; v < j->n_vocab; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    double s = 0;
    for (int v = 0; v < j->n_vocab; v++)
        s += exp((double)(logits[v] - mx));
    double lse = mx + log(s);
    return (float)(lse - logits[label ? j->yes_id : j->no_id]);
}

int judge_reward_full(actrm_judge *j, const int32_t *ids, int n,
                      const actrm_head_patch *patches, int n_patches, float *reward)
{
    judge_cache *c = &j->main;
    int st = ensure_context(j, c, n, MAIN_MIN_CTX);
    if (!st)
        st = ensure_buffers(j, 1, 0);
    if (st)
        return st;
    c->n = 0;
    actrm_eval_request req = {.logits = j->logits, .patches = patches,
                              .n_patches = n_patches, .patch_pos = n - 1};
    st = actrm_session_truncate(c->sess, 0);
    if (!st)
        st = actrm_session_eval(c->sess, ids, n, &req);
    /* Nothing of this run is kept: the cache is empty again. */
    if (!st)
        st = actrm_session_truncate(c->sess, 0);
    if (st)
        return actrm_error_set(&j->err, st, "judge: %s", actrm_session_errmsg(c->sess));
    *reward = judge_reward(j, j->logits);
    return ACTRM_OK;
}
