/* CPU feature detection (compiled for the baseline CPU). A feature counts
 * only when the OS also saves its registers: on x86 xgetbv tells which
 * register states the OS enabled; on Linux/ARM the kernel's hwcap already
 * reflects it. */
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__) || defined(__i386__)

/* XCR0 bits: SSE and AVX state; AVX-512 opmask, ZMM_Hi256, Hi16_ZMM; AMX
 * tile config and data. */
#define XCR0_AVX 0x6u
#define XCR0_AVX512 0xe0u
#define XCR0_AMX 0x60000u

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Linux hands out AMX tile state only to processes that ask for it. */
static int request_amx_permission(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
#else
    return 0;
#endif
}

unsigned actrm_cpu_flags(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return 0;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_AVX) != XCR0_AVX)
        return 0;
    if ((c >> 12) & 1)
        f |= ACTRM_CPU_FMA;
    if ((c >> 29) & 1)
        f |= ACTRM_CPU_F16C;
    if (__get_cpuid_max(0, NULL) < 7)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned sub1_eax = 0, b1, c1, d1;
    if (a >= 1) {
        __cpuid_count(7, 1, sub1_eax, b1, c1, d1);
        (void)b1, (void)c1, (void)d1;
    }
    if ((b >> 5) & 1)
        f |= ACTRM_CPU_AVX2;
    if ((xcr0 & XCR0_AVX512) == XCR0_AVX512) {
        static const struct { unsigned reg, bit, flag; } avx512[] = {
            {1, 16, ACTRM_CPU_AVX512F}, {1, 17, ACTRM_CPU_AVX512DQ},
            {1, 30, ACTRM_CPU_AVX512BW}, {1, 31, ACTRM_CPU_AVX512VL},
            {2, 11, ACTRM_CPU_AVX512_VNNI}, {3, 23, ACTRM_CPU_AVX512_FP16},
            {0, 5, ACTRM_CPU_AVX512_BF16},
        };
        unsigned regs[4] = {sub1_eax, b, c, d};
        for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; i++)
            if ((regs[avx512[i].reg] >> avx512[i].bit) & 1)
                f |= avx512[i].flag;
    }
    int amx_tile = (d >> 24) & 1;
    if (amx_tile && (xcr0 & XCR0_AMX) == XCR0_AMX && request_amx_permission()) {
        f |= ACTRM_CPU_AMX_TILE;
        if ((d >> 25) & 1)
            f |= ACTRM_CPU_AMX_INT8;
        if ((d >> 22) & 1)
            f |= ACTRM_CPU_AMX_BF16;
    }
    return f;
}

#elif defined(__aarch64__)

unsigned actrm_cpu_flags(void)
{
    unsigned f = ACTRM_CPU_ASIMD; /* Advanced SIMD is part of every AArch64 core */
#if defined(__linux__)
    /* Bit numbers of AT_HWCAP from the Linux arm64 uapi (asm/hwcap.h). */
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    const unsigned long fphp = 1ul << 9, asimdhp = 1ul << 10, asimddp = 1ul << 20;
    const unsigned long i8mm2 = 1ul << 13;
    if (hw & asimddp)
        f |= ACTRM_CPU_DOTPROD;
    if ((hw & fphp) && (hw & asimdhp))
        f |= ACTRM_CPU_FP16;
    if (hw2 & i8mm2)
        f |= ACTRM_CPU_I8MM;
#else
#if defined(__ARM_FEATURE_DOTPROD)
    f |= ACTRM_CPU_DOTPROD;
#endif
#if defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
    f |= ACTRM_CPU_FP16;
#endif
#endif
    return f;
}

#else

unsigned actrm_cpu_flags(void)
{
    return 0;
}

#endif

const char *actrm_cpu_flag_name(unsigned flag)
{
    switch (flag) {
    case ACTRM_CPU_AVX2: return "avx2";
    case ACTRM_CPU_FMA: return "fma";
    case ACTRM_CPU_F16C: return "f16c";
    case ACTRM_CPU_AVX512F: return "avx512f";
    case ACTRM_CPU_AVX512BW: return "avx512bw";
    case ACTRM_CPU_AVX512VL: return "avx512vl";
    case ACTRM_CPU_AVX512DQ: return "avx512dq";
    case ACTRM_CPU_AVX512_VNNI: return "avx512_vnni";
    case ACTRM_CPU_AVX512_BF16: return "avx512_bf16";
    case ACTRM_CPU_AVX512_FP16: return "avx512_fp16";
    case ACTRM_CPU_AMX_TILE: return "amx_tile";
    case ACTRM_CPU_AMX_INT8: return "amx_int8";
    case ACTRM_CPU_AMX_BF16: return "amx_bf16";
    case ACTRM_CPU_ASIMD: return "asimd";
    case ACTRM_CPU_DOTPROD: return "dotprod";
    case ACTRM_CPU_FP16: return "fp16";
    case ACTRM_CPU_I8MM: return "i8mm";
    default: return NULL;
    }
}
