/* Error reporting without global state: every fallible function takes a
 * biqa_error and returns -1 after filling it, 0 on success. The message is
 * one line that names the file, field or URL at fault (curl's errorbuffer
 * pattern). */
#ifndef BIQA_CORE_ERROR_H
#define BIQA_CORE_ERROR_H

#include <stddef.h>

typedef struct biqa_error {
    char msg[1024];
} biqa_error;

/* Formats the message into e (when e is not NULL) and returns -1. */
int biqa_fail(biqa_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message with more context ("reading X: <old msg>"). */
int biqa_fail_wrap(biqa_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
