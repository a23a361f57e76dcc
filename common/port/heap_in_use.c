/* port_heap_in_use (port.h): bytes malloc has handed out and not taken back. */
#include "port.h"

#if defined(PA_HAVE_MALLINFO2)
#include <malloc.h>
#elif defined(PA_HAVE_MSTATS)
#include <malloc/malloc.h>
#endif

long long port_heap_in_use(void)
{
#if defined(PA_HAVE_MALLINFO2)
    /* uordblks leaves out the blocks past the mmap threshold (128 KiB by default). */
    struct mallinfo2 info = mallinfo2();
    return (long long)info.uordblks + (long long)info.hblkhd;
#elif defined(PA_HAVE_MSTATS)
    return (long long)mstats().bytes_used;
#else
    return -1;
#endif
}
