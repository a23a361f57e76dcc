/* Fuzz target: the meeting-text parser must be total on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "meeting_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gr_meeting_list list;
    char err[128];
    /* Both modes: a listing skips participants, a detail parses them. */
    for (unsigned flags = 0; flags <= GR_PARSE_SKIP_PARTICIPANTS; flags++) {
        if (gr_parse_meetings((const char *)data, size, flags, &list, err, sizeof err) == 0) {
            for (size_t i = 0; i < list.count; i++) {
                FUZZ_CHECK(list.items[i].id && list.items[i].id[0]);
                FUZZ_CHECK(strlen(list.items[i].id) <= size);
            }
            gr_meeting_list_free(&list);
        }
    }
    return 0;
}
