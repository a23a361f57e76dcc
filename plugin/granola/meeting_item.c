#include "meeting_item.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool blank(const char *s)
{
    for (; s && *s; s++) {
        if (!isspace((unsigned char)*s))
            return false;
    }
    return true;
}

/* Granola writes "No summary" until it has generated notes. */
static bool is_placeholder(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return n == 10 && strncasecmp(s, "No summary", 10) == 0;
}

const char *gr_meeting_content(const gr_meeting *m)
{
    const char *text = !blank(m->summary) ? m->summary : m->notes;
    if (blank(text) || is_placeholder(text))
        return NULL;
    return text;
}

size_t gr_utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    size_t i = 0, chars = 0;
    while (i < len && chars < max_chars) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++; /* continuation bytes belong to the same character */
        chars++;
    }
    return i;
}

static const char *attendee_label(const gr_participant *p)
{
    return p->email && *p->email ? p->email : p->name;
}

static char *build_description(const gr_meeting *m, const char *content)
{
    size_t n = strlen(content) + 32;
    size_t shown =
        m->participant_count < GRANOLA_MAX_ATTENDEES ? m->participant_count : GRANOLA_MAX_ATTENDEES;
    for (size_t i = 0; i < shown; i++)
        n += strlen(attendee_label(&m->participants[i])) + 2;
    char *out = malloc(n);
    if (!out)
        return NULL;
    size_t len = (size_t)snprintf(out, n, "%s", content);
    if (shown) {
        len += (size_t)snprintf(out + len, n - len, "\n\n**Attendees:** ");
        for (size_t i = 0; i < shown; i++)
            len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "",
                                    attendee_label(&m->participants[i]));
    }
    out[gr_utf8_prefix(out, len, GRANOLA_DESCRIPTION_MAX_CHARS)] = '\0';
    return out;
}

static char *build_metadata(const gr_meeting *m, const char *workspace_id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *attendees = cJSON_CreateArray();
    bool ok =
        o && attendees && cJSON_AddStringToObject(o, "note_id", m->id) &&
        cJSON_AddStringToObject(o, "workspace_id", workspace_id) &&
        (m->date ? cJSON_AddStringToObject(o, "date", m->date) : cJSON_AddNullToObject(o, "date"));
    for (size_t i = 0; ok && i < m->participant_count; i++)
        ok = cJSON_AddItemToArray(attendees,
                                  cJSON_CreateString(attendee_label(&m->participants[i])));
    if (ok && cJSON_AddItemToObject(o, "attendees", attendees))
        attendees = NULL;
    else
        ok = false;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(attendees);
    cJSON_Delete(o);
    return text;
}

int meeting_item_build(const gr_meeting *m, const char *workspace_id, const char *account_id,
                       meeting_item *out)
{
    static const char *const tags[] = {"meeting-notes", "granola"};
    memset(out, 0, sizeof *out);
    const char *content = gr_meeting_content(m);
    const char *title = m->title && !blank(m->title) ? m->title : "Untitled Meeting";
    size_t n = strlen(title) + sizeof "Review meeting: ";
    out->title = malloc(n);
    if (out->title)
        snprintf(out->title, n, "Review meeting: %s", title);
    out->description = content ? build_description(m, content) : NULL;
    out->metadata = build_metadata(m, workspace_id);
    if (!out->title || !out->description || !out->metadata) {
        meeting_item_free(out);
        return PA_ERR_NOMEM;
    }
    out->item = (pa_item){.abi_version = PA_ABI_VERSION,
                          .struct_size = sizeof(pa_item),
                          .type = "document_review",
                          .title = out->title,
                          .description = out->description,
                          .priority = "medium",
                          .source = "granola",
                          .source_reference = m->id,
                          .account_id = account_id,
                          .due_date = NULL,
                          .tags = tags,
                          .tag_count = 2,
                          .metadata_json = out->metadata};
    return PA_OK;
}

void meeting_item_free(meeting_item *mi)
{
    free(mi->title);
    free(mi->description);
    cJSON_free(mi->metadata);
    memset(mi, 0, sizeof *mi);
}
