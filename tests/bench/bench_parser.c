/*
 * bench_parser: meeting-text parser throughput on a 1000-meeting reply.
 *
 *   bench_parser [--write FILE]
 *
 * Builds a get_meetings-style reply (1000 meetings with participants and
 * markdown summaries holding raw '<' and '&'), parses it repeatedly and prints
 * the median MB/s. With --write, also saves the reply so the Python regex
 * baseline (python_regex_parser.py) parses the same bytes. In-process baseline:
 * one memchr pass over the same bytes (the floor any parser pays to read them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "bench_parser"
#include "bench_common.h"

#include "meeting_parser.h"

#define MEETINGS 1000
#define RUNS     31

static char *build_reply(size_t *len)
{
    size_t cap = 4u << 20, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n,
                          "Here are the meetings you asked for.\n\n<access_notice>Meetings older "
                          "than 30 days need a paid plan.</access_notice>\n\n<meetings_data "
                          "from=\"2026-02-05\" to=\"2026-02-12\" count=\"%d\">\n",
                          MEETINGS);
    for (int i = 0; i < MEETINGS; i++) {
        n += (size_t)snprintf(
            s + n, cap - n,
            "<meeting id=\"3f2b%04d-8c1e-4c55-9d0a-5b7e2f1c%04d\" title=\"Weekly sync #%d &amp; "
            "&quot;planning&quot;\" date=\"Feb %d, 2026 %d:30 PM PST\">\n"
            "<known_participants>\nAnn Lee (note creator) from Acme <ann@acme.com>, Bob Stone "
            "from Beta &lt;bob@beta.io&gt;, Carol Diaz from Acme <carol@acme.com>, Dan Wu "
            "<dan@x.io>\n</known_participants>\n<summary>\n## Summary\nThe team reviewed the "
            "Q1 plan. Latency p99 < 250 ms & error rate < 0.1%% are the launch bars; the "
            "<SyncV2> rollout waits on legal.\n\n## Decisions\n- Ship offline mode behind a "
            "flag\n- Drop the legacy sync API after the migration window\n- Keep \"beta\" label "
            "until 2 weeks of clean metrics\n\n## Action items\n- Ann: draft the migration guide "
            "by Friday\n- Bob: size the rollout & report back\n- Carol: book the legal review\n- "
            "Dan: add dashboards for p99 and error budget\n\n## Notes\nDiscussion covered hiring, "
            "the vendor renewal (15%% off for 2 years), and the offsite agenda. Several open "
            "questions remain about data retention in the EU region and the on-call rotation "
            "for the new service; follow-ups are tracked in the planning doc.\n</summary>\n"
            "</meeting>\n",
            i, i, i, 1 + i % 28, 1 + i % 12);
    }
    n += (size_t)snprintf(s + n, cap - n, "</meetings_data>");
    *len = n;
    return s;
}

int main(int argc, char **argv)
{
    size_t len;
    char *reply = build_reply(&len);
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(reply, 1, len, f) != len) {
            fprintf(stderr, "bench_parser: cannot write %s\n", argv[2]);
            return 1;
        }
        fclose(f);
    }
    double parse_mbs[RUNS], scan_mbs[RUNS];
    size_t meetings = 0, participants = 0;
    volatile size_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_ms();
        gr_meeting_list list;
        char err[128];
        if (gr_parse_meetings(reply, len, GR_PARSE_ALL, &list, err, sizeof err) != 0) {
            fprintf(stderr, "bench_parser: %s\n", err);
            return 1;
        }
        double t1 = bench_now_ms();
        meetings = list.count;
        participants = list.count ? list.items[0].participant_count : 0;
        gr_meeting_list_free(&list);
        parse_mbs[r] = (double)len / 1e3 / (t1 - t0);

        t0 = bench_now_ms();
        size_t count = 0;
        for (const char *p = reply; (p = memchr(p, '<', (size_t)(reply + len - p))) != NULL; p++)
            count++;
        sink += count;
        t1 = bench_now_ms();
        scan_mbs[r] = (double)len / 1e3 / (t1 - t0);
    }
    qsort(parse_mbs, RUNS, sizeof parse_mbs[0], bench_compare_doubles);
    qsort(scan_mbs, RUNS, sizeof scan_mbs[0], bench_compare_doubles);
    printf("bench_parser: reply %.2f MB, %zu meetings (%zu participants each), median of %d runs\n",
           (double)len / 1e6, meetings, participants, RUNS);
    printf("parser_mb_per_s                %10.1f\n", parse_mbs[RUNS / 2]);
    printf("baseline_memchr_scan_mb_per_s  %10.1f\n", scan_mbs[RUNS / 2]);
    printf("ratio_parser_over_scan         %10.3f\n", parse_mbs[RUNS / 2] / scan_mbs[RUNS / 2]);
    free(reply);
    return meetings == MEETINGS && sink ? 0 : 1;
}
