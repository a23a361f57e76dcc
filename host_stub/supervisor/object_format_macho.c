/*
 * object_format.h for Mach-O (macOS): a 64-bit bundle or dylib of this
 * machine, whose load commands lie inside the file and whose every segment's
 * bytes do too. A file still being written fails this, as __LINKEDIT, the
 * last segment, ends at the file's end. A universal (fat) file passes when
 * every slice it lists lies inside the file; dlopen picks the slice.
 */
#include "object_format.h"

#include <mach-o/fat.h>
#include <mach-o/loader.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A plugin's load commands take a few KB; a header claiming more is not read. */
#define LOAD_COMMANDS_MAX (1u << 20)

#define TRUNCATED "not a complete Mach-O shared object (truncated; still being written?)"

static uint32_t big_endian32(uint32_t v)
{
    const unsigned char *b = (const unsigned char *)&v;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *fat_incomplete(int fd, off_t size, uint32_t slices)
{
    for (uint32_t i = 0; i < slices && i < 64; i++) {
        struct fat_arch arch;
        off_t at = (off_t)sizeof(struct fat_header) + (off_t)i * (off_t)sizeof arch;
        if (pread(fd, &arch, sizeof arch, at) != (ssize_t)sizeof arch)
            return TRUNCATED;
        uint64_t end = (uint64_t)big_endian32(arch.offset) + big_endian32(arch.size);
        if (end > (uint64_t)size)
            return TRUNCATED;
    }
    return NULL;
}

/* Every LC_SEGMENT_64 among the ncmds commands in cmds[0..len) ends inside the file. */
static const char *segments_incomplete(const unsigned char *cmds, uint32_t len, uint32_t ncmds,
                                       off_t size)
{
    uint32_t at = 0;
    for (uint32_t i = 0; i < ncmds; i++) {
        struct load_command lc;
        if (len - at < sizeof lc)
            return "a malformed Mach-O file (its load commands overrun)";
        memcpy(&lc, cmds + at, sizeof lc);
        if (lc.cmdsize < sizeof lc || lc.cmdsize > len - at)
            return "a malformed Mach-O file (its load commands overrun)";
        if (lc.cmd == LC_SEGMENT_64 && lc.cmdsize >= sizeof(struct segment_command_64)) {
            struct segment_command_64 seg;
            memcpy(&seg, cmds + at, sizeof seg);
            if (seg.fileoff + seg.filesize > (uint64_t)size)
                return TRUNCATED;
        }
        at += lc.cmdsize;
    }
    return NULL;
}

const char *object_file_incomplete(int fd, off_t size)
{
    struct mach_header_64 h;
    if (size < (off_t)sizeof h || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return "not a complete Mach-O shared object (too short; still being written?)";
    if (h.magic == FAT_CIGAM) /* a fat header is big-endian; this machine is not */
        return fat_incomplete(fd, size, big_endian32((uint32_t)h.cputype));
    if (h.magic != MH_MAGIC_64)
        return "not a 64-bit Mach-O file";
    if (h.filetype != MH_BUNDLE && h.filetype != MH_DYLIB)
        return "not a Mach-O bundle or dylib";
    if ((uint64_t)sizeof h + h.sizeofcmds > (uint64_t)size)
        return TRUNCATED;
    if (h.sizeofcmds > LOAD_COMMANDS_MAX)
        return "a Mach-O file with more load commands than a plugin has";
    unsigned char *cmds = malloc(h.sizeofcmds ? h.sizeofcmds : 1);
    const char *why = !cmds ? "out of memory reading its load commands"
                      : pread(fd, cmds, h.sizeofcmds, sizeof h) != (ssize_t)h.sizeofcmds
                          ? TRUNCATED
                          : segments_incomplete(cmds, h.sizeofcmds, h.ncmds, size);
    free(cmds);
    return why;
}
