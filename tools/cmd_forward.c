/* actrm forward (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_forward(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm forward: not implemented yet\n");
    return 2;
}
