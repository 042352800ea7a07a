/* Run-time kernel selection. Compiled for the baseline CPU: it fills the
 * table with the reference kernels, then lets each ISA level the CPU and OS
 * support override entries (simd/<arch>_<isa>.c, each built with its own
 * target flags). */
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One level of the ladder: the flags it needs, and the hook that installs
 * it over the level below. Levels sharing an isa name are that ISA's
 * optional extensions (e.g. avx512 with and without vnni). */
typedef struct isa_level {
    const char *isa;
    const char *path;
    unsigned needs;
    void (*install)(actrm_kernels *k);
} isa_level;

#define NEED_AVX2 (ACTRM_CPU_AVX2 | ACTRM_CPU_FMA | ACTRM_CPU_F16C)
#define NEED_AVX512 (NEED_AVX2 | ACTRM_CPU_AVX512F | ACTRM_CPU_AVX512BW | \
                     ACTRM_CPU_AVX512VL | ACTRM_CPU_AVX512DQ)

static const isa_level levels[] = {
#if defined(__x86_64__)
    {"avx2", "avx2", NEED_AVX2, actrm_kernels_avx2},
    {"avx512", "avx512", NEED_AVX512, actrm_kernels_avx512},
    {"avx512", "avx512+vnni", NEED_AVX512 | ACTRM_CPU_AVX512_VNNI, actrm_kernels_avx512vnni},
#elif defined(__aarch64__)
    {"neon", "neon", ACTRM_CPU_ASIMD, actrm_kernels_neon},
    {"neon", "neon+dotprod", ACTRM_CPU_ASIMD | ACTRM_CPU_DOTPROD, actrm_kernels_neon_dotprod},
#endif
    {NULL, NULL, 0, NULL}
};

static int supported(const isa_level *l, unsigned flags)
{
    return (l->needs & flags) == l->needs;
}

/* Index of the highest level to install: the last supported one, or the
 * last supported one of ISA `top`; -1 means ref only, -2 that `top` is
 * unknown or unsupported. The ladder is ordered so that each level's needs
 * include those of the levels before it. */
static int top_level(const char *top, unsigned flags)
{
    int best = -1, found = top == NULL || strcmp(top, "ref") == 0;
    for (int i = 0; levels[i].isa && supported(&levels[i], flags); i++)
        if (!top || strcmp(levels[i].isa, top) == 0) {
            best = i;
            found = 1;
        }
    return found ? best : -2;
}

static void install_upto(actrm_kernels *k, int top)
{
    actrm_kernels_ref(k);
    for (int i = 0; i <= top; i++) {
        levels[i].install(k);
        k->isa = levels[i].isa;
        k->path = levels[i].path;
    }
}

static void list_isas(char *buf, size_t n, unsigned flags)
{
    size_t used = (size_t)snprintf(buf, n, "ref");
    const char *last = "ref";
    for (const isa_level *l = levels; l->isa && supported(l, flags) && used < n; l++) {
        if (strcmp(l->isa, last) != 0)
            used += (size_t)snprintf(buf + used, n - used, ", %s", l->isa);
        last = l->isa;
    }
}

int actrm_kernels_select(actrm_kernels *k, const char *force_isa, actrm_error *err)
{
    if (!force_isa)
        force_isa = getenv("ACTRM_ISA");
    if (force_isa && !*force_isa)
        force_isa = NULL;
    unsigned flags = actrm_cpu_flags();
    int top = top_level(force_isa, flags);
    if (top >= -1) {
        install_upto(k, top);
        return ACTRM_OK;
    }
    char have[128];
    list_isas(have, sizeof have, flags);
    actrm_kernels_ref(k);
    return actrm_error_set(err, ACTRM_ERR_CPU,
                           "ACTRM_ISA=%s: unknown instruction set, or not supported by this CPU "
                           "(choose one of: %s)", force_isa, have);
}

int actrm_kernels_all(actrm_kernels *out, int max)
{
    int n = 0, top = top_level(NULL, actrm_cpu_flags());
    for (int i = -1; i <= top && n < max; i++)
        install_upto(&out[n++], i);
    return n;
}

const char *actrm_isa_name(void)
{
    actrm_kernels k;
    actrm_kernels_select(&k, NULL, NULL);
    return k.isa;
}
