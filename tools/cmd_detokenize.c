/* actrm detokenize (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_detokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm detokenize: not implemented yet\n");
    return 2;
}
