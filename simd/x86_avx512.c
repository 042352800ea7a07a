/* AVX-512 (F/BW/VL/DQ) kernels: installed over the AVX2 table. */
#include "kernels.h"

void actrm_kernels_avx512(actrm_kernels *k)
{
    (void)k;
}
