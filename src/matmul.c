#include "matmul.h"

#include <assert.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_plan.h"
#include "gguf.h"

/* Rows per work item: about eight items per thread, in multiples of the 64
 * rows the SIMD GEMMs pack at a time (64 splits 128, 896, 4864 evenly over
 * two threads). Bigger items cost fewer per-call setups (packing, the
 * activation prep of a token tile is shared by all passes of a block), and
 * with few tokens, where weights stream from memory, let a GEMM prefetch
 * its next block (gemm_plan.h). Which thread computes a row never changes
 * its value (kernels.h). */
#define ROW_CHUNK 64
#define GEMM_CHUNK_MAX 256    /* many tokens: compute-bound, keep balance */
#define STREAM_CHUNK_MAX 2048 /* few tokens: memory-bound */

static int rows_per_item(int rows, int T, int n_threads)
{
    int max = T > GEMM_STREAM_T ? GEMM_CHUNK_MAX : STREAM_CHUNK_MAX;
    int r = rows / (8 * n_threads);
    r = (r + ROW_CHUNK - 1) / ROW_CHUNK * ROW_CHUNK;
    return r < ROW_CHUNK ? ROW_CHUNK : r > max ? max : r;
}

size_t actrm_matmul_scratch_size(int T, int K)
{
    return (size_t)T * (size_t)(K / QK8_0) * sizeof(block_q8_0);
}

/* The GEMM slot of a weight: its type's, or the G16 one. */
static int weight_slot(const actrm_weight *W)
{
    int slot = actrm_wt_slot(W->type);
    if (W->g16)
        slot = slot == ACTRM_WT_F16 ? ACTRM_WT_F16_G16 : ACTRM_WT_BF16_G16;
    return slot;
}

void actrm_matmul_shared(const actrm_kernels *k, const actrm_weight *const *W, float *const *y,
                         const int *ldy, int n_w, const float *x, int T, void *scratch, int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    int K = W[0]->cols, nb = K / QK8_0, quantize = 0;
    assert(n_w >= 1 && n_w <= ACTRM_MATMUL_MAX_SHARED);
    for (int i = 0; i < n_w; i++) {
        assert(W[i]->cols == K);
        quantize |= W[i]->type == GGML_TYPE_Q8_0;
    }
    int chunk[ACTRM_MATMUL_MAX_SHARED], first[ACTRM_MATMUL_MAX_SHARED + 1];
    first[0] = 0;
    for (int i = 0; i < n_w; i++) {
        chunk[i] = rows_per_item(W[i]->rows, T, n_threads);
        first[i + 1] = first[i] + (W[i]->rows + chunk[i] - 1) / chunk[i];
    }
    int n_chunks = first[n_w];
    block_q8_0 *xq = scratch; /* [T][nb] when quantize: the input of the Q8_0 weights */
    size_t xq_stride = (size_t)nb * sizeof(block_q8_0), x_stride = (size_t)K * sizeof(float);
    int parallel = n_threads > 1 && (n_chunks > 1 || (quantize && T > 1));
    #pragma omp parallel num_threads(n_threads) if (parallel)
    {
        if (quantize) {
            #pragma omp for schedule(static)
            for (int t = 0; t < T; t++)
                k->quantize_q8_0(x + (size_t)t * K, xq + (size_t)t * nb, K);
        }
        /* dynamic: a thread that lost its core (laptops, shared machines)
         * does not hold the others up; one loop over every weight's chunks
         * leaves one end-of-loop wait instead of one per weight */
        #pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < n_chunks; c++) {
            int i = 0;
            while (c >= first[i + 1])
                i++;
            const actrm_weight *w = W[i];
            int n0 = (c - first[i]) * chunk[i], n1 = n0 + chunk[i] < w->rows ? n0 + chunk[i] : w->rows;
            int q8 = w->type == GGML_TYPE_Q8_0;
            k->gemm[weight_slot(w)](w->data, w->stride, q8 ? (const void *)xq : (const void *)x,
                                    q8 ? xq_stride : x_stride, K, T, n0, n1, y[i], ldy[i]);
        }
    }
}

void actrm_matmul(const actrm_kernels *k, const actrm_weight *W,
                  const float *x, int T, float *y, int ldy,
                  void *scratch, int n_threads)
{
    actrm_matmul_shared(k, &W, &y, &ldy, 1, x, T, scratch, n_threads);
}

void actrm_weight_row_f32(const actrm_kernels *k, const actrm_weight *W, int row, float *dst)
{
    if (!W->g16) {
        k->row_to_f32(W->type, (const char *)W->data + (size_t)row * W->stride, dst, W->cols);
        return;
    }
    actrm_g16_row_to_f32(W->type, W->data, W->stride, row, 0, W->cols, dst);
}

int actrm_weight_regroup_g16(actrm_weight *W, int n_threads)
{
    if ((W->type != GGML_TYPE_F16 && W->type != GGML_TYPE_BF16) || W->rows % ACTRM_G16 || W->g16)
        return 0;
    int K = W->cols, n_groups = W->rows / ACTRM_G16;
    n_threads = n_threads < 1 ? omp_get_num_procs() : n_threads;
    size_t group_bytes = (size_t)ACTRM_G16 * W->stride;
    /* all scratch first, so that running out of memory changes nothing */
    uint16_t *scratch = malloc(group_bytes * (size_t)n_threads); /* per thread: [16][K] as it was */
    if (!scratch)
        return 0;
    #pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int g = 0; g < n_groups; g++) {
        uint16_t *rows = scratch + (size_t)omp_get_thread_num() * (group_bytes / 2);
        uint16_t *dst = (uint16_t *)((char *)W->data + (size_t)g * group_bytes); /* [K][16] */
        memcpy(rows, dst, group_bytes);
        for (int c = 0; c < K; c++)
            for (int r = 0; r < ACTRM_G16; r++)
                dst[(size_t)c * ACTRM_G16 + r] = rows[(size_t)r * K + c];
    }
    free(scratch);
    W->g16 = 1;
    return 1;
}
