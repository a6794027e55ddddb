/* TEMPORARY scaffold: replaced by the real command. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "clipsearch: %s: not implemented yet\n", argv[0]);
    return 2;
}
