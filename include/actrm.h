/*
 * actrm.h — public API of actrm, a CPU-only transformer inference library for
 * activation reward models (arXiv 2507.01368).
 *
 * Overview
 * --------
 * A model is a GGUF file (written by `actrm convert` or by llama.cpp's
 * converter) for the architectures `llama`, `qwen2` and `qwen3`. It is mapped
 * read-only; weights may be F32, F16, BF16 or Q8_0.
 *
 *   actrm_model     the weights and hyper-parameters of one GGUF file.
 *   actrm_session   a KV cache plus scratch buffers for one sequence. A session
 *                   grows by actrm_session_eval() calls and can be cut back with
 *                   actrm_session_truncate(), so several continuations can share
 *                   one evaluated prefix.
 *   actrm_tokenizer text <-> token ids and chat-template rendering, read from
 *                   the same GGUF file.
 *   actrm_judge     a model and its tokenizer bound to a judge prompt, which
 *                   scores responses (activation reward models, below).
 *   actrm_steer     steering data for a judge: mean head activations and the
 *                   heads selected to patch, kept in a small GGUF file.
 *
 * Sections of this header, in order:
 *   status      enum actrm_status and actrm_status_string()
 *   model       actrm_model_*: open a GGUF model, read its hyper-parameters
 *   session     actrm_session_*: evaluate tokens; capture and patch activations
 *   tokenizer   actrm_tokenizer_*: encode and decode as Hugging Face does
 *   chat        actrm_tokenizer_chat_render(): the model's chat template
 *   converter   actrm_hf_convert(): Hugging Face directory -> GGUF
 *   reward      activation reward models: the judge (actrm_judge_*), steering
 *               data (extract, select, save and load: actrm_steer_*),
 *               scoring, and evaluation helpers (ICL shots, pairwise accuracy)
 *   misc        actrm_isa_name(): the kernel path in use
 *
 * A reward-model run, in short:
 *   actrm_model_init(&model, "m.gguf");  actrm_tokenizer_init(&tok, "m.gguf");
 *   actrm_judge_init(&judge, model, tok, NULL);
 *   actrm_judge_extract(judge, shots, n, &opt, &steer);       (mean z)
 *   actrm_judge_select(judge, steer, shots, n, &opt);         (heads)
 *   actrm_steer_save(steer, "steer.gguf");
 *   actrm_judge_score(judge, steer, prompt, response, &reward);
 *   then the *_free() calls in reverse order.
 *
 * Open activations. Every call of actrm_session_eval() can capture, at chosen
 * positions of the batch: logits, every head's output z (the input of o_proj,
 * head_dim floats per head, after attention), and the residual stream after
 * each layer. It can also replace z of chosen (layer, head) pairs at one
 * position with given vectors before o_proj ("patching"); nothing else changes.
 *
 * Conventions
 *   - Every function that can fail returns an int status (enum actrm_status);
 *     0 is success. actrm_status_string() names a status; the handle's
 *     *_errmsg() function gives the last error message in full (naming the
 *     file, key, tensor or argument at fault).
 *   - Each *_init() has a matching *_free(); *_free(NULL) is a no-op. When an
 *     *_init() fails with anything but ACTRM_ERR_NOMEM, it still returns a
 *     handle so that its errmsg can be read; free it afterwards. A handle
 *     whose init failed is good for nothing else.
 *   - A handle made from another (session from model, judge from model and
 *     tokenizer) keeps a pointer to it: free the dependent handle first.
 *     Any other pointer passed in is used only during the call.
 *   - Memory the library returns through `char **` or `int32_t **` arguments is
 *     owned by the caller and released with free().
 *   - The library never exits or aborts on bad input. Handles are not safe to
 *     use from several threads at once; distinct handles are independent.
 *   - Results are bit-identical for any thread count.
 */
#ifndef ACTRM_H
#define ACTRM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ACTRM_VERSION "0.1.0"

/* --------------------------------------------------------------- status -- */

/* Status codes. Negative values are never returned. */
enum actrm_status {
    ACTRM_OK = 0,
    ACTRM_ERR_IO,          /* a file could not be opened, read or written */
    ACTRM_ERR_FORMAT,      /* malformed input: bad GGUF, JSON, safetensors, ... */
    ACTRM_ERR_UNSUPPORTED, /* well-formed but not supported (architecture, type, option) */
    ACTRM_ERR_NOMEM,       /* out of memory */
    ACTRM_ERR_ARG,         /* invalid argument passed by the caller */
    ACTRM_ERR_MISMATCH,    /* data made for another model (e.g. a steering file) */
    ACTRM_ERR_LIMIT,       /* a capacity was exceeded (context length, ...) */
    ACTRM_ERR_CPU          /* the requested instruction set is not available */
};

/* A static, human-readable name for a status code ("ok", "I/O error", ...);
 * "unknown status" for any other value. Never NULL. */
const char *actrm_status_string(int status);

/* ---------------------------------------------------------------- model -- */

typedef struct actrm_model actrm_model;

/* Hyper-parameters of a loaded model. Strings point into the model and live
 * as long as it does. */
typedef struct actrm_model_info {
    const char *arch;     /* "llama", "qwen2" or "qwen3" */
    const char *name;     /* general.name, or "" */
    int n_layer;          /* L */
    int n_embd;           /* D, width of the residual stream */
    int n_head;           /* H, query heads */
    int n_head_kv;        /* KV heads (GQA: query head h uses kv head h/(H/KV)) */
    int head_dim;         /* hd */
    int n_ff;             /* MLP width */
    int n_vocab;          /* V */
    int n_ctx_train;      /* context length the model was trained with */
    int weight_type;      /* dominant weight type: 0 F32, 1 F16, 8 Q8_0, 30 BF16 */
    uint64_t content_hash;/* identifies the weights: 64-bit FNV-1a over every
                             tensor's name, type, shape and a strided sample
                             of its bytes (cheap: no full read of the file) */
} actrm_model_info;

/* Opens a GGUF model file and checks every tensor it needs. The tensor data
 * is read once into private memory backed by huge pages where the kernel
 * allows, and where the kernels gain from it (AVX2, AVX-512, NEON) F16 and
 * BF16 matrices are reordered there 16 rows at a time, which makes
 * generation much faster and changes no result bit; resident size stays the
 * file's data section. With the environment variable ACTRM_MMAP=1 the
 * weights are used straight from a read-only mapping of the file instead
 * (shared page cache, nothing read up front, slower few-token matmuls). On success *out is a ready
 * model. On failure *out is a handle holding the error message (NULL only
 * for ACTRM_ERR_NOMEM); a file that cannot be read is ACTRM_ERR_IO. */
int actrm_model_init(actrm_model **out, const char *gguf_path);

/* Releases a model. Sessions made from it must be freed first. */
void actrm_model_free(actrm_model *model);

/* The last error message of this model handle ("" if none, or for NULL). */
const char *actrm_model_errmsg(const actrm_model *model);

/* The model's hyper-parameters, valid while the model lives; NULL for a
 * model whose init failed, never NULL for one that opened. */
const actrm_model_info *actrm_model_get_info(const actrm_model *model);

/* -------------------------------------------------------------- session -- */

typedef struct actrm_session actrm_session;

/* Creates a session (KV cache and scratch) able to hold n_ctx positions,
 * 1 <= n_ctx <= 2^22. n_threads <= 0 means all cores. Results never depend
 * on n_threads. Fails with ACTRM_ERR_ARG for a bad n_ctx or a model whose
 * init failed, ACTRM_ERR_CPU when ACTRM_ISA forces a kernel path this CPU
 * lacks. The model must outlive the session. */
int actrm_session_init(actrm_session **out, const actrm_model *model,
                       int n_ctx, int n_threads);

/* Releases a session (NULL: no-op). */
void actrm_session_free(actrm_session *session);

/* The last error message of this session ("" if none, or for NULL). */
const char *actrm_session_errmsg(const actrm_session *session);

/* Number of positions already in the KV cache. */
int actrm_session_n_past(const actrm_session *session);

/* Forgets every position at or after n_past (0 <= n_past <= current, else
 * ACTRM_ERR_ARG). Cheap: later evals overwrite the forgotten cache. */
int actrm_session_truncate(actrm_session *session, int n_past);

/* One head's replacement: z of (layer, head) becomes the head_dim floats at z. */
typedef struct actrm_head_patch {
    int layer;
    int head;
    const float *z; /* [head_dim] */
} actrm_head_patch;

/* What one actrm_session_eval() call returns and changes. Zero-initialise and
 * set only what is needed. "Output positions" are indices into the batch.
 *
 *   out_pos/n_out  the output positions. out_pos == NULL means: all positions
 *                  of the batch if all_positions is set, else the last one.
 *   logits         [n_out, V]        or NULL (the LM head then runs nowhere)
 *   heads          [L, n_out, H, hd] head outputs z, or NULL
 *   hidden         [L+1, n_out, D]   hidden[0] = embeddings, hidden[l+1] =
 *                                    residual after layer l, or NULL
 *   patches        n_patches replacements applied at batch index patch_pos.
 *                  The captured heads show the patched values.
 */
typedef struct actrm_eval_request {
    const int *out_pos;
    int n_out;
    int all_positions;
    float *logits;
    float *heads;
    float *hidden;
    const actrm_head_patch *patches;
    int n_patches;
    int patch_pos;
} actrm_eval_request;

/* Appends n_tokens tokens to the session in one batch (positions n_past ..
 * n_past+n_tokens-1) and fills what req asks for. req may be NULL (only the
 * KV cache is extended). Fails with ACTRM_ERR_LIMIT if the context is full,
 * ACTRM_ERR_ARG for out-of-range token ids, positions or heads. */
int actrm_session_eval(actrm_session *session, const int32_t *tokens,
                       int n_tokens, const actrm_eval_request *req);

/* A set of head patches for one branch of actrm_session_eval_branches(). */
typedef struct actrm_patch_set {
    const actrm_head_patch *patches;
    int n_patches;
} actrm_patch_set;

/* Evaluates n_branch independent one-token continuations of the current
 * session: each feeds `token` at position n_past with its own patch set
 * (applied at that position) and writes its logits to logits[b*V..]. The KV
 * cache is not extended. This is how many patch sets are scored over one
 * shared prefix in a single batch. heads may be NULL or [L, n_branch, H, hd];
 * logits may be NULL; sets may be NULL (no branch patched). The results equal
 * those of truncating to n_past and evaluating `token` with each patch set. */
int actrm_session_eval_branches(actrm_session *session, int32_t token,
                                int n_branch, const actrm_patch_set *sets,
                                float *logits, float *heads);

/* ------------------------------------------------------------ tokenizer -- */

typedef struct actrm_tokenizer actrm_tokenizer;

/* Loads the tokenizer (and chat template) stored in a GGUF file: one written
 * by `actrm convert`, or a llama.cpp GGUF with tokenizer.ggml.* keys.
 * Unsupported tokenizer models are ACTRM_ERR_UNSUPPORTED naming the key. */
int actrm_tokenizer_init(actrm_tokenizer **out, const char *gguf_path);

/* Releases a tokenizer (NULL: no-op). Judges using it must be freed first. */
void actrm_tokenizer_free(actrm_tokenizer *tok);

/* The last error message of this tokenizer, also of chat rendering; never
 * NULL. */
const char *actrm_tokenizer_errmsg(const actrm_tokenizer *tok);

/* Flags for actrm_tokenizer_encode(). */
enum {
    ACTRM_ENCODE_ADD_SPECIAL = 1 /* add BOS/EOS as the tokenizer's post-processor does */
};

/* Encodes len bytes of text (need not be NUL-terminated). Added/special
 * tokens written in the text are recognised. Invalid UTF-8 never fails:
 * each maximal ill-formed subsequence (a stray byte, a truncated sequence;
 * overlong forms and surrogates byte by byte) is read as one U+FFFD, which
 * is the text Python's bytes.decode("utf-8", errors="replace") hands to a
 * Hugging Face tokenizer. *ids is malloc'ed (non-NULL even when *n_ids
 * is 0). */
int actrm_tokenizer_encode(actrm_tokenizer *tok, const char *text, size_t len,
                           int flags, int32_t **ids, size_t *n_ids);

/* Decodes ids to text, keeping special tokens, as Hugging Face's decode
 * does (including clean_up_tokenization_spaces when the tokenizer sets it).
 * The text is always valid UTF-8: bytes that do not form a character (e.g.
 * a character cut between ids) become U+FFFD. An id outside
 * 0..n_vocab-1 is ACTRM_ERR_ARG. *text is malloc'ed and NUL-terminated;
 * *len (may be NULL) excludes the NUL. */
int actrm_tokenizer_decode(actrm_tokenizer *tok, const int32_t *ids,
                           size_t n_ids, char **text, size_t *len);

/* Vocabulary size (0 for NULL or a tokenizer whose init failed). */
int actrm_tokenizer_n_vocab(const actrm_tokenizer *tok);
/* The id of one exact token string, or -1. */
int32_t actrm_tokenizer_piece_id(const actrm_tokenizer *tok, const char *piece);
/* The BOS and EOS token ids, or -1 if the tokenizer has none. */
int32_t actrm_tokenizer_bos(const actrm_tokenizer *tok);
int32_t actrm_tokenizer_eos(const actrm_tokenizer *tok);

/* ------------------------------------------------------------------ chat -- */

typedef struct actrm_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content;
} actrm_chat_message;

typedef struct actrm_chat_options {
    int add_generation_prompt; /* append the assistant header */
    int enable_thinking;       /* -1: template default, 0: off, 1: on */
    const char *family;        /* NULL: detect from the template; else
                                  "chatml", "llama3", "gemma" or "mistral" */
} actrm_chat_options;

/* Renders a conversation with the chat template stored in the tokenizer's
 * GGUF (tokenizer.chat_template), byte for byte as Hugging Face's Jinja
 * rendering of that template. options may be NULL (generation prompt added,
 * thinking at the template default, family detected). Fails with
 * ACTRM_ERR_UNSUPPORTED when the template's family is not recognised (set
 * options->family then), or when the GGUF has no template and no family is
 * given; ACTRM_ERR_ARG for a conversation the template refuses (its
 * raise_exception message). Errors are in actrm_tokenizer_errmsg(). *out is
 * malloc'ed. */
int actrm_tokenizer_chat_render(actrm_tokenizer *tok,
                                const actrm_chat_message *msgs, size_t n_msgs,
                                const actrm_chat_options *options, char **out);

/* ------------------------------------------------------------ converter -- */

/* Converts a Hugging Face model directory (config.json, model.safetensors or
 * sharded safetensors with index, tokenizer.json, tokenizer_config.json) to
 * GGUF. out_type is "f32", "f16", "bf16", "q8_0" or NULL (the source dtype).
 * The output is written to a temporary file and renamed into place, so a
 * failed conversion never leaves a partial file. errbuf (may be NULL)
 * receives the error message ("" on success), naming the file and field or
 * tensor at fault. (The one function without a handle, hence no errmsg.) */
int actrm_hf_convert(const char *hf_dir, const char *out_path,
                     const char *out_type, char *errbuf, size_t errbuf_size);

/* ------------------------------------------- activation reward models -- */
/*
 * An activation reward model (arXiv 2507.01368) turns a model into a judge
 * that says whether a response to a prompt is good, and steers it with a
 * handful of labelled examples instead of fine-tuning:
 *
 *   1. extract  mean head outputs z at the last token of M in-context
 *               prompts (k labelled shots, then a query) -> actrm_steer;
 *   2. select   choose the heads to patch (REINFORCE, or SAV voting);
 *   3. score    run the zero-shot judge prompt with the selected heads' z at
 *               the last token replaced by the means; the reward is
 *               logit(yes) - logit(no) = log P(yes) - log P(no) there.
 *
 * Judge template. A small JSON object:
 *   {"query":    "Prompt: {prompt}\nResponse: {response}\nGood?",
 *    "yes": " Yes", "no": " No",     answer texts (defaults " Yes"/" No",
 *                                    or "Yes"/"No" in chat mode)
 *    "shot_end": "\n",               text after each shot's answer (plain mode)
 *    "system":   "...",              optional system message (chat mode)
 *    "chat":     "auto",             "auto" | "always" | "never"
 *    "yes_token": 5592, "no_token": 1770,   optional token id override
 *    "description": "..."}           free text, ignored
 * Any other key is ACTRM_ERR_FORMAT. query must contain {response}.
 * {prompt} and {response} are replaced by the example's texts; nothing else
 * is special. In chat mode ("auto" with a model that has a chat template,
 * or "always") the query is the user turn, rendered with the generation
 * prompt; shots are earlier user/assistant turns whose assistant text is
 * the answer text without surrounding white space; the text is tokenized
 * without adding BOS (the template writes it). In plain mode the prompt is
 *   shot_1 ... shot_k query,  shot = query + answer + shot_end,
 * tokenized as a whole with the tokenizer's BOS/EOS rule.
 *
 * Answer tokens. Unless overridden, the yes (no) token is the first token of
 * the answer text as it follows the prompt: the prompt for a fixed example
 * is tokenized alone and followed by the answer text, and the token right
 * after the prompt's tokens is taken (e.g. "▁Yes" after "Good?", "Yes" after
 * an assistant header). If the answer merges with the end of the prompt
 * (the prompt's tokens are not a prefix), that is ACTRM_ERR_UNSUPPORTED:
 * give yes_token/no_token then.
 *
 * Steering file. A GGUF file with tensors actrm.mean_z (F32, ne {hd,H,L}),
 * actrm.head_mask (F32 0/1, ne {H,L}), actrm.reinforce_logits (ne {H,L},
 * after REINFORCE) and, after SAV, actrm.sav_class_means (ne {hd,H,L,2}: no,
 * yes) and actrm.sav_head_accuracy (ne {H,L}); metadata actrm.steer.* holds
 * the template, answer tokens, settings, seed and the source model's name
 * and content hash. Using it with another model is ACTRM_ERR_MISMATCH.
 *
 * Everything is seeded (xoshiro256** seeded through splitmix64): the same
 * inputs, options and seed give the same steering file for any thread
 * count (on one kernel path; ISAs may round differently).
 */

typedef struct actrm_judge actrm_judge;
typedef struct actrm_steer actrm_steer;

/* A labelled example: is `response` a good answer to `prompt`? A preference
 * pair {prompt, chosen, rejected} gives two: chosen with label 1, rejected
 * with label 0. */
typedef struct actrm_example {
    const char *prompt;
    const char *response;
    int label; /* 1: yes, 0: no */
} actrm_example;

/* Ways to score a response (actrm_judge_score_pair). */
enum actrm_reward_method {
    ACTRM_REWARD_ACTIVATION = 0, /* zero-shot prompt, selected heads patched */
    ACTRM_REWARD_ZEROSHOT,       /* zero-shot prompt, nothing patched */
    ACTRM_REWARD_ICL,            /* k shots in the prompt, nothing patched */
    ACTRM_REWARD_SAV             /* SAV head voting (needs a SAV selection) */
};

/* Head selection methods (actrm_judge_select). */
enum actrm_select_method {
    ACTRM_SELECT_REINFORCE = 0, /* Bernoulli head masks trained by REINFORCE */
    ACTRM_SELECT_SAV            /* top heads by nearest-class-mean accuracy */
};

typedef struct actrm_judge_options {
    const char *template_text;   /* judge template JSON; NULL: the steering
                                    file's template if steer is set, else
                                    the built-in default */
    const actrm_steer *steer;    /* take template and answer tokens from it */
    int override_answers;        /* use yes_token/no_token as given */
    int32_t yes_token, no_token;
    int n_threads;               /* <= 0: all cores */
} actrm_judge_options;

/* Settings of extraction and selection. Zero-initialise: 0 means default. */
typedef struct actrm_steer_options {
    int k_shots;       /* shots per in-context prompt [4] */
    int n_prompts;     /* M, prompts averaged by extract [100] */
    int method;        /* enum actrm_select_method [REINFORCE] */
    int steps;         /* REINFORCE steps [600] */
    int n_masks;       /* masks sampled per step [32] */
    int n_final;       /* masks sampled at the end, best kept [10] */
    float lr;          /* Adam learning rate [0.1] */
    int sav_heads;     /* heads kept by SAV [20] */
    uint64_t seed;     /* [0] */
    /* Optional progress callback, called after each prompt / step. */
    void (*progress)(void *ctx, const char *phase, long done, long total);
    void *progress_ctx;
} actrm_steer_options;

/* ---------------------------------------------------------- the judge -- */
/* Errors of every actrm_judge_* call (extract, select and score included)
 * are in actrm_judge_errmsg(). */

/* Binds a model and its tokenizer to a judge template and makes a session
 * for scoring. opt may be NULL (default template, all cores). The model and
 * tokenizer must outlive the judge. Fails with ACTRM_ERR_FORMAT for a bad
 * template (naming the field), ACTRM_ERR_UNSUPPORTED when answer tokens
 * cannot be derived, ACTRM_ERR_ARG for out-of-range answer token ids. */
int actrm_judge_init(actrm_judge **out, const actrm_model *model,
                     actrm_tokenizer *tok, const actrm_judge_options *opt);

/* Releases a judge (NULL: no-op); not its model or tokenizer. */
void actrm_judge_free(actrm_judge *judge);

/* The last error message of this judge ("" if none, or for NULL). */
const char *actrm_judge_errmsg(const actrm_judge *judge);

/* The yes/no token ids in use. */
void actrm_judge_answer_tokens(const actrm_judge *judge, int32_t *yes, int32_t *no);

/* The full prompt text for shots followed by the query (prompt, response),
 * exactly as it is tokenized (plain or chat). *text is malloc'ed. */
int actrm_judge_render(actrm_judge *judge, const actrm_example *shots, size_t n_shots,
                       const char *prompt, const char *response, char **text);

/* ----------------------------------------------- extraction, selection -- */

/* Extraction: the mean over M in-context prompts of every head's z at the
 * last token. Prompt m queries example m mod n, with k other examples as
 * shots drawn by the seeded generator (k is cut to n-1). Needs n >= 2.
 * opt may be NULL (defaults). *out is a new steering handle (no heads
 * selected yet; free it with actrm_steer_free). */
int actrm_judge_extract(actrm_judge *judge, const actrm_example *examples, size_t n,
                        const actrm_steer_options *opt, actrm_steer **out);

/* Selection on the few-shot set (n >= 1): fills the steering handle's head
 * mask (and REINFORCE logits or SAV class means). The handle is changed only
 * on success. ACTRM_ERR_MISMATCH if steer was made for another model,
 * template or answer tokens; ACTRM_ERR_ARG for no examples or an unknown
 * method. */
int actrm_judge_select(actrm_judge *judge, actrm_steer *steer,
                       const actrm_example *examples, size_t n,
                       const actrm_steer_options *opt);

/* ------------------------------------------------------ steering data -- */
/* Errors of actrm_steer_* calls are in actrm_steer_errmsg(). */

/* Loads a steering file and checks its tensors and keys; a GGUF file that
 * is not a steering file (e.g. a model) is ACTRM_ERR_FORMAT. Errors name
 * the file and the key or tensor at fault. */
int actrm_steer_init(actrm_steer **out, const char *path);

/* Releases steering data (NULL: no-op). */
void actrm_steer_free(actrm_steer *steer);

/* The last error message of this handle ("" if none, or for NULL). */
const char *actrm_steer_errmsg(const actrm_steer *steer);

/* Writes a steering file (atomically: PATH.tmp, then renamed). */
int actrm_steer_save(actrm_steer *steer, const char *path);

/* ACTRM_OK if the steering data was made from this model (same name, shape
 * and content hash), else ACTRM_ERR_MISMATCH with a message naming both. */
int actrm_steer_check_model(actrm_steer *steer, const actrm_model *model);

/* What a steering handle holds (see "Steering file" above). */
typedef struct actrm_steer_info {
    const char *model_name;
    uint64_t model_hash;
    int n_layer, n_head, head_dim;
    const char *template_text;  /* canonical JSON of the judge template */
    int32_t yes_token, no_token;
    const char *method;         /* "none", "reinforce" or "sav" */
    int n_selected;             /* heads in the mask */
    int has_sav;                /* SAV class means present */
    int k_shots, n_prompts, steps, n_masks;
    int sav_heads;              /* heads SAV votes with */
    uint64_t seed;
    float final_loss;           /* REINFORCE: few-shot loss of the kept mask */
} actrm_steer_info;

/* The handle's info, valid (and kept up to date by actrm_judge_select) while
 * the handle lives. Strings point into the handle. */
const actrm_steer_info *actrm_steer_get_info(const actrm_steer *steer);

/* The selected heads as (layer, head) pairs in layer-major order: writes up
 * to max pairs to layer_head[2*i], layer_head[2*i+1]; returns the number of
 * selected heads, which may exceed max. */
int actrm_steer_heads(const actrm_steer *steer, int *layer_head, int max);

/* ------------------------------------------------------------ scoring -- */

/* The reward of one response: ACTIVATION with steer, or ZEROSHOT when
 * steer is NULL. */
int actrm_judge_score(actrm_judge *judge, const actrm_steer *steer,
                      const char *prompt, const char *response, float *reward);

/* Rewards of two responses to one prompt by `method` (enum
 * actrm_reward_method), computed over their shared prefix: reward[0] for a,
 * reward[1] for b (b may be NULL: then only reward[0] is set). ICL uses
 * shots[0..n_shots) in that order; ACTIVATION and SAV need steer (SAV
 * rewards are vote fractions, comparable only with each other). Fails with
 * ACTRM_ERR_ARG for an unknown method or steering data lacking what the
 * method needs, ACTRM_ERR_MISMATCH for steering data of another model or
 * template, ACTRM_ERR_LIMIT for a prompt longer than the model's context. */
int actrm_judge_score_pair(actrm_judge *judge, int method, const actrm_steer *steer,
                           const actrm_example *shots, size_t n_shots,
                           const char *prompt, const char *a, const char *b,
                           float reward[2]);

/* --------------------------------------------------------- evaluation -- */

/* The shots ICL uses for pair number `index`: min(k, n_pool) distinct
 * indices into a pool of n_pool examples, written to idx, from a generator
 * seeded by (seed, index) alone, so a resumed evaluation picks the same
 * shots. */
void actrm_shots_pick(uint64_t seed, uint64_t index, size_t n_pool, int k, size_t *idx);

/* Pairwise accuracy with a 95% Wilson interval. A pair is correct when
 * reward(chosen) > reward(rejected); a tie counts 1/2. Zero-initialise. */
typedef struct actrm_accuracy {
    long n;         /* pairs */
    double correct; /* correct pairs, ties as 1/2 */
    double acc, lo, hi;
} actrm_accuracy;

/* Adds one pair's rewards to acc and updates acc->acc, lo and hi. */
void actrm_accuracy_add(actrm_accuracy *acc, float chosen, float rejected);

/* ----------------------------------------------------------------- misc -- */

/* The instruction set the kernels run on ("ref", "avx2", "avx512", "neon",
 * ...), after ACTRM_ISA is applied. */
const char *actrm_isa_name(void);

#ifdef __cplusplus
}
#endif
#endif /* ACTRM_H */
