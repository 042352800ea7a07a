#include "matmul.h"

#include <omp.h>

#include "gguf.h"

/* Rows per work item. The SIMD GEMMs pack 64 rows at a time; 64 also
 * splits the usual widths (128, 896, 4864, ...) evenly over two threads.
 * Which thread computes a row never changes its value (kernels.h). */
#define ROW_CHUNK 64

size_t actrm_matmul_scratch_size(int T, int K)
{
    return (size_t)T * (size_t)(K / QK8_0) * sizeof(block_q8_0);
}

void actrm_matmul(const actrm_kernels *k, const actrm_weight *W,
                  const float *x, int T, float *y, int ldy,
                  void *scratch, int n_threads)
{
    int slot = actrm_wt_slot(W->type), K = W->cols, nb = K / QK8_0;
    int n_chunks = (W->rows + ROW_CHUNK - 1) / ROW_CHUNK;
    int quantize = slot == ACTRM_WT_Q8_0;
    block_q8_0 *xq = scratch; /* [T][nb] when quantize */
    const void *xin = quantize ? (const void *)xq : (const void *)x;
    size_t xs = quantize ? (size_t)nb * sizeof(block_q8_0) : (size_t)K * sizeof(float);
    if (n_threads < 1)
        n_threads = 1;
    int parallel = n_threads > 1 && (n_chunks > 1 || (quantize && T > 1));
    #pragma omp parallel num_threads(n_threads) if (parallel)
    {
        if (quantize) {
            #pragma omp for schedule(static)
            for (int t = 0; t < T; t++)
                k->quantize_q8_0(x + (size_t)t * K, xq + (size_t)t * nb, K);
        }
        /* dynamic: a thread that lost its core (laptops, shared machines)
         * does not hold the others up */
        #pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < n_chunks; c++) {
            int n0 = c * ROW_CHUNK, n1 = n0 + ROW_CHUNK < W->rows ? n0 + ROW_CHUNK : W->rows;
            k->gemm[slot](W->data, W->stride, xin, xs, K, T, n0, n1, y, ldy);
        }
    }
}
