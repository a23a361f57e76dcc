/*
 * The agent's config.yaml, read as the agent reads it (mikedon/
 * personal-assistant, src/utils/config.py; docs/OPERATIONS.md, "The agent's
 * config.yaml"), and merged with host.json into one host_config.
 *
 * From config.yaml host_stub takes two things; every other section is the
 * agent's and ignored:
 *   granola      enabled (default false) and workspaces[]: each enabled
 *                workspace becomes one instance of the granola plugin, with
 *                the agent's keys and defaults (workspace_id lowercased,
 *                polling_interval_minutes as the instance's interval).
 *                Duplicate workspace ids are refused, as the agent refuses
 *                them.
 *   database.url the agent's database, by the agent's precedence.
 *
 * Precedence when both files are given: host.json's settings (pool,
 * isolation, timeouts, other plugins) apply as they are; the workspaces
 * decide which granola instances exist, and a host.json instance of
 * plugins.granola with the same id adds or overrides keys of that one
 * (server_url, poll_timeout_seconds...). A host.json granola instance
 * naming no workspace is an error.
 */
#ifndef SUPERVISOR_AGENT_CONFIG_H
#define SUPERVISOR_AGENT_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "config.h"

/* The agent's working directory's config file, which the agent reads without being told. */
#define AGENT_CONFIG_DEFAULT "./config.yaml"

/*
 * host.json at host_json (NULL: none, the defaults) and config.yaml at
 * agent_yaml (NULL: none) into *cfg. With agent_yaml, cfg->agent_dir is the
 * absolute directory of config.yaml (the agent's working directory, against
 * which its relative SQLite paths resolve) and cfg->agent_database_url its
 * database.url (NULL when not set). PA_ERR_CONFIG with one line naming the
 * file and key, and *cfg empty. With report (--check-config), every problem
 * found is also told to it, and *cfg keeps what was usable, to be freed.
 */
int config_load_sources(const char *host_json, const char *agent_yaml, host_config *cfg,
                        config_report *report, char *err, size_t err_size);

/*
 * The in-memory half: the agent's parsed config (a yaml_json tree) merged
 * into the host.json tree root, as above; agent_name and host_name name
 * them in messages. *database_url receives database.url (malloc'd; NULL
 * when not set). PA_ERR_CONFIG with one line in err; root may then hold
 * part of the merge and is the caller's to free either way.
 */
int agent_config_merge(const cJSON *agent, const char *agent_name, cJSON *root,
                       const char *host_name, char **database_url, char *err, size_t err_size);

#endif
