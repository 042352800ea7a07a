#include "matmul.h"

#include <omp.h>

#include "gguf.h"

/* Rows per work item: small enough to balance two threads on narrow
 * matrices, large enough to amortise the per-call overhead. */
#define ROW_CHUNK 32

size_t actrm_matmul_scratch_size(int T, int K)
{
    return (size_t)T * (size_t)(K / QK8_0) * sizeof(block_q8_0);
}

void actrm_matmul(const actrm_kernels *k, const actrm_weight *W,
                  const float *x, int T, float *y, int ldy,
                  void *scratch, int n_threads)
{
    const void *xin = x;
    size_t xs = (size_t)W->cols * sizeof(float);
    int slot = actrm_wt_slot(W->type);
    if (slot == ACTRM_WT_Q8_0) {
        block_q8_0 *xq = scratch;
        int nb = W->cols / QK8_0;
        for (int t = 0; t < T; t++)
            k->quantize_q8_0(x + (size_t)t * W->cols, xq + (size_t)t * nb, W->cols);
        xin = xq;
        xs = (size_t)nb * sizeof(block_q8_0);
    }
    int n_chunks = (W->rows + ROW_CHUNK - 1) / ROW_CHUNK;
    if (n_threads < 1)
        n_threads = 1;
    #pragma omp parallel for schedule(static) num_threads(n_threads) if (n_chunks > 1 && n_threads > 1)
    for (int c = 0; c < n_chunks; c++) {
        int n0 = c * ROW_CHUNK, n1 = n0 + ROW_CHUNK < W->rows ? n0 + ROW_CHUNK : W->rows;
        k->gemm[slot](W->data, W->stride, xin, xs, W->cols, T, n0, n1, y, ldy);
    }
}
