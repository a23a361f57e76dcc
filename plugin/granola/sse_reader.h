/*
 * Incremental reader for text/event-stream bodies (WHATWG server-sent
 * events). Bytes arrive in arbitrary pieces; lines end in \n, \r\n or \r,
 * even when the \r and \n land in different pieces. Several data: lines of
 * one event are joined with \n; events whose data is empty are skipped.
 */
#ifndef GRANOLA_SSE_READER_H
#define GRANOLA_SSE_READER_H

#include <stdbool.h>
#include <stddef.h>

/* Called once per non-empty event; return false to stop reading. */
typedef bool (*sse_event_fn)(void *userdata, const char *data, size_t len);

typedef struct sse_reader {
    char *line;
    size_t line_len, line_cap;
    char *data;
    size_t data_len, data_cap;
    bool has_data;   /* at least one data: line in this event */
    bool skip_lf;    /* the previous piece ended in \r */
    size_t max_size; /* cap on one line and on one event's data */
    sse_event_fn on_event;
    void *userdata;
} sse_reader;

void sse_reader_init(sse_reader *r, size_t max_size, sse_event_fn on_event, void *userdata);
/*
 * Feeds bytes. Returns 0 to continue, 1 when a callback asked to stop, -1 when
 * a line or event exceeds max_size or memory runs out.
 */
int sse_reader_feed(sse_reader *r, const char *bytes, size_t len);
/* Dispatches a final event not followed by a blank line (stream closed). */
int sse_reader_finish(sse_reader *r);
void sse_reader_free(sse_reader *r);

#endif
