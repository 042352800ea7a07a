/*
 * Minimal .npy files (NumPy format 1.0-3.0, C order, little-endian):
 * reading float32 ('<f4') and int32 ('<i4') arrays, writing float32 arrays.
 * Used by the CLI and the tests to exchange tensors with NumPy.
 */
#ifndef ACTRM_NPY_H
#define ACTRM_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ACTRM_NPY_MAX_DIMS 8

enum actrm_npy_dtype { ACTRM_NPY_F32 = 0, ACTRM_NPY_I32 = 1 };

typedef struct actrm_npy {
    int dtype;                          /* enum actrm_npy_dtype */
    int ndim;                           /* 0 for a scalar */
    int64_t shape[ACTRM_NPY_MAX_DIMS];
    size_t n;                           /* product of shape (1 for a scalar) */
    void *data;                         /* [n] float or int32_t, malloc'ed */
} actrm_npy;

/* Reads path, which must hold an array of dtype (no conversion). Errors name
 * the file and the header field at fault. On success the caller frees
 * out->data (or calls actrm_npy_free). */
int actrm_npy_read(const char *path, int dtype, actrm_npy *out, actrm_error *err);
void actrm_npy_free(actrm_npy *a);

/* Writes a little-endian float32 array of the given shape. */
int actrm_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                        int ndim, actrm_error *err);

#endif
