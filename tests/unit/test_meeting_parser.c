/* Unit tests for Granola's XML-like meeting text, quirk by quirk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "meeting_parser.h"

static gr_meeting_list parse(const char *text)
{
    gr_meeting_list list;
    char err[128];
    assert_int_equal(gr_parse_meetings(text, strlen(text), GR_PARSE_ALL, &list, err, sizeof err),
                     0);
    return list;
}

static const char LIST_REPLY[] =
    "Here are the meetings in the requested range.\n\n"
    "<access_notice>Free plans only see the last 30 days.</access_notice>\n"
    "<meetings_data from=\"2026-02-05\" to=\"2026-02-12\" count=\"2\">\n"
    "<meeting id=\"m-1\" title=\"Q1 &amp; &quot;planning&quot; &lt;draft&gt; &#39;26\" "
    "date=\"Feb 12, 2026 8:30 PM\" workspace_id=\"work\">\n"
    "  <known_participants>Ann Lee (note creator) from Acme <ann@acme.com>, Bob from Beta "
    "&lt;bob@beta.io&gt;, Carol</known_participants>\n"
    "</meeting>\n"
    "<meeting id='m-2' title=\"Standup\" date=\"2026-02-11T09:00:00Z\">\n"
    "</meeting>\n"
    "</meetings_data>";

static void test_list_reply_with_preamble_notice_and_entities(void **state)
{
    (void)state;
    gr_meeting_list list = parse(LIST_REPLY);
    assert_int_equal(list.count, 2);
    assert_int_equal(list.declared_count, 2);
    gr_meeting *m = &list.items[0];
    assert_string_equal(m->id, "m-1");
    assert_string_equal(m->title, "Q1 & \"planning\" <draft> '26");
    assert_string_equal(m->date, "Feb 12, 2026 8:30 PM");
    assert_string_equal(m->workspace, "work");
    assert_null(m->summary);
    assert_int_equal(m->participant_count, 3);
    assert_string_equal(m->participants[0].name, "Ann Lee");
    assert_true(m->participants[0].creator);
    assert_string_equal(m->participants[0].company, "Acme");
    assert_string_equal(m->participants[0].email, "ann@acme.com");
    assert_string_equal(m->participants[1].name, "Bob");
    assert_false(m->participants[1].creator);
    assert_string_equal(m->participants[1].email, "bob@beta.io");
    assert_string_equal(m->participants[2].name, "Carol");
    assert_null(m->participants[2].email);
    assert_null(m->participants[2].company);
    assert_string_equal(list.items[1].id, "m-2");
    assert_null(list.items[1].workspace);
    gr_meeting_list_free(&list);
}

static void test_summary_keeps_raw_markup_and_decodes_entities(void **state)
{
    (void)state;
    gr_meeting_list list =
        parse("<meetings_data count=\"1\"><meeting id=\"x\" title=\"T\" date=\"2026-02-12\">"
              "<summary>\n## Decisions\n- ship if p < 0.05 & latency > 3 ms\n- \"quote\" &amp; "
              "<b>bold</b>\n</summary>"
              "<private_notes>mine</private_notes></meeting></meetings_data>");
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].summary, "## Decisions\n- ship if p < 0.05 & latency > 3 "
                                               "ms\n- \"quote\" & <b>bold</b>");
    assert_string_equal(list.items[0].private_notes, "mine");
    gr_meeting_list_free(&list);
}

static void test_older_notes_element(void **state)
{
    (void)state;
    gr_meeting_list list =
        parse("<meeting id=\"old\" title=\"Old\"><notes>legacy text</notes></meeting>");
    assert_int_equal(list.count, 1);
    assert_null(list.items[0].summary);
    assert_string_equal(list.items[0].notes, "legacy text");
    assert_int_equal(list.declared_count, -1);
    gr_meeting_list_free(&list);
}

static void test_meeting_without_id_is_skipped(void **state)
{
    (void)state;
    gr_meeting_list list = parse("<meeting title=\"no id\"></meeting><meeting id=\"\"></meeting>"
                                 "<meeting id=\"ok\"></meeting>");
    assert_int_equal(list.count, 1);
    assert_int_equal(list.skipped_without_id, 2);
    assert_string_equal(list.items[0].id, "ok");
    gr_meeting_list_free(&list);
}

static void test_unclosed_meeting_ends_at_the_next(void **state)
{
    (void)state;
    gr_meeting_list list = parse("<meeting id=\"a\"><summary>first</summary>"
                                 "<meeting id=\"b\"><summary>second</summary></meeting>");
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].summary, "first");
    assert_string_equal(list.items[1].summary, "second");
    gr_meeting_list_free(&list);
}

static void test_empty_and_plain_text_replies(void **state)
{
    (void)state;
    gr_meeting_list list = parse("No meetings found in this time range.");
    assert_int_equal(list.count, 0);
    gr_meeting_list_free(&list);
    list = parse("<meetings_data from=\"a\" to=\"b\" count=\"0\"></meetings_data>");
    assert_int_equal(list.count, 0);
    assert_int_equal(list.declared_count, 0);
    gr_meeting_list_free(&list);
}

static void test_entity_edge_cases(void **state)
{
    (void)state;
    char *s =
        gr_decode_entities("&#x1F600; &#233; &bogus; & &#0; &#xD800; &#1114112; &amp",
                           strlen("&#x1F600; &#233; &bogus; & &#0; &#xD800; &#1114112; &amp"));
    assert_string_equal(s, "\xF0\x9F\x98\x80 \xC3\xA9 &bogus; & &#0; &#xD800; &#1114112; &amp");
    free(s);
}

static void test_participant_forms(void **state)
{
    (void)state;
    const char *text = "Dan from the Bay from Gamma Corp &lt;dan@g.co&gt;, , Eve (note creator) "
                       "<eve@x.org>,Frank from <not an email>";
    gr_participant *ps;
    size_t n;
    assert_int_equal(gr_parse_participants(text, strlen(text), &ps, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ps[0].name, "Dan from the Bay");
    assert_string_equal(ps[0].company, "Gamma Corp");
    assert_string_equal(ps[0].email, "dan@g.co");
    assert_string_equal(ps[1].name, "Eve");
    assert_true(ps[1].creator);
    assert_string_equal(ps[1].email, "eve@x.org");
    assert_null(ps[1].company);
    assert_string_equal(ps[2].name, "Frank");
    assert_null(ps[2].email);
    gr_participants_free(ps, n);
}

/* Every prefix of a reply must parse without reading past its end (ASan checks). */
static void test_every_truncation_is_safe(void **state)
{
    (void)state;
    size_t len = strlen(LIST_REPLY);
    for (size_t cut = 0; cut <= len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, LIST_REPLY, cut);
        gr_meeting_list list;
        char err[128];
        assert_int_equal(gr_parse_meetings(copy, cut, GR_PARSE_ALL, &list, err, sizeof err), 0);
        assert_true(list.count <= 2);
        gr_meeting_list_free(&list);
        free(copy);
    }
}

/* Deterministic pseudo-random bytes drawn from the grammar's alphabet. */
static void test_random_input_is_safe(void **state)
{
    (void)state;
    static const char *const pieces[] = {"<meeting ",
                                         "id=\"",
                                         "\"",
                                         "'",
                                         ">",
                                         "<",
                                         "</meeting>",
                                         "<summary>",
                                         "</summary>",
                                         "<known_participants>",
                                         "</known_participants>",
                                         "&amp;",
                                         "&#",
                                         "&#x",
                                         ";",
                                         "@",
                                         ",",
                                         " from ",
                                         "(note creator)",
                                         "<meetings_data count=\"",
                                         "9",
                                         "x",
                                         "\n",
                                         "="};
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        char buf[512];
        size_t len = 0;
        while (len < sizeof buf - 32) {
            seed = seed * 1103515245u + 12345u;
            const char *piece = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
            size_t n = strlen(piece);
            memcpy(buf + len, piece, n);
            len += n;
            if ((seed >> 8) % 7 == 0)
                break;
        }
        char *exact = malloc(len);
        memcpy(exact, buf, len);
        gr_meeting_list list;
        char err[128];
        assert_int_equal(gr_parse_meetings(exact, len, GR_PARSE_ALL, &list, err, sizeof err), 0);
        gr_meeting_list_free(&list);
        free(exact);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_reply_with_preamble_notice_and_entities),
        cmocka_unit_test(test_summary_keeps_raw_markup_and_decodes_entities),
        cmocka_unit_test(test_older_notes_element),
        cmocka_unit_test(test_meeting_without_id_is_skipped),
        cmocka_unit_test(test_unclosed_meeting_ends_at_the_next),
        cmocka_unit_test(test_empty_and_plain_text_replies),
        cmocka_unit_test(test_entity_edge_cases),
        cmocka_unit_test(test_participant_forms),
        cmocka_unit_test(test_every_truncation_is_safe),
        cmocka_unit_test(test_random_input_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
