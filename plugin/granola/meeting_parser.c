#include "meeting_parser.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds needle in [p, end); NULL when absent. Never reads past end. */
static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || (size_t)(end - p) < n)
        return NULL;
    const char *last = end - n;
    while (p <= last) {
        const char *hit = memchr(p, needle[0], (size_t)(last - p) + 1);
        if (!hit)
            return NULL;
        if (memcmp(hit, needle, n) == 0)
            return hit;
        p = hit + 1;
    }
    return NULL;
}

static bool starts_with(const char *p, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one entity at p (which is '&'); returns bytes consumed, 0 if none. */
static size_t decode_entity(const char *p, const char *end, char *out, size_t *written)
{
    static const struct {
        const char *name;
        char ch;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (starts_with(p, end, named[i].name)) {
            out[0] = named[i].ch;
            *written = 1;
            return strlen(named[i].name);
        }
    }
    if (!starts_with(p, end, "&#"))
        return 0;
    const char *q = p + 2;
    int base = 10;
    if (q < end && (*q == 'x' || *q == 'X')) {
        base = 16;
        q++;
    }
    unsigned long cp = 0;
    int digits = 0;
    while (q < end && digits < 8 && isxdigit((unsigned char)*q) &&
           (base == 16 || isdigit((unsigned char)*q))) {
        int d = isdigit((unsigned char)*q) ? *q - '0' : tolower((unsigned char)*q) - 'a' + 10;
        cp = cp * (unsigned long)base + (unsigned long)d;
        q++;
        digits++;
    }
    if (digits == 0 || q >= end || *q != ';' || cp == 0 || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *written = put_utf8(out, cp);
    return (size_t)(q + 1 - p);
}

char *gr_decode_entities(const char *text, size_t len)
{
    /* Decoding never grows text: the shortest entity (4 bytes) yields at most 4. */
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const char *p = text, *end = text + len;
    size_t n = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        memcpy(out + n, p, (size_t)(stop - p));
        n += (size_t)(stop - p);
        p = stop;
        if (!amp)
            break;
        size_t written = 0;
        size_t used = decode_entity(p, end, out + n, &written);
        if (used) {
            n += written;
            p += used;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static char *trimmed_copy(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    return gr_decode_entities(p, (size_t)(end - p));
}

/* Parses one participant "Name (note creator) from Company <email>". */
static int parse_one_participant(const char *p, const char *end, gr_participant *out)
{
    memset(out, 0, sizeof *out);
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    const char *name_end = end;
    if (end > p && end[-1] == '>') {
        const char *lt = end - 1;
        while (lt > p && *lt != '<')
            lt--;
        if (*lt == '<' && find(lt, end, "@")) {
            out->email = trimmed_copy(lt + 1, end - 1);
            if (!out->email)
                return -1;
            name_end = lt;
        }
    }
    const char *from = NULL;
    for (const char *s = p; (s = find(s, name_end, " from ")) != NULL; s++)
        from = s; /* the last " from ": names may contain the word */
    const char *creator = find(p, from ? from : name_end, "(note creator)");
    if (creator)
        out->creator = true;
    if (from) {
        out->company = trimmed_copy(from + 6, name_end);
        if (!out->company)
            return -1;
        if (out->company[0] == '\0') {
            free(out->company);
            out->company = NULL;
        }
    }
    const char *stop = creator ? creator : from ? from : name_end;
    out->name = trimmed_copy(p, stop);
    return out->name ? 0 : -1;
}

int gr_parse_participants(const char *text, size_t len, gr_participant **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    char *decoded = gr_decode_entities(text, len);
    if (!decoded)
        return -1;
    /* Emails arrive as <a@b> or &lt;a@b&gt;: after decoding both are <a@b>. */
    const char *p = decoded, *end = decoded + strlen(decoded);
    size_t cap = 0;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *q = p;
        int depth = 0;
        /* The analyzer misses that gr_decode_entities wrote every byte before the NUL. */
        // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
        while (q < end && (depth > 0 || *q != ',')) {
            depth += *q == '<' ? 1 : *q == '>' && depth > 0 ? -1 : 0;
            q++;
        }
        const char *s = p;
        while (s < q && isspace((unsigned char)*s))
            s++;
        if (s < q) {
            if (*count == cap) {
                size_t new_cap = cap ? cap * 2 : 4;
                gr_participant *grown = realloc(*out, new_cap * sizeof *grown);
                if (!grown) {
                    rc = -1;
                    break;
                }
                *out = grown;
                cap = new_cap;
            }
            rc = parse_one_participant(s, q, &(*out)[*count]);
            (*count)++;
        }
        p = q < end ? q + 1 : q;
    }
    free(decoded);
    if (rc != 0) {
        gr_participants_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

void gr_participants_free(gr_participant *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].name);
        free(list[i].email);
        free(list[i].company);
    }
    free(list);
}

/* One attribute a caller wants: its name and where to store the decoded value. */
typedef struct wanted_attr {
    const char *name;
    char **value;
} wanted_attr;

/*
 * Reads the name="value" (or 'value') attributes of the start tag [p, end) in
 * one pass, storing decoded copies of the wanted ones (first occurrence wins).
 * Returns false on allocation failure.
 */
static bool read_attributes(const char *p, const char *end, const wanted_attr *wanted, size_t count)
{
    const char *s = p;
    while (s < end) {
        while (s < end && !isalpha((unsigned char)*s) && *s != '_')
            s++;
        const char *key = s;
        while (s < end && (isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
            s++;
        size_t key_len = (size_t)(s - key);
        while (s < end && isspace((unsigned char)*s))
            s++;
        if (s >= end || *s != '=')
            continue;
        s++;
        while (s < end && isspace((unsigned char)*s))
            s++;
        if (s >= end || (*s != '"' && *s != '\''))
            continue;
        char quote = *s++;
        const char *value = s;
        while (s < end && *s != quote)
            s++;
        for (size_t i = 0; i < count; i++) {
            if (strlen(wanted[i].name) != key_len || memcmp(key, wanted[i].name, key_len) != 0 ||
                *wanted[i].value)
                continue;
            if (!(*wanted[i].value = gr_decode_entities(value, (size_t)(s - value))))
                return false;
        }
        if (s < end)
            s++;
    }
    return true;
}

/* End of the start tag that begins at p: the first '>' outside quotes. */
static const char *tag_end(const char *p, const char *end)
{
    char quote = 0;
    for (; p < end; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            return p;
        }
    }
    return NULL;
}

static void meeting_free(gr_meeting *m)
{
    free(m->id);
    free(m->title);
    free(m->date);
    free(m->workspace);
    gr_participants_free(m->participants, m->participant_count);
    free(m->summary);
    free(m->notes);
    free(m->private_notes);
}

/* Element text of <name>...</name> starting after the open tag at p. */
static const char *element_body(const char *p, const char *end, const char *close,
                                const char **body_end)
{
    const char *c = find(p, end, close);
    *body_end = c ? c : end;
    return c ? c + strlen(close) : end;
}

/* Parses the children of one meeting in [p, end). Returns -1 on allocation failure. */
static int parse_children(const char *p, const char *end, unsigned flags, gr_meeting *m)
{
    static const struct {
        const char *open;
        const char *close;
        size_t field;
    } children[] = {
        {"<summary>", "</summary>", offsetof(gr_meeting, summary)},
        {"<private_notes>", "</private_notes>", offsetof(gr_meeting, private_notes)},
        {"<notes>", "</notes>", offsetof(gr_meeting, notes)},
    };
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            break;
        p = lt;
        bool matched = false;
        const char *body_end;
        if (starts_with(p, end, "<known_participants>")) {
            const char *body = p + strlen("<known_participants>");
            p = element_body(body, end, "</known_participants>", &body_end);
            if (!(flags & GR_PARSE_SKIP_PARTICIPANTS) && !m->participants &&
                gr_parse_participants(body, (size_t)(body_end - body), &m->participants,
                                      &m->participant_count) != 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i < sizeof children / sizeof children[0] && !matched; i++) {
            if (!starts_with(p, end, children[i].open))
                continue;
            matched = true;
            const char *body = p + strlen(children[i].open);
            p = element_body(body, end, children[i].close, &body_end);
            char **field = (char **)((char *)m + children[i].field);
            if (!*field && !(*field = trimmed_copy(body, body_end)))
                return -1;
        }
        if (!matched)
            p++; /* unknown tag or a raw '<': move on */
    }
    return 0;
}

static int append_meeting(gr_meeting_list *list, size_t *cap, gr_meeting *m)
{
    if (list->count == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 16;
        gr_meeting *grown = realloc(list->items, new_cap * sizeof *grown);
        if (!grown)
            return -1;
        list->items = grown;
        *cap = new_cap;
    }
    list->items[list->count++] = *m;
    return 0;
}

int gr_parse_meetings(const char *text, size_t len, unsigned flags, gr_meeting_list *out, char *err,
                      size_t err_size)
{
    memset(out, 0, sizeof *out);
    out->declared_count = -1;
    const char *p = text, *end = text + len;
    size_t cap = 0;
    bool oom = false;
    const char *data = find(p, end, "<meetings_data");
    if (data) {
        const char *te = tag_end(data, end);
        char *count = NULL;
        wanted_attr want_count = {"count", &count};
        oom = !read_attributes(data + 14, te ? te : end, &want_count, 1);
        if (count) {
            char *stop;
            long v = strtol(count, &stop, 10);
            out->declared_count = *count && !*stop && v >= 0 ? v : -1;
            free(count);
        }
        p = te ? te + 1 : end;
    }
    while (!oom && p < end) {
        const char *start = find(p, end, "<meeting ");
        if (!start)
            break;
        const char *te = tag_end(start, end);
        if (!te)
            break; /* truncated start tag: nothing more can be read */
        const char *close = find(te + 1, end, "</meeting>");
        const char *body_end = close ? close : end;
        /* A missing </meeting> ends this meeting where the next one starts. */
        const char *next = find(te + 1, body_end, "<meeting ");
        if (!close || next)
            body_end = next ? next : end;
        gr_meeting m = {0};
        const wanted_attr wanted[] = {
            {"id", &m.id}, {"title", &m.title}, {"date", &m.date}, {"workspace_id", &m.workspace}};
        oom = !read_attributes(start + 9, te, wanted, sizeof wanted / sizeof wanted[0]);
        if (!oom && parse_children(te + 1, body_end, flags, &m) != 0)
            oom = true;
        p = body_end == close ? close + 10 : body_end;
        if (oom || !m.id || m.id[0] == '\0') {
            out->skipped_without_id += !oom;
            meeting_free(&m);
            continue;
        }
        if (append_meeting(out, &cap, &m) != 0) {
            meeting_free(&m);
            oom = true;
        }
    }
    if (oom) {
        gr_meeting_list_free(out);
        snprintf(err, err_size, "out of memory parsing meetings");
        return -1;
    }
    return 0;
}

void gr_meeting_list_free(gr_meeting_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        meeting_free(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
    list->declared_count = -1;
}
