/* gemm2: down projection + routing weight, atomic or reduce epilog (DESIGN §4). */
#define PT_STAGE 2
#include "pt_kernel.cuh"
