/* Turns a Granola meeting into the item users rely on (docs/GRANOLA.md). */
#ifndef GRANOLA_MEETING_ITEM_H
#define GRANOLA_MEETING_ITEM_H

#include <stddef.h>

#include "meeting_parser.h"
#include "pa_plugin.h"

#define GRANOLA_DESCRIPTION_MAX_CHARS 8000
#define GRANOLA_MAX_ATTENDEES         5

/* The text an item is made from: summary, else notes; NULL if blank or "No summary". */
const char *gr_meeting_content(const gr_meeting *m);

/* An item and the strings it points into; free with meeting_item_free. */
typedef struct meeting_item {
    pa_item item;
    char *title;
    char *description;
    char *metadata;
} meeting_item;

/* Returns PA_OK or PA_ERR_NOMEM. The meeting must have content. */
int meeting_item_build(const gr_meeting *m, const char *workspace_id, const char *account_id,
                       meeting_item *out);
void meeting_item_free(meeting_item *mi);

/* Length of the longest prefix of s with at most max_chars UTF-8 characters. */
size_t gr_utf8_prefix(const char *s, size_t len, size_t max_chars);

#endif
