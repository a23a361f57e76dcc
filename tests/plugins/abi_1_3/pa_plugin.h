/*
 * pa_plugin.h - the personal-assistant plugin ABI.
 *
 * A FROZEN COPY of ABI 1.3 (include/pa_plugin.h at ee71087), kept only to
 * build tests/plugins/old_abi_plugin.c as a plugin of that time would be
 * built: a 1.4 host must keep running it (docs/ABI.md). Never edit.
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
 *   - a reader checks struct_size (PA_HAS_FIELD) before touching a field that
 *     was appended in a later minor version.
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
#define PA_ABI_VERSION_MINOR 3u
#define PA_ABI_VERSION       ((PA_ABI_VERSION_MAJOR << 16) | PA_ABI_VERSION_MINOR)
#define PA_ABI_MAJOR(v)      ((uint32_t)(v) >> 16)
#define PA_ABI_MINOR(v)      ((uint32_t)(v)&0xffffu)

/* True when the struct pointed to by p is large enough to contain field. */
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
    PA_ERR_DB = 6,          /* SQLite error; the message carries sqlite3_errmsg */
    PA_ERR_CONFIG = 7,      /* instance configuration rejected (init only) */
    PA_ERR_NETWORK = 8,     /* transport failure talking to a remote service */
    PA_ERR_REMOTE = 9,      /* remote service answered with an error */
    PA_ERR_AUTH = 10        /* credentials missing, unreadable or rejected */
} pa_status;

/*
 * The name of a status ("PA_ERR_AUTH"), or "PA_UNKNOWN_STATUS" for a value
 * outside the enum. The string is static: valid forever, from any thread.
 * ABI 1.3 (a header function: plugins built against 1.3 have it on any host).
 */
static inline const char *pa_status_name(int status)
{
    static const char *const names[] = {"PA_OK",         "PA_ERR_GENERIC", "PA_ERR_INVALID",
                                        "PA_ERR_NOMEM",  "PA_ERR_TIMEOUT", "PA_ERR_STALE_LEASE",
                                        "PA_ERR_DB",     "PA_ERR_CONFIG",  "PA_ERR_NETWORK",
                                        "PA_ERR_REMOTE", "PA_ERR_AUTH"};
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

    /* Log one line (no trailing newline needed). Never pass secrets. */
    void (*log)(pa_host_ctx *ctx, pa_log_level level, const char *fmt, ...) PA_PRINTF(3, 4);

    /*
     * Borrow a database connection. Waits up to timeout_ms (or the pool
     * default for PA_LEASE_DEFAULT_TIMEOUT) when every connection is in use;
     * waiters are served first come, first served. A WRITE lease starts with
     * BEGIN IMMEDIATE already executed. On failure *out is zeroed and the
     * reason is logged and available from last_error. Use PA_LEASE(), which
     * records the borrow site; file/line/func must be string literals or
     * otherwise outlive the lease.
     * Errors: PA_ERR_TIMEOUT, PA_ERR_DB, PA_ERR_INVALID.
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
     */
    sqlite3 *(*lease_db)(pa_host_ctx *ctx, pa_lease lease);

    /*
     * Give a lease back. COMMIT commits a WRITE lease (a failed COMMIT rolls
     * back and returns PA_ERR_DB); ROLLBACK rolls it back. An open
     * transaction left on a READ lease is rolled back and logged; active
     * statements are reset and unfinalized ones finalized, each logged.
     * Releasing twice returns PA_ERR_STALE_LEASE and is logged. Use
     * PA_RELEASE(), which records the call site.
     */
    int (*release)(pa_host_ctx *ctx, pa_lease lease, pa_release_action action, const char *file,
                   int line, const char *func);

    /*
     * Queue an item for the host: writes one outbox row on the lease's
     * connection, inside its transaction, so the row commits or rolls back
     * with the plugin's own writes. Requires a live WRITE lease.
     * Errors: PA_ERR_INVALID (missing required field, READ lease, bad
     * metadata JSON), PA_ERR_STALE_LEASE, PA_ERR_DB.
     */
    int (*emit)(pa_host_ctx *ctx, pa_lease lease, const pa_item *item);

    /* Record one outgoing HTTP request for the host's request log. */
    void (*report_http)(pa_host_ctx *ctx, const pa_http_report *report);

    /* Wall-clock time in milliseconds since the Unix epoch. Tests can move it. */
    int64_t (*now_ms)(pa_host_ctx *ctx);

    /* The message of the last failed host call made with this ctx ("" if none). */
    const char *(*last_error)(pa_host_ctx *ctx);

    /* Added in ABI 1.1 (check with PA_HAS_FIELD). */

    /*
     * Ask that this instance's next poll start no earlier than earliest_ms
     * (now_ms clock), e.g. to honour a server's Retry-After. Applies after the
     * current poll, on top of the normal schedule and backoff; a host may cap
     * it (host_stub: at backoff_cap_seconds after the poll).
     */
    void (*defer_next_poll)(pa_host_ctx *ctx, int64_t earliest_ms);

    /* Added in ABI 1.2 (check with PA_HAS_FIELD). */

    /*
     * A statement for sql on the lease's connection, prepared the first time
     * any lease on that connection asks and kept by the host: at release it
     * is reset and its bindings cleared, not finalized. Never finalize it;
     * do not use it after the release. Up to 16 distinct statements per
     * lease. NULL on failure (see last_error).
     */
    sqlite3_stmt *(*prepare_cached)(pa_host_ctx *ctx, pa_lease lease, const char *sql);
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
 *   as JSON text. On success store the instance in *instance_out and return
 *   PA_OK. On failure return a pa_status and write a one-line reason into
 *   errbuf (always NUL-terminated, errbuf_size > 0). api and ctx stay valid
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
