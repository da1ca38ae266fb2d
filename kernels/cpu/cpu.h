/* The fast CPU backend (NCHW float32 at its interface), multi-threaded
 * with OpenMP over `threads` workers (0: every core). */
#ifndef BIQA_KERNELS_CPU_H
#define BIQA_KERNELS_CPU_H

#include "kernels/backend.h"

biqa_backend *biqa_cpu_backend_create(int threads, biqa_error *err);

#endif
