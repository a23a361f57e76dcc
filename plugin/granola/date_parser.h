/*
 * Dates as Granola writes them: ISO 8601 ("2026-02-12T20:30:00Z", with an
 * offset, fractional seconds, or a bare date) or the human form
 * ("Feb 12, 2026 8:30 PM", optionally followed by a zone abbreviation such as
 * PDT). Total: any input returns true with a time or false.
 */
#ifndef GRANOLA_DATE_PARSER_H
#define GRANOLA_DATE_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses text[0..len) into milliseconds since the Unix epoch (UTC). */
bool gr_parse_date(const char *text, size_t len, int64_t *epoch_ms);

/* Days since 1970-01-01 for a proleptic Gregorian date (month 1..12). */
int64_t gr_days_from_civil(int64_t year, unsigned month, unsigned day);

#endif
