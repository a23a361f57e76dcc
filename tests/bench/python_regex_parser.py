#!/usr/bin/python3
"""Baseline: a regex meeting parser in the style of the agent's Python integration.

    python_regex_parser.py REPLY_FILE

Parses the file bench_parser --write produced (same bytes) with re + html.unescape,
the way the existing integration does, and prints the median MB/s.
"""
import html
import re
import statistics
import sys
import time

MEETING = re.compile(r'<meeting\s+([^>]*)>(.*?)</meeting>', re.S)
ATTR = re.compile(r'(\w+)="([^"]*)"')
SUMMARY = re.compile(r'<summary>(.*?)</summary>', re.S)
PARTICIPANTS = re.compile(r'<known_participants>(.*?)</known_participants>', re.S)
EMAIL = re.compile(r'<([^<>@\s]+@[^<>\s]+)>')


def parse(text):
    meetings = []
    for m in MEETING.finditer(text):
        attrs = {k: html.unescape(v) for k, v in ATTR.findall(m.group(1))}
        body = m.group(2)
        summary = SUMMARY.search(body)
        people = PARTICIPANTS.search(body)
        emails = EMAIL.findall(html.unescape(people.group(1))) if people else []
        meetings.append({
            "id": attrs.get("id"),
            "title": attrs.get("title"),
            "date": attrs.get("date"),
            "summary": html.unescape(summary.group(1).strip()) if summary else None,
            "attendees": emails,
        })
    return meetings


def main():
    data = open(sys.argv[1], encoding="utf-8").read()
    size = len(data.encode("utf-8"))
    rates = []
    for _ in range(11):
        start = time.perf_counter()
        meetings = parse(data)
        rates.append(size / 1e6 / (time.perf_counter() - start))
    print(f"python_regex_parser: {len(meetings)} meetings, {size / 1e6:.2f} MB")
    print(f"python_regex_mb_per_s          {statistics.median(rates):10.1f}")


if __name__ == "__main__":
    main()
