/* pipetune: git-style dispatch to one function per subcommand. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "commit.h"
#include "config.h"
#include "db.h"
#include "gpu.h"
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
    {"plan", cmd_plan, "check a database against the plan: what is missing, per shard"},
    {"query", cmd_query, "best, crossovers, compare and failures from a database"},
    {"report", cmd_report, "write a self-contained HTML report with plots"},
    {"space", cmd_space, "list a stage's knob variants and which are feasible"},
    {"status", cmd_status, "show the runs of a database: progress, rate, ETA, failures"},
    {"tune", cmd_tune, "compile and measure variants over a shape grid into a database"},
    {"verify", cmd_verify, "run one configuration stage by stage against the oracle"},
    {"worker", cmd_worker, "measure items on one GPU for 'pipetune tune' (internal)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: pipetune [-V | --version] [-h | --help] <command> [<args>]\n\n"
             "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "   %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'pipetune help <command>' or 'pipetune <command> --help' describes a command;\n"
             "'man pipetune' has them all\n");
}

/* "pipetune 0.1.0 (commit 3365ed2; backends cuda, hip; schema 2)": what a
 * bug report needs to name the build. */
static int version(void) {
  printf("pipetune %s (commit %s; backends", PACKAGE_VERSION, PT_COMMIT);
  unsigned built = pt_gpu_backends_built();
  const pt_gpu_backend_t all[] = {PT_GPU_CUDA, PT_GPU_HIP};
  int n = 0;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (built & (1u << all[i])) printf("%s %s", n++ ? "," : "", pt_gpu_backend_name(all[i]));
  printf("%s; schema %d)\n", n ? "" : " none", pt_db_schema_version());
  return 0;
}

static const struct cmd *find(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

/* The command sections of the man page: each command's own --help between
 * "@@cmd NAME\tSUMMARY" and "@@end" lines, so the page cannot drift from the
 * option tables (build-aux/gen-man.sh turns them into roff). */
static int man_sections(void) {
  for (size_t i = 0; i < NCOMMANDS; i++) {
    printf("@@cmd %s\t%s\n", commands[i].name, commands[i].help);
    fflush(stdout);
    const char *argv[] = {commands[i].name, "--help", NULL};
    commands[i].fn(2, argv);
    fflush(stdout);
    printf("@@end\n");
  }
  return 0;
}

/* pipetune help [COMMAND | --man-sections] */
static int help(int argc, const char **argv) {
  if (argc < 2) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--man-sections") == 0) return man_sections();
  const struct cmd *c = find(argv[1]);
  if (c == NULL) return pt_cli_error("unknown command '%s'; see 'pipetune --help'", argv[1]);
  const char *args[] = {c->name, "--help", NULL};
  return c->fn(2, args);
}

int main(int argc, char **argv) {
  const char **args = (const char **)argv;
  if (argc < 2) {
    pt_cli_error("no command given");
    usage(stderr);
    return 2;
  }
  const char *name = args[1];
  if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 ||
      strcmp(name, "version") == 0)
    return pt_cli_finish_stdout(version());
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
    return pt_cli_finish_stdout(help(1, args + 1));
  if (strcmp(name, "help") == 0)
    return pt_cli_finish_stdout(help(argc - 1, args + 1));
  const struct cmd *c = find(name);
  if (c != NULL) return pt_cli_finish_stdout(c->fn(argc - 1, args + 1));
  pt_cli_error("unknown command '%s'; see 'pipetune --help'", name);
  return 2;
}
