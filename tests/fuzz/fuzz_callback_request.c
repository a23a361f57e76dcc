/*
 * Fuzz target: granola_login's callback listener reading an HTTP request
 * (callback_request_target) and the query parameters of its target
 * (oauth_query_param). Total on any bytes; a target is only returned for a
 * complete GET head, and never longer than the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "login_callback.h"
#include "oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *head = malloc(size ? size : 1);
    if (!head)
        return 0;
    memcpy(head, data, size);
    bool complete = false;
    char *target = callback_request_target(head, size, &complete);
    if (target) {
        FUZZ_CHECK(complete && size >= 4 && memcmp(head, "GET ", 4) == 0);
        FUZZ_CHECK(strlen(target) + 4 <= size);
        const char *query = strchr(target, '?');
        const char *names[] = {"code", "state", "error"};
        for (size_t i = 0; query && i < 3; i++)
            free(oauth_query_param(query + 1, names[i]));
        free(target);
    }
    free(head);
    return 0;
}
