#include "text_clean.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/*
 * At s (len >= 1): the length of a valid sequence (> 0), or the negated
 * length of the maximal invalid subpart (< 0): the lead byte plus the
 * continuation bytes that were still acceptable when the sequence broke.
 */
static int utf8_step(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c == 0xE0)
        need = 2, lo = 0xA0; /* no overlongs */
    else if (c == 0xED)
        need = 2, hi = 0x9F; /* no surrogates */
    else if (c >= 0xE1 && c <= 0xEF)
        need = 2;
    else if (c == 0xF0)
        need = 3, lo = 0x90; /* no overlongs */
    else if (c == 0xF4)
        need = 3, hi = 0x8F; /* nothing above U+10FFFF */
    else if (c >= 0xF1 && c <= 0xF3)
        need = 3;
    else
        return -1; /* a stray continuation byte, C0, C1 or F5..FF */
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= len || s[i] < lo || s[i] > hi)
            return -i;
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

size_t utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* The common case, ASCII, eight bytes at a time. */
        uint64_t word;
        while (i + 8 <= len && (memcpy(&word, u + i, 8), (word & 0x8080808080808080ULL) == 0))
            i += 8;
        if (i < len && u[i] < 0x80) {
            i++;
            continue;
        }
        if (i >= len)
            break;
        int n = utf8_step(u + i, len - i);
        if (n < 0)
            break;
        i += (size_t)n;
    }
    return i;
}

char *utf8_repair(const char *s, size_t len, size_t *out_len)
{
    /* Each invalid byte can become three: refuse a length whose worst case overflows. */
    char *out = len <= (SIZE_MAX - 1) / 3 ? malloc(len * 3 + 1) : NULL;
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t valid = utf8_valid_prefix(s + i, len - i);
        memcpy(out + o, s + i, valid);
        o += valid;
        i += valid;
        if (i < len) {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            i += (size_t)-utf8_step(u + i, len - i);
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

/* Appends n bytes if they fit whole (with the final NUL); false otherwise. */
static bool put(char *out, size_t out_size, size_t *o, const char *bytes, size_t n)
{
    if (*o + n + 1 > out_size)
        return false;
    memcpy(out + *o, bytes, n);
    *o += n;
    return true;
}

size_t text_clean_line(const char *s, char *out, size_t out_size)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), o = 0;
    bool fits = true;
    for (size_t i = 0; i < len && fits;) {
        unsigned char c = u[i];
        int n = utf8_step(u + i, len - i);
        char esc[8];
        if (n < 0) {
            fits = put(out, out_size, &o, REPLACEMENT, 3);
            i += (size_t)-n;
        } else if (c == '\n' || c == '\r') {
            fits = put(out, out_size, &o, " ", 1);
            i++;
        } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            fits = put(out, out_size, &o, esc, 4);
            i++;
        } else if (c == 0xC2 && u[i + 1] < 0xA0) { /* C1: U+0080..U+009F */
            snprintf(esc, sizeof esc, "\\u00%02x", u[i + 1]);
            fits = put(out, out_size, &o, esc, 6);
            i += 2;
        } else {
            fits = put(out, out_size, &o, s + i, (size_t)n);
            i += (size_t)n;
        }
    }
    out[o] = '\0';
    return o;
}
