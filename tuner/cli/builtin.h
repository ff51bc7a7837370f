/* The subcommands of pipetune, one file each (tuner/cli/cmd_<name>.c). Each takes
 * the command's own argv (argv[0] is the command name) and returns the
 * process exit status (DESIGN §10: 0 ok, 1 runtime failure, 2 bad input). */
#ifndef PT_BUILTIN_H
#define PT_BUILTIN_H

int cmd_compile(int argc, const char **argv);
int cmd_db(int argc, const char **argv);
int cmd_devices(int argc, const char **argv);
int cmd_diff(int argc, const char **argv);
int cmd_emit(int argc, const char **argv);
int cmd_families(int argc, const char **argv);
int cmd_plan(int argc, const char **argv);
int cmd_query(int argc, const char **argv);
int cmd_report(int argc, const char **argv);
int cmd_space(int argc, const char **argv);
int cmd_status(int argc, const char **argv);
int cmd_tune(int argc, const char **argv);
int cmd_worker(int argc, const char **argv);
int cmd_verify(int argc, const char **argv);

#endif
