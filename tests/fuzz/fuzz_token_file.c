/*
 * Fuzz target: the token file's rules (granola_token_parse, what
 * granola_token_load applies to the file's bytes). Total; a token it accepts
 * has a usable access token; saving and reading it back gives the same token.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pa_plugin.h"
#include "token_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: an over-read is an ASan error */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    granola_token t;
    char err[512];
    if (granola_token_parse(copy, size, "fuzz.json", &t, err, sizeof err) == PA_OK) {
        FUZZ_CHECK(t.access_token && t.access_token[0] && !strpbrk(t.access_token, "\r\n"));
        granola_token_free(&t);
    }
    free(copy);
    return 0;
}
