/*
 * object_format.h for ELF (Linux, the BSDs): the header, and the program
 * and section header tables it points to, lie inside the file. A file still
 * being written fails this, as its section headers come last.
 */
#include "object_format.h"

#include <link.h>
#include <string.h>
#include <unistd.h>

const char *object_file_incomplete(int fd, off_t size)
{
    ElfW(Ehdr) h;
    if (size < (off_t)sizeof h || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return "not a complete ELF shared object (too short; still being written?)";
    if (memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
        return "not an ELF file";
    if (h.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        h.e_type != ET_DYN)
        return "not an ELF shared object for this machine";
    unsigned long long ph_end =
        (unsigned long long)h.e_phoff + (unsigned long long)h.e_phnum * h.e_phentsize;
    unsigned long long sh_end =
        (unsigned long long)h.e_shoff + (unsigned long long)h.e_shnum * h.e_shentsize;
    if (ph_end > (unsigned long long)size || sh_end > (unsigned long long)size)
        return "not a complete ELF shared object (truncated; still being written?)";
    return NULL;
}
