#include "date_parser.h"

#include <ctype.h>
#include <string.h>

int64_t gr_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    /* Howard Hinnant's days_from_civil: exact for every Gregorian date. */
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const int64_t yoe = year - era * 400;
    const int64_t mp = (month + 9) % 12;
    const int64_t doy = (153 * mp + 2) / 5 + day - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

typedef struct cursor {
    const char *p;
    const char *end;
} cursor;

static bool at_end(const cursor *c)
{
    return c->p >= c->end;
}

static void skip_spaces(cursor *c)
{
    while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* Reads between min and max digits. */
static bool read_digits(cursor *c, int min, int max, int *out)
{
    int n = 0, v = 0;
    while (!at_end(c) && n < max && isdigit((unsigned char)*c->p)) {
        v = v * 10 + (*c->p - '0');
        c->p++;
        n++;
    }
    if (n < min)
        return false;
    *out = v;
    return true;
}

static bool accept(cursor *c, char ch)
{
    if (!at_end(c) && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool days_in_month_ok(int year, int month, int day)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= days[month - 1] + (month == 2 && leap);
}

static bool make_time(int year, int month, int day, int hour, int minute, int second,
                      int offset_minutes, int64_t *out)
{
    if (!days_in_month_ok(year, month, day) || hour > 23 || minute > 59 || second > 60)
        return false;
    int64_t days = gr_days_from_civil(year, (unsigned)month, (unsigned)day);
    int64_t secs = days * 86400 + (int64_t)hour * 3600 + (int64_t)minute * 60 + second -
                   (int64_t)offset_minutes * 60;
    *out = secs * 1000;
    return true;
}

/* "Z", "+05:30", "-0800", "+05"; absent means UTC. */
static bool read_offset(cursor *c, int *minutes)
{
    *minutes = 0;
    if (at_end(c))
        return true;
    if (accept(c, 'Z') || accept(c, 'z'))
        return true;
    int sign = *c->p == '+' ? 1 : *c->p == '-' ? -1 : 0;
    if (!sign)
        return false;
    c->p++;
    int h, m = 0;
    if (!read_digits(c, 2, 2, &h))
        return false;
    if (accept(c, ':')) {
        if (!read_digits(c, 2, 2, &m))
            return false;
    } else if (!at_end(c) && !read_digits(c, 2, 2, &m)) {
        return false;
    }
    if (h > 23 || m > 59)
        return false;
    *minutes = sign * (h * 60 + m);
    return true;
}

static bool parse_iso(cursor c, int64_t *out)
{
    int year, month, day, hour = 0, minute = 0, second = 0, offset = 0;
    if (!read_digits(&c, 4, 4, &year) || !accept(&c, '-') || !read_digits(&c, 2, 2, &month) ||
        !accept(&c, '-') || !read_digits(&c, 2, 2, &day))
        return false;
    if (!at_end(&c)) {
        if (!accept(&c, 'T') && !accept(&c, 't') && !accept(&c, ' '))
            return false;
        if (!read_digits(&c, 2, 2, &hour) || !accept(&c, ':') || !read_digits(&c, 2, 2, &minute))
            return false;
        if (accept(&c, ':')) {
            if (!read_digits(&c, 2, 2, &second))
                return false;
            if (accept(&c, '.') || accept(&c, ',')) {
                int ignored;
                if (!read_digits(&c, 1, 9, &ignored))
                    return false;
                while (!at_end(&c) && isdigit((unsigned char)*c.p))
                    c.p++;
            }
        }
        if (!read_offset(&c, &offset) || !at_end(&c))
            return false;
    }
    return make_time(year, month, day, hour, minute, second, offset, out);
}

static int month_from_name(const char *p, size_t n)
{
    static const char *const names[] = {"january",   "february", "march",    "april",
                                        "may",       "june",     "july",     "august",
                                        "september", "october",  "november", "december"};
    if (n < 3)
        return 0;
    for (int m = 0; m < 12; m++) {
        size_t full = strlen(names[m]);
        if (n > full)
            continue;
        bool match = true;
        for (size_t i = 0; i < n && match; i++)
            match = tolower((unsigned char)p[i]) == names[m][i];
        /* "Sept" is a common abbreviation that is not a prefix of length 3. */
        if (match && (n == 3 || n == full || (m == 8 && n == 4)))
            return m + 1;
    }
    return 0;
}

/* UTC offsets of the abbreviations Granola is known to print. */
static bool zone_offset(const char *p, size_t n, int *minutes)
{
    static const struct {
        const char *name;
        int minutes;
    } zones[] = {
        {"UTC", 0},       {"GMT", 0},        {"Z", 0},          {"EST", -5 * 60},  {"EDT", -4 * 60},
        {"CST", -6 * 60}, {"CDT", -5 * 60},  {"MST", -7 * 60},  {"MDT", -6 * 60},  {"PST", -8 * 60},
        {"PDT", -7 * 60}, {"AKST", -9 * 60}, {"AKDT", -8 * 60}, {"HST", -10 * 60}, {"BST", 60},
        {"CET", 60},      {"CEST", 120},     {"EET", 120},      {"EEST", 180},     {"IST", 330},
        {"JST", 540},     {"AEST", 600},     {"AEDT", 660},     {"NZST", 720},     {"NZDT", 780}};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        if (strlen(zones[i].name) != n)
            continue;
        bool match = true;
        for (size_t k = 0; k < n && match; k++)
            match = toupper((unsigned char)p[k]) == zones[i].name[k];
        if (match) {
            *minutes = zones[i].minutes;
            return true;
        }
    }
    return false;
}

static bool parse_human(cursor c, int64_t *out)
{
    const char *word = c.p;
    while (!at_end(&c) && isalpha((unsigned char)*c.p))
        c.p++;
    int month = month_from_name(word, (size_t)(c.p - word));
    if (!month)
        return false;
    accept(&c, '.');
    skip_spaces(&c);
    int day, year, hour = 0, minute = 0, offset = 0;
    if (!read_digits(&c, 1, 2, &day))
        return false;
    accept(&c, ',');
    skip_spaces(&c);
    if (!read_digits(&c, 4, 4, &year))
        return false;
    skip_spaces(&c);
    accept(&c, ',');
    skip_spaces(&c);
    if (!at_end(&c)) {
        if (!read_digits(&c, 1, 2, &hour) || !accept(&c, ':') || !read_digits(&c, 2, 2, &minute))
            return false;
        skip_spaces(&c);
        if (c.end - c.p >= 2 && (c.p[1] == 'M' || c.p[1] == 'm')) {
            char ampm = (char)toupper((unsigned char)c.p[0]);
            if ((ampm != 'A' && ampm != 'P') || hour < 1 || hour > 12)
                return false;
            hour = hour % 12 + (ampm == 'P' ? 12 : 0);
            c.p += 2;
        }
        skip_spaces(&c);
        if (!at_end(&c)) {
            const char *zone = c.p;
            while (!at_end(&c) && isalpha((unsigned char)*c.p))
                c.p++;
            if (!zone_offset(zone, (size_t)(c.p - zone), &offset))
                return false;
            skip_spaces(&c);
            if (!at_end(&c))
                return false;
        }
    }
    return make_time(year, month, day, hour, minute, 0, offset, out);
}

bool gr_parse_date(const char *text, size_t len, int64_t *epoch_ms)
{
    if (!text)
        return false;
    cursor c = {text, text + len};
    while (c.p < c.end && isspace((unsigned char)*c.p))
        c.p++;
    while (c.end > c.p && isspace((unsigned char)c.end[-1]))
        c.end--;
    if (at_end(&c))
        return false;
    if (isdigit((unsigned char)*c.p))
        return parse_iso(c, epoch_ms);
    return parse_human(c, epoch_ms);
}
