/* actrm info (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm info: not implemented yet\n");
    return 2;
}
