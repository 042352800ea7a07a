/* actrm tokenize (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm tokenize: not implemented yet\n");
    return 2;
}
