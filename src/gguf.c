/*
 * GGUF reader and writer. Layout (ggml docs/gguf.md), all little-endian:
 *   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
 *   kv_count x  { string key | u32 value type | value }
 *   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment | tensor data (offsets relative to here)
 * where string = u64 length + bytes and array = u32 elem type + u64 n + elements.
 *
 * The reader trusts nothing: every length is checked against the bytes left
 * before it is used, so a hostile file yields an error message, never a read
 * past the mapping or an allocation larger than the file justifies.
 * Nested arrays (arrays of arrays) are rejected as ACTRM_ERR_UNSUPPORTED: no
 * model metadata uses them and they would need a recursive value tree.
 */
#include "gguf.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader hands out little-endian file bytes as host values"
#endif

#define GGUF_HEADER_SIZE 24
#define GGUF_MAX_KEY_LEN 65535   /* gguf.md: keys are at most 65535 bytes */
#define GGUF_MAX_NAME_LEN 1024   /* reader's sanity bound on tensor names */
#define GGUF_WRITER_MAX_NAME 63  /* ggml's GGML_MAX_NAME (64) minus the NUL */
/* Smallest possible encodings, used to bound counts by the bytes left. */
#define GGUF_MIN_KV_BYTES 13     /* u64 key len + u32 type + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 32 /* u64 name len + u32 n_dims + u64 ne + u32 type + u64 offset */
/* Type numbers below this are (or may become) real ggml types, so an unknown
 * one is "unsupported" rather than "malformed". */
#define GGML_TYPE_NUMBER_LIMIT 64

/* ------------------------------------------------------------ types -- */

static const struct {
    int type;
    const char *name;
    uint32_t block;       /* elements per block */
    uint32_t block_bytes; /* bytes per block */
} tensor_types[] = {
    {GGML_TYPE_F32, "f32", 1, 4},
    {GGML_TYPE_F16, "f16", 1, 2},
    {GGML_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0)},
    {GGML_TYPE_BF16, "bf16", 1, 2},
};
#define N_TENSOR_TYPES (sizeof tensor_types / sizeof tensor_types[0])

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block must be 34 bytes");

static int tensor_type_index(int type)
{
    for (size_t i = 0; i < N_TENSOR_TYPES; i++)
        if (tensor_types[i].type == type)
            return (int)i;
    return -1;
}

uint64_t ggml_row_size(int type, uint64_t ne0)
{
    int i = tensor_type_index(type);
    if (i < 0 || ne0 % tensor_types[i].block != 0)
        return 0;
    uint64_t blocks = ne0 / tensor_types[i].block;
    if (blocks > UINT64_MAX / tensor_types[i].block_bytes)
        return 0;
    return blocks * tensor_types[i].block_bytes;
}

const char *ggml_type_name(int type)
{
    int i = tensor_type_index(type);
    return i < 0 ? "unknown" : tensor_types[i].name;
}

int ggml_type_from_name(const char *name)
{
    for (size_t i = 0; name && i < N_TENSOR_TYPES; i++)
        if (strcasecmp(name, tensor_types[i].name) == 0)
            return tensor_types[i].type;
    return -1;
}

/* Bytes of one fixed-size value, 0 for strings, arrays and unknown types. */
static uint64_t value_size(int type)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(int type)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    if (type < 0 || type > GGUF_TYPE_FLOAT64)
        return "unknown";
    return names[type];
}

static int is_valid_value_type(uint32_t type)
{
    return type <= GGUF_TYPE_FLOAT64;
}

static uint64_t align_up(uint64_t x, uint64_t align, int *overflow)
{
    uint64_t rem = x % align;
    if (rem == 0)
        return x;
    if (x > UINT64_MAX - (align - rem)) {
        *overflow = 1;
        return 0;
    }
    return x + (align - rem);
}

static int is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

static uint64_t fnv1a(const char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------- name index -- */

/* Open-addressing hash of names -> entry index, so duplicate checks and
 * look-ups stay linear even for files with very many tensors. */
typedef struct name_index {
    uint64_t *slot; /* [mask+1]: entry index + 1, 0 = empty */
    uint64_t mask;
} name_index;

typedef gguf_str (*name_at_fn)(const void *entries, uint64_t i);

static gguf_str kv_name_at(const void *entries, uint64_t i)
{
    return ((const gguf_kv *)entries)[i].key;
}

static gguf_str tensor_name_at(const void *entries, uint64_t i)
{
    const char *name = ((const gguf_tensor *)entries)[i].name;
    return (gguf_str){name, strlen(name)};
}

static int str_eq(gguf_str a, const char *b, uint64_t blen)
{
    return a.len == blen && memcmp(a.ptr, b, blen) == 0;
}

/* Looks name up; returns its entry index or UINT64_MAX. */
static uint64_t index_find(const name_index *ix, const void *entries, name_at_fn name_at,
                           const char *name, uint64_t len)
{
    if (!ix->slot)
        return UINT64_MAX;
    for (uint64_t s = fnv1a(name, len) & ix->mask;; s = (s + 1) & ix->mask) {
        if (ix->slot[s] == 0)
            return UINT64_MAX;
        if (str_eq(name_at(entries, ix->slot[s] - 1), name, len))
            return ix->slot[s] - 1;
    }
}

/* Builds the index over n entries. Returns 0, -1 if out of memory, or 1
 * with *dup = the index of the first entry whose name repeats an earlier one. */
static int64_t index_build(name_index *ix, const void *entries, name_at_fn name_at, uint64_t n,
                           uint64_t *dup)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    ix->slot = calloc(cap, sizeof *ix->slot);
    if (!ix->slot)
        return -1;
    ix->mask = cap - 1;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str name = name_at(entries, i);
        uint64_t s = fnv1a(name.ptr, name.len) & ix->mask;
        for (; ix->slot[s] != 0; s = (s + 1) & ix->mask) {
            if (str_eq(name_at(entries, ix->slot[s] - 1), name.ptr, name.len)) {
                *dup = i;
                return 1;
            }
        }
        ix->slot[s] = i + 1;
    }
    return 0;
}

/* ----------------------------------------------------------- reader -- */

struct actrm_gguf {
    char *path;
    const uint8_t *map; /* [size] read-only mapping of the whole file */
    uint64_t size;
    void *copy;         /* [copy_len] anonymous mapping holding the data section, or NULL */
    size_t copy_len;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset; /* start of the data section in the file */
    gguf_kv *kvs;         /* [n_kv] */
    uint64_t n_kv;
    gguf_tensor *tensors; /* [n_tensors] */
    uint64_t n_tensors;
    name_index kv_index;
    name_index tensor_index;
};

/* A bounds-checked cursor over the mapping. ctx names what is being parsed
 * ("header", "key 'x'", "tensor 'y'") for error messages. */
typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    actrm_error *err;
    char ctx[192];
} cursor;

static void set_ctx(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_ctx(cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->ctx, sizeof c->ctx, fmt, ap);
    va_end(ap);
}

static int fail(cursor *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cursor *c, int status, const char *fmt, ...)
{
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return actrm_error_set(c->err, status, "%s: %s: %s", c->path, c->ctx, detail);
}

static uint64_t bytes_left(const cursor *c)
{
    return c->size - c->pos;
}

static int take(cursor *c, uint64_t n, const char *what, const uint8_t **out)
{
    if (n > bytes_left(c))
        return fail(c, ACTRM_ERR_FORMAT,
                    "%s (%llu bytes at offset %llu) runs past end of file (size %llu)", what,
                    (unsigned long long)n, (unsigned long long)c->pos,
                    (unsigned long long)c->size);
    *out = c->base + c->pos;
    c->pos += n;
    return ACTRM_OK;
}

static int read_u32(cursor *c, const char *what, uint32_t *v)
{
    const uint8_t *p = NULL;
    int rc = take(c, 4, what, &p);
    if (rc == ACTRM_OK)
        memcpy(v, p, 4);
    return rc;
}

static int read_u64(cursor *c, const char *what, uint64_t *v)
{
    const uint8_t *p = NULL;
    int rc = take(c, 8, what, &p);
    if (rc == ACTRM_OK)
        memcpy(v, p, 8);
    return rc;
}

static int read_str(cursor *c, const char *what, gguf_str *s)
{
    uint64_t len;
    const uint8_t *p = NULL;
    int rc = read_u64(c, what, &len);
    if (rc == ACTRM_OK && len > bytes_left(c))
        return fail(c, ACTRM_ERR_FORMAT,
                    "%s length %llu at offset %llu runs past end of file (size %llu)", what,
                    (unsigned long long)len, (unsigned long long)(c->pos - 8),
                    (unsigned long long)c->size);
    if (rc == ACTRM_OK)
        rc = take(c, len, what, &p);
    if (rc == ACTRM_OK)
        *s = (gguf_str){(const char *)p, len};
    return rc;
}

/* Keys and tensor names are identifiers: non-empty, bounded, no NUL bytes
 * (they are compared against C strings). */
static int check_name(cursor *c, gguf_str s, uint64_t max_len, const char *what)
{
    if (s.len == 0)
        return fail(c, ACTRM_ERR_FORMAT, "empty %s", what);
    if (s.len > max_len)
        return fail(c, ACTRM_ERR_FORMAT, "%s length %llu exceeds %llu", what,
                    (unsigned long long)s.len, (unsigned long long)max_len);
    if (memchr(s.ptr, '\0', s.len))
        return fail(c, ACTRM_ERR_FORMAT, "%s contains a NUL byte", what);
    return ACTRM_OK;
}

/* Reads n values of elem_type into kv (pointers into the mapping). */
static int read_values(cursor *c, gguf_kv *kv, uint32_t elem_type, uint64_t n)
{
    if (elem_type == GGUF_TYPE_STRING) {
        /* Each string takes at least its 8-byte length: bounds the table. */
        if (n > bytes_left(c) / 8)
            return fail(c, ACTRM_ERR_FORMAT,
                        "%llu strings cannot fit in the %llu bytes left in the file",
                        (unsigned long long)n, (unsigned long long)bytes_left(c));
        gguf_str *strs = malloc((n ? n : 1) * sizeof *strs);
        if (!strs)
            return fail(c, ACTRM_ERR_NOMEM, "no memory for %llu strings", (unsigned long long)n);
        kv->strs = strs;
        kv->data = c->base + c->pos;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len = 0;
            int fits = bytes_left(c) >= 8;
            if (fits) {
                memcpy(&len, c->base + c->pos, 8);
                fits = len <= bytes_left(c) - 8;
            }
            if (fits) {
                strs[i] = (gguf_str){(const char *)c->base + c->pos + 8, len};
                c->pos += 8 + len;
                continue;
            }
            /* Slow path only to word the error (vocabularies hold ~10^5 strings). */
            char what[48];
            snprintf(what, sizeof what, "string %llu", (unsigned long long)i);
            return read_str(c, kv->type == GGUF_TYPE_STRING ? "string" : what, &strs[i]);
        }
        return ACTRM_OK;
    }
    uint64_t size = value_size(elem_type);
    if (kv->type == GGUF_TYPE_ARRAY && n > bytes_left(c) / size)
        return fail(c, ACTRM_ERR_FORMAT,
                    "%llu values of type %s cannot fit in the %llu bytes left in the file",
                    (unsigned long long)n, gguf_type_name(elem_type),
                    (unsigned long long)bytes_left(c));
    const uint8_t *p = NULL;
    int rc = take(c, n * size, kv->type == GGUF_TYPE_ARRAY ? "array values" : "value", &p);
    if (rc != ACTRM_OK)
        return rc;
    kv->data = p;
    if (elem_type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (p[i] > 1)
                return fail(c, ACTRM_ERR_FORMAT, "bool value %llu is %u, not 0 or 1",
                            (unsigned long long)i, p[i]);
    return ACTRM_OK;
}

static int read_kv(cursor *c, uint64_t i, gguf_kv *kv)
{
    set_ctx(c, "key #%llu", (unsigned long long)i);
    int rc = read_str(c, "key", &kv->key);
    if (rc == ACTRM_OK)
        rc = check_name(c, kv->key, GGUF_MAX_KEY_LEN, "key");
    if (rc != ACTRM_OK)
        return rc;
    set_ctx(c, "key '%.*s'", (int)(kv->key.len > 128 ? 128 : kv->key.len), kv->key.ptr);
    uint32_t type, elem_type;
    uint64_t n = 1;
    rc = read_u32(c, "value type", &type);
    if (rc != ACTRM_OK)
        return rc;
    if (!is_valid_value_type(type))
        return fail(c, ACTRM_ERR_FORMAT, "unknown value type %u", type);
    kv->type = (int)type;
    elem_type = type;
    if (type == GGUF_TYPE_ARRAY) {
        rc = read_u32(c, "array element type", &elem_type);
        if (rc == ACTRM_OK)
            rc = read_u64(c, "array length", &n);
        if (rc != ACTRM_OK)
            return rc;
        if (elem_type == GGUF_TYPE_ARRAY)
            return fail(c, ACTRM_ERR_UNSUPPORTED, "nested arrays are not supported");
        if (!is_valid_value_type(elem_type))
            return fail(c, ACTRM_ERR_FORMAT, "unknown array element type %u", elem_type);
        kv->arr_type = (int)elem_type;
    }
    kv->n = n;
    return read_values(c, kv, elem_type, n);
}

static int read_kvs(cursor *c, actrm_gguf *g, uint64_t n_kv)
{
    /* Grown as entries are parsed: memory follows the bytes actually read,
     * never a count claimed by the file. */
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (g->n_kv == cap) {
            cap = cap ? 2 * cap : 16;
            gguf_kv *kvs = realloc(g->kvs, cap * sizeof *kvs);
            if (!kvs)
                return fail(c, ACTRM_ERR_NOMEM, "no memory for %llu keys", (unsigned long long)cap);
            g->kvs = kvs;
        }
        gguf_kv *kv = &g->kvs[g->n_kv++];
        memset(kv, 0, sizeof *kv);
        int rc = read_kv(c, i, kv);
        if (rc != ACTRM_OK)
            return rc;
    }
    uint64_t dup;
    int64_t r = index_build(&g->kv_index, g->kvs, kv_name_at, g->n_kv, &dup);
    if (r < 0)
        return actrm_error_set(c->err, ACTRM_ERR_NOMEM, "%s: no memory for the key index", c->path);
    if (r > 0) {
        set_ctx(c, "key '%.*s'", (int)(g->kvs[dup].key.len > 128 ? 128 : g->kvs[dup].key.len),
                g->kvs[dup].key.ptr);
        return fail(c, ACTRM_ERR_FORMAT, "duplicate key (entry #%llu)", (unsigned long long)dup);
    }
    return ACTRM_OK;
}

/* general.alignment, if present, must be an integer that is a nonzero power of two. */
static int read_alignment(cursor *c, actrm_gguf *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_find_kv(g, "general.alignment"))
        return ACTRM_OK;
    uint32_t a;
    int rc = gguf_get_u32(g, "general.alignment", &a, c->err);
    if (rc != ACTRM_OK)
        return rc;
    if (!is_pow2(a)) {
        set_ctx(c, "key 'general.alignment'");
        return fail(c, ACTRM_ERR_FORMAT, "alignment %u is not a nonzero power of two", a);
    }
    g->alignment = a;
    return ACTRM_OK;
}

static int check_tensor_type(cursor *c, uint32_t type)
{
    if (tensor_type_index((int)type) >= 0)
        return ACTRM_OK;
    if (type < GGML_TYPE_NUMBER_LIMIT)
        return fail(c, ACTRM_ERR_UNSUPPORTED,
                    "tensor type %u is not supported (actrm reads f32, f16, bf16, q8_0)", type);
    return fail(c, ACTRM_ERR_FORMAT, "unknown tensor type %u", type);
}

/* Validates the shape and computes nbytes. */
static int tensor_size(cursor *c, gguf_tensor *t)
{
    uint64_t nelem = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->ne[d] == 0)
            return fail(c, ACTRM_ERR_FORMAT, "dimension ne[%d] is 0", d);
        if (t->ne[d] > (uint64_t)INT64_MAX / nelem)
            return fail(c, ACTRM_ERR_FORMAT, "element count overflows at ne[%d] = %llu", d,
                        (unsigned long long)t->ne[d]);
        nelem *= t->ne[d];
    }
    uint64_t row = ggml_row_size(t->type, t->ne[0]);
    uint32_t block = tensor_types[tensor_type_index(t->type)].block;
    if (row == 0 && t->ne[0] % block != 0)
        return fail(c, ACTRM_ERR_FORMAT, "ne[0] = %llu is not a multiple of the %s block size %u",
                    (unsigned long long)t->ne[0], ggml_type_name(t->type), block);
    if (row == 0)
        return fail(c, ACTRM_ERR_FORMAT, "row size overflows at ne[0] = %llu",
                    (unsigned long long)t->ne[0]);
    uint64_t rows = nelem / t->ne[0];
    if (rows > UINT64_MAX / row)
        return fail(c, ACTRM_ERR_FORMAT, "byte size overflows");
    t->nbytes = row * rows;
    return ACTRM_OK;
}

/* Reads one tensor info; *offset is relative to the data section. */
static int read_tensor_info(cursor *c, const actrm_gguf *g, uint64_t i, gguf_tensor *t,
                            uint64_t *offset)
{
    gguf_str name;
    set_ctx(c, "tensor #%llu", (unsigned long long)i);
    int rc = read_str(c, "tensor name", &name);
    if (rc == ACTRM_OK)
        rc = check_name(c, name, GGUF_MAX_NAME_LEN, "tensor name");
    if (rc != ACTRM_OK)
        return rc;
    t->name = strndup(name.ptr, name.len);
    if (!t->name)
        return fail(c, ACTRM_ERR_NOMEM, "no memory for the tensor name");
    set_ctx(c, "tensor '%.*s'", (int)(name.len > 128 ? 128 : name.len), name.ptr);
    uint32_t n_dims, type;
    rc = read_u32(c, "n_dims", &n_dims);
    if (rc != ACTRM_OK)
        return rc;
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return fail(c, ACTRM_ERR_FORMAT, "n_dims is %u, must be 1..%d", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims && rc == ACTRM_OK; d++)
        rc = read_u64(c, "dimensions", &t->ne[d]);
    if (rc == ACTRM_OK)
        rc = read_u32(c, "tensor type", &type);
    if (rc == ACTRM_OK)
        rc = read_u64(c, "data offset", offset);
    if (rc == ACTRM_OK)
        rc = check_tensor_type(c, type);
    if (rc != ACTRM_OK)
        return rc;
    t->type = (int)type;
    rc = tensor_size(c, t);
    if (rc == ACTRM_OK && *offset % g->alignment != 0)
        return fail(c, ACTRM_ERR_FORMAT, "data offset %llu is not a multiple of the alignment %u",
                    (unsigned long long)*offset, g->alignment);
    return rc;
}

typedef struct span {
    uint64_t start, end; /* absolute file offsets, [start, end) */
    uint64_t tensor;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Places every tensor in the data section and rejects out-of-file or
 * overlapping data. offsets[i] is relative to the data section. */
static int place_tensors(cursor *c, actrm_gguf *g, const uint64_t *offsets)
{
    span *spans = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *spans);
    if (!spans)
        return actrm_error_set(c->err, ACTRM_ERR_NOMEM, "%s: no memory", c->path);
    int rc = ACTRM_OK;
    for (uint64_t i = 0; i < g->n_tensors && rc == ACTRM_OK; i++) {
        gguf_tensor *t = &g->tensors[i];
        set_ctx(c, "tensor '%s'", t->name);
        uint64_t start = g->data_offset + offsets[i]; /* may wrap: checked below */
        int wraps = offsets[i] > UINT64_MAX - g->data_offset ||
                    t->nbytes > UINT64_MAX - start;
        if (wraps)
            rc = fail(c, ACTRM_ERR_FORMAT,
                      "data at offset %llu + %llu (%llu bytes) past end of file (size %llu)",
                      (unsigned long long)g->data_offset, (unsigned long long)offsets[i],
                      (unsigned long long)t->nbytes, (unsigned long long)g->size);
        else if (start + t->nbytes > g->size)
            rc = fail(c, ACTRM_ERR_FORMAT, "data [%llu..%llu) past end of file (size %llu)",
                      (unsigned long long)start, (unsigned long long)(start + t->nbytes),
                      (unsigned long long)g->size);
        else {
            t->data = g->map + start;
            spans[i] = (span){start, start + t->nbytes, i};
        }
    }
    if (rc == ACTRM_OK && g->n_tensors > 1) {
        qsort(spans, g->n_tensors, sizeof *spans, span_cmp);
        for (uint64_t i = 1; i < g->n_tensors && rc == ACTRM_OK; i++) {
            if (spans[i].start < spans[i - 1].end) {
                const gguf_tensor *a = &g->tensors[spans[i - 1].tensor];
                set_ctx(c, "tensor '%s'", g->tensors[spans[i].tensor].name);
                rc = fail(c, ACTRM_ERR_FORMAT, "data [%llu..%llu) overlaps tensor '%s' [%llu..%llu)",
                          (unsigned long long)spans[i].start, (unsigned long long)spans[i].end,
                          a->name, (unsigned long long)spans[i - 1].start,
                          (unsigned long long)spans[i - 1].end);
            }
        }
    }
    free(spans);
    return rc;
}

static int read_tensors(cursor *c, actrm_gguf *g, uint64_t n_tensors)
{
    uint64_t cap = 0, *offsets = NULL;
    int rc = ACTRM_OK;
    for (uint64_t i = 0; i < n_tensors && rc == ACTRM_OK; i++) {
        if (g->n_tensors == cap) {
            cap = cap ? 2 * cap : 16;
            gguf_tensor *ts = realloc(g->tensors, cap * sizeof *ts);
            if (ts)
                g->tensors = ts;
            uint64_t *offs = ts ? realloc(offsets, cap * sizeof *offs) : NULL;
            if (!offs) {
                rc = fail(c, ACTRM_ERR_NOMEM, "no memory for %llu tensors", (unsigned long long)cap);
                break;
            }
            offsets = offs;
        }
        gguf_tensor *t = &g->tensors[g->n_tensors++];
        memset(t, 0, sizeof *t);
        rc = read_tensor_info(c, g, i, t, &offsets[i]);
    }
    uint64_t dup;
    int64_t r = rc == ACTRM_OK ? index_build(&g->tensor_index, g->tensors, tensor_name_at,
                                             g->n_tensors, &dup) : 0;
    if (r < 0)
        rc = actrm_error_set(c->err, ACTRM_ERR_NOMEM, "%s: no memory for the tensor index", c->path);
    if (r > 0) {
        set_ctx(c, "tensor '%s'", g->tensors[dup].name);
        rc = fail(c, ACTRM_ERR_FORMAT, "duplicate tensor name (entry #%llu)", (unsigned long long)dup);
    }
    int overflow = 0;
    g->data_offset = align_up(c->pos, g->alignment, &overflow);
    if (rc == ACTRM_OK && overflow) {
        set_ctx(c, "tensor infos");
        rc = fail(c, ACTRM_ERR_FORMAT, "data section offset overflows");
    }
    if (rc == ACTRM_OK)
        rc = place_tensors(c, g, offsets);
    free(offsets);
    return rc;
}

static int read_header(cursor *c, actrm_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
    set_ctx(c, "header");
    if (c->size < 4 || memcmp(c->base, "GGUF", 4) != 0)
        return fail(c, ACTRM_ERR_FORMAT, "not a GGUF file (no \"GGUF\" magic)");
    if (c->size < GGUF_HEADER_SIZE)
        return fail(c, ACTRM_ERR_FORMAT, "truncated header: file is %llu bytes, need %d",
                    (unsigned long long)c->size, GGUF_HEADER_SIZE);
    c->pos = 4;
    read_u32(c, "version", &g->version);
    if (g->version == 1)
        return fail(c, ACTRM_ERR_UNSUPPORTED, "GGUF version 1 is not supported (use version 2 or 3)");
    if (g->version == 0x03000000u || g->version == 0x02000000u)
        return fail(c, ACTRM_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return fail(c, ACTRM_ERR_UNSUPPORTED, "GGUF version %u is not supported (2 or 3)",
                    g->version);
    read_u64(c, "tensor_count", n_tensors);
    read_u64(c, "kv_count", n_kv);
    if (*n_kv > bytes_left(c) / GGUF_MIN_KV_BYTES)
        return fail(c, ACTRM_ERR_FORMAT, "kv_count %llu is impossible for a file of size %llu",
                    (unsigned long long)*n_kv, (unsigned long long)c->size);
    if (*n_tensors > bytes_left(c) / GGUF_MIN_TENSOR_BYTES)
        return fail(c, ACTRM_ERR_FORMAT, "tensor_count %llu is impossible for a file of size %llu",
                    (unsigned long long)*n_tensors, (unsigned long long)c->size);
    return ACTRM_OK;
}

static int map_file(actrm_gguf *g, actrm_error *err)
{
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", g->path, strerror(errno));
    struct stat st;
    int rc = ACTRM_OK;
    if (fstat(fd, &st) != 0)
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot stat: %s", g->path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: not a regular file", g->path);
    else if ((uint64_t)st.st_size > SIZE_MAX)
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: file too large to map", g->path);
    else if (st.st_size < GGUF_HEADER_SIZE)
        rc = actrm_error_set(err, ACTRM_ERR_FORMAT,
                             "%s: header: truncated: file is %lld bytes, a GGUF header needs %d",
                             g->path, (long long)st.st_size, GGUF_HEADER_SIZE);
    if (rc == ACTRM_OK) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot mmap: %s", g->path, strerror(errno));
        else {
            g->map = m;
            g->size = (uint64_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

static int parse(actrm_gguf *g, actrm_error *err)
{
    cursor c = {.base = g->map, .size = g->size, .path = g->path, .err = err};
    uint64_t n_tensors, n_kv;
    int rc = read_header(&c, g, &n_tensors, &n_kv);
    if (rc == ACTRM_OK)
        rc = read_kvs(&c, g, n_kv);
    if (rc == ACTRM_OK)
        rc = read_alignment(&c, g);
    if (rc == ACTRM_OK)
        rc = read_tensors(&c, g, n_tensors);
    return rc;
}

int gguf_open(actrm_gguf **out, const char *path, actrm_error *err)
{
    *out = NULL;
    if (!path)
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf_open: path is NULL");
    actrm_gguf *g = calloc(1, sizeof *g);
    if (g)
        g->path = strdup(path);
    if (!g || !g->path) {
        free(g);
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int rc = map_file(g, err);
    if (rc == ACTRM_OK)
        rc = parse(g, err);
    if (rc != ACTRM_OK) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return ACTRM_OK;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* An anonymous mapping of at least n bytes starting on a 2 MiB boundary, so
 * that transparent huge pages can back all of it; *len_out is what to munmap. */
static void *map_huge_aligned(size_t n, size_t *len_out)
{
    size_t len = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    uint8_t *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (head)
        munmap(p, head);
    if (HUGE_PAGE - head)
        munmap(p + head + len, HUGE_PAGE - head);
    madvise(p + head, len, MADV_HUGEPAGE); /* a hint: fine if THP is off */
    *len_out = len;
    return p + head;
}

static int read_fully(int fd, uint8_t *dst, uint64_t n, uint64_t offset)
{
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? (size_t)n : ((size_t)1 << 30);
        ssize_t got = pread(fd, dst, chunk, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO; /* the file shrank since it was opened */
            return -1;
        }
        dst += got;
        offset += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return 0;
}

int gguf_load_data(actrm_gguf *g, actrm_error *err)
{
    uint64_t n = g->size > g->data_offset ? g->size - g->data_offset : 0;
    if (g->copy || n == 0)
        return ACTRM_OK;
    if (n > SIZE_MAX - 2 * HUGE_PAGE)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: data section too large", g->path);
    size_t len = 0;
    uint8_t *copy = map_huge_aligned((size_t)n, &len);
    if (!copy)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: cannot allocate %llu bytes for the tensor data",
                               g->path, (unsigned long long)n);
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_fully(fd, copy, n, g->data_offset) != 0) {
        int rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot read the tensor data: %s", g->path,
                                 strerror(errno));
        if (fd >= 0)
            close(fd);
        munmap(copy, len);
        return rc;
    }
    close(fd);
    const uint8_t *old = g->map + g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = copy + ((const uint8_t *)g->tensors[i].data - old);
    g->copy = copy;
    g->copy_len = len;
    return ACTRM_OK;
}

int gguf_data_private(const actrm_gguf *g)
{
    return g->copy != NULL;
}

void gguf_seal_data(actrm_gguf *g)
{
    if (g->copy)
        mprotect(g->copy, g->copy_len, PROT_READ); /* read-only, as the file mapping is */
}

void gguf_close(actrm_gguf *g)
{
    if (!g)
        return;
    for (uint64_t i = 0; i < g->n_kv; i++)
        free((void *)g->kvs[i].strs);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index.slot);
    free(g->tensor_index.slot);
    if (g->map)
        munmap((void *)g->map, (size_t)g->size);
    if (g->copy)
        munmap(g->copy, g->copy_len);
    free(g->path);
    free(g);
}

const char *gguf_path(const actrm_gguf *g) { return g->path; }
uint32_t gguf_version(const actrm_gguf *g) { return g->version; }
uint32_t gguf_alignment(const actrm_gguf *g) { return g->alignment; }
uint64_t gguf_n_kv(const actrm_gguf *g) { return g->n_kv; }
uint64_t gguf_n_tensors(const actrm_gguf *g) { return g->n_tensors; }
uint64_t gguf_data_offset(const actrm_gguf *g) { return g->data_offset; }
uint64_t gguf_file_size(const actrm_gguf *g) { return g->size; }

const gguf_kv *gguf_kv_at(const actrm_gguf *g, uint64_t i)
{
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const gguf_kv *gguf_find_kv(const actrm_gguf *g, const char *key)
{
    uint64_t i = index_find(&g->kv_index, g->kvs, kv_name_at, key, strlen(key));
    return i == UINT64_MAX ? NULL : &g->kvs[i];
}

const gguf_tensor *gguf_tensor_at(const actrm_gguf *g, uint64_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const actrm_gguf *g, const char *name)
{
    uint64_t i = index_find(&g->tensor_index, g->tensors, tensor_name_at, name, strlen(name));
    return i == UINT64_MAX ? NULL : &g->tensors[i];
}

/* ---------------------------------------------------------- getters -- */

static const gguf_kv *find_typed(const actrm_gguf *g, const char *key, actrm_error *err)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: key '%s' is missing", g->path, key);
    return kv;
}

static int wrong_type(const actrm_gguf *g, const gguf_kv *kv, const char *key, const char *expected,
                      actrm_error *err)
{
    if (kv->type == GGUF_TYPE_ARRAY)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: key '%s' is an array of %s, expected %s",
                               g->path, key, gguf_type_name(kv->arr_type), expected);
    return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path,
                           key, gguf_type_name(kv->type), expected);
}

/* A scalar integer as sign + magnitude-compatible pair: *neg set when the
 * value is negative (then *sv holds it), else *uv holds it. */
static int kv_integer(const gguf_kv *kv, uint64_t *uv, int64_t *sv, int *neg)
{
    const void *p = kv->data;
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; } v;
    int64_t s = 0;
    int is_signed = 1;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: memcpy(&v.u8, p, 1); *uv = v.u8; is_signed = 0; break;
    case GGUF_TYPE_UINT16: memcpy(&v.u16, p, 2); *uv = v.u16; is_signed = 0; break;
    case GGUF_TYPE_UINT32: memcpy(&v.u32, p, 4); *uv = v.u32; is_signed = 0; break;
    case GGUF_TYPE_UINT64: memcpy(&v.u64, p, 8); *uv = v.u64; is_signed = 0; break;
    case GGUF_TYPE_INT8: memcpy(&v.i8, p, 1); s = v.i8; break;
    case GGUF_TYPE_INT16: memcpy(&v.i16, p, 2); s = v.i16; break;
    case GGUF_TYPE_INT32: memcpy(&v.i32, p, 4); s = v.i32; break;
    case GGUF_TYPE_INT64: memcpy(&v.i64, p, 8); s = v.i64; break;
    default: return 0;
    }
    *neg = is_signed && s < 0;
    *sv = s;
    if (is_signed && s >= 0)
        *uv = (uint64_t)s;
    return 1;
}

/* Reads an integer key that must lie in [lo, hi]. */
static int get_int(const actrm_gguf *g, const char *key, int64_t lo, uint64_t hi,
                   const char *expected, uint64_t *uv, int64_t *sv, actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    int neg = 0;
    if (!kv_integer(kv, uv, sv, &neg))
        return wrong_type(g, kv, key, expected, err);
    if (neg ? *sv < lo : *uv > hi) {
        if (neg)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: key '%s' = %lld does not fit %s",
                                   g->path, key, (long long)*sv, expected);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: key '%s' = %llu does not fit %s",
                               g->path, key, (unsigned long long)*uv, expected);
    }
    return ACTRM_OK;
}

int gguf_get_u32(const actrm_gguf *g, const char *key, uint32_t *out, actrm_error *err)
{
    uint64_t u;
    int64_t s;
    int rc = get_int(g, key, 0, UINT32_MAX, "u32", &u, &s, err);
    if (rc == ACTRM_OK)
        *out = (uint32_t)u;
    return rc;
}

int gguf_get_u64(const actrm_gguf *g, const char *key, uint64_t *out, actrm_error *err)
{
    uint64_t u;
    int64_t s;
    int rc = get_int(g, key, 0, UINT64_MAX, "u64", &u, &s, err);
    if (rc == ACTRM_OK)
        *out = u;
    return rc;
}

int gguf_get_i32(const actrm_gguf *g, const char *key, int32_t *out, actrm_error *err)
{
    uint64_t u = 0;
    int64_t s = 0;
    int rc = get_int(g, key, INT32_MIN, INT32_MAX, "i32", &u, &s, err);
    if (rc == ACTRM_OK)
        *out = s < 0 ? (int32_t)s : (int32_t)u; /* u holds every non-negative value */
    return rc;
}

int gguf_get_f32(const actrm_gguf *g, const char *key, float *out, actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->data, 4);
        return ACTRM_OK;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return ACTRM_OK;
    }
    return wrong_type(g, kv, key, "f32", err);
}

int gguf_get_bool(const actrm_gguf *g, const char *key, int *out, actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    if (kv->type != GGUF_TYPE_BOOL)
        return wrong_type(g, kv, key, "bool", err);
    *out = *(const uint8_t *)kv->data != 0;
    return ACTRM_OK;
}

int gguf_get_str(const actrm_gguf *g, const char *key, gguf_str *out, actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    if (kv->type != GGUF_TYPE_STRING)
        return wrong_type(g, kv, key, "string", err);
    *out = kv->strs[0];
    return ACTRM_OK;
}

int gguf_get_strdup(const actrm_gguf *g, const char *key, char **out, actrm_error *err)
{
    gguf_str s;
    int rc = gguf_get_str(g, key, &s, err);
    if (rc != ACTRM_OK)
        return rc;
    if (s.len >= SIZE_MAX || !(*out = malloc((size_t)s.len + 1)))
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: key '%s': out of memory", g->path, key);
    memcpy(*out, s.ptr, (size_t)s.len);
    (*out)[s.len] = '\0';
    return ACTRM_OK;
}

int gguf_get_arr(const actrm_gguf *g, const char *key, int elem_type, const void **data,
                 uint64_t *n, actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem_type || value_size(elem_type) == 0) {
        char expected[48];
        snprintf(expected, sizeof expected, "an array of %s", gguf_type_name(elem_type));
        return wrong_type(g, kv, key, expected, err);
    }
    *data = kv->data;
    *n = kv->n;
    return ACTRM_OK;
}

int gguf_get_str_arr(const actrm_gguf *g, const char *key, const gguf_str **strs, uint64_t *n,
                     actrm_error *err)
{
    const gguf_kv *kv = find_typed(g, key, err);
    if (!kv)
        return ACTRM_ERR_FORMAT;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return wrong_type(g, kv, key, "an array of string", err);
    *strs = kv->strs;
    *n = kv->n;
    return ACTRM_OK;
}

static void format_types(char *buf, size_t cap, unsigned types)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_TENSOR_TYPES && n < cap; i++)
        if (types & (1u << tensor_types[i].type))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", tensor_types[i].name);
}

int gguf_require_tensor(const actrm_gguf *g, const char *name, unsigned types, int n_dims,
                        const uint64_t *ne, const gguf_tensor **out, actrm_error *err)
{
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (out)
        *out = NULL;
    if (!t)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s' is missing", g->path, name);
    if (!(types & (1u << t->type))) {
        char accepted[64];
        format_types(accepted, sizeof accepted, types);
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: tensor '%s' has type %s, expected %s", g->path, name,
                               ggml_type_name(t->type), accepted);
    }
    /* Trailing 1s are not significant: [64] and [64, 1] are the same shape. */
    uint64_t want[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    int ok = n_dims >= 1 && n_dims <= GGUF_MAX_DIMS;
    for (int d = 0; ok && d < n_dims; d++)
        want[d] = ne[d];
    for (int d = 0; ok && d < GGUF_MAX_DIMS; d++)
        ok = want[d] == t->ne[d];
    if (!ok) {
        char have[128], expected[128];
        actrm_format_dims(have, sizeof have, t->n_dims, t->ne);
        actrm_format_dims(expected, sizeof expected, n_dims < 0 ? 0 : n_dims > 4 ? 4 : n_dims, ne);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                               g->path, name, have, expected);
    }
    if (out)
        *out = t;
    return ACTRM_OK;
}

/* ----------------------------------------------------------- writer -- */

/* A growable byte buffer; the value of each kv is kept serialized. */
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static int bytes_put(bytes *b, const void *data, size_t len)
{
    if (len > SIZE_MAX - b->n)
        return ACTRM_ERR_NOMEM;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len)
            cap = cap > SIZE_MAX / 2 ? b->n + len : cap * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return ACTRM_ERR_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
    return ACTRM_OK;
}

static int bytes_u32(bytes *b, uint32_t v) { return bytes_put(b, &v, 4); }
static int bytes_u64(bytes *b, uint64_t v) { return bytes_put(b, &v, 8); }

static int bytes_str(bytes *b, const char *s, uint64_t len)
{
    if (len > SIZE_MAX)
        return ACTRM_ERR_NOMEM;
    int rc = bytes_u64(b, len);
    return rc ? rc : bytes_put(b, s, (size_t)len);
}

typedef struct wkv {
    char *key;
    uint32_t type;
    bytes val; /* the value as it appears in the file */
} wkv;

typedef struct wtensor {
    char *name;
    int type;
    int n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    const void *data; /* [nbytes] */
    uint64_t nbytes;
    void *owned;      /* freed with the writer (== data) or NULL when borrowed */
} wtensor;

struct gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

gguf_writer *gguf_writer_new(void)
{
    return calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val.p);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

static wkv *writer_find_kv(gguf_writer *w, const char *key, size_t key_len)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strlen(w->kvs[i].key) == key_len && memcmp(w->kvs[i].key, key, key_len) == 0)
            return &w->kvs[i];
    return NULL;
}

/* Stores a serialized value under key, replacing an existing one in place
 * (so insertion order is kept). Takes ownership of val on success. */
static int writer_put(gguf_writer *w, const char *key, size_t key_len, uint32_t type, bytes *val)
{
    if (!w || !key || key_len == 0 || key_len > GGUF_MAX_KEY_LEN || memchr(key, '\0', key_len)) {
        free(val->p);
        return ACTRM_ERR_ARG;
    }
    wkv *kv = writer_find_kv(w, key, key_len);
    if (kv) {
        free(kv->val.p);
        kv->type = type;
        kv->val = *val;
        return ACTRM_OK;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            free(val->p);
            return ACTRM_ERR_NOMEM;
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = strndup(key, key_len);
    if (!k) {
        free(val->p);
        return ACTRM_ERR_NOMEM;
    }
    w->kvs[w->n_kv++] = (wkv){k, type, *val};
    return ACTRM_OK;
}

static int set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v)
{
    bytes b = {0};
    if (value_size(type) == 0 || bytes_put(&b, v, value_size(type)) != ACTRM_OK) {
        free(b.p);
        return value_size(type) ? ACTRM_ERR_NOMEM : ACTRM_ERR_ARG;
    }
    return writer_put(w, key, key ? strlen(key) : 0, type, &b);
}

int gguf_set_val(gguf_writer *w, const char *key, int type, const void *v)
{
    return v ? set_scalar(w, key, (uint32_t)type, v) : ACTRM_ERR_ARG;
}

int gguf_set_u8(gguf_writer *w, const char *key, uint8_t v) { return set_scalar(w, key, GGUF_TYPE_UINT8, &v); }
int gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, GGUF_TYPE_UINT32, &v); }
int gguf_set_i32(gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, GGUF_TYPE_INT32, &v); }
int gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, GGUF_TYPE_UINT64, &v); }
int gguf_set_f32(gguf_writer *w, const char *key, float v) { return set_scalar(w, key, GGUF_TYPE_FLOAT32, &v); }

int gguf_set_bool(gguf_writer *w, const char *key, int v)
{
    uint8_t b = v != 0;
    return set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

static int set_strn(gguf_writer *w, const char *key, size_t key_len, const char *v, uint64_t len)
{
    bytes b = {0};
    if (!v && len)
        return ACTRM_ERR_ARG;
    if (bytes_str(&b, v, len) != ACTRM_OK) {
        free(b.p);
        return ACTRM_ERR_NOMEM;
    }
    return writer_put(w, key, key_len, GGUF_TYPE_STRING, &b);
}

int gguf_set_strn(gguf_writer *w, const char *key, const char *v, uint64_t len)
{
    return set_strn(w, key, key ? strlen(key) : 0, v, len);
}

int gguf_set_str(gguf_writer *w, const char *key, const char *v)
{
    return v ? gguf_set_strn(w, key, v, strlen(v)) : ACTRM_ERR_ARG;
}

static int set_arr(gguf_writer *w, const char *key, size_t key_len, int elem_type,
                   const void *data, uint64_t n)
{
    uint64_t size = value_size(elem_type);
    if (size == 0 || (n && !data) || n > SIZE_MAX / size)
        return ACTRM_ERR_ARG;
    bytes b = {0};
    int rc = bytes_u32(&b, (uint32_t)elem_type);
    if (rc == ACTRM_OK)
        rc = bytes_u64(&b, n);
    if (rc == ACTRM_OK)
        rc = bytes_put(&b, data, (size_t)(n * size));
    if (rc != ACTRM_OK) {
        free(b.p);
        return rc;
    }
    return writer_put(w, key, key_len, GGUF_TYPE_ARRAY, &b);
}

int gguf_set_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n)
{
    return set_arr(w, key, key ? strlen(key) : 0, elem_type, data, n);
}

/* Either v (C strings) or strs (counted strings) supplies the n strings. */
static int set_str_arr(gguf_writer *w, const char *key, size_t key_len, const char *const *v,
                       const gguf_str *strs, uint64_t n)
{
    if (n && !v && !strs)
        return ACTRM_ERR_ARG;
    bytes b = {0};
    int rc = bytes_u32(&b, GGUF_TYPE_STRING);
    if (rc == ACTRM_OK)
        rc = bytes_u64(&b, n);
    for (uint64_t i = 0; i < n && rc == ACTRM_OK; i++) {
        if (v && !v[i])
            rc = ACTRM_ERR_ARG;
        else
            rc = v ? bytes_str(&b, v[i], strlen(v[i])) : bytes_str(&b, strs[i].ptr, strs[i].len);
    }
    if (rc != ACTRM_OK) {
        free(b.p);
        return rc;
    }
    return writer_put(w, key, key_len, GGUF_TYPE_ARRAY, &b);
}

int gguf_set_str_arr(gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    return set_str_arr(w, key, key ? strlen(key) : 0, v, NULL, n);
}

int gguf_set_kv_from(gguf_writer *w, const gguf_kv *kv)
{
    if (!kv || !kv->key.ptr)
        return ACTRM_ERR_ARG;
    const char *key = kv->key.ptr;
    size_t key_len = (size_t)kv->key.len;
    if (kv->type == GGUF_TYPE_STRING)
        return set_strn(w, key, key_len, kv->strs[0].ptr, kv->strs[0].len);
    if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING)
        return set_str_arr(w, key, key_len, NULL, kv->strs, kv->n);
    if (kv->type == GGUF_TYPE_ARRAY)
        return set_arr(w, key, key_len, kv->arr_type, kv->data, kv->n);
    bytes b = {0};
    uint64_t size = value_size(kv->type);
    if (size == 0 || !kv->data)
        return ACTRM_ERR_ARG;
    if (bytes_put(&b, kv->data, (size_t)size) != ACTRM_OK) {
        free(b.p);
        return ACTRM_ERR_NOMEM;
    }
    return writer_put(w, key, key_len, (uint32_t)kv->type, &b);
}

static int check_new_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                            const uint64_t *ne, const void *data, uint64_t nbytes, actrm_error *err)
{
    if (!w || !name || !ne || (!data && nbytes))
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: NULL argument for tensor '%s'",
                               name ? name : "(null)");
    size_t len = strlen(name);
    if (len == 0 || len > GGUF_WRITER_MAX_NAME)
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "gguf writer: tensor '%s': name must be 1..%d bytes", name,
                               GGUF_WRITER_MAX_NAME);
    if (tensor_type_index(type) < 0)
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: tensor '%s': unsupported type %d",
                               name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: tensor '%s': n_dims %d not in 1..4",
                               name, n_dims);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: duplicate tensor '%s'", name);
    uint64_t rows = 1;
    for (int d = 1; d < n_dims; d++) {
        if (ne[d] == 0 || rows > UINT64_MAX / ne[d])
            return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: tensor '%s': bad ne[%d] = %llu",
                                   name, d, (unsigned long long)ne[d]);
        rows *= ne[d];
    }
    uint64_t row = ggml_row_size(type, ne[0]);
    if (row == 0 || rows > UINT64_MAX / row)
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "gguf writer: tensor '%s': ne[0] = %llu is invalid for type %s", name,
                               (unsigned long long)ne[0], ggml_type_name(type));
    if (row * rows != nbytes)
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "gguf writer: tensor '%s': %llu data bytes given, shape needs %llu",
                               name, (unsigned long long)nbytes, (unsigned long long)(row * rows));
    return ACTRM_OK;
}

static int add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const uint64_t *ne,
                      const void *data, void *owned, uint64_t nbytes, actrm_error *err)
{
    int rc = check_new_tensor(w, name, type, n_dims, ne, data, nbytes, err);
    if (rc != ACTRM_OK)
        return rc;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *ts = realloc(w->tensors, cap * sizeof *ts);
        if (!ts)
            return actrm_error_set(err, ACTRM_ERR_NOMEM, "gguf writer: out of memory");
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    wtensor t = {.name = strdup(name), .type = type, .n_dims = n_dims, .data = data,
                 .nbytes = nbytes, .owned = owned};
    if (!t.name)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "gguf writer: out of memory");
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = d < n_dims ? ne[d] : 1;
    w->tensors[w->n_tensors++] = t;
    return ACTRM_OK;
}

/* Adds a tensor whose buffer `owned` the writer frees, also on failure. */
static int add_tensor_owned(gguf_writer *w, const char *name, int type, int n_dims,
                            const uint64_t *ne, const void *data, void *owned, uint64_t nbytes,
                            actrm_error *err)
{
    int rc = add_tensor(w, name, type, n_dims, ne, data, owned, nbytes, err);
    if (rc != ACTRM_OK)
        free(owned);
    return rc;
}

int gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const uint64_t *ne,
                    const void *data, uint64_t nbytes, actrm_error *err)
{
    if (nbytes > SIZE_MAX)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "gguf writer: tensor '%s' too large", name);
    void *copy = malloc(nbytes ? (size_t)nbytes : 1);
    if (!copy)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "gguf writer: no memory for tensor '%s'",
                               name ? name : "(null)");
    if (data && nbytes)
        memcpy(copy, data, (size_t)nbytes);
    return add_tensor_owned(w, name, type, n_dims, ne, data ? copy : NULL, copy, nbytes, err);
}

int gguf_add_tensor_owned(gguf_writer *w, const char *name, int type, int n_dims,
                          const uint64_t *ne, void *data, uint64_t nbytes, actrm_error *err)
{
    return add_tensor_owned(w, name, type, n_dims, ne, data, data, nbytes, err);
}

int gguf_add_tensor_ref(gguf_writer *w, const char *name, int type, int n_dims,
                        const uint64_t *ne, const void *data, uint64_t nbytes, actrm_error *err)
{
    return add_tensor(w, name, type, n_dims, ne, data, NULL, nbytes, err);
}

static int writer_alignment(gguf_writer *w, uint32_t *align, actrm_error *err)
{
    const char *key = "general.alignment";
    wkv *kv = writer_find_kv(w, key, strlen(key));
    *align = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return ACTRM_OK;
    if (kv->type != GGUF_TYPE_UINT32)
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf writer: key '%s' must be u32, not %s",
                               key, gguf_type_name((int)kv->type));
    memcpy(align, kv->val.p, 4);
    if (!is_pow2(*align))
        return actrm_error_set(err, ACTRM_ERR_ARG,
                               "gguf writer: key '%s' = %u is not a nonzero power of two", key,
                               *align);
    return ACTRM_OK;
}

/* A FILE with a sticky error: the first failure is kept, later writes skip. */
typedef struct out_file {
    FILE *f;
    int failed;
    int saved_errno;
} out_file;

static void out_write(out_file *o, const void *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    errno = 0;
    if (fwrite(p, 1, n, o->f) != n) {
        o->failed = 1;
        o->saved_errno = errno ? errno : EIO;
    }
}

static void out_u32(out_file *o, uint32_t v) { out_write(o, &v, 4); }
static void out_u64(out_file *o, uint64_t v) { out_write(o, &v, 8); }

static void out_pad(out_file *o, uint64_t pos, uint32_t align)
{
    static const uint8_t zeros[256];
    uint64_t pad = (align - pos % align) % align;
    while (pad > 0) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        out_write(o, zeros, n);
        pad -= n;
    }
}

/* Writes header, kvs, tensor infos and padded tensor data; errors stick in o. */
static void write_contents(gguf_writer *w, out_file *o, uint32_t align)
{
    uint64_t pos = 0;
    out_write(o, "GGUF", 4);
    out_u32(o, 3);
    out_u64(o, w->n_tensors);
    out_u64(o, w->n_kv);
    pos += GGUF_HEADER_SIZE;
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kvs[i];
        size_t len = strlen(kv->key);
        out_u64(o, len);
        out_write(o, kv->key, len);
        out_u32(o, kv->type);
        out_write(o, kv->val.p, kv->val.n);
        pos += 8 + len + 4 + kv->val.n;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        size_t len = strlen(t->name);
        out_u64(o, len);
        out_write(o, t->name, len);
        out_u32(o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            out_u64(o, t->ne[d]);
        out_u32(o, (uint32_t)t->type);
        out_u64(o, offset);
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        offset += t->nbytes + (align - t->nbytes % align) % align;
    }
    if (w->n_tensors == 0)
        return;
    out_pad(o, pos, align);
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        out_write(o, t->data, (size_t)t->nbytes);
        out_pad(o, t->nbytes, align);
    }
}

int gguf_writer_write(gguf_writer *w, const char *path, actrm_error *err)
{
    if (!w || !path)
        return actrm_error_set(err, ACTRM_ERR_ARG, "gguf_writer_write: NULL argument");
    uint32_t align;
    int rc = writer_alignment(w, &align, err);
    if (rc != ACTRM_OK)
        return actrm_error_prefix(err, "%s", path);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!w->tensors[i].data)
            return actrm_error_set(err, ACTRM_ERR_ARG, "%s: tensor '%s' has no data", path,
                                   w->tensors[i].name);
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    out_file o = {.f = fopen(tmp, "wb")};
    if (!o.f) {
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    write_contents(w, &o, align);
    if (!o.failed && fflush(o.f) != 0) {
        o.failed = 1;
        o.saved_errno = errno;
    }
    if (fclose(o.f) != 0 && !o.failed) {
        o.failed = 1;
        o.saved_errno = errno;
    }
    if (!o.failed && rename(tmp, path) != 0) {
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot rename %s to it: %s", path, tmp,
                             strerror(errno));
        unlink(tmp);
    } else if (o.failed) {
        rc = actrm_error_set(err, ACTRM_ERR_IO, "%s: write failed: %s", tmp,
                             strerror(o.saved_errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}
