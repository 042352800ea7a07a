/* actrm extract (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_extract(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm extract: not implemented yet\n");
    return 2;
}
