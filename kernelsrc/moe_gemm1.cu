/* gemm1: up/gate projection + activation + requantize (DESIGN §4). */
#define PT_STAGE 1
#include "pt_kernel.cuh"
