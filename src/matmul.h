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
    int g16;           /* F16/BF16 data in the G16 layout (simd/kernels.h) */
} actrm_weight;

/* Row `row` of W as floats (embedding lookups), in either layout. */
void actrm_weight_row_f32(const actrm_kernels *k, const actrm_weight *W, int row, float *dst);

/* Rewrites W's data in place into the G16 layout, when W is F16/BF16 with a
 * multiple of 16 rows (returns 1; else 0 and nothing changes). The data must
 * be writable: each group of 16 rows keeps its bytes, only their order
 * changes, so a 16-row scratch per thread is all the extra memory.
 * n_threads <= 0: all cores. */
int actrm_weight_regroup_g16(actrm_weight *W, int n_threads);

/* Bytes of scratch actrm_matmul() needs for T rows of K inputs. */
size_t actrm_matmul_scratch_size(int T, int K);

/* y[t*ldy + n] = sum_k W[n][k] * x[t*K + k] for t < T, n < W->rows.
 * scratch holds actrm_matmul_scratch_size(T, W->cols) bytes (Q8_0 weights
 * quantize x into it). Rows are split over n_threads OpenMP threads; the
 * result does not depend on n_threads. */
void actrm_matmul(const actrm_kernels *k, const actrm_weight *W,
                  const float *x, int T, float *y, int ldy,
                  void *scratch, int n_threads);

/* The products of up to ACTRM_MATMUL_MAX_SHARED weights with the same input
 * (q/k/v, gate/up): y[i][t*ldy[i] + n] = sum_k W[i][n][k] * x[t*K + k].
 * The weights have the same cols; they may differ in type (x is quantized
 * once for all Q8_0 ones). One parallel region and one work loop over every
 * weight's rows, so threads wait once, not once per weight. Same bits as
 * separate actrm_matmul() calls. */
#define ACTRM_MATMUL_MAX_SHARED 4
void actrm_matmul_shared(const actrm_kernels *k, const actrm_weight *const *W, float *const *y,
                         const int *ldy, int n_w, const float *x, int T, void *scratch, int n_threads);

#endif
