/* Fuzz target: the date parser is total and never reads past len. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "date_parser.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading one byte too far is an ASan error. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    int64_t ms;
    if (gr_parse_date(copy, size, &ms)) {
        /* Years 0000-9999 at most, offsets within a day. */
        FUZZ_CHECK(ms > -62200000000000LL && ms < 253402400000000LL);
    }
    free(copy);
    return 0;
}
