/* Threaded matrix products over the dispatched kernels (internal). */
#ifndef ACTRM_MATMUL_H
#define ACTRM_MATMUL_H

#include <stddef.h>

#include "kernels.h"

/* A 2-D weight: rows of `cols` values (ggml ne = [cols, rows]). */
typedef struct actrm_weight {
    int type;          /* enum ggml_type */
    int rows;          /* output features */
    int cols;          /* input features (K) */
    size_t stride;     /* bytes per row */
    const void *data;
} actrm_weight;

/* Bytes of scratch actrm_matmul() needs for T rows of K inputs. */
size_t actrm_matmul_scratch_size(int T, int K);

/* y[t*ldy + n] = sum_k W[n][k] * x[t*K + k] for t < T, n < W->rows.
 * scratch holds actrm_matmul_scratch_size(T, W->cols) bytes (Q8_0 weights
 * quantize x into it). Rows are split over n_threads OpenMP threads; the
 * result does not depend on n_threads. */
void actrm_matmul(const actrm_kernels *k, const actrm_weight *W,
                  const float *x, int T, float *y, int ldy,
                  void *scratch, int n_threads);

#endif
