/*
 * What the Granola tests share: a test environment with granola.so installed,
 * a token file, a fake Granola server, fixtures, host.json, and checks of the
 * exactly-once contract.
 */
#ifndef GRANOLA_ENV_H
#define GRANOLA_ENV_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "fake_server.h"
#include "run_host.h"

/* 2026-02-12T12:00:00Z: the virtual "now" of every run. */
#define NOW   "1770897600"
#define TOKEN "tok-SECRET-5f2a9c"

typedef struct granola_ctx {
    test_env env;
    fake_server server;
    char fixture[160];
    char token_path[160];
} granola_ctx;

typedef struct fault_case {
    const char *fault;
    const char *config_extra;
    const char *message;
} fault_case;

/* cmocka fixtures: a fresh environment and token per test; the server is the test's to start. */
int granola_setup(void **state);
int granola_teardown(void **state);

void write_text(const char *path, const char *text);
cJSON *participant(const char *name, const char *email, const char *company, bool creator,
                   bool entity_email);
cJSON *meeting(cJSON *list, const char *id, const char *title, const char *date,
               const char *workspace, const char *summary);
/* The standard fixture: every quirk and every reason to skip a meeting (4 tasks). */
void write_standard_fixture(granola_ctx *c);
/* n meetings in the window, all with notes. */
void write_bulk_fixture(granola_ctx *c, int n);
/* host.json with one granola instance; extra is spliced into the instance object. */
void write_config(granola_ctx *c, const char *extra);
/* --polls N on the virtual clock; fails on a non-zero exit or a token in any output. */
void run_polls(granola_ctx *c, int polls, host_result *r);
/* The task line whose source_reference is ref (caller deletes); fails when there is none. */
cJSON *task_with_reference(const char *out, const char *ref);
/* Exactly once (docs/GRANOLA_PLUGIN.md, "A poll"): a processed row never exists without its outbox
 * row, nor the reverse. */
void assert_store_consistent(granola_ctx *c);
/* One poll yields the standard fixture's 4 tasks. */
void check_standard_run(granola_ctx *c);
/* The fault makes exactly one poll fail with message; the next poll recovers. */
void run_fault_case(granola_ctx *c, const fault_case *fc);

#endif
