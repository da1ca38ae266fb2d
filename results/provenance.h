/* Where and with what a run ran: code version, host, CPU, GPU stack, and the
 * identity of this process (pid, boot, start time) by which a later biqa
 * invocation tells a live run from a dead one. */
#ifndef BIQA_RESULTS_PROVENANCE_H
#define BIQA_RESULTS_PROVENANCE_H

#include <stdint.h>

#include "kernels/gpu_info.h"

typedef struct biqa_provenance {
    const char *git_commit; /* of the source tree this binary was built from */
    int git_dirty;          /* 1 when that tree had uncommitted changes */
    char host[256];
    char cpu[256];          /* "model name x logical cores" */
    biqa_gpu_info gpu;
    int64_t pid;
    char boot_id[64];
    int64_t proc_start;     /* clock ticks since boot, /proc/PID/stat field 22 */
} biqa_provenance;

void biqa_provenance_collect(biqa_provenance *p);

/* This machine's boot id ("" when unknown). */
void biqa_boot_id(char out[64]);
/* Start time of process pid in clock ticks since boot, or -1 if it does not exist. */
int64_t biqa_process_start(int64_t pid);
void biqa_hostname(char out[256]);

#endif
