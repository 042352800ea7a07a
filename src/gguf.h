/*
 * GGUF v3 reader and writer (internal). Spec: ggml's docs/gguf.md.
 *
 * Reader: the file is mmap'ed read-only; strings, arrays and tensor data are
 * pointers into the mapping, valid until gguf_close(). Every count, size and
 * offset is validated at open time, so later accessors cannot read out of
 * bounds. Errors name the file and the key or tensor at fault.
 *
 * Writer: collects key/values and tensors (copied) in insertion order and
 * writes them with gguf_writer_write(), to PATH.tmp then renamed to PATH.
 */
#ifndef ACTRM_GGUF_H
#define ACTRM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Metadata value types (gguf.md). */
enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3, GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7, GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12
};

/* Tensor types supported by actrm (ggml numbering). */
enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q8_0 = 8, GGML_TYPE_BF16 = 30
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define QK8_0 32

/* The standard 34-byte Q8_0 block: fp16 scale d, then 32 int8 values. */
typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;

/* A string inside the mapping: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;       /* non-empty, no NUL bytes */
    int type;           /* enum gguf_type */
    int arr_type;       /* element type when type == GGUF_TYPE_ARRAY */
    uint64_t n;         /* element count of an array (1 for scalars) */
    const void *data;   /* scalars and fixed-size arrays: the raw little-endian bytes
                           (bools are checked to be 0 or 1); strings: the start of
                           the serialized value */
    const gguf_str *strs; /* string values: [n] (1 for a plain string) */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;         /* NUL-terminated copy */
    int type;           /* enum ggml_type */
    int n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the innermost (contiguous) dim; unused dims are 1 */
    uint64_t nbytes;
    const void *data;   /* inside the mapping, aligned to general.alignment */
} gguf_tensor;

typedef struct actrm_gguf actrm_gguf;

/* Bytes per row of ne0 elements of a type, or 0 if the type is unknown or
 * ne0 is not a multiple of the block size. */
uint64_t ggml_row_size(int type, uint64_t ne0);
const char *ggml_type_name(int type);
/* Parses "f32", "f16", "bf16", "q8_0" (any case); returns -1 if unknown. */
int ggml_type_from_name(const char *name);
/* "u8", "i32", "string", "array", ... for an enum gguf_type ("unknown" otherwise). */
const char *gguf_type_name(int type);

/* Opens and validates a GGUF file (versions 2 and 3; version 1 and
 * big-endian files are ACTRM_ERR_UNSUPPORTED, as are nested arrays and tensor
 * types other than F32/F16/BF16/Q8_0). On failure returns a status, fills err
 * (naming path and the key/tensor at fault) and sets *out = NULL. A missing or
 * unreadable file is ACTRM_ERR_IO, malformed content ACTRM_ERR_FORMAT. */
int gguf_open(actrm_gguf **out, const char *path, actrm_error *err);
void gguf_close(actrm_gguf *g);
/* Reads the data section into private anonymous memory aligned for (and
 * advised to use) 2 MiB transparent huge pages, and points every tensor's
 * data there; the file mapping then only serves the metadata. Why: a
 * few-token GEMV walks 16-32 weight rows at once, and with 4 KiB pages and a
 * power-of-two row size (an F16 row of 2048 is one page) that is a TLB miss
 * per cache line; huge pages took F16 GEMV at K = 2048 from ~25 to ~40 GB/s.
 * Costs one read of the file at open; RSS stays the file's size. Idempotent.
 * ACTRM_ERR_NOMEM or ACTRM_ERR_IO on failure (tensors then still point into
 * the file mapping). The copy stays writable (the model regroups weights in
 * it) until gguf_seal_data(). */
int gguf_load_data(actrm_gguf *g, actrm_error *err);
/* 1 when the tensors point into gguf_load_data's private, writable copy. */
int gguf_data_private(const actrm_gguf *g);
/* Makes the private copy read-only (no-op without one). */
void gguf_seal_data(actrm_gguf *g);
const char *gguf_path(const actrm_gguf *g);
uint32_t gguf_version(const actrm_gguf *g);
uint32_t gguf_alignment(const actrm_gguf *g);
uint64_t gguf_data_offset(const actrm_gguf *g); /* file offset of the data section */
uint64_t gguf_file_size(const actrm_gguf *g);

uint64_t gguf_n_kv(const actrm_gguf *g);
const gguf_kv *gguf_kv_at(const actrm_gguf *g, uint64_t i);
const gguf_kv *gguf_find_kv(const actrm_gguf *g, const char *key); /* NULL if absent */

/* Typed getters. A missing key or a value of the wrong type is an
 * ACTRM_ERR_FORMAT error naming the key. Integer getters accept any integer
 * type whose value fits; float getters accept FLOAT32 and FLOAT64. */
int gguf_get_u32(const actrm_gguf *g, const char *key, uint32_t *out, actrm_error *err);
int gguf_get_u64(const actrm_gguf *g, const char *key, uint64_t *out, actrm_error *err);
int gguf_get_i32(const actrm_gguf *g, const char *key, int32_t *out, actrm_error *err);
int gguf_get_f32(const actrm_gguf *g, const char *key, float *out, actrm_error *err);
int gguf_get_bool(const actrm_gguf *g, const char *key, int *out, actrm_error *err);
/* A string value; *out points into the mapping (not NUL-terminated). */
int gguf_get_str(const actrm_gguf *g, const char *key, gguf_str *out, actrm_error *err);
/* A malloc'ed NUL-terminated copy of a string value. */
int gguf_get_strdup(const actrm_gguf *g, const char *key, char **out, actrm_error *err);
/* An array of fixed-size elements of type elem_type (exact match). */
int gguf_get_arr(const actrm_gguf *g, const char *key, int elem_type,
                 const void **data, uint64_t *n, actrm_error *err);
/* An array of strings. */
int gguf_get_str_arr(const actrm_gguf *g, const char *key,
                     const gguf_str **strs, uint64_t *n, actrm_error *err);

uint64_t gguf_n_tensors(const actrm_gguf *g);
const gguf_tensor *gguf_tensor_at(const actrm_gguf *g, uint64_t i);
const gguf_tensor *gguf_find_tensor(const actrm_gguf *g, const char *name); /* NULL if absent */

/* Looks up a required tensor and checks its type set and shape: types is a
 * bitmask of (1u << ggml_type) accepted; ne gives n_dims expected sizes
 * (ne[0] innermost). Errors name the tensor and the expected shape. */
int gguf_require_tensor(const actrm_gguf *g, const char *name, unsigned types,
                        int n_dims, const uint64_t *ne, const gguf_tensor **out,
                        actrm_error *err);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* Each setter replaces an existing key of the same name, keeping its place
 * in the order. Setters return ACTRM_OK, ACTRM_ERR_ARG (NULL/empty key or
 * value, bad type) or ACTRM_ERR_NOMEM. */
int gguf_set_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_set_f32(gguf_writer *w, const char *key, float v);
int gguf_set_bool(gguf_writer *w, const char *key, int v);
/* Any fixed-size scalar type (u8 .. f64, bool): v points to its value. */
int gguf_set_val(gguf_writer *w, const char *key, int type, const void *v);
int gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* A string with explicit length (may contain NULs). */
int gguf_set_strn(gguf_writer *w, const char *key, const char *v, uint64_t len);
int gguf_set_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n);
int gguf_set_str_arr(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Copies a kv (any type) from an open file, e.g. to rewrite a file. */
int gguf_set_kv_from(gguf_writer *w, const gguf_kv *kv);
/* Adds a tensor; data (nbytes = row size * rows) is copied. A duplicate name,
 * a name longer than 63 bytes (ggml's limit), an unsupported type, a bad
 * shape or a wrong nbytes is ACTRM_ERR_ARG. */
int gguf_add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                    const uint64_t *ne, const void *data, uint64_t nbytes,
                    actrm_error *err);
/* Like gguf_add_tensor but takes ownership of a malloc'ed buffer: the writer
 * frees it, also when the call fails. */
int gguf_add_tensor_owned(gguf_writer *w, const char *name, int type, int n_dims,
                          const uint64_t *ne, void *data, uint64_t nbytes,
                          actrm_error *err);
/* Like gguf_add_tensor but borrows data: it must stay valid until the
 * writer is freed (e.g. a tensor of an open actrm_gguf being rewritten). */
int gguf_add_tensor_ref(gguf_writer *w, const char *name, int type, int n_dims,
                        const uint64_t *ne, const void *data, uint64_t nbytes,
                        actrm_error *err);
/* Writes the file atomically (PATH.tmp, fsync-free rename); on failure the
 * tmp file is removed and an existing PATH is left untouched. Alignment comes
 * from a general.alignment key if set (must be a u32 power of two), else 32.
 * Every tensor's data, the last included, is zero-padded to the alignment. */
int gguf_writer_write(gguf_writer *w, const char *path, actrm_error *err);

#endif
