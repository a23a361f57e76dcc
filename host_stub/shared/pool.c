#include "pool.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "port.h"

enum { SLOT_IDLE = 0, SLOT_LEASED = 1 };

/* How long a waiter spins (yielding) before it sleeps on its condition. */
#define POOL_SPIN_NS 20000

typedef struct slot {
    pool *pool;
    int index;
    db_conn *conn;      /* NULL until first needed (lazy) or after retirement */
    int64_t expires_ms; /* 0: no lifetime limit */
    /* Read by the authorizer on the borrower's thread, hence atomic. */
    atomic_int state;
    _Atomic(const pool_owner *) holder;   /* the owner of the current lease */
    _Atomic(unsigned long) holder_thread; /* pthread_self() of the leasing thread */
    /* The fields below change only under the pool mutex. */
    uint32_t generation;
    pa_lease_mode mode;
    pool_owner *owner;
    pool_site site;
    int64_t leased_at_ns;
    int64_t idle_since_ns; /* when it was last given back */
    struct slot *next_free;
} slot;

/* A thread queued for a connection; lives on that thread's stack. */
typedef struct waiter {
    pthread_cond_t cond;
    slot *_Atomic granted; /* set under the mutex; also polled while spinning */
    struct waiter *next;
} waiter;

struct pool {
    pool_config cfg;
    char *path;
    char *application_name;
    pthread_mutex_t mu;
    pthread_condattr_t condattr;
    clockid_t cond_clock; /* its waits' deadlines are read from this clock (port.h) */
    slot *slots;
    slot *free_list; /* LIFO, so the warmest connection is reused first */
    waiter *wait_head;
    waiter *wait_tail;
    uint64_t rng;
    pool_stats st;
};

static const char *mode_name(pa_lease_mode mode)
{
    return mode == PA_LEASE_WRITE ? "WRITE" : "READ";
}

static int64_t lifetime_now_ms(const pool *p)
{
    return p->cfg.now_ms ? p->cfg.now_ms() : clock_mono_ns() / 1000000;
}

static uint64_t next_random(pool *p)
{
    /* xorshift64: only used to spread connection expiry times. */
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    return x;
}

/* Whose code runs on this thread (pool_run_as); NULL: the host's own. */
static _Thread_local const pool_owner *running_owner;

const pool_owner *pool_run_as(const pool_owner *owner)
{
    const pool_owner *previous = running_owner;
    running_owner = owner;
    return previous;
}

/*
 * The lease's holder may use the connection: on the thread that leased it,
 * while no other owner's code runs there. Anything else is a kept handle.
 * (pthread_t is an integer type in glibc and musl, hence the cast.)
 */
static bool used_by_holder(const slot *s)
{
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_LEASED)
        return false;
    const pool_owner *holder = atomic_load_explicit(&s->holder, memory_order_acquire);
    return atomic_load_explicit(&s->holder_thread, memory_order_acquire) ==
               (unsigned long)pthread_self() &&
           (!running_owner || running_owner == holder);
}

static bool slot_allows(void *arg)
{
    return used_by_holder(arg);
}

/* The host's own statements may change its tables; a plugin's code may not. */
static bool slot_runs_host_sql(void *arg)
{
    (void)arg;
    return running_owner == NULL;
}

/* A plugin's statement that would change one of the host's tables. */
static void slot_refused(void *arg, const char *table, const char *action)
{
    slot *s = arg;
    pool *p = s->pool;
    pthread_mutex_lock(&p->mu);
    p->st.host_table_refusals++;
    pool_site site = s->site;
    pthread_mutex_unlock(&p->mu);
    log_msg(PA_LOG_ERROR, "pool",
            "a plugin statement on the lease from %s:%d in %s() would change the host's table "
            "'%s' (%s); refused: only emit() writes the outbox, and the host's "
            "tables are the host's (docs/ARCHITECTURE.md, \"Threat model\")",
            site.file, site.line, site.func, table, action);
}

/* A statement prepared on a lent SQLite handle by other than the holder. */
static void slot_denied(void *arg)
{
    slot *s = arg;
    pool *p = s->pool;
    pthread_mutex_lock(&p->mu);
    p->st.stale_uses++;
    const char *plugin = s->owner ? s->owner->plugin : "?";
    const char *instance = s->owner ? s->owner->instance : "?";
    pool_site site = s->site;
    pthread_mutex_unlock(&p->mu);
    log_msg(PA_LOG_ERROR, "pool",
            "statement prepared on connection #%d by other than its lease's holder (a handle kept "
            "after release; the connection was last borrowed by plugin '%s' instance '%s' at "
            "%s:%d in %s()); denied",
            s->index + 1, plugin, instance, site.file, site.line, site.func);
}

static void close_slot(slot *s)
{
    db_close(s->conn);
    s->conn = NULL;
    s->expires_ms = 0;
}

static int open_slot(pool *p, slot *s, char *err, size_t err_size)
{
    db_settings settings = {
        .kind = p->cfg.kind ? p->cfg.kind : DB_SQLITE,
        .location = p->path,
        .application_name = p->application_name,
        .busy_timeout_ms = p->cfg.busy_timeout_ms,
        .connect_timeout_s = p->cfg.connect_timeout_s,
        .statement_timeout_ms = p->cfg.statement_timeout_ms,
        .plugin_session = p->cfg.lent_to_plugins,
        .guard = {slot_allows, slot_denied, slot_runs_host_sql, slot_refused, s}};
    int rc = db_open(&settings, &s->conn, err, err_size);
    if (rc != PA_OK)
        return rc;
    pthread_mutex_lock(&p->mu);
    p->st.connections_opened++;
    p->st.open_connections++;
    if (p->cfg.max_lifetime_ms > 0) {
        /* Up to 10% jitter so connections opened together do not expire together. */
        int64_t jitter = (int64_t)(next_random(p) % (uint64_t)(p->cfg.max_lifetime_ms / 10 + 1));
        s->expires_ms = lifetime_now_ms(p) + p->cfg.max_lifetime_ms - jitter;
    }
    pthread_mutex_unlock(&p->mu);
    return PA_OK;
}

static void retire_slot(pool *p, slot *s, bool fatal)
{
    close_slot(s);
    pthread_mutex_lock(&p->mu);
    p->st.open_connections--;
    if (fatal)
        p->st.retired_fatal++;
    else
        p->st.retired_lifetime++;
    pthread_mutex_unlock(&p->mu);
}

static uint64_t lease_id(const slot *s)
{
    return ((uint64_t)s->generation << 32) | (uint64_t)(s->index + 1);
}

/* Mark s leased by owner. Caller holds the mutex. */
static void grant_locked(pool *p, slot *s, pool_owner *owner, pa_lease_mode mode, pool_site site)
{
    s->generation = s->generation == UINT32_MAX ? 1 : s->generation + 1;
    s->mode = mode;
    s->owner = owner;
    s->site = site;
    s->leased_at_ns = clock_mono_ns();
    atomic_store_explicit(&s->holder, owner, memory_order_release);
    atomic_store_explicit(&s->holder_thread, (unsigned long)pthread_self(), memory_order_release);
    atomic_store_explicit(&s->state, SLOT_LEASED, memory_order_release);
    p->st.in_use++;
    if (p->st.in_use > p->st.peak_in_use)
        p->st.peak_in_use = p->st.in_use;
    if (mode == PA_LEASE_WRITE)
        p->st.leases_write++;
    else
        p->st.leases_read++;
}

/* Return s to the pool: hand it to the first waiter or push it. Holds mutex. */
static void put_back_locked(pool *p, slot *s)
{
    int64_t now = clock_mono_ns();
    s->idle_since_ns = now;
    int64_t held = now - s->leased_at_ns;
    if (s->owner && held > s->owner->longest_hold_ns)
        s->owner->longest_hold_ns = held;
    atomic_store_explicit(&s->state, SLOT_IDLE, memory_order_release);
    p->st.in_use--;
    waiter *w = p->wait_head;
    if (w) {
        p->wait_head = w->next;
        if (!p->wait_head)
            p->wait_tail = NULL;
        p->st.waiters--;
        atomic_store_explicit(&w->granted, s, memory_order_release);
        pthread_cond_signal(&w->cond);
    } else {
        s->next_free = p->free_list;
        p->free_list = s;
    }
}

static void put_back(pool *p, slot *s)
{
    pthread_mutex_lock(&p->mu);
    put_back_locked(p, s);
    pthread_mutex_unlock(&p->mu);
}

int pool_open(const pool_config *config, pool **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!config->path || config->size < 1 || config->lease_timeout_ms < 0 ||
        config->busy_timeout_ms < 0 || config->max_lifetime_ms < 0) {
        snprintf(err, err_size, "invalid pool configuration (size must be >= 1, times >= 0)");
        return PA_ERR_INVALID;
    }
    pool *p = calloc(1, sizeof *p);
    slot *slots = calloc((size_t)config->size, sizeof *slots);
    char *path = strdup(config->path);
    char *name = config->application_name ? strdup(config->application_name) : NULL;
    if (!p || !slots || !path || (config->application_name && !name)) {
        free(p), free(slots), free(path), free(name);
        snprintf(err, err_size, "out of memory creating the pool");
        return PA_ERR_NOMEM;
    }
    p->cfg = *config;
    p->path = path;
    p->cfg.path = path;
    p->application_name = name;
    p->cfg.application_name = name;
    p->slots = slots;
    p->st.size = config->size;
    p->rng = (uint64_t)clock_mono_ns() | 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&p->condattr);
    p->cond_clock = port_condattr_monotonic(&p->condattr);
    for (int i = config->size - 1; i >= 0; i--) {
        slots[i].pool = p;
        slots[i].index = i;
        atomic_init(&slots[i].state, SLOT_IDLE);
        slots[i].next_free = p->free_list;
        p->free_list = &slots[i];
    }
    *out = p;
    return PA_OK;
}

/* Append to err without overflowing; keeps the message one line. */
static void append(char *err, size_t err_size, const char *fmt, ...) PA_PRINTF(3, 4);
static void append(char *err, size_t err_size, const char *fmt, ...)
{
    size_t used = strlen(err);
    if (used + 1 >= err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, err_size - used, fmt, ap);
    va_end(ap);
}

static void describe_exhaustion_locked(pool *p, pool_owner *owner, pa_lease_mode mode,
                                       int64_t timeout_ms, pool_site site, char *err,
                                       size_t err_size)
{
    snprintf(err, err_size,
             "pool exhausted: no connection free within %lld ms for a %s lease by plugin '%s' "
             "instance '%s' at %s:%d; %d of %d in use (",
             (long long)timeout_ms, mode_name(mode), owner->plugin, owner->instance, site.file,
             site.line, p->st.in_use, p->st.size);
    int64_t now = clock_mono_ns();
    const char *sep = "";
    for (int i = 0; i < p->st.size; i++) {
        slot *s = &p->slots[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_LEASED)
            continue;
        append(err, err_size, "%s#%d %s by %s/%s for %lld ms at %s:%d", sep, i + 1,
               mode_name(s->mode), s->owner->plugin, s->owner->instance,
               (long long)((now - s->leased_at_ns) / 1000000), s->site.file, s->site.line);
        sep = ", ";
    }
    append(err, err_size, "), %d other waiter(s)", p->st.waiters);
}

static void remove_waiter_locked(pool *p, waiter *w)
{
    waiter **link = &p->wait_head;
    waiter *prev = NULL;
    while (*link && *link != w) {
        prev = *link;
        link = &(*link)->next;
    }
    if (!*link)
        return;
    *link = w->next;
    if (p->wait_tail == w)
        p->wait_tail = prev;
    p->st.waiters--;
}

static void deadline_after(clockid_t clock, struct timespec *ts, int64_t ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Queues for a slot and waits up to timeout ms; the slot, or NULL with err
 * describing who holds the pool. Called and returns with the mutex held.
 */
static slot *wait_for_slot_locked(pool *p, pool_owner *owner, pa_lease_mode mode, int64_t timeout,
                                  pool_site site, char *err, size_t err_size)
{
    slot *s;
    waiter w = {.next = NULL};
    atomic_init(&w.granted, NULL);
    pthread_cond_init(&w.cond, &p->condattr);
    if (p->wait_tail)
        p->wait_tail->next = &w;
    else
        p->wait_head = &w;
    p->wait_tail = &w;
    p->st.waiters++;
    p->st.waits++;
    int64_t wait_start = clock_mono_ns();
    /*
     * A lease is usually held for microseconds: spin briefly before
     * sleeping, so a hand-off does not always cost a futex wake-up. The
     * queue position is already taken, so spinning keeps FIFO order.
     */
    pthread_mutex_unlock(&p->mu);
    int64_t spin_until = wait_start + (timeout < 1 ? 0 : POOL_SPIN_NS);
    while (!atomic_load_explicit(&w.granted, memory_order_acquire) && clock_mono_ns() < spin_until)
        sched_yield();
    pthread_mutex_lock(&p->mu);
    struct timespec deadline;
    deadline_after(p->cond_clock, &deadline, timeout);
    while (!atomic_load_explicit(&w.granted, memory_order_relaxed)) {
        if (pthread_cond_timedwait(&w.cond, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    uint64_t waited = (uint64_t)(clock_mono_ns() - wait_start);
    p->st.wait_ns_total += waited;
    if (waited > p->st.wait_ns_max)
        p->st.wait_ns_max = waited;
    s = atomic_load_explicit(&w.granted, memory_order_relaxed);
    if (!s) {
        remove_waiter_locked(p, &w);
        p->st.timeouts++;
        describe_exhaustion_locked(p, owner, mode, timeout, site, err, err_size);
    }
    pthread_cond_destroy(&w.cond);
    return s;
}

/*
 * Readies a granted slot's connection and begins the lease on it, waiting at
 * most lock_wait_ms for the database's lock (< 0: the connection's own wait).
 * PA_OK, PA_ERR_TIMEOUT (the lock stayed held) or PA_ERR_DB.
 */
static int begin_on_slot(pool *p, slot *s, pool_owner *owner, pa_lease_mode mode, int lock_wait_ms,
                         pool_site site, char *err, size_t err_size)
{
    if (s->conn && s->expires_ms && lifetime_now_ms(p) >= s->expires_ms)
        retire_slot(p, s, false);
    if (!s->conn && open_slot(p, s, err, err_size) != PA_OK) {
        put_back(p, s);
        return PA_ERR_DB;
    }
    char why[512];
    int begun = lock_wait_ms < 0
                    ? db_lease_begin(s->conn, mode, why, sizeof why)
                    : db_lease_begin_within(s->conn, mode, lock_wait_ms, why, sizeof why);
    if (begun != PA_OK) {
        snprintf(err, err_size, "%s lease failed for plugin '%s' instance '%s' at %s:%d: %s",
                 mode_name(mode), owner->plugin, owner->instance, site.file, site.line, why);
        char end_err[64];
        db_cleanup cleanup;
        db_lease_end(s->conn, false, &cleanup, end_err, sizeof end_err);
        if (db_conn_unusable(s->conn, why, sizeof why))
            retire_slot(p, s, true);
        put_back(p, s);
        return begun == PA_ERR_TIMEOUT ? PA_ERR_TIMEOUT : PA_ERR_DB;
    }
    return PA_OK;
}

static int lease_within(pool *p, pool_owner *owner, pa_lease_mode mode, int timeout_ms,
                        int lock_wait_ms, pool_site site, pa_lease *out, char *err, size_t err_size)
{
    out->id = 0;
    if (mode != PA_LEASE_READ && mode != PA_LEASE_WRITE) {
        snprintf(err, err_size, "invalid lease mode %d at %s:%d", (int)mode, site.file, site.line);
        return PA_ERR_INVALID;
    }
    int64_t timeout = timeout_ms < 0 ? p->cfg.lease_timeout_ms : timeout_ms;
    pthread_mutex_lock(&p->mu);
    slot *s = p->free_list;
    if (s)
        p->free_list = s->next_free;
    else
        s = wait_for_slot_locked(p, owner, mode, timeout, site, err, err_size);
    if (!s) {
        pthread_mutex_unlock(&p->mu);
        return PA_ERR_TIMEOUT;
    }
    grant_locked(p, s, owner, mode, site);
    pthread_mutex_unlock(&p->mu);
    int rc = begin_on_slot(p, s, owner, mode, lock_wait_ms, site, err, err_size);
    if (rc == PA_OK)
        out->id = lease_id(s);
    return rc;
}

int pool_lease(pool *p, pool_owner *owner, pa_lease_mode mode, int timeout_ms, pool_site site,
               pa_lease *out, char *err, size_t err_size)
{
    return lease_within(p, owner, mode, timeout_ms, -1, site, out, err, err_size);
}

int pool_lease_briefly(pool *p, pool_owner *owner, pa_lease_mode mode, int lock_wait_ms,
                       pool_site site, pa_lease *out, char *err, size_t err_size)
{
    return lease_within(p, owner, mode, -1, lock_wait_ms < 0 ? 0 : lock_wait_ms, site, out, err,
                        err_size);
}

/* The live slot behind lease for owner, or NULL with *why set. Holds mutex. */
static slot *find_live_locked(pool *p, const pool_owner *owner, pa_lease lease, const char **why)
{
    uint64_t index1 = lease.id & 0xffffffffu;
    uint32_t generation = (uint32_t)(lease.id >> 32);
    if (index1 == 0 || index1 > (uint64_t)p->st.size || generation == 0) {
        *why = "is not a lease";
        return NULL;
    }
    slot *s = &p->slots[index1 - 1];
    if (s->generation != generation) {
        *why = "was released earlier and its connection has been lent again";
        return NULL;
    }
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_LEASED) {
        *why = "was already released";
        return NULL;
    }
    if (s->owner != owner) {
        *why = "belongs to another instance";
        return NULL;
    }
    return s;
}

/* Count and log a stale lease use; returns the PA status for it. */
static int report_stale_locked(pool *p, pool_owner *owner, pa_lease lease, const char *what,
                               const char *why, pool_site site, char *err, size_t err_size)
{
    p->st.stale_uses++;
    uint64_t index1 = lease.id & 0xffffffffu;
    char borrowed[512] = "";
    if (index1 >= 1 && index1 <= (uint64_t)p->st.size &&
        p->slots[index1 - 1].generation == (uint32_t)(lease.id >> 32)) {
        pool_site b = p->slots[index1 - 1].site;
        snprintf(borrowed, sizeof borrowed, " (borrowed at %s:%d in %s())", b.file, b.line, b.func);
    }
    snprintf(err, err_size,
             "%s of a stale lease by plugin '%s' instance '%s' at %s:%d in %s(): "
             "the lease %s%s",
             what, owner->plugin, owner->instance, site.file, site.line, site.func, why, borrowed);
    return PA_ERR_STALE_LEASE;
}

/* The live slot for lease, or NULL with the stale use reported and logged. */
static slot *live_or_report(pool *p, pool_owner *owner, pa_lease lease, pool_site site)
{
    const char *why = NULL;
    pthread_mutex_lock(&p->mu);
    slot *s = find_live_locked(p, owner, lease, &why);
    if (s) {
        pthread_mutex_unlock(&p->mu);
        return s;
    }
    char err[1024];
    report_stale_locked(p, owner, lease, "use", why, site, err, sizeof err);
    pthread_mutex_unlock(&p->mu);
    log_msg(PA_LOG_ERROR, "pool", "%s", err);
    return NULL;
}

sqlite3 *pool_lease_db(pool *p, pool_owner *owner, pa_lease lease, pool_site site)
{
    slot *s = live_or_report(p, owner, lease, site);
    if (!s)
        return NULL;
    db_mark_exposed(s->conn);
    return db_sqlite_handle(s->conn);
}

struct pg_conn *pool_lease_pg(pool *p, pool_owner *owner, pa_lease lease, pool_site site)
{
    slot *s = live_or_report(p, owner, lease, site);
    return s ? db_pg_handle(s->conn) : NULL;
}

db_conn *pool_conn(pool *p, pool_owner *owner, pa_lease lease)
{
    const char *why = NULL;
    pthread_mutex_lock(&p->mu);
    slot *s = find_live_locked(p, owner, lease, &why);
    pthread_mutex_unlock(&p->mu);
    return s ? s->conn : NULL;
}

db_kind pool_kind(const pool *p)
{
    return p->cfg.kind ? p->cfg.kind : DB_SQLITE;
}

pa_lease_mode pool_lease_mode(pool *p, pool_owner *owner, pa_lease lease)
{
    const char *why = NULL;
    pthread_mutex_lock(&p->mu);
    slot *s = find_live_locked(p, owner, lease, &why);
    pa_lease_mode mode = s ? s->mode : (pa_lease_mode)0;
    pthread_mutex_unlock(&p->mu);
    return mode;
}

db_stmt *pool_prepare(pool *p, pool_owner *owner, pa_lease lease, pa_lease_mode need,
                      const char *sql, int *status, char *err, size_t err_size)
{
    const char *why = NULL;
    pthread_mutex_lock(&p->mu);
    slot *s = sql ? find_live_locked(p, owner, lease, &why) : NULL;
    pa_lease_mode mode = s ? s->mode : (pa_lease_mode)0;
    pthread_mutex_unlock(&p->mu);
    if (!s) {
        *status = sql ? PA_ERR_STALE_LEASE : PA_ERR_INVALID;
        snprintf(err, err_size, "%s", sql ? "the lease is not live" : "no SQL");
        return NULL;
    }
    if (need && mode != need) {
        *status = PA_ERR_INVALID;
        snprintf(err, err_size, "got a %s lease", mode_name(mode));
        return NULL;
    }
    /* The lease gives this thread the slot, so its connection needs no lock. */
    return db_prepare(s->conn, sql, status, err, err_size);
}

bool pool_stmt_usable(pool *p, const pool_owner *owner, const db_stmt *st)
{
    bool usable = false;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->st.size && !usable; i++) {
        slot *s = &p->slots[i];
        /* Compared, never followed: st may be a pointer kept from a closed connection. */
        usable = s->owner == owner && s->conn && db_cache_holds(s->conn, st) && used_by_holder(s);
    }
    pthread_mutex_unlock(&p->mu);
    return usable;
}

sqlite3_stmt *pool_cached_stmt(pool *p, pool_owner *owner, pa_lease lease, const char *sql,
                               char *err, size_t err_size)
{
    int status;
    char why[900];
    if (pool_kind(p) != DB_SQLITE) {
        snprintf(err, err_size,
                 "prepare_cached: the database is PostgreSQL; prepare_cached returns SQLite "
                 "statements: use stmt_prepare (ABI 1.4)");
        return NULL;
    }
    db_stmt *st = pool_prepare(p, owner, lease, 0, sql, &status, why, sizeof why);
    if (!st) {
        snprintf(err, err_size, "prepare_cached: %s", why);
        return NULL;
    }
    db_mark_exposed(db_stmt_conn(st));
    return db_stmt_sqlite(st);
}

/* The log lines of what release cleaned up after the holder. */
static void log_cleanup(const slot *s, unsigned reset, unsigned finalized, bool rolled_back_open,
                        pool_site site)
{
    const pool_owner *owner = s->owner;
    pool_site borrowed = s->site;
    if (reset || finalized)
        log_msg(PA_LOG_WARN, "pool",
                "plugin '%s' instance '%s' released a lease (borrowed at %s:%d in %s()) with %u "
                "active statement(s) reset and %u unfinalized statement(s) finalized",
                owner->plugin, owner->instance, borrowed.file, borrowed.line, borrowed.func, reset,
                finalized);
    if (rolled_back_open)
        log_msg(PA_LOG_WARN, "pool",
                "plugin '%s' instance '%s' released a READ lease (borrowed at %s:%d in %s()) with "
                "a transaction open at %s:%d; rolled back",
                owner->plugin, owner->instance, borrowed.file, borrowed.line, borrowed.func,
                site.file, site.line);
}

/* A connection past a fatal error, or past its lifetime, is closed (and later replaced). */
static void retire_if_due(pool *p, slot *s)
{
    char why[700];
    if (db_conn_unusable(s->conn, why, sizeof why)) {
        bool corrupt = strstr(why, "SQLITE_CORRUPT") != NULL;
        log_msg(corrupt ? PA_LOG_ERROR : PA_LOG_WARN, "pool",
                "retiring connection #%d after %s under plugin '%s' instance '%s'", s->index + 1,
                why, s->owner->plugin, s->owner->instance);
        retire_slot(p, s, true);
    } else if (s->expires_ms && lifetime_now_ms(p) >= s->expires_ms) {
        log_msg(PA_LOG_DEBUG, "pool", "retiring connection #%d: maximum lifetime reached",
                s->index + 1);
        retire_slot(p, s, false);
    }
}

/*
 * End the lease on s: clean up statements, end the transaction, retire the
 * connection if it is past its lifetime or hit a fatal error, and return it.
 * The caller owns s exclusively (it is leased) and does not hold the mutex.
 */
static int finish_lease(pool *p, slot *s, pa_release_action action, bool reclaiming, pool_site site,
                        char *err, size_t err_size)
{
    bool commit = s->mode == PA_LEASE_WRITE && action == PA_RELEASE_COMMIT && !reclaiming &&
                  !p->cfg.rollback_writes;
    db_cleanup cleanup;
    char why[700] = "";
    int rc = db_lease_end(s->conn, commit, &cleanup, why, sizeof why);
    if (rc != PA_OK)
        snprintf(err, err_size,
                 "COMMIT failed for plugin '%s' instance '%s' (borrowed at %s:%d): %s",
                 s->owner->plugin, s->owner->instance, s->site.file, s->site.line, why);
    bool rolled_back_open = cleanup.rolled_back_open && s->mode == PA_LEASE_READ && !reclaiming;

    pthread_mutex_lock(&p->mu);
    p->st.statements_reset += cleanup.statements_reset;
    p->st.statements_finalized += cleanup.statements_finalized;
    if (rolled_back_open)
        p->st.rollbacks_on_release++;
    if (rc != PA_OK)
        p->st.commit_failures++;
    pthread_mutex_unlock(&p->mu);

    log_cleanup(s, cleanup.statements_reset, cleanup.statements_finalized, rolled_back_open, site);
    retire_if_due(p, s);
    put_back(p, s);
    return rc;
}

int pool_release(pool *p, pool_owner *owner, pa_lease lease, pa_release_action action,
                 pool_site site, char *err, size_t err_size)
{
    if (action != PA_RELEASE_COMMIT && action != PA_RELEASE_ROLLBACK) {
        snprintf(err, err_size, "invalid release action %d at %s:%d", (int)action, site.file,
                 site.line);
        return PA_ERR_INVALID;
    }
    const char *why = NULL;
    pthread_mutex_lock(&p->mu);
    slot *s = find_live_locked(p, owner, lease, &why);
    if (!s) {
        int rc = report_stale_locked(p, owner, lease, "release", why, site, err, err_size);
        pthread_mutex_unlock(&p->mu);
        log_msg(PA_LOG_ERROR, "pool", "%s", err);
        return rc;
    }
    pthread_mutex_unlock(&p->mu);
    return finish_lease(p, s, action, false, site, err, err_size);
}

int pool_reclaim(pool *p, pool_owner *owner, const char *phase)
{
    int reclaimed = 0;
    for (;;) {
        slot *s = NULL;
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < p->st.size && !s; i++) {
            slot *c = &p->slots[i];
            if (c->owner == owner &&
                atomic_load_explicit(&c->state, memory_order_relaxed) == SLOT_LEASED)
                s = c;
        }
        if (s)
            p->st.reclaims++;
        pthread_mutex_unlock(&p->mu);
        if (!s)
            break;
        log_msg(PA_LOG_WARN, "pool",
                "reclaimed unreleased %s lease from plugin '%s' instance '%s', borrowed at %s:%d "
                "in %s(), at end of %s; rolled back",
                mode_name(s->mode), owner->plugin, owner->instance, s->site.file, s->site.line,
                s->site.func, phase);
        char err[512];
        finish_lease(p, s, PA_RELEASE_ROLLBACK, true, s->site, err, sizeof err);
        reclaimed++;
    }
    return reclaimed;
}

void pool_close(pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->st.size; i++) {
        slot *s = &p->slots[i];
        if (atomic_load(&s->state) == SLOT_LEASED && s->owner)
            pool_reclaim(p, s->owner, "pool close");
        if (s->conn)
            close_slot(s);
    }
    pthread_condattr_destroy(&p->condattr);
    pthread_mutex_destroy(&p->mu);
    free(p->slots);
    free(p->path);
    free(p->application_name);
    free(p);
}

int64_t pool_idle_due_ms(pool *p, int64_t idle_ms)
{
    if (idle_ms <= 0)
        return -1;
    int64_t oldest = -1;
    pthread_mutex_lock(&p->mu);
    for (const slot *s = p->free_list; s; s = s->next_free)
        if (s->conn && (oldest < 0 || s->idle_since_ns < oldest))
            oldest = s->idle_since_ns;
    pthread_mutex_unlock(&p->mu);
    if (oldest < 0)
        return -1;
    int64_t due_ms = (oldest + idle_ms * 1000000 - clock_mono_ns() + 999999) / 1000000;
    return due_ms < 0 ? 0 : due_ms;
}

int pool_close_idle(pool *p, int64_t idle_ms)
{
    if (idle_ms <= 0)
        return 0;
    int64_t before = clock_mono_ns() - idle_ms * 1000000;
    slot *taken = NULL;
    pthread_mutex_lock(&p->mu);
    for (slot **link = &p->free_list; *link;) {
        slot *s = *link;
        if (s->conn && s->idle_since_ns <= before) {
            *link = s->next_free; /* off the free list: nobody can lease it meanwhile */
            s->next_free = taken;
            taken = s;
        } else {
            link = &s->next_free;
        }
    }
    pthread_mutex_unlock(&p->mu);
    int closed = 0;
    while (taken) {
        slot *s = taken;
        taken = s->next_free;
        close_slot(s);
        pthread_mutex_lock(&p->mu);
        p->st.open_connections--;
        p->st.retired_idle++;
        /* Back at the tail: warm connections stay first in line. */
        slot **end = &p->free_list;
        while (*end)
            end = &(*end)->next_free;
        s->next_free = NULL;
        *end = s;
        pthread_mutex_unlock(&p->mu);
        closed++;
    }
    return closed;
}

void pool_get_stats(pool *p, pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}

int64_t pool_owner_longest_hold_ns(pool *p, const pool_owner *owner)
{
    pthread_mutex_lock(&p->mu);
    int64_t v = owner->longest_hold_ns;
    pthread_mutex_unlock(&p->mu);
    return v;
}

int pool_owner_leases(pool *p, const pool_owner *owner)
{
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->cfg.size; i++)
        n += atomic_load(&p->slots[i].state) == SLOT_LEASED && p->slots[i].owner == owner;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pool_print_stats(pool *p, FILE *out)
{
    pool_stats st;
    pool_get_stats(p, &st);
    fprintf(out,
            "pool: connections size=%d open=%d opened=%llu retired_lifetime=%llu "
            "retired_fatal=%llu retired_idle=%llu\n"
            "pool: leases read=%llu write=%llu in_use=%d peak_in_use=%d\n"
            "pool: waits=%llu wait_ms_total=%.3f wait_ms_max=%.3f timeouts=%llu waiters=%d\n"
            "pool: reclaims=%llu rollbacks_on_release=%llu statements_reset=%llu "
            "statements_finalized=%llu stale_uses=%llu commit_failures=%llu "
            "host_table_refusals=%llu\n",
            st.size, st.open_connections, (unsigned long long)st.connections_opened,
            (unsigned long long)st.retired_lifetime, (unsigned long long)st.retired_fatal,
            (unsigned long long)st.retired_idle, (unsigned long long)st.leases_read,
            (unsigned long long)st.leases_write, st.in_use, st.peak_in_use,
            (unsigned long long)st.waits, (double)st.wait_ns_total / 1e6,
            (double)st.wait_ns_max / 1e6, (unsigned long long)st.timeouts, st.waiters,
            (unsigned long long)st.reclaims, (unsigned long long)st.rollbacks_on_release,
            (unsigned long long)st.statements_reset, (unsigned long long)st.statements_finalized,
            (unsigned long long)st.stale_uses, (unsigned long long)st.commit_failures,
            (unsigned long long)st.host_table_refusals);
}
