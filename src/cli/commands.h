/* One entry point per sub-command; each lives in its own src/cli/cmd_<name>.c.
 * argv[0] is the sub-command name. Return the process exit status. */
#ifndef CS_CLI_COMMANDS_H
#define CS_CLI_COMMANDS_H

int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vec(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_add_text(int argc, char **argv);
int cmd_labels(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_duplicates(int argc, char **argv);
int cmd_finetune(int argc, char **argv);

#endif
