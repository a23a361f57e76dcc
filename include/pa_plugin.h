/*
 * pa_plugin.h - the personal-assistant plugin ABI.
 *
 * The only header a plugin author includes. A plugin is a shared object that
 * exports exactly four functions (see "Entry points" below). The host hands it
 * a table of host functions (pa_host_api) at init; the plugin never links
 * against the host.
 *
 * Versioning rules (see docs/ABI.md):
 *   - every struct that crosses the boundary starts with
 *     { uint32_t abi_version; uint32_t struct_size; } and only ever grows at
 *     its end;
 *   - the host refuses a plugin whose ABI major differs from its own;
 *   - a plugin tests for a host function appended after 1.0 with
 *     PA_HOST_HAS(api, f) before calling it; the host checks the structs a
 *     plugin hands it the same way (PA_HAS_FIELD).
 *
 * Each function below states what it does, who owns what it takes and
 * returns and for how long, its errors, and from which thread it may be
 * called; "Threads and lifetimes" further down says it once for all.
 */
#ifndef PA_PLUGIN_H
#define PA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PA_ABI_VERSION_MAJOR 1u
#define PA_ABI_VERSION_MINOR 5u
#define PA_ABI_VERSION       ((PA_ABI_VERSION_MAJOR << 16) | PA_ABI_VERSION_MINOR)
#define PA_ABI_MAJOR(v)      ((uint32_t)(v) >> 16)
#define PA_ABI_MINOR(v)      ((uint32_t)(v)&0xffffu)

/*
 * True when the struct pointed to by p is large enough to contain field: the
 * primitive under PA_HOST_HAS, and how a host reads a struct a plugin built
 * against an older minor hands it. Plugins test host functions with
 * PA_HOST_HAS, which also catches a slot the host left NULL.
 */
#define PA_HAS_FIELD(p, type, field)                                                               \
    ((p) != NULL && (size_t)(p)->struct_size >= offsetof(type, field) + sizeof((p)->field))

/*
 * True when the host API table api has the function f and it is set: test
 * before calling anything appended after ABI 1.0 (the model is Redis's
 * RMAPI_FUNC_SUPPORTED). ABI 1.3.
 */
#define PA_HOST_HAS(api, f) (PA_HAS_FIELD(api, pa_host_api, f) && (api)->f != NULL)

/*
 * Plugins are built with -fvisibility=hidden; PA_EXPORT marks the four entry
 * points as the only exported symbols. The attribute is GCC/Clang syntax,
 * which every compiler targeting the host's platforms accepts.
 */
#if defined(__GNUC__) || defined(__clang__)
#define PA_EXPORT         __attribute__((visibility("default")))
#define PA_PRINTF(fi, ai) __attribute__((format(printf, fi, ai)))
#else
#define PA_EXPORT
#define PA_PRINTF(fi, ai)
#endif

/* Status codes returned by host functions and plugin entry points. */
typedef enum pa_status {
    PA_OK = 0,
    PA_ERR_GENERIC = 1,     /* failure described by the accompanying message */
    PA_ERR_INVALID = 2,     /* bad argument, e.g. NULL or wrong lease mode */
    PA_ERR_NOMEM = 3,       /* allocation failed */
    PA_ERR_TIMEOUT = 4,     /* lease wait ran out: pool exhausted */
    PA_ERR_STALE_LEASE = 5, /* lease already released or reclaimed */
    PA_ERR_DB = 6,          /* the database refused; last_error and stmt_error_code say why */
    PA_ERR_CONFIG = 7,      /* instance configuration rejected (init only) */
    PA_ERR_NETWORK = 8,     /* transport failure talking to a remote service */
    PA_ERR_REMOTE = 9,      /* remote service answered with an error */
    PA_ERR_AUTH = 10,       /* credentials missing, unreadable or rejected */
    /* ABI 1.4 */
    PA_ERR_CONSTRAINT = 11, /* a UNIQUE, NOT NULL, CHECK or foreign key constraint, either engine */
    PA_ERR_UNSUPPORTED = 12 /* not on this host's database engine (lease_db on PostgreSQL) */
} pa_status;

/*
 * The name of a status ("PA_ERR_AUTH"), or "PA_UNKNOWN_STATUS" for a value
 * outside the enum. The string is static: valid forever, from any thread.
 * ABI 1.3 (a header function: plugins built against 1.3 have it on any host;
 * the names of 1.4's statuses come with 1.4's header).
 */
static inline const char *pa_status_name(int status)
{
    static const char *const names[] = {"PA_OK",
                                        "PA_ERR_GENERIC",
                                        "PA_ERR_INVALID",
                                        "PA_ERR_NOMEM",
                                        "PA_ERR_TIMEOUT",
                                        "PA_ERR_STALE_LEASE",
                                        "PA_ERR_DB",
                                        "PA_ERR_CONFIG",
                                        "PA_ERR_NETWORK",
                                        "PA_ERR_REMOTE",
                                        "PA_ERR_AUTH",
                                        "PA_ERR_CONSTRAINT",
                                        "PA_ERR_UNSUPPORTED"};
    return status >= 0 && (size_t)status < sizeof names / sizeof names[0] ? names[status]
                                                                          : "PA_UNKNOWN_STATUS";
}

typedef enum pa_log_level {
    PA_LOG_ERROR = 0,
    PA_LOG_WARN = 1,
    PA_LOG_INFO = 2,
    PA_LOG_DEBUG = 3
} pa_log_level;

typedef enum pa_lease_mode {
    PA_LEASE_READ = 1, /* autocommit connection; do not write */
    PA_LEASE_WRITE = 2 /* the host has already run BEGIN IMMEDIATE */
} pa_lease_mode;

typedef enum pa_release_action {
    PA_RELEASE_COMMIT = 1,  /* WRITE: COMMIT; READ: just return the handle */
    PA_RELEASE_ROLLBACK = 2 /* WRITE: ROLLBACK (emitted items vanish too) */
} pa_release_action;

/* Pass as timeout_ms to use the pool's configured lease_timeout_ms. */
#define PA_LEASE_DEFAULT_TIMEOUT (-1)

/*
 * A lease is a value, not a pointer: it names a pool slot and a generation, so
 * a released lease can be recognised (PA_ERR_STALE_LEASE) instead of being a
 * dangling pointer. The zero value is never a valid lease.
 */
typedef struct pa_lease {
    uint64_t id;
} pa_lease;

/* Opaque: identifies the calling plugin instance to the host. */
typedef struct pa_host_ctx pa_host_ctx;

/*
 * ABI 1.4: a statement of the engine-neutral API, owned by the host (see
 * stmt_prepare). Opaque.
 */
typedef struct pa_stmt pa_stmt;

/* ABI 1.5: why the host runs an instance (run_mode). */
typedef enum pa_run_mode {
    /* Serving: polls for real. */
    PA_RUN_SERVE = 0,
    /*
     * host_stub --check-config: init and shutdown only, on a throwaway
     * database, no poll. Init should check everything the instance will need
     * (credentials, files, their modes) and fail with every problem it found
     * in errbuf, "; "-separated, instead of waiting for the first poll.
     */
    PA_RUN_CHECK = 1,
    /*
     * host_stub --dry-run: init, one poll, shutdown, on the real database;
     * every WRITE lease ends in ROLLBACK whatever release asks (release
     * still answers PA_OK), so nothing is kept, and the items emitted are
     * printed, not delivered. A plugin may skip side effects outside the
     * database (a token refresh it would write back, say).
     */
    PA_RUN_DRY = 2
} pa_run_mode;

/* ABI 1.4: the host's database engine (db_backend). */
typedef enum pa_db_backend { PA_DB_SQLITE = 1, PA_DB_POSTGRESQL = 2 } pa_db_backend;

/* ABI 1.4: what a column of the current row holds (stmt_column_type). */
typedef enum pa_value_type {
    PA_VALUE_NULL = 0,
    PA_VALUE_INTEGER = 1,
    PA_VALUE_FLOAT = 2,
    PA_VALUE_TEXT = 3,
    PA_VALUE_BLOB = 4
} pa_value_type;

/* libpq's connection (PGconn), for lease_pg: declared, so libpq-fe.h is not needed. */
struct pg_conn;

/*
 * An actionable item handed to the host. Strings are UTF-8 and borrowed for
 * the duration of the emit call only. NULL optional fields are stored as NULL.
 */
typedef struct pa_item {
    uint32_t abi_version; /* PA_ABI_VERSION */
    uint32_t struct_size; /* sizeof(pa_item) */
    const char *type;     /* required, e.g. "document_review" */
    const char *title;    /* required */
    const char *description;
    const char *priority;         /* "low" | "medium" | "high" | "urgent"; NULL = "medium" */
    const char *source;           /* required, e.g. "granola" */
    const char *source_reference; /* required: the id in the source system */
    const char *account_id;       /* NULL = the instance id */
    const char *due_date;         /* ISO 8601 or NULL */
    const char *const *tags;      /* tag_count strings */
    size_t tag_count;
    const char *metadata_json; /* a JSON object as text, or NULL */
} pa_item;

typedef struct pa_http_report {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *method;       /* "POST" */
    const char *url;          /* without credentials or query secrets */
    long status;              /* HTTP status, 0 when no response arrived */
    double seconds;           /* wall time of the request */
    const char *request_type; /* e.g. the JSON-RPC method or tool name */
} pa_http_report;

/*
 * The host API table, passed to pa_plugin_init. Valid until pa_plugin_shutdown
 * returns. Every function takes the instance's ctx so the host can attribute
 * leases, logs and items to a plugin instance.
 */
typedef struct pa_host_api {
    uint32_t abi_version;
    uint32_t struct_size;

    /*
     * Logs one line under "plugin NAME/INSTANCE" (no trailing newline
     * needed). The formatted text is cut at 2047 bytes; control characters
     * and invalid UTF-8 are escaped. The host copies it: nothing is kept
     * after the call. Never pass secrets. A level outside the enum is logged
     * as PA_LOG_INFO. Thread: the instance's entry point's.
     */
    void (*log)(pa_host_ctx *ctx, pa_log_level level, const char *fmt, ...) PA_PRINTF(3, 4);

    /*
     * Borrow a database connection. Waits up to timeout_ms (or the pool
     * default for PA_LEASE_DEFAULT_TIMEOUT) when every connection is in use;
     * waiters are served first come, first served. A WRITE lease starts with
     * BEGIN IMMEDIATE already executed. On failure *out is zeroed and the
     * reason is logged and available from last_error. Use PA_LEASE(), which
     * records the borrow site; file/line/func must be string literals or
     * otherwise outlive the lease. The lease is a value the plugin owns until
     * it releases it; the host takes back any lease still out when the entry
     * point returns (rolled back, logged with its borrow site).
     * Errors: PA_ERR_TIMEOUT (the pool stayed exhausted: the message names
     * its holders), PA_ERR_DB, PA_ERR_INVALID (NULL out, unknown mode).
     * Thread: the instance's entry point's; the lease belongs to that thread.
     */
    int (*lease)(pa_host_ctx *ctx, pa_lease_mode mode, int timeout_ms, const char *file, int line,
                 const char *func, pa_lease *out);

    /*
     * The connection behind a live lease, or NULL (logged) for a stale one.
     * The handle is valid until the lease is released; statements prepared on
     * it must be finalized before release. After release the host finalizes
     * leftovers and refuses new statements on the handle (SQLITE_AUTH).
     * Callbacks set on the handle (progress handler, commit, rollback and
     * update hooks, trace, busy handler) last until release: the host clears
     * them and restores its busy timeout. Never set an authorizer, and leave
     * pragmas, functions and collations as they were: those outlive the lease.
     * Never close the handle. One SQLite per process: the plugin links the
     * system libsqlite3 dynamically, never a copy of its own, since two
     * copies in one process corrupt databases through POSIX locks.
     * Thread: only the thread that holds the lease.
     */
    sqlite3 *(*lease_db)(pa_host_ctx *ctx, pa_lease lease);

    /*
     * Give a lease back. COMMIT commits a WRITE lease (a failed COMMIT rolls
     * back and returns PA_ERR_DB); ROLLBACK rolls it back. An open
     * transaction left on a READ lease is rolled back and logged; active
     * statements are reset and unfinalized ones finalized, each logged.
     * Releasing twice returns PA_ERR_STALE_LEASE and is logged. Use
     * PA_RELEASE(), which records the call site. After the call the lease is
     * stale whatever it returned. Errors: PA_ERR_STALE_LEASE, PA_ERR_DB (a
     * failed COMMIT, rolled back). Thread: the one that took the lease.
     */
    int (*release)(pa_host_ctx *ctx, pa_lease lease, pa_release_action action, const char *file,
                   int line, const char *func);

    /*
     * Queue an item for the host: writes one outbox row on the lease's
     * connection, inside its transaction, so the row commits or rolls back
     * with the plugin's own writes. Requires a live WRITE lease. The host
     * copies the item during the call; its strings stay the plugin's.
     * Errors: PA_ERR_INVALID (NULL item or another ABI major, a required
     * field missing, a bad priority, a text field or tag that is not valid
     * UTF-8, metadata_json not a JSON object, a READ lease),
     * PA_ERR_STALE_LEASE, PA_ERR_DB. Thread: the one that holds the lease.
     */
    int (*emit)(pa_host_ctx *ctx, pa_lease lease, const pa_item *item);

    /*
     * Records one outgoing HTTP request for the host's request log (counted,
     * logged at debug level). The host copies what it keeps. A report whose
     * struct_size does not cover every field (use PA_HTTP_REPORT_INIT) is
     * ignored, without an error. Thread: the instance's entry point's.
     */
    void (*report_http)(pa_host_ctx *ctx, const pa_http_report *report);

    /* Wall-clock time in milliseconds since the Unix epoch. Tests can move it. Any thread. */
    int64_t (*now_ms)(pa_host_ctx *ctx);

    /*
     * The message of the last failed host call made with this ctx ("" if
     * none). The host owns the string; it lives until the next host call
     * with the same ctx. Thread: the instance's entry point's.
     */
    const char *(*last_error)(pa_host_ctx *ctx);

    /* Added in ABI 1.1 (check with PA_HOST_HAS). */

    /*
     * Ask that this instance's next poll start no earlier than earliest_ms
     * (now_ms clock), e.g. to honour a server's Retry-After. Applies after the
     * current poll, on top of the normal schedule and backoff; a host may cap
     * it (host_stub: at backoff_cap_seconds after the poll). The latest call
     * in a poll wins; it never fails. Thread: the instance's entry point's.
     */
    void (*defer_next_poll)(pa_host_ctx *ctx, int64_t earliest_ms);

    /* Added in ABI 1.2 (check with PA_HOST_HAS). */

    /*
     * A statement for sql on the lease's connection, prepared the first time
     * any lease on that connection asks and kept by the host: at release it
     * is reset and its bindings cleared, not finalized. Never finalize it;
     * do not use it after the release. Up to 16 distinct statements per
     * lease. NULL on failure (see last_error): a stale lease, the 17th
     * statement, or SQL SQLite refuses. The host owns the statement; it lives
     * until the lease ends. Thread: the one that holds the lease.
     */
    sqlite3_stmt *(*prepare_cached)(pa_host_ctx *ctx, pa_lease lease, const char *sql);

    /*
     * Added in ABI 1.4 (check with PA_HOST_HAS): one API over both engines.
     * A plugin that uses only these (and emit) runs unchanged on SQLite and
     * PostgreSQL; docs/ABI.md, "SQL on both engines", lists the SQL that
     * does. On PostgreSQL, lease_db and prepare_cached return NULL
     * (last_error says why: the status is PA_ERR_UNSUPPORTED).
     */

    /* The host's engine. Any thread. */
    pa_db_backend (*db_backend)(pa_host_ctx *ctx);

    /*
     * The statement for sql on the lease's connection, prepared the first
     * time any lease on that connection asks ('?' or '?N' placeholders, N
     * from 1, on both engines) and kept by the host: never free it; use it
     * only during this lease, on its thread. At most 16 distinct statements
     * per lease. NULL on failure (last_error, stmt_error_code): a stale
     * lease, the 17th statement, SQL the engine refuses. Thread: the one
     * that holds the lease.
     */
    pa_stmt *(*stmt_prepare)(pa_host_ctx *ctx, pa_lease lease, const char *sql);

    /*
     * Binds a value to parameter index (from 1); a value stays bound until
     * rebound or the lease ends. Text and blobs are copied during the call;
     * len < 0 for text means up to its NUL. bind_time takes microseconds
     * since the epoch, UTC, and stores the engine's own time: on SQLite
     * SQLAlchemy's text "YYYY-MM-DD HH:MM:SS.ffffff", on PostgreSQL a
     * timestamptz. Errors: PA_ERR_INVALID (a statement not of a live lease
     * of this instance, index out of range), PA_ERR_NOMEM.
     */
    int (*stmt_bind_null)(pa_host_ctx *ctx, pa_stmt *stmt, int index);
    int (*stmt_bind_int64)(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t value);
    int (*stmt_bind_double)(pa_host_ctx *ctx, pa_stmt *stmt, int index, double value);
    int (*stmt_bind_text)(pa_host_ctx *ctx, pa_stmt *stmt, int index, const char *text,
                          int64_t len);
    int (*stmt_bind_blob)(pa_host_ctx *ctx, pa_stmt *stmt, int index, const void *data, size_t len);
    int (*stmt_bind_time)(pa_host_ctx *ctx, pa_stmt *stmt, int index, int64_t utc_us);

    /*
     * Runs the statement, or moves to its next row: PA_OK with *has_row 1
     * while there is a row to read, then PA_OK with *has_row 0. Stepping
     * again after that runs it again with the same bindings. Errors:
     * PA_ERR_CONSTRAINT (a constraint, on either engine), PA_ERR_TIMEOUT
     * (PostgreSQL's statement_timeout), PA_ERR_DB, PA_ERR_INVALID (not a
     * statement of a live lease of this instance). After an error inside a
     * WRITE lease, release it with PA_RELEASE_ROLLBACK: PostgreSQL refuses
     * every further statement of that transaction. Thread: the holder's.
     */
    int (*stmt_step)(pa_host_ctx *ctx, pa_stmt *stmt, int *has_row);

    /*
     * The current row's columns, index from 0; an index out of range, or no
     * current row, reads as NULL (0, 0.0, NULL). Text and blob pointers live
     * until the next step, bind or the end of the lease. stmt_column_time:
     * PA_OK with *utc_us for a time (either engine's format, as bind_time
     * writes it, or ISO 8601 text with an offset), PA_ERR_INVALID otherwise.
     */
    int (*stmt_column_count)(pa_host_ctx *ctx, pa_stmt *stmt);
    pa_value_type (*stmt_column_type)(pa_host_ctx *ctx, pa_stmt *stmt, int i);
    int64_t (*stmt_column_int64)(pa_host_ctx *ctx, pa_stmt *stmt, int i);
    double (*stmt_column_double)(pa_host_ctx *ctx, pa_stmt *stmt, int i);
    const char *(*stmt_column_text)(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len);
    const void *(*stmt_column_blob)(pa_host_ctx *ctx, pa_stmt *stmt, int i, size_t *len);
    int (*stmt_column_time)(pa_host_ctx *ctx, pa_stmt *stmt, int i, int64_t *utc_us);

    /* Rows the statement's last run inserted, updated or deleted (-1: not a usable statement). */
    int64_t (*stmt_changes)(pa_host_ctx *ctx, pa_stmt *stmt);

    /*
     * The engine's code for the last failed database call with this ctx:
     * a SQLSTATE on PostgreSQL ("23505"), SQLite's extended result code in
     * decimal ("2067"); "" after a success. Lives like last_error.
     */
    const char *(*db_error_code)(pa_host_ctx *ctx);

    /*
     * The PostgreSQL connection behind a live lease (libpq's PGconn *), the
     * escape hatch lease_db is on SQLite; NULL on SQLite or for a stale
     * lease. Valid until release; the lease's transaction is the host's
     * (never COMMIT, ROLLBACK or close it), and a plugin using it links
     * libpq itself. Thread: the holder's.
     */
    struct pg_conn *(*lease_pg)(pa_host_ctx *ctx, pa_lease lease);

    /* Added in ABI 1.5 (check with PA_HOST_HAS). */

    /*
     * Why the host runs this instance (pa_run_mode): to serve, to check its
     * configuration (init should then check all it will need, and fail
     * naming every problem), or for a dry run (whatever it writes is rolled
     * back). Constant for the instance's life. Any thread.
     */
    pa_run_mode (*run_mode)(pa_host_ctx *ctx);
} pa_host_api;

/*
 * Initialisers that fill the version header of a struct a plugin hands to the
 * host (ABI 1.3): `pa_item item = PA_ITEM_INIT;` then set the fields.
 */
#define PA_ITEM_INIT                                                                               \
    {                                                                                              \
        .abi_version = PA_ABI_VERSION, .struct_size = sizeof(pa_item)                              \
    }
#define PA_HTTP_REPORT_INIT                                                                        \
    {                                                                                              \
        .abi_version = PA_ABI_VERSION, .struct_size = sizeof(pa_http_report)                       \
    }
#define PA_PLUGIN_INFO_INIT(name, version, description)                                            \
    {                                                                                              \
        PA_ABI_VERSION, sizeof(pa_plugin_info), (name), (version), (description)                   \
    }

#define PA_LEASE(api, ctx, mode, timeout_ms, out)                                                  \
    ((api)->lease((ctx), (mode), (timeout_ms), __FILE__, __LINE__, __func__, (out)))
#define PA_RELEASE(api, ctx, lease, action)                                                        \
    ((api)->release((ctx), (lease), (action), __FILE__, __LINE__, __func__))

/* What pa_plugin_describe returns: static, immutable, valid while loaded. */
typedef struct pa_plugin_info {
    uint32_t abi_version; /* PA_ABI_VERSION the plugin was built against */
    uint32_t struct_size; /* sizeof(pa_plugin_info) */
    const char *name;     /* short name, e.g. "granola" */
    const char *version;  /* the plugin's own version, e.g. "1.2.0" */
    const char *description;
} pa_plugin_info;

/*
 * Threads (ABI 1.3 states what 1.0 did). The host calls one instance's entry
 * points one at a time, never two at once, and never poll before init
 * succeeded or after shutdown began. Host functions taking a ctx may be
 * called only from the thread running one of that instance's entry points,
 * while it runs. A database handle from lease_db, and statements on it, may
 * be used only on the thread that took the lease and only until release:
 * the connection refuses any other thread or instance (SQLITE_AUTH on
 * prepare, logged), so a kept handle cannot reach another transaction.
 *
 * Lifetimes of what the host lends:
 *   api, ctx       from pa_plugin_init until pa_plugin_shutdown returns;
 *   config_json    during pa_plugin_init only: copy what you keep;
 *   errbuf         during the call that received it;
 *   last_error()   until the next host call with the same ctx;
 *   lease_db()     until that lease is released or reclaimed;
 *   prepare_cached statements: until that lease ends (never finalize them).
 * What the plugin lends the host: pa_item strings and pa_http_report strings
 * during the emit or report_http call only; pa_plugin_describe's struct for
 * as long as the plugin is loaded.
 */

/*
 * Entry points. A plugin exports exactly these four symbols.
 *
 * pa_plugin_describe: no side effects; may be called before init.
 *
 * pa_plugin_init: config_json is the instance's object from the host config,
 *   as JSON text (host_stub passes at most 130048 bytes; a larger object is
 *   refused before init). On success store the instance in *instance_out
 *   and return PA_OK. On failure return a pa_status and write a one-line
 *   reason into errbuf (always NUL-terminated, errbuf_size > 0); if
 *   *instance_out was set anyway, the host calls pa_plugin_shutdown on it,
 *   so never leave it pointing at freed memory. api and ctx stay valid
 *   until shutdown; keep them in the instance. Called once per instance.
 *
 * pa_plugin_poll: do one round of work. Never blocks forever, never exits,
 *   never writes to stdout. Leases not released by the time poll returns are
 *   reclaimed (rolled back) and logged by the host.
 *
 * pa_plugin_shutdown: free everything the instance owns. After it returns the
 *   host may dlclose the plugin.
 */
typedef const pa_plugin_info *(*pa_plugin_describe_fn)(void);
typedef int (*pa_plugin_init_fn)(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                                 void **instance_out, char *errbuf, size_t errbuf_size);
typedef int (*pa_plugin_poll_fn)(void *instance, char *errbuf, size_t errbuf_size);
typedef void (*pa_plugin_shutdown_fn)(void *instance);

#define PA_SYM_DESCRIBE "pa_plugin_describe"
#define PA_SYM_INIT     "pa_plugin_init"
#define PA_SYM_POLL     "pa_plugin_poll"
#define PA_SYM_SHUTDOWN "pa_plugin_shutdown"

PA_EXPORT const pa_plugin_info *pa_plugin_describe(void);
PA_EXPORT int pa_plugin_init(const pa_host_api *api, pa_host_ctx *ctx, const char *config_json,
                             void **instance_out, char *errbuf, size_t errbuf_size);
PA_EXPORT int pa_plugin_poll(void *instance, char *errbuf, size_t errbuf_size);
PA_EXPORT void pa_plugin_shutdown(void *instance);

#ifdef __cplusplus
}
#endif

#endif /* PA_PLUGIN_H */
