/* The reference backend: naive, obviously-correct loops over NCHW float32,
 * single-threaded. It is the oracle every other backend is compared with,
 * never the fast path. */
#ifndef BIQA_KERNELS_REF_H
#define BIQA_KERNELS_REF_H

#include "kernels/backend.h"

biqa_backend *biqa_ref_backend_create(biqa_error *err);

#endif
