/* pipetune: git-style dispatch to one function per subcommand. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "config.h"
#include "opts.h"

struct cmd {
  const char *name;
  int (*fn)(int argc, const char **argv);
  const char *help;
};

static const struct cmd commands[] = {
    {"compile", cmd_compile, "compile one kernel variant to a code object"},
    {"db", cmd_db, "create, check and merge result databases"},
    {"devices", cmd_devices, "list the GPUs and their properties"},
    {"diff", cmd_diff, "compare the winners of two databases; exit 1 on regressions"},
    {"emit", cmd_emit, "generate the select_pipe_config C table (and JSON/CSV)"},
    {"families", cmd_families, "list the model families and their token grids"},
    {"query", cmd_query, "best, crossovers, compare and failures from a database"},
    {"report", cmd_report, "write a self-contained HTML report with plots"},
    {"space", cmd_space, "list a stage's knob variants and which are feasible"},
    {"tune", cmd_tune, "compile and measure variants over a shape grid into a database"},
    {"verify", cmd_verify, "run one configuration stage by stage against the oracle"},
    {"worker", cmd_worker, "measure items on one GPU for 'pipetune tune' (internal)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune [--version] [--help] <command> [<args>]\n\n"
             "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "   %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'pipetune <command> --help' describes a command\n");
}

int main(int argc, char **argv) {
  const char **args = (const char **)argv;
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = args[1];
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
    printf("pipetune %s\n", PACKAGE_VERSION);
    return pt_cli_finish_stdout(0);
  }
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
      strcmp(name, "help") == 0) {
    usage(stdout);
    return pt_cli_finish_stdout(0);
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return pt_cli_finish_stdout(commands[i].fn(argc - 1, args + 1));
  pt_cli_error("unknown command '%s'; see 'pipetune --help'", name);
  return 2;
}
