/* Host logging: one line per call to stderr (or a test sink), level-filtered. */
#ifndef HOST_LOG_H
#define HOST_LOG_H

#include <stdarg.h>

#include "pa_plugin.h"

typedef void (*log_sink_fn)(void *userdata, pa_log_level level, const char *line);

/*
 * TEXT: "2026-11-29T14:22:39.123Z LEVEL SOURCE: message" (UTC, milliseconds).
 * JOURNALD: "<N>SOURCE: message", N the syslog priority (3 error, 4 warning,
 * 6 info, 7 debug); journald adds its own timestamp.
 */
typedef enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JOURNALD } log_format;

void log_set_format(log_format format);
void log_set_level(pa_log_level max_level);
pa_log_level log_get_level(void);
/* Route lines to sink instead of stderr (tests); NULL restores stderr. */
void log_set_sink(log_sink_fn sink, void *userdata);

/*
 * A worker process sends its lines to the supervisor instead of printing
 * them: fn gets each line that passes the level filter, unformatted, and the
 * supervisor logs it under the same source. NULL restores printing.
 */
typedef void (*log_forward_fn)(pa_log_level level, const char *source, const char *message);
void log_set_forward(log_forward_fn fn);

/* source names the component, e.g. "pool" or "plugin granola/work". */
void log_msg(pa_log_level level, const char *source, const char *fmt, ...) PA_PRINTF(3, 4);
void log_vmsg(pa_log_level level, const char *source, const char *fmt, va_list ap) PA_PRINTF(3, 0);

#endif
