#include "held_sites.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "port.h"

/* Writers are the worker's threads; the mutex is the worker's own, not shared. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

held_table *held_create(int *fd_out)
{
    int fd = port_shared_memory();
    if (fd < 0)
        return NULL;
    held_table *t = NULL;
    if (ftruncate(fd, (off_t)sizeof *t) == 0)
        t = held_attach(fd);
    if (!t) {
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return t;
}

held_table *held_attach(int fd)
{
    void *p = mmap(NULL, sizeof(held_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void held_unmap(held_table *t)
{
    if (t)
        munmap(t, sizeof *t);
}

/* The coarse clock costs a few ns, not a clock read; its ms-scale steps are plenty here. */
static int64_t coarse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(PORT_CLOCK_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The start of src (its end is the part a reader needs least), always terminated. */
static void copy_bounded(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void held_add(held_table *t, pa_lease lease, pa_lease_mode mode, const char *file, int line,
              const char *func)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < HELD_SITES_MAX; i++) {
        held_entry *e = &t->entries[i];
        if (e->lease_id != 0)
            continue;
        e->mode = (int32_t)mode;
        e->line = line;
        e->since_ms = coarse_now_ms();
        copy_bounded(e->file, sizeof e->file, file);
        copy_bounded(e->func, sizeof e->func, func);
        e->lease_id = lease.id;
        break;
    }
    pthread_mutex_unlock(&g_lock);
}

void held_remove(held_table *t, pa_lease lease)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < HELD_SITES_MAX; i++) {
        if (t->entries[i].lease_id == lease.id)
            t->entries[i].lease_id = 0;
    }
    pthread_mutex_unlock(&g_lock);
}

void held_clear(held_table *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < HELD_SITES_MAX; i++)
        t->entries[i].lease_id = 0;
    pthread_mutex_unlock(&g_lock);
}

int held_count(const held_table *t)
{
    int n = 0;
    for (size_t i = 0; t && i < HELD_SITES_MAX; i++)
        n += t->entries[i].lease_id != 0;
    return n;
}

int64_t held_oldest_since(const held_table *t, pa_lease_mode mode)
{
    int64_t oldest = -1;
    for (size_t i = 0; t && i < HELD_SITES_MAX; i++) {
        const held_entry *e = &t->entries[i];
        if (e->lease_id != 0 && e->mode == (int32_t)mode && e->since_ms >= 0 &&
            (oldest < 0 || e->since_ms < oldest))
            oldest = e->since_ms;
    }
    return oldest;
}

void held_describe(const held_table *t, int64_t now_ms, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; t && i < HELD_SITES_MAX && used < size; i++) {
        const held_entry *e = &t->entries[i];
        if (e->lease_id == 0)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s lease from %.*s:%d (%.*s) for %.1f s",
                         used ? ", " : "", e->mode == PA_LEASE_WRITE ? "WRITE" : "READ",
                         (int)strnlen(e->file, sizeof e->file), e->file, (int)e->line,
                         (int)strnlen(e->func, sizeof e->func), e->func,
                         (double)(now_ms - e->since_ms) / 1000.0);
        used = n < 0 ? size : used + (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "no lease");
}
