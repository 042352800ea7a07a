/* actrm score (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_score(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm score: not implemented yet\n");
    return 2;
}
