/*
 * Whether a plugin file is a whole shared object of this machine's format,
 * before it is copied and loaded: a file still being written must be
 * refused, not half-loaded. One file per format, chosen by CMake:
 * object_format_elf.c (link.h) and object_format_macho.c (mach-o/loader.h).
 */
#ifndef SUPERVISOR_OBJECT_FORMAT_H
#define SUPERVISOR_OBJECT_FORMAT_H

#include <sys/types.h>

/* NULL when fd (size bytes) holds a whole shared object; else why not (static text). */
const char *object_file_incomplete(int fd, off_t size);

#endif
