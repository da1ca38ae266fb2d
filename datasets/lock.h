/* An advisory lock file (flock), so two biqa processes do not work on one
 * dataset at once. The lock dies with its process, so a crashed holder never
 * leaves a stale lock behind; the file itself stays (deleting it would let a
 * third process lock a different inode) and holds the holder's pid. */
#ifndef BIQA_DATASETS_LOCK_H
#define BIQA_DATASETS_LOCK_H

#include "core/error.h"

/* Creates lock_path if needed and locks it. wait = 1 blocks until the holder
 * lets go; wait = 0 fails at once with an error naming the lock and the
 * holder's pid. On success *fd_out is the lock's descriptor. */
int biqa_lock_acquire(const char *lock_path, int wait, int *fd_out, biqa_error *err);

/* Releases a lock taken by biqa_lock_acquire (closes fd; a negative fd is ignored). */
void biqa_lock_release(int fd);

#endif
