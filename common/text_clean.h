/*
 * text_clean: making untrusted bytes safe to store and to print.
 *
 * Shared by the host (log lines) and the Granola plugin (meeting text from
 * the server). Both functions are total: any byte string, of any length,
 * gives a result, and neither reads past len.
 *
 * Validity is RFC 3629 UTF-8: no overlong forms, no surrogates (U+D800 to
 * U+DFFF), nothing above U+10FFFF. Each maximal invalid subpart (Unicode
 * 15, section 3.9, "U+FFFD substitution of maximal subparts") becomes one
 * U+FFFD REPLACEMENT CHARACTER.
 */
#ifndef PA_TEXT_CLEAN_H
#define PA_TEXT_CLEAN_H

#include <stddef.h>

/* Length of the longest prefix of s[0..len) that is valid UTF-8. */
size_t utf8_valid_prefix(const char *s, size_t len);

/*
 * A NUL-terminated copy of s[0..len) with every invalid sequence replaced by
 * U+FFFD; *out_len (may be NULL) receives its length. The copy is at most
 * 3 * len + 1 bytes. NULL only when memory runs out. Free with free().
 */
char *utf8_repair(const char *s, size_t len, size_t *out_len);

/*
 * Writes s (NUL-terminated) into out as one printable line: invalid UTF-8
 * becomes U+FFFD, CR and LF become a space, tab stays, and every other
 * control character (C0, DEL and the C1 range U+0080 to U+009F, which some
 * terminals obey) is written as a visible escape (\x1b, \u009b). Truncates
 * on a character boundary to fit out_size (at least 1); returns the length
 * written.
 */
size_t text_clean_line(const char *s, char *out, size_t out_size);

#endif
