/* pipetune devices: the GPUs of every built backend and their properties. */
#include <stdio.h>
#include <string.h>

#include "builtin.h"
#include "gpu.h"
#include "opts.h"

static void print_table_row(const pt_gpu_props_t *p) {
  printf("%-5s %2d  %-28s %-8s %4d SMs  %6.1f GiB  L2 %3zu MiB  smem/block %3zu KiB  %s\n",
         pt_gpu_backend_name(p->backend), p->ordinal, p->name, p->arch, p->sm_count,
         (double)p->global_mem / (1 << 30), p->l2_bytes >> 20,
         p->smem_per_block_optin >> 10, p->driver);
}

static void print_json_row(const pt_gpu_props_t *p, int first) {
  printf("%s\n  {\"backend\": \"%s\", \"ordinal\": %d, \"name\": \"%s\", \"arch\": \"%s\", "
         "\"sm_count\": %d, \"global_mem\": %zu, \"l2_bytes\": %zu, "
         "\"smem_per_block_optin\": %zu, \"regs_per_sm\": %d, \"clock_khz\": %d, "
         "\"pci_bus_id\": \"%s\", \"driver\": \"%s\"}",
         first ? "" : ",", pt_gpu_backend_name(p->backend), p->ordinal, p->name,
         p->arch, p->sm_count, p->global_mem, p->l2_bytes,
         p->smem_per_block_optin, p->regs_per_sm, p->clock_khz, p->pci_bus_id,
         p->driver);
}

static void backends_built(char *buf, size_t len) {
  unsigned mask = pt_gpu_backends_built();
  snprintf(buf, len, "%s%s%s", mask & (1u << PT_GPU_CUDA) ? "cuda" : "",
           (mask & (1u << PT_GPU_CUDA)) && (mask & (1u << PT_GPU_HIP)) ? ", " : "",
           mask & (1u << PT_GPU_HIP) ? "hip" : "");
  if (mask == 0) snprintf(buf, len, "none");
}

int cmd_devices(int argc, const char **argv) {
  const char *format = "table";
  const pt_opt_t opts[] = {
      PT_OPT_STRING(0, "format", &format, "table|json", "output format"),
      PT_OPT_END(),
  };
  argc = pt_opts_parse(argc, argv, opts, "pipetune devices [--format table|json]");
  if (argc < 0) return pt_opts_status(argc);
  if (argc > 0) return pt_cli_error("unexpected argument '%s'", argv[0]);
  int json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0)
    return pt_cli_error("unknown format '%s' (expected table or json)", format);

  int found = 0;
  char why[2 * PT_ERRMSG_MAX] = "";
  if (json) printf("[");
  for (int b = PT_GPU_CUDA; b <= PT_GPU_HIP; b++) {
    if (!(pt_gpu_backends_built() & (1u << b))) continue;
    pt_err_t err;
    int n = 0;
    if (pt_gpu_count((pt_gpu_backend_t)b, &n, &err) != PT_OK) {
      size_t used = strlen(why);
      snprintf(why + used, sizeof why - used, "%s%s: %s", used ? "; " : "",
               pt_gpu_backend_name((pt_gpu_backend_t)b), err.msg);
      continue;
    }
    for (int i = 0; i < n; i++) {
      pt_gpu_props_t p;
      if (pt_gpu_get_props((pt_gpu_backend_t)b, i, &p, &err) != PT_OK) {
        pt_cli_error("%s device %d: %s", pt_gpu_backend_name((pt_gpu_backend_t)b), i, err.msg);
        continue;
      }
      if (json) print_json_row(&p, found == 0);
      else print_table_row(&p);
      found++;
    }
  }
  if (json) printf("\n]\n");
  if (found) return 0;
  char built[32];
  backends_built(built, sizeof built);
  fprintf(stderr, "no GPU found (backends built: %s)%s%s\n", built,
          why[0] ? "; " : "", why);
  return 1;
}
