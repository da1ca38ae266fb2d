#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum biqa_log_level log_level = BIQA_LOG_INFO;

void biqa_log_set_level(enum biqa_log_level level) { log_level = level; }
enum biqa_log_level biqa_log_get_level(void) { return log_level; }

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void biqa_info(const char *fmt, ...)
{
    if (log_level < BIQA_LOG_INFO)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void biqa_debug(const char *fmt, ...)
{
    if (log_level < BIQA_LOG_DEBUG)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("biqa: debug: ", fmt, ap);
    va_end(ap);
}

void biqa_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("biqa: warning: ", fmt, ap);
    va_end(ap);
}

void biqa_error_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("biqa: error: ", fmt, ap);
    va_end(ap);
}
