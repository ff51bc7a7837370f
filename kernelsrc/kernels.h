/* The device kernels' sources as the host sees them: embedded in the binary
 * at build time (build-aux/embed.sh), looked up by base name. The compile
 * request of a variant is tuner/pipe/kernel_job.h; the launch geometry and
 * resources of a variant are space/constraints.h. */
#ifndef PT_KERNELS_H
#define PT_KERNELS_H

/* Embedded sources: count, base name and text of each ("moe_gemm1.cu"). */
int pt_kernels_count(void);
const char *pt_kernels_name(int i);
const char *pt_kernels_text(int i);
/* Text of an embedded source by name, NULL if there is none. */
const char *pt_kernels_find(const char *name);

#endif
