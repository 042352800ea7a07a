/* Run-time kernel selection. Compiled for the baseline CPU: it fills the
 * table with the reference kernels, then overrides the entries the CPU and OS
 * support. ISA files register through actrm_kernels_<isa>() hooks. */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

int actrm_kernels_select(actrm_kernels *k, const char *force_isa, actrm_error *err)
{
    actrm_kernels_ref(k);
    if (!force_isa)
        force_isa = getenv("ACTRM_ISA");
    if (force_isa && *force_isa && strcmp(force_isa, "ref") != 0)
        return actrm_error_set(err, ACTRM_ERR_CPU,
                               "ACTRM_ISA=%s: unknown or unsupported instruction set (this build has: ref)",
                               force_isa);
    return ACTRM_OK;
}

const char *actrm_isa_name(void)
{
    actrm_kernels k;
    actrm_kernels_select(&k, NULL, NULL);
    return k.isa;
}
