#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int biqa_fail(biqa_error *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int biqa_fail_wrap(biqa_error *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* Truncation is acceptable: the message stays a valid, shorter line. */
    size_t n = strlen(prefix), room = sizeof e->msg - 1;
    memcpy(e->msg, prefix, n);
    size_t m = strlen(old);
    if (n + 2 + m > room)
        m = room > n + 2 ? room - n - 2 : 0;
    memcpy(e->msg + n, ": ", 2);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
    return -1;
}
