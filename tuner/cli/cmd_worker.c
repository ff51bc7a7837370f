/* pipetune worker --gpu N: the process the tune supervisor spawns per GPU
 * (worker.h). Not meant to be run by hand: it speaks JSON lines on stdin and
 * stdout. PT_WORKER_BACKEND=test selects the simulated backend for tests. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "builtin.h"
#include "opts.h"
#include "worker.h"

int cmd_worker(int argc, const char **argv) {
  int gpu = -1;
  const pt_opt_t opts[] = {
      PT_OPT_INT(0, "gpu", &gpu, "N", "device ordinal to measure on"),
      PT_OPT_END(),
  };
  const char *usage = "pipetune worker --gpu N  (spawned by 'pipetune tune')";
  argc = pt_opts_parse(argc, argv, opts, usage);
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  if (gpu < 0) return pt_cli_error("--gpu N is required (a device ordinal >= 0)");
  const char *name = getenv("PT_WORKER_BACKEND");
  const pt_worker_backend_t *b = pt_worker_backend_find(name != NULL ? name : "gpu");
  if (b == NULL) return pt_cli_error("unknown worker backend '%s' in PT_WORKER_BACKEND", name);
  /* A supervisor that died closes our stdout: that is an error to report,
   * not a signal to die of. */
  signal(SIGPIPE, SIG_IGN);
  /* Ctrl-C reaches the whole process group, and a batch system's SIGTERM
   * (Slurm's scancel, preemption, time limit) every process of the job: the
   * supervisor decides when we stop (it closes our stdin once the item in
   * flight is done), so that item is measured, not recorded as a crash. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  pt_err_t err;
  pt_err_clear(&err);
  int rc = pt_worker_main(b, gpu, STDIN_FILENO, STDOUT_FILENO, &err);
  if (rc != PT_OK) {
    pt_cli_error("worker: %s", err.msg);
    return pt_exit_status(rc);
  }
  return 0;
}
