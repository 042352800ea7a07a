/* AVX-512 VNNI kernels: installed over the AVX-512 table. */
#include "kernels.h"

void actrm_kernels_avx512vnni(actrm_kernels *k)
{
    (void)k;
}
