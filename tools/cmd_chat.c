/* actrm chat (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int cmd_chat(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "actrm chat: not implemented yet\n");
    return 2;
}
