/* Whole-file I/O with errors that name the file. */
#ifndef BIQA_CORE_FILE_H
#define BIQA_CORE_FILE_H

#include <stddef.h>

#include "core/error.h"

/* Reads all of path ("-" = standard input) into a malloc'd buffer with one
 * spare byte after the end (set to '\0'). */
int biqa_read_file(const char *path, char **data, size_t *len, biqa_error *err);

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename. A reader never sees a half-written file. */
int biqa_write_file_atomic(const char *path, const void *data, size_t len, biqa_error *err);

/* Creates path and its missing parents (mkdir -p). */
int biqa_mkdir_p(const char *path, biqa_error *err);

/* A file written in pieces that appears at its path only when complete:
 * open writes to a temporary file beside path, commit fsyncs and renames,
 * abort (or any failed write, which aborts) removes the temporary. */
typedef struct biqa_atomic_file {
    char *path, *tmp;
    int fd;
} biqa_atomic_file;

int biqa_atomic_open(biqa_atomic_file *f, const char *path, biqa_error *err);
int biqa_atomic_write(biqa_atomic_file *f, const void *data, size_t len, biqa_error *err);
int biqa_atomic_commit(biqa_atomic_file *f, biqa_error *err);
void biqa_atomic_abort(biqa_atomic_file *f);

#endif
