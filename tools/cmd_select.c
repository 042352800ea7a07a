/* actrm select (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_select(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm select: not implemented yet\n");
    return 2;
}
