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
 *     handle so that its errmsg can be read; free it afterwards.
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

/* A static, human-readable name for a status code ("ok", "I/O error", ...). */
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
    uint64_t content_hash;/* hash of tensor bytes, identifies the weights */
} actrm_model_info;

/* Opens and maps a GGUF model file read-only and checks every tensor it
 * needs. On success *out is a ready model. On failure *out is a handle
 * holding the error message (NULL only for ACTRM_ERR_NOMEM). */
int actrm_model_init(actrm_model **out, const char *gguf_path);

/* Releases a model. Sessions made from it must be freed first. */
void actrm_model_free(actrm_model *model);

/* The last error message of this model handle ("" if none). */
const char *actrm_model_errmsg(const actrm_model *model);

/* The model's hyper-parameters; never NULL for a successfully opened model. */
const actrm_model_info *actrm_model_get_info(const actrm_model *model);

/* -------------------------------------------------------------- session -- */

typedef struct actrm_session actrm_session;

/* Creates a session (KV cache and scratch) able to hold n_ctx positions.
 * n_threads <= 0 means all cores. Results never depend on n_threads. */
int actrm_session_init(actrm_session **out, const actrm_model *model,
                       int n_ctx, int n_threads);

void actrm_session_free(actrm_session *session);
const char *actrm_session_errmsg(const actrm_session *session);

/* Number of positions already in the KV cache. */
int actrm_session_n_past(const actrm_session *session);

/* Forgets every position at or after n_past (0 <= n_past <= current). */
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
 * shared prefix in a single batch. heads may be NULL or [L, n_branch, H, hd]. */
int actrm_session_eval_branches(actrm_session *session, int32_t token,
                                int n_branch, const actrm_patch_set *sets,
                                float *logits, float *heads);

/* ------------------------------------------------------------ tokenizer -- */

typedef struct actrm_tokenizer actrm_tokenizer;

/* Loads the tokenizer (and chat template) stored in a GGUF file: one written
 * by `actrm convert`, or a llama.cpp GGUF with tokenizer.ggml.* keys. */
int actrm_tokenizer_init(actrm_tokenizer **out, const char *gguf_path);
void actrm_tokenizer_free(actrm_tokenizer *tok);
const char *actrm_tokenizer_errmsg(const actrm_tokenizer *tok);

/* Flags for actrm_tokenizer_encode(). */
enum {
    ACTRM_ENCODE_ADD_SPECIAL = 1 /* add BOS/EOS as the tokenizer's post-processor does */
};

/* Encodes len bytes of text (need not be NUL-terminated). Added/special
 * tokens written in the text are recognised. Invalid UTF-8 never fails:
 * each bad byte is read as U+FFFD, as Hugging Face does. *ids is malloc'ed. */
int actrm_tokenizer_encode(actrm_tokenizer *tok, const char *text, size_t len,
                           int flags, int32_t **ids, size_t *n_ids);

/* Decodes ids to text, keeping special tokens. *text is malloc'ed and
 * NUL-terminated; *len excludes the NUL. */
int actrm_tokenizer_decode(actrm_tokenizer *tok, const int32_t *ids,
                           size_t n_ids, char **text, size_t *len);

/* Vocabulary size, and the id of one exact token string (or -1). */
int actrm_tokenizer_n_vocab(const actrm_tokenizer *tok);
int32_t actrm_tokenizer_piece_id(const actrm_tokenizer *tok, const char *piece);
int32_t actrm_tokenizer_bos(const actrm_tokenizer *tok); /* -1 if none */
int32_t actrm_tokenizer_eos(const actrm_tokenizer *tok); /* -1 if none */

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
 * GGUF (tokenizer.chat_template). Fails with ACTRM_ERR_UNSUPPORTED when the
 * template's family is not recognised (set options->family then), or when
 * the GGUF has no template and no family is given. *out is malloc'ed. */
int actrm_tokenizer_chat_render(actrm_tokenizer *tok,
                                const actrm_chat_message *msgs, size_t n_msgs,
                                const actrm_chat_options *options, char **out);

/* ------------------------------------------------------------ converter -- */

/* Converts a Hugging Face model directory (config.json, model.safetensors or
 * sharded safetensors with index, tokenizer.json, tokenizer_config.json) to
 * GGUF. out_type is "f32", "f16", "bf16", "q8_0" or NULL (the source dtype).
 * The output is written to a temporary file and renamed into place, so a
 * failed conversion never leaves a partial file. errbuf (may be NULL)
 * receives the error message. */
int actrm_convert_hf(const char *hf_dir, const char *out_path,
                     const char *out_type, char *errbuf, size_t errbuf_size);

/* ----------------------------------------------------------------- misc -- */

/* The instruction set the kernels run on ("ref", "avx2", "avx512", "neon",
 * ...), after ACTRM_ISA is applied. */
const char *actrm_isa_name(void);

#ifdef __cplusplus
}
#endif
#endif /* ACTRM_H */
