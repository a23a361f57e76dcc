/* The worker's half of the outbox: emit's item into a pa_outbox row. */
#ifndef WORKER_EMIT_H
#define WORKER_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "pa_plugin.h"
#include "pool.h"

/*
 * Validates item (required fields, priority, UTF-8, metadata a JSON object)
 * and inserts its outbox row on lease's connection, in its transaction.
 * lease must be a live WRITE lease of owner's: PA_ERR_STALE_LEASE or
 * PA_ERR_INVALID otherwise, PA_ERR_INVALID for a bad item, PA_ERR_DB when
 * SQLite refuses; err says which in one line. json_out, when not NULL, gets
 * the stored JSON of an item written (cJSON_free it); NULL otherwise.
 */
int emit_item(pool *p, pool_owner *owner, pa_lease lease, const char *plugin, const char *instance,
              const pa_item *item, int64_t now_ms, char **json_out, char *err, size_t err_size);

#endif
