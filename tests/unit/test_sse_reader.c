/* Unit tests for the incremental SSE reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sse_reader.h"

typedef struct events {
    char *data[16];
    int count;
    int stop_after;
} events;

static bool collect(void *userdata, const char *data, size_t len)
{
    events *e = userdata;
    if (e->count < 16)
        e->data[e->count++] = strndup(data, len);
    return e->stop_after == 0 || e->count < e->stop_after;
}

static void free_events(events *e)
{
    for (int i = 0; i < e->count; i++)
        free(e->data[i]);
}

/* Feeds text in pieces of chunk bytes (every split point gets exercised). */
static int feed_in_chunks(sse_reader *r, const char *text, size_t chunk)
{
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        int rc = sse_reader_feed(r, text + off, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char STREAM[] = ": keep-alive comment\n"
                             "event: message\n"
                             "data:\n"
                             "\n"
                             "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n"
                             "\n"
                             "id: 7\n"
                             "data: {\"jsonrpc\":\"2.0\",\n"
                             "data:\"id\":3}\n"
                             "\n";

static void check_stream_events(const events *e)
{
    assert_int_equal(e->count, 2);
    assert_string_equal(e->data[0], "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}");
    assert_string_equal(e->data[1], "{\"jsonrpc\":\"2.0\",\n\"id\":3}");
}

static char *with_line_ends(const char *text, const char *eol)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n' ? strlen(eol) : 1;
    char *out = malloc(n + 1), *o = out;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            memcpy(o, eol, strlen(eol));
            o += strlen(eol);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void test_events_in_every_chunking_and_line_ending(void **state)
{
    (void)state;
    const char *eols[] = {"\n", "\r\n", "\r"};
    for (size_t k = 0; k < 3; k++) {
        char *text = with_line_ends(STREAM, eols[k]);
        for (size_t chunk = 1; chunk <= strlen(text); chunk++) {
            events e = {0};
            sse_reader r;
            sse_reader_init(&r, 1 << 20, collect, &e);
            assert_int_equal(feed_in_chunks(&r, text, chunk), 0);
            assert_int_equal(sse_reader_finish(&r), 0);
            check_stream_events(&e);
            sse_reader_free(&r);
            free_events(&e);
        }
        free(text);
    }
}

static void test_callback_can_stop_reading(void **state)
{
    (void)state;
    events e = {.stop_after = 1};
    sse_reader r;
    sse_reader_init(&r, 1 << 20, collect, &e);
    assert_int_equal(sse_reader_feed(&r, STREAM, strlen(STREAM)), 1);
    assert_int_equal(e.count, 1);
    sse_reader_free(&r);
    free_events(&e);
}

static void test_final_event_without_blank_line(void **state)
{
    (void)state;
    events e = {0};
    sse_reader r;
    sse_reader_init(&r, 1 << 20, collect, &e);
    assert_int_equal(sse_reader_feed(&r, "data: last", 10), 0);
    assert_int_equal(e.count, 0);
    assert_int_equal(sse_reader_finish(&r), 0);
    assert_int_equal(e.count, 1);
    assert_string_equal(e.data[0], "last");
    sse_reader_free(&r);
    free_events(&e);
}

static void test_oversized_line_and_event_are_refused(void **state)
{
    (void)state;
    events e = {0};
    sse_reader r;
    sse_reader_init(&r, 16, collect, &e);
    assert_int_equal(sse_reader_feed(&r, "data: 0123456789abcdefXYZ", 25), -1);
    sse_reader_free(&r);
    sse_reader_init(&r, 16, collect, &e);
    assert_int_equal(sse_reader_feed(&r, "data: 0123456\ndata: 789abcdef\n", 30), -1);
    sse_reader_free(&r);
    assert_int_equal(e.count, 0);
}

static void test_field_without_colon_and_other_fields(void **state)
{
    (void)state;
    events e = {0};
    sse_reader r;
    sse_reader_init(&r, 1 << 20, collect, &e);
    const char *text = "data\nretry: 10\ndataX: no\ndata:x\n\n";
    assert_int_equal(sse_reader_feed(&r, text, strlen(text)), 0);
    assert_int_equal(e.count, 1);
    assert_string_equal(e.data[0], "\nx");
    sse_reader_free(&r);
    free_events(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_in_every_chunking_and_line_ending),
        cmocka_unit_test(test_callback_can_stop_reading),
        cmocka_unit_test(test_final_event_without_blank_line),
        cmocka_unit_test(test_oversized_line_and_event_are_refused),
        cmocka_unit_test(test_field_without_colon_and_other_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
