/*
 * The meeting text inside Granola's tool results. It looks like XML but is
 * not: a plain-text preamble, maybe an <access_notice>, then
 *   <meetings_data from=".." to=".." count="N">
 *     <meeting id=".." title=".." date=".." ...>
 *       <known_participants>Ann (note creator) from Co <ann@co.com>, ...</known_participants>
 *       <summary>markdown, may hold raw < > & "</summary>
 *       <private_notes>..</private_notes>   (older replies: <notes>)
 *     </meeting> ...
 * Attributes and text may use &amp; &quot; &lt; &gt; &#39; &#NN; &#xNN;.
 * The parser is total: it never reads past len and always ends.
 */
#ifndef GRANOLA_MEETING_PARSER_H
#define GRANOLA_MEETING_PARSER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gr_participant {
    char *name;    /* never NULL */
    char *email;   /* NULL when none was given */
    char *company; /* NULL when none was given */
    bool creator;  /* "(note creator)" */
} gr_participant;

typedef struct gr_meeting {
    char *id;        /* never NULL or empty */
    char *title;     /* NULL when absent */
    char *date;      /* raw date text, NULL when absent */
    char *workspace; /* workspace_id attribute, NULL when absent */
    gr_participant *participants;
    size_t participant_count;
    char *summary;       /* NULL when absent */
    char *notes;         /* older replies */
    char *private_notes; /* NULL when absent */
} gr_meeting;

typedef struct gr_meeting_list {
    gr_meeting *items;
    size_t count;
    size_t skipped_without_id;
    long declared_count; /* meetings_data count="N", or -1 */
} gr_meeting_list;

/* Flags for gr_parse_meetings. */
enum {
    GR_PARSE_ALL = 0,
    GR_PARSE_SKIP_PARTICIPANTS = 1 /* a listing only needs ids, titles and dates */
};

/* Returns 0, or -1 with err set (only on allocation failure). */
int gr_parse_meetings(const char *text, size_t len, unsigned flags, gr_meeting_list *out, char *err,
                      size_t err_size);
void gr_meeting_list_free(gr_meeting_list *list);

/* Splits a known_participants text. Returns 0 or -1 (allocation failure). */
int gr_parse_participants(const char *text, size_t len, gr_participant **out, size_t *count);
void gr_participants_free(gr_participant *list, size_t count);

/* Decodes the entities above into a new NUL-terminated string (NULL: no memory). */
char *gr_decode_entities(const char *text, size_t len);

#endif
