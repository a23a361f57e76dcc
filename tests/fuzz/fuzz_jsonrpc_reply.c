/*
 * Fuzz target: reading a JSON-RPC reply, as JSON or as an event stream
 * (mcp_parse_reply). The first byte picks the transport and the request id.
 * Total; a response it returns answers exactly that id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mcp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool event_stream = data[0] & 1;
    int64_t want_id = 1 + (data[0] >> 1) % 4;
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    cJSON *response = NULL;
    char err[512];
    if (mcp_parse_reply(body, size - 1, event_stream, want_id, 4096, &response, err, sizeof err) ==
        PA_OK) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(response, "id");
        FUZZ_CHECK(cJSON_IsNumber(id) && id->valuedouble == (double)want_id);
        FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(response, "result") ||
                   cJSON_GetObjectItemCaseSensitive(response, "error"));
        cJSON_Delete(response);
    } else {
        FUZZ_CHECK(!response && err[0]);
    }
    free(body);
    return 0;
}
