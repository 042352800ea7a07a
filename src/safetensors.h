/*
 * Safetensors reader (internal), for the Hugging Face converter.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the byte after the header), then the data. An optional
 * "__metadata__" entry is ignored.
 *
 * Files are mmap'ed read-only; tensor data are pointers into the mappings.
 * Only F32, F16 and BF16 tensors are accepted (anything else is an
 * ACTRM_ERR_UNSUPPORTED error naming the tensor). Every offset, size and
 * shape is validated at open time: shape x dtype size == end - begin, and
 * the range lies inside the file.
 */
#ifndef ACTRM_SAFETENSORS_H
#define ACTRM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ST_MAX_DIMS 4

typedef struct st_tensor {
    char *name;                  /* NUL-terminated copy */
    int type;                    /* GGML_TYPE_F32, GGML_TYPE_F16 or GGML_TYPE_BF16 */
    int n_dims;
    uint64_t shape[ST_MAX_DIMS]; /* PyTorch order: shape[n_dims-1] is contiguous */
    uint64_t nbytes;
    const void *data;            /* inside the mapping of its file */
    const char *file;            /* path of the file holding it (for messages) */
} st_tensor;

typedef struct st_model st_model;

/* Opens the weights of a Hugging Face directory: model.safetensors.index.json
 * (sharded; every tensor of its weight_map must be found in the named shard)
 * if present, else model.safetensors. Errors name the file and tensor. */
int st_open_dir(st_model **out, const char *hf_dir, actrm_error *err);

/* Opens one .safetensors file. */
int st_open_file(st_model **out, const char *path, actrm_error *err);

void st_close(st_model *m);

size_t st_n_tensors(const st_model *m);
const st_tensor *st_tensor_at(const st_model *m, size_t i);
const st_tensor *st_find(const st_model *m, const char *name); /* NULL if absent */

/* Bytes per element of a type accepted here (4 or 2). */
size_t st_type_size(int type);

#endif
