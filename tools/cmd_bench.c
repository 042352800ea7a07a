/* actrm bench (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm bench: not implemented yet\n");
    return 2;
}
