#include "log.h"

#include "text_clean.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static pa_log_level g_max_level = PA_LOG_INFO;
static log_format g_format = LOG_FORMAT_TEXT;
static log_sink_fn g_sink;
static void *g_sink_userdata;
static log_forward_fn g_forward;

static const char *level_name(pa_log_level level)
{
    switch (level) {
    case PA_LOG_ERROR:
        return "error";
    case PA_LOG_WARN:
        return "warn";
    case PA_LOG_INFO:
        return "info";
    case PA_LOG_DEBUG:
        return "debug";
    }
    return "info";
}

void log_set_format(log_format format)
{
    g_format = format;
}

/* The syslog priority journald reads from a "<N>" prefix. */
static int priority(pa_log_level level)
{
    switch (level) {
    case PA_LOG_ERROR:
        return 3;
    case PA_LOG_WARN:
        return 4;
    case PA_LOG_INFO:
        return 6;
    case PA_LOG_DEBUG:
        return 7;
    }
    return 6;
}

void log_set_level(pa_log_level max_level)
{
    g_max_level = max_level;
}

pa_log_level log_get_level(void)
{
    return g_max_level;
}

void log_set_sink(log_sink_fn sink, void *userdata)
{
    g_sink = sink;
    g_sink_userdata = userdata;
}

void log_set_forward(log_forward_fn fn)
{
    g_forward = fn;
}

void log_vmsg(pa_log_level level, const char *source, const char *fmt, va_list ap)
{
    if (level > g_max_level)
        return;
    if (g_forward) {
        char message[2048];
        vsnprintf(message, sizeof message, fmt, ap);
        g_forward(level, source, message);
        return;
    }
    /* The line is built whole first so concurrent writers never interleave. */
    char line[2048];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = g_format == LOG_FORMAT_JOURNALD
                ? snprintf(line, sizeof line, "<%d>%s: ", priority(level), source)
                : snprintf(line, sizeof line, "%s.%03ldZ %s %s: ", stamp, ts.tv_nsec / 1000000,
                           level_name(level), source);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /*
     * Messages carry text from plugins and servers: one line, valid UTF-8,
     * and no control character a terminal would obey (an escape sequence in
     * a meeting title must not repaint the operator's screen).
     */
    char clean[sizeof line * 2];
    text_clean_line(line, clean, sizeof clean);
    if (g_sink) {
        g_sink(g_sink_userdata, level, clean);
        return;
    }
    fprintf(stderr, "%s\n", clean);
}

void log_msg(pa_log_level level, const char *source, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, source, fmt, ap);
    va_end(ap);
}
