/*
 * GGUF reader/writer: round trips of every value and tensor type, a
 * byte-exact layout check against the spec, and one crafted bad file per
 * loader error path (status and message naming the path and key/tensor).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "gguf.h"

#define TMP_DIR "/tmp/gguf"

static char *tmp_path(const char *name)
{
    static char buf[4][256]; /* a few paths alive at once per test */
    static int next;
    mkdir(TMP_DIR, 0755);
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], TMP_DIR "/%d_%s", (int)getpid(), name);
    return p;
}

/* ---- a tiny byte builder for crafted files ---- */
typedef struct bb {
    uint8_t p[8192];
    size_t n;
} bb;

static void bb_bytes(bb *b, const void *d, size_t n)
{
    cr_assert(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u8(bb *b, uint8_t v) { bb_bytes(b, &v, 1); }
static void bb_u32(bb *b, uint32_t v) { bb_bytes(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_bytes(b, &v, 8); }
static void bb_str(bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_bytes(b, s, strlen(s));
}
static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_bytes(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_kv_u32(bb *b, const char *key, uint32_t v)
{
    bb_str(b, key);
    bb_u32(b, GGUF_TYPE_UINT32);
    bb_u32(b, v);
}
/* A tensor info with n_dims dims from ne. */
static void bb_tensor(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                      uint64_t offset)
{
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}
static void bb_pad(bb *b, size_t align)
{
    while (b->n % align)
        bb_u8(b, 0);
}
static void bb_zeros(bb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bb_u8(b, 0);
}
static const char *bb_save(const bb *b, const char *name)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b->p, 1, b->n, f), b->n);
    fclose(f);
    return path;
}

/* ---- round trip ---- */

static const uint8_t u8s[] = {0, 1, 255};
static const int8_t i8s[] = {-128, 0, 127};
static const uint16_t u16s[] = {0, 65535, 1234};
static const int16_t i16s[] = {-32768, 32767, -5};
static const uint32_t u32s[] = {0, 4000000000u, 7};
static const int32_t i32s[] = {INT32_MIN, INT32_MAX, -1};
static const float f32s[] = {1.5f, -0.0f, 3.4e38f};
static const uint8_t bools[] = {1, 0, 1};
static const uint64_t u64s[] = {0, UINT64_MAX, 1ull << 40};
static const int64_t i64s[] = {INT64_MIN, INT64_MAX, -42};
static const double f64s[] = {2.25, -1e300, 0.1};

static const struct {
    int type;
    const void *data;
    size_t size;
} arrays[] = {
    {GGUF_TYPE_UINT8, u8s, 1}, {GGUF_TYPE_INT8, i8s, 1}, {GGUF_TYPE_UINT16, u16s, 2},
    {GGUF_TYPE_INT16, i16s, 2}, {GGUF_TYPE_UINT32, u32s, 4}, {GGUF_TYPE_INT32, i32s, 4},
    {GGUF_TYPE_FLOAT32, f32s, 4}, {GGUF_TYPE_BOOL, bools, 1}, {GGUF_TYPE_UINT64, u64s, 8},
    {GGUF_TYPE_INT64, i64s, 8}, {GGUF_TYPE_FLOAT64, f64s, 8},
};
#define N_ARRAYS (sizeof arrays / sizeof arrays[0])

static const char *const strings[] = {"hello", "", "Ġwörld", "a b"};

/* Deterministic tensor bytes: [nbytes] filled from a seed. */
static uint8_t *pattern(uint64_t nbytes, unsigned seed)
{
    uint8_t *p = malloc(nbytes);
    for (uint64_t i = 0; i < nbytes; i++)
        p[i] = (uint8_t)(i * 131 + seed * 17 + (i >> 8));
    return p;
}

static const struct {
    const char *name;
    int type;
    int n_dims;
    uint64_t ne[4];
} tensors[] = {
    {"blk.0.attn_q.weight", GGML_TYPE_F32, 2, {8, 3}},
    {"f16.t", GGML_TYPE_F16, 3, {5, 2, 3}},
    {"bf16.t", GGML_TYPE_BF16, 1, {7}},
    {"q8.t", GGML_TYPE_Q8_0, 4, {64, 2, 1, 2}},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static uint64_t tensor_nbytes(size_t i)
{
    uint64_t n = ggml_row_size(tensors[i].type, tensors[i].ne[0]);
    for (int d = 1; d < tensors[i].n_dims; d++)
        n *= tensors[i].ne[d];
    return n;
}

static void build_full(gguf_writer *w, uint32_t alignment)
{
    actrm_error err = {0};
    if (alignment != GGUF_DEFAULT_ALIGNMENT)
        cr_assert_eq(gguf_set_u32(w, "general.alignment", alignment), ACTRM_OK);
    cr_assert_eq(gguf_set_str(w, "general.name", "tiny"), ACTRM_OK);
    for (size_t i = 0; i < N_ARRAYS; i++) {
        char key[64];
        snprintf(key, sizeof key, "scalar.%s", gguf_type_name(arrays[i].type));
        cr_assert_eq(gguf_set_val(w, key, arrays[i].type, (const char *)arrays[i].data + 2 * arrays[i].size),
                     ACTRM_OK);
        snprintf(key, sizeof key, "array.%s", gguf_type_name(arrays[i].type));
        cr_assert_eq(gguf_set_arr(w, key, arrays[i].type, arrays[i].data, 3), ACTRM_OK);
    }
    cr_assert_eq(gguf_set_str_arr(w, "array.string", strings, 4), ACTRM_OK);
    cr_assert_eq(gguf_set_arr(w, "array.empty", GGUF_TYPE_INT32, NULL, 0), ACTRM_OK);
    cr_assert_eq(gguf_set_strn(w, "str.nul", "a\0b", 3), ACTRM_OK);
    cr_assert_eq(gguf_set_u8(w, "set.u8", 200), ACTRM_OK);
    cr_assert_eq(gguf_set_i32(w, "set.i32", -7), ACTRM_OK);
    cr_assert_eq(gguf_set_u64(w, "set.u64", 1ull << 50), ACTRM_OK);
    cr_assert_eq(gguf_set_f32(w, "set.f32", 0.25f), ACTRM_OK);
    cr_assert_eq(gguf_set_bool(w, "set.bool", 5), ACTRM_OK);
    for (size_t i = 0; i < N_TENSORS; i++) {
        uint64_t nbytes = tensor_nbytes(i);
        uint8_t *data = pattern(nbytes, (unsigned)i);
        cr_assert_eq(gguf_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims,
                                     tensors[i].ne, data, nbytes, &err),
                     ACTRM_OK, "%s", err.msg);
        free(data);
    }
}

static void check_full(const actrm_gguf *g, uint32_t alignment)
{
    actrm_error err = {0};
    cr_expect_eq(gguf_version(g), 3);
    cr_expect_eq(gguf_alignment(g), alignment);
    cr_expect_eq(gguf_data_offset(g) % alignment, 0);
    char *name = NULL;
    cr_assert_eq(gguf_get_strdup(g, "general.name", &name, &err), ACTRM_OK, "%s", err.msg);
    cr_expect_str_eq(name, "tiny");
    free(name);
    for (size_t i = 0; i < N_ARRAYS; i++) {
        char key[64];
        snprintf(key, sizeof key, "scalar.%s", gguf_type_name(arrays[i].type));
        const gguf_kv *kv = gguf_find_kv(g, key);
        cr_assert(kv, "%s missing", key);
        cr_expect_eq(kv->type, arrays[i].type);
        cr_expect_eq(kv->n, 1);
        cr_expect(memcmp(kv->data, (const char *)arrays[i].data + 2 * arrays[i].size, arrays[i].size) == 0,
                  "%s value", key);
        snprintf(key, sizeof key, "array.%s", gguf_type_name(arrays[i].type));
        const void *data;
        uint64_t n;
        cr_assert_eq(gguf_get_arr(g, key, arrays[i].type, &data, &n, &err), ACTRM_OK, "%s", err.msg);
        cr_expect_eq(n, 3);
        cr_expect(memcmp(data, arrays[i].data, 3 * arrays[i].size) == 0, "%s values", key);
    }
    const gguf_str *strs;
    uint64_t n;
    cr_assert_eq(gguf_get_str_arr(g, "array.string", &strs, &n, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(strs[i].len, strlen(strings[i]));
        cr_expect(memcmp(strs[i].ptr, strings[i], strs[i].len) == 0);
    }
    const void *empty;
    cr_assert_eq(gguf_get_arr(g, "array.empty", GGUF_TYPE_INT32, &empty, &n, &err), ACTRM_OK);
    cr_expect_eq(n, 0);
    gguf_str s;
    cr_assert_eq(gguf_get_str(g, "str.nul", &s, &err), ACTRM_OK);
    cr_expect(s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0);
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f32;
    int b;
    cr_expect_eq(gguf_get_u32(g, "set.u8", &u32, &err), ACTRM_OK);
    cr_expect_eq(u32, 200);
    cr_expect_eq(gguf_get_i32(g, "set.i32", &i32, &err), ACTRM_OK);
    cr_expect_eq(i32, -7);
    cr_expect_eq(gguf_get_u64(g, "set.u64", &u64, &err), ACTRM_OK);
    cr_expect_eq(u64, 1ull << 50);
    cr_expect_eq(gguf_get_f32(g, "set.f32", &f32, &err), ACTRM_OK);
    cr_expect_eq(f32, 0.25f);
    cr_expect_eq(gguf_get_bool(g, "set.bool", &b, &err), ACTRM_OK);
    cr_expect_eq(b, 1);

    cr_assert_eq(gguf_n_tensors(g), N_TENSORS);
    for (size_t i = 0; i < N_TENSORS; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        cr_expect_str_eq(t->name, tensors[i].name, "tensors keep insertion order");
        cr_expect_eq(gguf_find_tensor(g, tensors[i].name), t);
        cr_expect_eq(t->type, tensors[i].type);
        cr_expect_eq(t->n_dims, tensors[i].n_dims);
        for (int d = 0; d < 4; d++)
            cr_expect_eq(t->ne[d], d < tensors[i].n_dims ? tensors[i].ne[d] : 1);
        cr_expect_eq(t->nbytes, tensor_nbytes(i));
        cr_expect_eq(((uintptr_t)t->data - (uintptr_t)gguf_tensor_at(g, 0)->data) % alignment, 0);
        uint8_t *want = pattern(t->nbytes, (unsigned)i);
        cr_expect(memcmp(t->data, want, t->nbytes) == 0, "tensor %s data", t->name);
        free(want);
    }
}

static void round_trip(uint32_t alignment, const char *file)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    build_full(w, alignment);
    const char *path = tmp_path(file);
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, path, &err), ACTRM_OK, "%s", err.msg);
    check_full(g, alignment);
    gguf_close(g);
    unlink(path);
}

Test(gguf, round_trip_default_alignment) { round_trip(32, "rt32.gguf"); }
Test(gguf, round_trip_alignment_64) { round_trip(64, "rt64.gguf"); }
Test(gguf, round_trip_alignment_1) { round_trip(1, "rt1.gguf"); }

Test(gguf, rewrite_is_byte_identical)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    build_full(w, 64);
    const char *a = tmp_path("rw_a.gguf"), *b = tmp_path("rw_b.gguf");
    cr_assert_eq(gguf_writer_write(w, a, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);

    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, a, &err), ACTRM_OK, "%s", err.msg);
    w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++)
        cr_assert_eq(gguf_set_kv_from(w, gguf_kv_at(g, i)), ACTRM_OK);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        cr_assert_eq(gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, &err),
                     ACTRM_OK, "%s", err.msg);
    }
    cr_assert_eq(gguf_writer_write(w, b, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    gguf_close(g);

    size_t na, nb;
    void *pa = fixture_read_file(a, &na), *pb = fixture_read_file(b, &nb);
    cr_expect_eq(na, nb);
    cr_expect(na == nb && memcmp(pa, pb, na) == 0, "rewritten file differs");
    free(pa);
    free(pb);
    unlink(a);
    unlink(b);
}

/* The exact bytes of a tiny file, laid out by hand from the spec. */
Test(gguf, writer_layout_matches_spec)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    cr_assert_eq(gguf_set_u32(w, "a", 7), ACTRM_OK);
    float v[2] = {1.0f, -2.0f};
    uint64_t ne[1] = {2};
    cr_assert_eq(gguf_add_tensor(w, "t", GGML_TYPE_F32, 1, ne, v, sizeof v, &err), ACTRM_OK);
    const char *path = tmp_path("layout.gguf");
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);

    bb want = {0};
    bb_header(&want, 3, 1, 1);
    bb_kv_u32(&want, "a", 7);                                /* 24 + 17 = 41 */
    bb_tensor(&want, "t", 1, ne, GGML_TYPE_F32, 0);          /* 41 + 33 = 74 */
    bb_pad(&want, 32);                                       /* data at 96 */
    bb_bytes(&want, v, sizeof v);
    bb_pad(&want, 32);                                       /* 128 */
    size_t n;
    uint8_t *got = (uint8_t *)fixture_read_file(path, &n);
    cr_assert_eq(n, 128);
    cr_expect(memcmp(got, want.p, n) == 0);
    free(got);
    unlink(path);
}

/* ---- helpers, facts from the spec ---- */

Test(gguf, type_helpers)
{
    cr_expect_eq(ggml_row_size(GGML_TYPE_F32, 10), 40);
    cr_expect_eq(ggml_row_size(GGML_TYPE_F16, 10), 20);
    cr_expect_eq(ggml_row_size(GGML_TYPE_BF16, 10), 20);
    cr_expect_eq(ggml_row_size(GGML_TYPE_Q8_0, 64), 68);
    cr_expect_eq(ggml_row_size(GGML_TYPE_Q8_0, 33), 0, "not a multiple of the block size");
    cr_expect_eq(ggml_row_size(12, 256), 0, "unknown type");
    cr_expect_eq(ggml_row_size(GGML_TYPE_F32, UINT64_MAX / 2), 0, "overflow");
    cr_expect_str_eq(ggml_type_name(GGML_TYPE_Q8_0), "q8_0");
    cr_expect_str_eq(ggml_type_name(GGML_TYPE_BF16), "bf16");
    cr_expect_str_eq(ggml_type_name(99), "unknown");
    cr_expect_eq(ggml_type_from_name("f32"), GGML_TYPE_F32);
    cr_expect_eq(ggml_type_from_name("F16"), GGML_TYPE_F16);
    cr_expect_eq(ggml_type_from_name("bf16"), GGML_TYPE_BF16);
    cr_expect_eq(ggml_type_from_name("q8_0"), GGML_TYPE_Q8_0);
    cr_expect_eq(ggml_type_from_name("q4_0"), -1);
    cr_expect_eq(ggml_type_from_name(NULL), -1);
}

/* ---- loader errors ---- */

/* Opens path, expecting status and a message naming path and each needle. */
static void expect_open_error(const char *path, int status, const char *const *needles)
{
    actrm_error err = {0};
    actrm_gguf *g = (actrm_gguf *)1;
    int rc = gguf_open(&g, path, &err);
    cr_expect_eq(rc, status, "status %d, expected %d: %s", rc, status, err.msg);
    cr_expect_null(g);
    cr_expect(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
    for (; needles && *needles; needles++)
        cr_expect(strstr(err.msg, *needles) != NULL, "message lacks \"%s\": %s", *needles, err.msg);
}
#define EXPECT_OPEN_ERROR(path, status, ...) \
    expect_open_error(path, status, (const char *const[]){__VA_ARGS__, NULL})

Test(gguf, missing_file_is_io_error)
{
    EXPECT_OPEN_ERROR(TMP_DIR "/does/not/exist.gguf", ACTRM_ERR_IO, "exist.gguf");
}

Test(gguf, directory_is_io_error)
{
    mkdir(TMP_DIR, 0755);
    EXPECT_OPEN_ERROR(TMP_DIR, ACTRM_ERR_IO, "not a regular file");
}

Test(gguf, short_and_foreign_files)
{
    bb b = {0};
    EXPECT_OPEN_ERROR(bb_save(&b, "empty.gguf"), ACTRM_ERR_FORMAT, "header");
    bb_bytes(&b, "GGUF", 4);
    bb_u32(&b, 3);
    EXPECT_OPEN_ERROR(bb_save(&b, "short.gguf"), ACTRM_ERR_FORMAT, "header", "truncated");
    b.n = 0;
    bb_bytes(&b, "GGML", 4);
    bb_zeros(&b, 40);
    EXPECT_OPEN_ERROR(bb_save(&b, "magic.gguf"), ACTRM_ERR_FORMAT, "not a GGUF file");
}

Test(gguf, versions)
{
    bb b = {0};
    bb_header(&b, 1, 0, 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "v1.gguf"), ACTRM_ERR_UNSUPPORTED, "version 1");
    b.n = 0;
    bb_header(&b, 4, 0, 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "v4.gguf"), ACTRM_ERR_UNSUPPORTED, "version 4");
    b.n = 0;
    bb_header(&b, 0x03000000u, 0, 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "be.gguf"), ACTRM_ERR_UNSUPPORTED, "big-endian");

    /* Version 2 has the same layout as 3 and is read. */
    b.n = 0;
    bb_header(&b, 2, 1, 1);
    bb_kv_u32(&b, "k", 5);
    uint64_t ne[1] = {4};
    bb_tensor(&b, "t", 1, ne, GGML_TYPE_F16, 0);
    bb_pad(&b, 32);
    bb_zeros(&b, 8);
    actrm_gguf *g;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&g, bb_save(&b, "v2.gguf"), &err), ACTRM_OK, "%s", err.msg);
    cr_expect_eq(gguf_version(g), 2);
    cr_expect_eq(gguf_n_tensors(g), 1);
    cr_expect_eq(gguf_tensor_at(g, 0)->nbytes, 8);
    gguf_close(g);
}

Test(gguf, absurd_counts)
{
    bb b = {0};
    bb_header(&b, 3, 0, 1ull << 60);
    bb_zeros(&b, 64);
    EXPECT_OPEN_ERROR(bb_save(&b, "kvcount.gguf"), ACTRM_ERR_FORMAT, "kv_count 1152921504606846976");
    b.n = 0;
    bb_header(&b, 3, 3, 0); /* 3 tensor infos cannot fit in 64 bytes */
    bb_zeros(&b, 64);
    EXPECT_OPEN_ERROR(bb_save(&b, "tcount.gguf"), ACTRM_ERR_FORMAT, "tensor_count 3");
}

/* A file with one key of the given type whose value bytes follow. */
static void kv_file(bb *b, const char *key, uint32_t type)
{
    b->n = 0;
    bb_header(b, 3, 0, 1);
    bb_str(b, key);
    bb_u32(b, type);
}

Test(gguf, bad_keys)
{
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 1000); /* key length past EOF */
    bb_bytes(&b, "abc", 3);
    bb_zeros(&b, 10);
    EXPECT_OPEN_ERROR(bb_save(&b, "keylen.gguf"), ACTRM_ERR_FORMAT, "key #0", "length 1000",
                      "past end of file");
    kv_file(&b, "", GGUF_TYPE_UINT32);
    bb_u32(&b, 1);
    EXPECT_OPEN_ERROR(bb_save(&b, "keyempty.gguf"), ACTRM_ERR_FORMAT, "key #0", "empty key");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 3);
    bb_bytes(&b, "a\0b", 3);
    bb_u32(&b, GGUF_TYPE_UINT32);
    bb_u32(&b, 1);
    EXPECT_OPEN_ERROR(bb_save(&b, "keynul.gguf"), ACTRM_ERR_FORMAT, "NUL");

    b.n = 0;
    bb_header(&b, 3, 0, 2);
    bb_kv_u32(&b, "general.x", 1);
    bb_kv_u32(&b, "general.x", 2);
    EXPECT_OPEN_ERROR(bb_save(&b, "dupkey.gguf"), ACTRM_ERR_FORMAT, "key 'general.x'", "duplicate");
}

Test(gguf, bad_values)
{
    bb b = {0};
    kv_file(&b, "my.key", 13);
    bb_u32(&b, 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "vtype.gguf"), ACTRM_ERR_FORMAT, "key 'my.key'", "unknown value type 13");

    kv_file(&b, "my.key", GGUF_TYPE_UINT64);
    bb_u32(&b, 0); /* 4 of 8 bytes */
    EXPECT_OPEN_ERROR(bb_save(&b, "scalar.gguf"), ACTRM_ERR_FORMAT, "key 'my.key'", "past end of file");

    kv_file(&b, "my.str", GGUF_TYPE_STRING);
    bb_u64(&b, 500);
    bb_bytes(&b, "short", 5);
    EXPECT_OPEN_ERROR(bb_save(&b, "strlen.gguf"), ACTRM_ERR_FORMAT, "key 'my.str'", "length 500",
                      "past end of file");

    kv_file(&b, "my.bool", GGUF_TYPE_BOOL);
    bb_u8(&b, 2);
    EXPECT_OPEN_ERROR(bb_save(&b, "bool.gguf"), ACTRM_ERR_FORMAT, "key 'my.bool'", "not 0 or 1");
}

Test(gguf, bad_arrays)
{
    bb b = {0};
    kv_file(&b, "arr.nested", GGUF_TYPE_ARRAY);
    bb_u32(&b, GGUF_TYPE_ARRAY);
    bb_u64(&b, 1);
    bb_u32(&b, GGUF_TYPE_UINT8);
    bb_u64(&b, 1);
    bb_u8(&b, 1);
    EXPECT_OPEN_ERROR(bb_save(&b, "nested.gguf"), ACTRM_ERR_UNSUPPORTED, "key 'arr.nested'", "nested");

    kv_file(&b, "arr.type", GGUF_TYPE_ARRAY);
    bb_u32(&b, 77);
    bb_u64(&b, 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "arrtype.gguf"), ACTRM_ERR_FORMAT, "key 'arr.type'",
                      "unknown array element type 77");

    /* Huge counts are rejected before any allocation or read. */
    kv_file(&b, "arr.huge", GGUF_TYPE_ARRAY);
    bb_u32(&b, GGUF_TYPE_INT32);
    bb_u64(&b, UINT64_MAX / 2);
    bb_zeros(&b, 16);
    EXPECT_OPEN_ERROR(bb_save(&b, "arrhuge.gguf"), ACTRM_ERR_FORMAT, "key 'arr.huge'", "cannot fit");

    kv_file(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    bb_u32(&b, GGUF_TYPE_STRING);
    bb_u64(&b, 1ull << 40);
    bb_zeros(&b, 16);
    EXPECT_OPEN_ERROR(bb_save(&b, "strhuge.gguf"), ACTRM_ERR_FORMAT, "key 'tokenizer.ggml.tokens'",
                      "cannot fit");

    kv_file(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
    bb_u32(&b, GGUF_TYPE_STRING);
    bb_u64(&b, 2);
    bb_str(&b, "ok");
    bb_u64(&b, 99);
    bb_bytes(&b, "truncated", 9);
    EXPECT_OPEN_ERROR(bb_save(&b, "strarr.gguf"), ACTRM_ERR_FORMAT, "key 'tokenizer.ggml.tokens'",
                      "string 1", "past end of file");
}

Test(gguf, bad_alignment)
{
    bb b = {0};
    bb_header(&b, 3, 0, 1);
    bb_kv_u32(&b, "general.alignment", 0);
    EXPECT_OPEN_ERROR(bb_save(&b, "align0.gguf"), ACTRM_ERR_FORMAT, "general.alignment", "power of two");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_kv_u32(&b, "general.alignment", 48);
    EXPECT_OPEN_ERROR(bb_save(&b, "align48.gguf"), ACTRM_ERR_FORMAT, "general.alignment", "48");
    kv_file(&b, "general.alignment", GGUF_TYPE_STRING);
    bb_str(&b, "32");
    EXPECT_OPEN_ERROR(bb_save(&b, "alignstr.gguf"), ACTRM_ERR_FORMAT, "general.alignment", "string");
}

#define TNAME "blk.0.attn_q.weight"

/* A file with one tensor info and data_bytes zero bytes of data. */
static const char *one_tensor_file(const char *file, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                                   uint64_t offset, size_t data_bytes)
{
    bb b = {0};
    bb_header(&b, 3, 1, 0);
    bb_tensor(&b, TNAME, n_dims, ne, type, offset);
    bb_pad(&b, 32);
    bb_zeros(&b, data_bytes);
    return bb_save(&b, file);
}

Test(gguf, bad_tensor_shapes_and_types)
{
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    EXPECT_OPEN_ERROR(one_tensor_file("ndims0.gguf", 0, ne, GGML_TYPE_F32, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "n_dims is 0");
    EXPECT_OPEN_ERROR(one_tensor_file("ndims5.gguf", 5, ne, GGML_TYPE_F32, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "n_dims is 5");
    uint64_t zero[2] = {32, 0};
    EXPECT_OPEN_ERROR(one_tensor_file("dim0.gguf", 2, zero, GGML_TYPE_F32, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "ne[1] is 0");
    uint64_t huge[4] = {1ull << 32, 1ull << 32, 1, 1};
    EXPECT_OPEN_ERROR(one_tensor_file("dimhuge.gguf", 4, huge, GGML_TYPE_F32, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "overflows");
    uint64_t big_row[2] = {1ull << 62, 1};
    EXPECT_OPEN_ERROR(one_tensor_file("rowhuge.gguf", 2, big_row, GGML_TYPE_F32, 0, 256),
                      ACTRM_ERR_FORMAT, "tensor '" TNAME "'", "row size overflows");
    uint64_t far[2] = {1ull << 40, 2}; /* 8 TiB: a valid shape whose data is not in the file */
    EXPECT_OPEN_ERROR(one_tensor_file("dimfar.gguf", 2, far, GGML_TYPE_F32, 0, 256),
                      ACTRM_ERR_FORMAT, "tensor '" TNAME "'", "past end of file");
    uint64_t q[2] = {48, 2};
    EXPECT_OPEN_ERROR(one_tensor_file("q8block.gguf", 2, q, GGML_TYPE_Q8_0, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "ne[0] = 48", "q8_0");
    EXPECT_OPEN_ERROR(one_tensor_file("q4k.gguf", 2, ne, 12, 0, 256), ACTRM_ERR_UNSUPPORTED,
                      "tensor '" TNAME "'", "type 12");
    EXPECT_OPEN_ERROR(one_tensor_file("type999.gguf", 2, ne, 999, 0, 256), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "unknown tensor type 999");
}

Test(gguf, bad_tensor_data_placement)
{
    uint64_t ne[2] = {4, 2}; /* f32: 32 bytes */
    /* info = 8 + 19 + 4 + 16 + 4 + 8 = 59 bytes after the 24-byte header: data at 96 */
    EXPECT_OPEN_ERROR(one_tensor_file("past.gguf", 2, ne, GGML_TYPE_F32, 0, 16), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "': data [96..128) past end of file (size 112)");
    EXPECT_OPEN_ERROR(one_tensor_file("misaligned.gguf", 2, ne, GGML_TYPE_F32, 8, 64), ACTRM_ERR_FORMAT,
                      "tensor '" TNAME "'", "offset 8", "alignment 32");
    EXPECT_OPEN_ERROR(one_tensor_file("wrap.gguf", 2, ne, GGML_TYPE_F32, UINT64_MAX - 31, 64),
                      ACTRM_ERR_FORMAT, "tensor '" TNAME "'", "past end of file");

    bb b = {0};
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 2, ne, GGML_TYPE_F32, 0);
    bb_tensor(&b, "b", 2, ne, GGML_TYPE_F32, 0);
    bb_pad(&b, 32);
    bb_zeros(&b, 64);
    EXPECT_OPEN_ERROR(bb_save(&b, "overlap.gguf"), ACTRM_ERR_FORMAT, "tensor 'b'", "overlaps tensor 'a'");

    uint64_t big[1] = {16}; /* 64 bytes at 0 overlap the next at 32 */
    b.n = 0;
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "second", 1, ne, GGML_TYPE_F32, 64);
    bb_tensor(&b, "first", 1, big, GGML_TYPE_F32, 32);
    bb_pad(&b, 32);
    bb_zeros(&b, 128);
    EXPECT_OPEN_ERROR(bb_save(&b, "overlap2.gguf"), ACTRM_ERR_FORMAT, "tensor 'second'",
                      "overlaps tensor 'first'");

    b.n = 0;
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "same", 2, ne, GGML_TYPE_F32, 0);
    bb_tensor(&b, "same", 2, ne, GGML_TYPE_F32, 32);
    bb_pad(&b, 32);
    bb_zeros(&b, 64);
    EXPECT_OPEN_ERROR(bb_save(&b, "duptensor.gguf"), ACTRM_ERR_FORMAT, "tensor 'same'", "duplicate");
}

Test(gguf, bad_tensor_infos)
{
    bb b = {0};
    bb_header(&b, 3, 1, 0);
    bb_u64(&b, 300); /* name length past EOF */
    bb_zeros(&b, 30);
    EXPECT_OPEN_ERROR(bb_save(&b, "tname.gguf"), ACTRM_ERR_FORMAT, "tensor #0", "past end of file");
    b.n = 0;
    bb_header(&b, 3, 1, 0);
    bb_str(&b, "");
    bb_zeros(&b, 32);
    EXPECT_OPEN_ERROR(bb_save(&b, "tnameempty.gguf"), ACTRM_ERR_FORMAT, "tensor #0", "empty");
    b.n = 0;
    bb_header(&b, 3, 1, 0);
    bb_str(&b, TNAME);
    bb_u32(&b, 2);
    bb_u64(&b, 4);
    bb_zeros(&b, 8); /* ends inside the dims: the count check passes, reading fails */
    EXPECT_OPEN_ERROR(bb_save(&b, "tinfo.gguf"), ACTRM_ERR_FORMAT, "tensor '" TNAME "'", "past end of file");
}

/* Every prefix of a valid file that cuts tensor data or metadata fails
 * cleanly, and single-byte corruptions never crash. */
Test(gguf, truncations_and_corruptions_never_crash)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    build_full(w, 32);
    const char *path = tmp_path("fuzz_src.gguf");
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    size_t n;
    uint8_t *orig = (uint8_t *)fixture_read_file(path, &n);
    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, path, &err), ACTRM_OK);
    const gguf_tensor *last = gguf_tensor_at(g, gguf_n_tensors(g) - 1);
    size_t data_end = (size_t)((const uint8_t *)last->data - (const uint8_t *)gguf_tensor_at(g, 0)->data +
                               gguf_data_offset(g) + last->nbytes);
    gguf_close(g);

    const char *cut = tmp_path("fuzz_cut.gguf");
    for (size_t len = 0; len < data_end; len += 1 + len / 64) {
        FILE *f = fopen(cut, "wb");
        fwrite(orig, 1, len, f);
        fclose(f);
        actrm_error e = {0};
        cr_expect_neq(gguf_open(&g, cut, &e), ACTRM_OK, "prefix of %zu bytes accepted", len);
        cr_expect(strstr(e.msg, cut) != NULL, "%s", e.msg);
    }
    for (size_t i = 0; i < n; i++) {
        static const uint8_t values[] = {0x00, 0x01, 0x7f, 0xff};
        for (size_t v = 0; v < sizeof values; v++) {
            uint8_t saved = orig[i];
            orig[i] = values[v];
            FILE *f = fopen(cut, "wb");
            fwrite(orig, 1, n, f);
            fclose(f);
            orig[i] = saved;
            actrm_error e = {0};
            if (gguf_open(&g, cut, &e) == ACTRM_OK)
                gguf_close(g);
            else
                cr_expect(e.msg[0] != '\0');
        }
    }
    free(orig);
    unlink(cut);
    unlink(path);
}

/* ---- getters and gguf_require_tensor ---- */

static actrm_gguf *open_full(const char *file)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    build_full(w, 32);
    const char *path = tmp_path(file);
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, path, &err), ACTRM_OK, "%s", err.msg);
    unlink(path); /* the mapping stays valid */
    return g;
}

static void expect_err(int rc, const actrm_error *err, int status, const char *needle)
{
    cr_expect_eq(rc, status, "status %d: %s", rc, err->msg);
    cr_expect(strstr(err->msg, needle) != NULL, "message lacks \"%s\": %s", needle, err->msg);
}

Test(gguf, getters_check_presence_type_and_range)
{
    actrm_gguf *g = open_full("getters.gguf");
    actrm_error err = {0};
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    int b;
    gguf_str s;
    const void *data;
    const gguf_str *strs;
    uint64_t n;
    expect_err(gguf_get_u32(g, "llama.block_count", &u32, &err), &err, ACTRM_ERR_FORMAT,
               "key 'llama.block_count' is missing");
    cr_expect(strstr(err.msg, gguf_path(g)) != NULL);
    expect_err(gguf_get_u32(g, "general.name", &u32, &err), &err, ACTRM_ERR_FORMAT,
               "key 'general.name' has type string");
    /* scalar.<type> holds element [2] of the test arrays. */
    expect_err(gguf_get_u32(g, "scalar.i32", &u32, &err), &err, ACTRM_ERR_FORMAT, "'scalar.i32' = -1 does not fit u32");
    expect_err(gguf_get_u32(g, "scalar.u64", &u32, &err), &err, ACTRM_ERR_FORMAT, "1099511627776 does not fit u32");
    expect_err(gguf_get_i32(g, "set.u64", &i32, &err), &err, ACTRM_ERR_FORMAT, "does not fit i32");
    expect_err(gguf_get_u64(g, "scalar.i64", &u64, &err), &err, ACTRM_ERR_FORMAT, "-42 does not fit u64");
    expect_err(gguf_get_f32(g, "scalar.u8", &f, &err), &err, ACTRM_ERR_FORMAT, "'scalar.u8' has type u8");
    expect_err(gguf_get_bool(g, "scalar.u8", &b, &err), &err, ACTRM_ERR_FORMAT, "expected bool");
    expect_err(gguf_get_str(g, "array.string", &s, &err), &err, ACTRM_ERR_FORMAT,
               "'array.string' is an array of string");
    expect_err(gguf_get_arr(g, "array.i32", GGUF_TYPE_UINT32, &data, &n, &err), &err, ACTRM_ERR_FORMAT,
               "expected an array of u32");
    expect_err(gguf_get_str_arr(g, "array.u8", &strs, &n, &err), &err, ACTRM_ERR_FORMAT, "array.u8");
    /* Values that fit are converted across integer types. */
    cr_expect_eq(gguf_get_i32(g, "scalar.i16", &i32, &err), ACTRM_OK);
    cr_expect_eq(i32, -5);
    cr_expect_eq(gguf_get_i32(g, "scalar.u32", &i32, &err), ACTRM_OK);
    cr_expect_eq(i32, 7);
    cr_expect_eq(gguf_get_i32(g, "scalar.i8", &i32, &err), ACTRM_OK);
    cr_expect_eq(i32, 127);
    cr_expect_eq(gguf_get_u32(g, "scalar.i64", &u32, &err), ACTRM_ERR_FORMAT);
    cr_expect_eq(gguf_get_u32(g, "array.u32", &u32, &err), ACTRM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "'array.u32' is an array of u32, expected u32") != NULL, "%s", err.msg);
    cr_expect_eq(gguf_get_u64(g, "scalar.u16", &u64, &err), ACTRM_OK);
    cr_expect_eq(u64, 1234);
    cr_expect_eq(gguf_get_f32(g, "scalar.f64", &f, &err), ACTRM_OK);
    cr_expect_float_eq(f, 0.1f, 1e-7f);
    gguf_close(g);
}

Test(gguf, require_tensor)
{
    actrm_gguf *g = open_full("require.gguf");
    actrm_error err = {0};
    const gguf_tensor *t = NULL;
    uint64_t ne[2] = {8, 3};
    unsigned f32_f16 = (1u << GGML_TYPE_F32) | (1u << GGML_TYPE_F16);
    cr_assert_eq(gguf_require_tensor(g, "blk.0.attn_q.weight", f32_f16, 2, ne, &t, &err), ACTRM_OK,
                 "%s", err.msg);
    cr_expect_str_eq(t->name, "blk.0.attn_q.weight");
    uint64_t ne_bf16[2] = {7, 1}; /* trailing 1s do not matter */
    cr_expect_eq(gguf_require_tensor(g, "bf16.t", 1u << GGML_TYPE_BF16, 2, ne_bf16, &t, &err), ACTRM_OK);

    expect_err(gguf_require_tensor(g, "output.weight", f32_f16, 2, ne, &t, &err), &err,
               ACTRM_ERR_FORMAT, "tensor 'output.weight' is missing");
    cr_expect_null(t);
    cr_expect(strstr(err.msg, gguf_path(g)) != NULL);
    expect_err(gguf_require_tensor(g, "q8.t", f32_f16, 2, ne, &t, &err), &err, ACTRM_ERR_UNSUPPORTED,
               "tensor 'q8.t' has type q8_0, expected f32, f16");
    uint64_t wrong[2] = {8, 4};
    expect_err(gguf_require_tensor(g, "blk.0.attn_q.weight", f32_f16, 2, wrong, &t, &err), &err,
               ACTRM_ERR_FORMAT, "tensor 'blk.0.attn_q.weight' has shape [8, 3], expected [8, 4]");
    uint64_t flat[1] = {24};
    expect_err(gguf_require_tensor(g, "blk.0.attn_q.weight", f32_f16, 1, flat, &t, &err), &err,
               ACTRM_ERR_FORMAT, "expected [24]");
    gguf_close(g);
}

/* ---- writer ---- */

Test(gguf, setters_replace_in_place)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    cr_assert_eq(gguf_set_u32(w, "a", 1), ACTRM_OK);
    cr_assert_eq(gguf_set_str(w, "b", "x"), ACTRM_OK);
    cr_assert_eq(gguf_set_u32(w, "c", 3), ACTRM_OK);
    cr_assert_eq(gguf_set_str(w, "a", "now a string"), ACTRM_OK);
    cr_assert_eq(gguf_set_u32(w, "b", 2), ACTRM_OK);
    cr_expect_eq(gguf_set_u32(w, "", 1), ACTRM_ERR_ARG);
    cr_expect_eq(gguf_set_u32(w, NULL, 1), ACTRM_ERR_ARG);
    cr_expect_eq(gguf_set_str(w, "d", NULL), ACTRM_ERR_ARG);
    cr_expect_eq(gguf_set_arr(w, "d", GGUF_TYPE_STRING, "x", 1), ACTRM_ERR_ARG);
    cr_expect_eq(gguf_set_val(w, "d", GGUF_TYPE_ARRAY, "x"), ACTRM_ERR_ARG);
    const char *path = tmp_path("replace.gguf");
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, path, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_eq(gguf_n_kv(g), 3);
    const char *order[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        cr_expect(gguf_kv_at(g, i)->key.len == 1 && gguf_kv_at(g, i)->key.ptr[0] == order[i][0]);
    cr_expect_eq(gguf_kv_at(g, 0)->type, GGUF_TYPE_STRING);
    cr_expect_eq(gguf_kv_at(g, 1)->type, GGUF_TYPE_UINT32);
    cr_expect_eq(gguf_n_tensors(g), 0);
    gguf_close(g);
    unlink(path);
}

Test(gguf, add_tensor_rejects_bad_arguments)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    float v[64] = {0};
    uint64_t ne[2] = {8, 2};
    cr_assert_eq(gguf_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, v, 64, &err), ACTRM_OK, "%s", err.msg);
    expect_err(gguf_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, v, 64, &err), &err, ACTRM_ERR_ARG,
               "duplicate tensor 't'");
    expect_err(gguf_add_tensor(w, "u", GGML_TYPE_F32, 2, ne, v, 60, &err), &err, ACTRM_ERR_ARG,
               "tensor 'u': 60 data bytes given, shape needs 64");
    expect_err(gguf_add_tensor(w, "u", GGML_TYPE_Q8_0, 2, ne, v, 64, &err), &err, ACTRM_ERR_ARG,
               "ne[0] = 8 is invalid for type q8_0");
    expect_err(gguf_add_tensor(w, "u", 12, 2, ne, v, 64, &err), &err, ACTRM_ERR_ARG, "unsupported type 12");
    expect_err(gguf_add_tensor(w, "u", GGML_TYPE_F32, 5, ne, v, 64, &err), &err, ACTRM_ERR_ARG, "n_dims 5");
    uint64_t zero[2] = {8, 0};
    expect_err(gguf_add_tensor(w, "u", GGML_TYPE_F32, 2, zero, v, 0, &err), &err, ACTRM_ERR_ARG, "ne[1]");
    char long_name[80];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    expect_err(gguf_add_tensor(w, long_name, GGML_TYPE_F32, 2, ne, v, 64, &err), &err, ACTRM_ERR_ARG,
               "1..63 bytes");
    /* Owned data is freed by the writer (checked by sanitizers). */
    float *owned = calloc(16, sizeof *owned);
    cr_expect_eq(gguf_add_tensor_owned(w, "owned", GGML_TYPE_F32, 2, ne, owned, 64, &err), ACTRM_OK);
    gguf_writer_free(w);
}

/* Writes a small valid file at path; returns its size. */
static size_t write_small(const char *path)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    cr_assert_eq(gguf_set_str(w, "general.name", "old"), ACTRM_OK);
    cr_assert_eq(gguf_writer_write(w, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_writer_free(w);
    size_t n;
    free(fixture_read_file(path, &n));
    return n;
}

Test(gguf, failed_write_keeps_existing_file)
{
    actrm_error err = {0};
    const char *path = tmp_path("keep.gguf");
    size_t old_size = write_small(path);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    /* The file cannot grow past 4 KiB: fwrite/fflush fail with EFBIG. */
    gguf_writer *w = gguf_writer_new();
    cr_assert_eq(gguf_set_str(w, "general.name", "new"), ACTRM_OK);
    static uint8_t big[64 * 1024];
    uint64_t ne[1] = {sizeof big / 4};
    cr_assert_eq(gguf_add_tensor(w, "big", GGML_TYPE_F32, 1, ne, big, sizeof big, &err), ACTRM_OK);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, 4096};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    expect_err(gguf_writer_write(w, path, &err), &err, ACTRM_ERR_IO, "write failed");
    cr_expect(strstr(err.msg, tmp) != NULL, "%s", err.msg);
    cr_expect(!fixture_file_exists(tmp), "the tmp file is removed");
    size_t n;
    free(fixture_read_file(path, &n));
    cr_expect_eq(n, old_size, "the existing file is untouched");

    /* A bad alignment is refused before anything is written. */
    cr_assert_eq(gguf_set_u32(w, "general.alignment", 24), ACTRM_OK);
    expect_err(gguf_writer_write(w, path, &err), &err, ACTRM_ERR_ARG, "general.alignment");
    cr_assert_eq(gguf_set_str(w, "general.alignment", "32"), ACTRM_OK);
    expect_err(gguf_writer_write(w, path, &err), &err, ACTRM_ERR_ARG, "must be u32");
    cr_expect(!fixture_file_exists(tmp));
    gguf_writer_free(w);

    actrm_gguf *g;
    cr_assert_eq(gguf_open(&g, path, &err), ACTRM_OK, "%s", err.msg);
    gguf_str s;
    cr_expect_eq(gguf_get_str(g, "general.name", &s, &err), ACTRM_OK);
    cr_expect(s.len == 3 && memcmp(s.ptr, "old", 3) == 0);
    gguf_close(g);
    unlink(path);
}

Test(gguf, unwritable_path_is_io_error)
{
    actrm_error err = {0};
    gguf_writer *w = gguf_writer_new();
    cr_assert_eq(gguf_set_u32(w, "a", 1), ACTRM_OK);
    expect_err(gguf_writer_write(w, TMP_DIR "/no/such/dir/x.gguf", &err), &err, ACTRM_ERR_IO,
               TMP_DIR "/no/such/dir/x.gguf.tmp");
    gguf_writer_free(w);
}

/* gguf_load_data: the same tensor bytes, now in a private copy aligned like
 * the file's data section; calling it again changes nothing. */
Test(gguf, load_data_copies_every_tensor)
{
    char path[512];
    fixture_model_gguf(path, sizeof path, "llama3-tiny", "q8_0");
    actrm_gguf *file, *copy;
    actrm_error err = {0};
    cr_assert_eq(gguf_open(&file, path, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_eq(gguf_open(&copy, path, &err), ACTRM_OK, "%s", err.msg);
    cr_assert_eq(gguf_load_data(copy, &err), ACTRM_OK, "%s", err.msg);
    const void *first = gguf_tensor_at(copy, 0)->data;
    cr_assert_eq(gguf_load_data(copy, &err), ACTRM_OK, "%s", err.msg);
    cr_expect_eq(gguf_tensor_at(copy, 0)->data, first, "a second call keeps the copy");
    cr_assert_gt(gguf_n_tensors(file), 5);
    for (uint64_t i = 0; i < gguf_n_tensors(file); i++) {
        const gguf_tensor *a = gguf_tensor_at(file, i), *b = gguf_tensor_at(copy, i);
        cr_expect_neq(a->data, b->data, "tensor '%s' still points into the file mapping", a->name);
        cr_expect_eq((uintptr_t)b->data % gguf_alignment(copy), 0, "tensor '%s' misaligned", a->name);
        cr_expect(memcmp(a->data, b->data, a->nbytes) == 0, "tensor '%s' differs", a->name);
    }
    gguf_close(file);
    gguf_close(copy);
}

