/* Logging: the process-wide log level is the only global mutable state
 * biqa has (DESIGN.md, Conventions). Messages go to stderr. */
#ifndef BIQA_CORE_LOG_H
#define BIQA_CORE_LOG_H

enum biqa_log_level { BIQA_LOG_QUIET = 0, BIQA_LOG_INFO = 1, BIQA_LOG_DEBUG = 2 };

void biqa_log_set_level(enum biqa_log_level level);
enum biqa_log_level biqa_log_get_level(void);

/* Informational line, hidden by -q. */
void biqa_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Detail, shown only with -v. */
void biqa_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "biqa: warning: ..." always shown. */
void biqa_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "biqa: error: ..." always shown. */
void biqa_error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
