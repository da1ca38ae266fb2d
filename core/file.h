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

#endif
