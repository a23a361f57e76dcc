/*
 * Fuzz target: the SSE reader fed the input in two pieces (split where the
 * first byte says) must deliver the same events as when fed all at once.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sse_reader.h"

typedef struct digest {
    uint64_t hash;
    size_t events;
} digest;

static bool on_event(void *userdata, const char *data, size_t len)
{
    digest *d = userdata;
    for (size_t i = 0; i < len; i++)
        d->hash = (d->hash ^ (uint8_t)data[i]) * 1099511628211u;
    d->hash = (d->hash ^ 0xff) * 1099511628211u; /* event boundary */
    d->events++;
    return true;
}

static int feed(const uint8_t *data, size_t size, size_t split, digest *d)
{
    sse_reader r;
    sse_reader_init(&r, 4096, on_event, d);
    int rc = sse_reader_feed(&r, (const char *)data, split);
    if (rc == 0)
        rc = sse_reader_feed(&r, (const char *)data + split, size - split);
    if (rc == 0)
        rc = sse_reader_finish(&r);
    sse_reader_free(&r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % size;
    digest whole = {14695981039346656037u, 0}, pieces = {14695981039346656037u, 0};
    int a = feed(data + 1, size - 1, 0, &whole);
    int b = feed(data + 1, size - 1, split > 0 ? split - 1 : 0, &pieces);
    if (a == 0 && b == 0) {
        FUZZ_CHECK(whole.events == pieces.events);
        FUZZ_CHECK(whole.hash == pieces.hash);
    }
    return 0;
}
