#include "sse_reader.h"

#include <stdlib.h>
#include <string.h>

void sse_reader_init(sse_reader *r, size_t max_size, sse_event_fn on_event, void *userdata)
{
    memset(r, 0, sizeof *r);
    r->max_size = max_size;
    r->on_event = on_event;
    r->userdata = userdata;
}

void sse_reader_free(sse_reader *r)
{
    free(r->line);
    free(r->data);
    r->line = r->data = NULL;
}

static int reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max)
        return -1;
    if (need <= *cap)
        return 0;
    size_t new_cap = *cap ? *cap : 256;
    while (new_cap < need)
        new_cap *= 2;
    if (new_cap > max + 1)
        new_cap = max + 1;
    char *grown = realloc(*buf, new_cap);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = new_cap;
    return 0;
}

static int dispatch(sse_reader *r)
{
    int rc = 0;
    if (r->has_data && r->data_len > 0 && !r->on_event(r->userdata, r->data, r->data_len))
        rc = 1;
    r->data_len = 0;
    r->has_data = false;
    return rc;
}

/* Handles one complete line (without its terminator). */
static int process_line(sse_reader *r, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(r);
    if (line[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    if (name_len != 4 || memcmp(line, "data", 4) != 0)
        return 0; /* event, id, retry: not needed to find a JSON-RPC response */
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    size_t sep = r->has_data ? 1 : 0;
    if (reserve(&r->data, &r->data_cap, r->data_len + sep + value_len + 1, r->max_size) != 0)
        return -1;
    if (sep)
        r->data[r->data_len++] = '\n';
    memcpy(r->data + r->data_len, value, value_len);
    r->data_len += value_len;
    r->data[r->data_len] = '\0';
    r->has_data = true;
    return 0;
}

int sse_reader_feed(sse_reader *r, const char *bytes, size_t len)
{
    const char *p = bytes, *end = bytes + len;
    if (r->skip_lf && p < end) {
        if (*p == '\n')
            p++;
        r->skip_lf = false;
    }
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\n' && *q != '\r')
            q++;
        if (q == end) { /* partial line: keep it for the next piece */
            size_t n = (size_t)(end - p);
            if (reserve(&r->line, &r->line_cap, r->line_len + n + 1, r->max_size) != 0)
                return -1;
            memcpy(r->line + r->line_len, p, n);
            r->line_len += n;
            return 0;
        }
        int rc;
        if (r->line_len) {
            size_t n = (size_t)(q - p);
            if (reserve(&r->line, &r->line_cap, r->line_len + n + 1, r->max_size) != 0)
                return -1;
            memcpy(r->line + r->line_len, p, n);
            rc = process_line(r, r->line, r->line_len + n);
            r->line_len = 0;
        } else {
            rc = process_line(r, p, (size_t)(q - p));
        }
        if (*q == '\r') {
            if (q + 1 < end && q[1] == '\n')
                q++;
            else if (q + 1 == end)
                r->skip_lf = true;
        }
        p = q + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sse_reader_finish(sse_reader *r)
{
    int rc = 0;
    if (r->line_len) {
        rc = process_line(r, r->line, r->line_len);
        r->line_len = 0;
    }
    return rc != 0 ? rc : dispatch(r);
}
