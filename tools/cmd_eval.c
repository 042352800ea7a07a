/* actrm eval (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm eval: not implemented yet\n");
    return 2;
}
