/*
 * gen_random_hf: writes a Hugging Face-layout model directory with random
 * BF16 weights in the shapes of a real model, so that speed can be measured
 * at full size without downloading anything:
 *
 *   gen_random_hf SHAPE OUT_DIR [--seed N] [--layers N] [--fixtures DIR]
 *
 * SHAPE is qwen2.5-0.5b (Qwen2ForCausalLM) or llama3.2-1b (LlamaForCausalLM).
 * OUT_DIR gets config.json, model.safetensors, and tokenizer.json +
 * tokenizer_config.json copied from the fixture model with the same
 * vocabulary (DIR defaults to ../shared/fixtures/models, relative to the
 * project root). Run without arguments it prints this usage and exits 0,
 * because `make bench` runs every bench binary without arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "kernels.h" /* actrm_f32_to_bf16 */

/* Weight initialisation, like HF's initializer_range: small enough that the
 * residual stream stays finite through every layer. */
#define WEIGHT_STD 0.02f

typedef struct model_shape {
    const char *name;         /* SHAPE on the command line */
    const char *hf_class;     /* config.json "architectures" */
    const char *model_type;
    const char *fixture;      /* fixture model with the same vocabulary */
    int hidden, layers, heads, kv_heads, head_dim, inter, vocab;
    int max_pos, bos, eos;
    double rope_theta, rms_eps;
    int qkv_bias;             /* qwen2: q/k/v projections have biases */
    int llama3_rope;          /* rope_scaling of type llama3 */
} model_shape;

static const model_shape shapes[] = {
    {"qwen2.5-0.5b", "Qwen2ForCausalLM", "qwen2", "qwen2-tiny",
     896, 24, 14, 2, 64, 4864, 151936, 32768, 151643, 151645, 1000000.0, 1e-6, 1, 0},
    {"llama3.2-1b", "LlamaForCausalLM", "llama", "llama3-tiny",
     2048, 16, 32, 8, 64, 8192, 128256, 131072, 128000, 128009, 500000.0, 1e-5, 0, 1},
};

/* How a tensor's values are drawn. */
enum init_kind { INIT_MATRIX, INIT_NORM, INIT_BIAS };

typedef struct tensor_spec {
    char name[96];
    int n_dims;
    int64_t shape[2];  /* HF order: [out, in] for matrices */
    enum init_kind init;
} tensor_spec;

typedef struct tensor_list {
    tensor_spec *v;
    int n, cap;
} tensor_list;

static int list_add(tensor_list *l, const char *name, int n_dims, int64_t d0,
                    int64_t d1, enum init_kind init)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        tensor_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    tensor_spec *t = &l->v[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = n_dims > 1 ? d1 : 1;
    t->init = init;
    return 0;
}

static int64_t tensor_numel(const tensor_spec *t)
{
    return t->shape[0] * t->shape[1];
}

/* Every tensor of a tied-embedding Llama/Qwen2 checkpoint, in HF names. */
static int list_tensors(const model_shape *s, tensor_list *l)
{
    int64_t D = s->hidden, I = s->inter, q = (int64_t)s->heads * s->head_dim,
            kv = (int64_t)s->kv_heads * s->head_dim;
    char n[96];
    int rc = list_add(l, "model.embed_tokens.weight", 2, s->vocab, D, INIT_MATRIX);
    for (int i = 0; i < s->layers && rc == 0; i++) {
#define ADD(suffix, nd, a, b, init) \
    (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), rc |= list_add(l, n, nd, a, b, init))
        ADD("input_layernorm.weight", 1, D, 1, INIT_NORM);
        ADD("self_attn.q_proj.weight", 2, q, D, INIT_MATRIX);
        ADD("self_attn.k_proj.weight", 2, kv, D, INIT_MATRIX);
        ADD("self_attn.v_proj.weight", 2, kv, D, INIT_MATRIX);
        if (s->qkv_bias) {
            ADD("self_attn.q_proj.bias", 1, q, 1, INIT_BIAS);
            ADD("self_attn.k_proj.bias", 1, kv, 1, INIT_BIAS);
            ADD("self_attn.v_proj.bias", 1, kv, 1, INIT_BIAS);
        }
        ADD("self_attn.o_proj.weight", 2, D, q, INIT_MATRIX);
        ADD("post_attention_layernorm.weight", 1, D, 1, INIT_NORM);
        ADD("mlp.gate_proj.weight", 2, I, D, INIT_MATRIX);
        ADD("mlp.up_proj.weight", 2, I, D, INIT_MATRIX);
        ADD("mlp.down_proj.weight", 2, D, I, INIT_MATRIX);
#undef ADD
    }
    if (rc == 0)
        rc = list_add(l, "model.norm.weight", 1, D, 1, INIT_NORM);
    return rc;
}

/* ---- random numbers: splitmix64, one stream per tensor ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Roughly standard normal: the sum of four 16-bit uniforms (Irwin-Hall),
 * centred and scaled to unit variance. Cheap enough for a billion values. */
static float normalish(uint64_t *state)
{
    uint64_t r = splitmix64(state);
    float sum = (float)(r & 0xffff) + (float)((r >> 16) & 0xffff) +
                (float)((r >> 32) & 0xffff) + (float)(r >> 48);
    return (sum / 65536.0f - 2.0f) * 1.7320508f; /* var of U(0,1)*4 = 1/3 */
}

static float draw_value(enum init_kind init, uint64_t *state)
{
    float z = normalish(state);
    return init == INIT_NORM ? 1.0f + WEIGHT_STD * z : WEIGHT_STD * z;
}

/* ---- safetensors ---- */

/* The JSON header: every tensor as BF16 with its byte range, in list order. */
static char *safetensors_header(const tensor_list *l)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const tensor_spec *t = &l->v[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", "BF16");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        uint64_t end = off + 2 * (uint64_t)tensor_numel(t);
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)end));
        off = end;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

enum { CHUNK = 1 << 16 }; /* values converted per fwrite */

/* Writes one tensor's BF16 values, in chunks so memory stays small.
 * buf: [CHUNK] scratch. */
static int write_tensor_data(FILE *f, const tensor_spec *t, uint64_t seed, int index,
                             uint16_t *buf)
{
    uint64_t state = seed ^ (0x51ed270b27a5c0d3ULL * (uint64_t)(index + 1));
    int64_t left = tensor_numel(t);
    while (left > 0) {
        int n = left < CHUNK ? (int)left : CHUNK;
        for (int i = 0; i < n; i++)
            buf[i] = actrm_f32_to_bf16(draw_value(t->init, &state));
        if (fwrite(buf, 2, (size_t)n, f) != (size_t)n)
            return -1;
        left -= n;
    }
    return 0;
}

static int write_safetensors(const char *path, const tensor_list *l, uint64_t seed)
{
    char *hdr = safetensors_header(l);
    uint16_t *buf = malloc(CHUNK * sizeof *buf); /* [CHUNK] bf16 */
    if (!hdr || !buf) {
        free(hdr);
        free(buf);
        fprintf(stderr, "gen_random_hf: out of memory building the safetensors header\n");
        return -1;
    }
    size_t len = strlen(hdr), padded = (len + 7) / 8 * 8; /* data starts 8-aligned */
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen_random_hf: %s: %s\n", path, strerror(errno));
        free(hdr);
        free(buf);
        return -1;
    }
    uint64_t n = padded; /* little-endian u64 header length (x86/arm64 hosts) */
    int bad = fwrite(&n, 8, 1, f) != 1 || fwrite(hdr, 1, len, f) != len;
    for (size_t i = len; i < padded && !bad; i++)
        bad = fputc(' ', f) == EOF;
    for (int i = 0; i < l->n && !bad; i++)
        bad = write_tensor_data(f, &l->v[i], seed, i, buf) != 0;
    bad |= fclose(f) != 0;
    free(hdr);
    free(buf);
    if (bad)
        fprintf(stderr, "gen_random_hf: %s: write failed: %s\n", path, strerror(errno));
    return bad ? -1 : 0;
}

/* ---- config.json and tokenizer ---- */

static cJSON *config_json(const model_shape *s, int layers)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(s->hf_class));
    cJSON_AddStringToObject(c, "model_type", s->model_type);
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    cJSON_AddNumberToObject(c, "hidden_size", s->hidden);
    cJSON_AddNumberToObject(c, "num_hidden_layers", layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", s->kv_heads);
    cJSON_AddNumberToObject(c, "head_dim", s->head_dim);
    cJSON_AddNumberToObject(c, "intermediate_size", s->inter);
    cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos);
    cJSON_AddNumberToObject(c, "rope_theta", s->rope_theta);
    cJSON_AddNumberToObject(c, "rms_norm_eps", s->rms_eps);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", 1);
    cJSON_AddNumberToObject(c, "bos_token_id", s->bos);
    cJSON_AddNumberToObject(c, "eos_token_id", s->eos);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddStringToObject(c, "torch_dtype", "bfloat16");
    cJSON_AddNumberToObject(c, "initializer_range", WEIGHT_STD);
    if (s->llama3_rope) {
        cJSON *r = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddNumberToObject(r, "factor", 32.0);
        cJSON_AddNumberToObject(r, "low_freq_factor", 1.0);
        cJSON_AddNumberToObject(r, "high_freq_factor", 4.0);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", 8192);
        cJSON_AddStringToObject(r, "rope_type", "llama3");
        cJSON_AddBoolToObject(c, "attention_bias", 0);
        cJSON_AddBoolToObject(c, "mlp_bias", 0);
    } else {
        cJSON_AddBoolToObject(c, "use_sliding_window", 0);
    }
    return c;
}

static int write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) == EOF || fputc('\n', f) == EOF;
    if (f)
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "gen_random_hf: %s: %s\n", path, strerror(errno));
    return bad ? -1 : 0;
}

static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) {
        fprintf(stderr, "gen_random_hf: %s: %s (set --fixtures DIR)\n", src, strerror(errno));
        return -1;
    }
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fprintf(stderr, "gen_random_hf: %s: %s\n", dst, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    int bad = 0;
    while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0)
        bad = fwrite(buf, 1, n, out) != n;
    bad |= ferror(in) != 0;
    fclose(in);
    bad |= fclose(out) != 0;
    if (bad)
        fprintf(stderr, "gen_random_hf: copying %s to %s failed\n", src, dst);
    return bad ? -1 : 0;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: gen_random_hf SHAPE OUT_DIR [--seed N] [--layers N] [--fixtures DIR]\n"
               "  Writes a Hugging Face model directory with random BF16 weights.\n"
               "  SHAPE: ");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        fprintf(f, "%s%s", i ? ", " : "", shapes[i].name);
    fprintf(f, "\n  --seed N        random seed (default 1)\n"
               "  --layers N      fewer layers than the real model (quick tests)\n"
               "  --fixtures DIR  fixture models holding the tokenizers"
               " (default ../shared/fixtures/models)\n");
}

typedef struct gen_args {
    const model_shape *shape;
    const char *out_dir, *fixtures;
    uint64_t seed;
    int layers;
} gen_args;

static int parse_long(const char *flag, const char *s, long lo, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || *s == '\0' || *end != '\0' || errno || v < lo) {
        fprintf(stderr, "gen_random_hf: %s needs an integer >= %ld, got '%s'\n", flag, lo, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, gen_args *a)
{
    const char *pos[2] = {0};
    int npos = 0;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--seed") == 0) {
            if (parse_long(arg, val, 0, &v))
                return -1;
            a->seed = (uint64_t)v, i++;
        } else if (strcmp(arg, "--layers") == 0) {
            if (parse_long(arg, val, 1, &v))
                return -1;
            a->layers = (int)v, i++;
        } else if (strcmp(arg, "--fixtures") == 0 && val) {
            a->fixtures = val, i++;
        } else if (arg[0] == '-' || npos == 2) {
            fprintf(stderr, "gen_random_hf: unexpected argument '%s' (see --help)\n", arg);
            return -1;
        } else {
            pos[npos++] = arg;
        }
    }
    if (npos != 2) {
        fprintf(stderr, "gen_random_hf: need SHAPE and OUT_DIR (see --help)\n");
        return -1;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(pos[0], shapes[i].name) == 0)
            a->shape = &shapes[i];
    if (!a->shape) {
        fprintf(stderr, "gen_random_hf: unknown shape '%s' (see --help)\n", pos[0]);
        return -1;
    }
    a->out_dir = pos[1];
    if (a->layers == 0 || a->layers > a->shape->layers)
        a->layers = a->shape->layers;
    return 0;
}

static int generate(const gen_args *a)
{
    char path[4096], src[4096];
    if (mkdir(a->out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_random_hf: mkdir %s: %s\n", a->out_dir, strerror(errno));
        return -1;
    }
    model_shape s = *a->shape;
    s.layers = a->layers;
    cJSON *cfg = config_json(&s, s.layers);
    char *cfg_text = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    snprintf(path, sizeof path, "%s/config.json", a->out_dir);
    int rc = cfg_text ? write_text_file(path, cfg_text) : -1;
    free(cfg_text);
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        snprintf(src, sizeof src, "%s/%s/%s", a->fixtures, s.fixture, tok_files[i]);
        snprintf(path, sizeof path, "%s/%s", a->out_dir, tok_files[i]);
        rc = copy_file(src, path);
    }
    tensor_list l = {0};
    if (rc == 0 && list_tensors(&s, &l) != 0) {
        fprintf(stderr, "gen_random_hf: out of memory\n");
        rc = -1;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", a->out_dir);
    if (rc == 0)
        rc = write_safetensors(path, &l, a->seed);
    if (rc == 0) {
        int64_t params = 0;
        for (int i = 0; i < l.n; i++)
            params += tensor_numel(&l.v[i]);
        printf("wrote %s: %s, %d layers, %d tensors, %.1f M parameters (BF16)\n",
               a->out_dir, s.name, s.layers, l.n, (double)params / 1e6);
    }
    free(l.v);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    gen_args a = {.fixtures = "../shared/fixtures/models", .seed = 1};
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    return generate(&a) == 0 ? 0 : 1;
}
