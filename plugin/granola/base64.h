/* Base64 (RFC 4648): the standard alphabet with padding, or base64url without. */
#ifndef GRANOLA_BASE64_H
#define GRANOLA_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* NUL-terminated encoding of data[0..len); NULL when memory runs out. Caller frees. */
char *base64_encode(const unsigned char *data, size_t len, bool url_safe);

#endif
