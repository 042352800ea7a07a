/* actrm info: the CPU features the kernels look at, the kernel path chosen
 * (after ACTRM_ISA), and with a model file its hyper-parameters. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actrm.h"
#include "cli.h"
#include "gguf.h"
#include "kernels.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: actrm info [MODEL.gguf]\n\n"
               "Prints the CPU features the kernels use (as CPU and OS report them), the\n"
               "kernel paths this CPU can run and the one chosen, and with a model file its\n"
               "architecture and shapes.\n\n"
               "environment:\n"
               "  ACTRM_ISA=ref|avx2|avx512|neon  force a kernel path (an error if the CPU lacks it)\n");
}

static void print_features(void)
{
#if defined(__x86_64__) || defined(__i386__)
    static const unsigned shown[] = {
        ACTRM_CPU_AVX2, ACTRM_CPU_FMA, ACTRM_CPU_F16C, ACTRM_CPU_AVX512F, ACTRM_CPU_AVX512BW,
        ACTRM_CPU_AVX512VL, ACTRM_CPU_AVX512DQ, ACTRM_CPU_AVX512_VNNI, ACTRM_CPU_AVX512_BF16,
        ACTRM_CPU_AVX512_FP16, ACTRM_CPU_AMX_TILE, ACTRM_CPU_AMX_INT8, ACTRM_CPU_AMX_BF16,
    };
#elif defined(__aarch64__)
    static const unsigned shown[] = {ACTRM_CPU_ASIMD, ACTRM_CPU_DOTPROD, ACTRM_CPU_FP16, ACTRM_CPU_I8MM};
#else
    static const unsigned shown[] = {0};
#endif
    unsigned flags = actrm_cpu_flags();
    for (int present = 1; present >= 0; present--) {
        printf("%-14s", present ? "cpu features:" : "not present:");
        int any = 0;
        for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
            if (shown[i] && !!(flags & shown[i]) == present) {
                printf(" %s", actrm_cpu_flag_name(shown[i]));
                any = 1;
            }
        printf("%s\n", any ? "" : " -");
    }
}

/* Prints the kernel paths; returns 0, or 1 when ACTRM_ISA cannot be met. */
static int print_kernels(void)
{
    actrm_kernels all[8], k;
    int n = actrm_kernels_all(all, 8);
    printf("%-14s", "kernel paths:");
    for (int i = 0; i < n; i++)
        printf(" %s", all[i].path);
    printf("\n");
    actrm_error err = {0};
    if (actrm_kernels_select(&k, NULL, &err) != ACTRM_OK) {
        fprintf(stderr, "actrm info: %s\n", err.msg);
        return 1;
    }
    const char *forced = getenv("ACTRM_ISA");
    printf("%-14s %s", "kernel path:", k.path);
    if (forced && *forced)
        printf(" (ACTRM_ISA=%s)", forced);
    printf("\n");
    return 0;
}

static int print_model(const char *path)
{
    actrm_model *m = NULL;
    int rc = actrm_model_init(&m, path);
    if (rc != ACTRM_OK) {
        fprintf(stderr, "actrm info: %s\n", m ? actrm_model_errmsg(m) : actrm_status_string(rc));
        actrm_model_free(m);
        return 1;
    }
    const actrm_model_info *in = actrm_model_get_info(m);
    const char *wtype = ggml_type_name(in->weight_type);
    printf("\nmodel:         %s\n", path);
    printf("architecture:  %s\n", in->arch);
    printf("name:          %s\n", in->name && *in->name ? in->name : "-");
    printf("layers:        %d\n", in->n_layer);
    printf("embedding:     %d\n", in->n_embd);
    printf("heads:         %d (kv %d), head_dim %d\n", in->n_head, in->n_head_kv, in->head_dim);
    printf("mlp:           %d\n", in->n_ff);
    printf("vocab:         %d\n", in->n_vocab);
    printf("context:       %d (trained)\n", in->n_ctx_train);
    printf("weights:       %s\n", wtype ? wtype : "?");
    printf("content hash:  %016" PRIx64 "\n", in->content_hash);
    actrm_model_free(m);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' || model) {
            fprintf(stderr, "actrm info: unexpected argument '%s' (see actrm info --help)\n", argv[i]);
            return 2;
        }
        model = argv[i];
    }
    printf("actrm %s\n", ACTRM_VERSION);
    print_features();
    if (print_kernels() != 0)
        return 1;
    return model ? print_model(model) : 0;
}
