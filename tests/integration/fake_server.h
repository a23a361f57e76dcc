/* Starts tests/fake_granola on a free loopback port and talks to its control API. */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <cjson/cJSON.h>
#include <sys/types.h>

typedef struct fake_server {
    pid_t pid;
    int port;
    char url[96];  /* the MCP endpoint, http://127.0.0.1:PORT/mcp */
    char base[64]; /* http://127.0.0.1:PORT */
} fake_server;

/* extra_args: NULL-terminated, e.g. {"--sse", NULL}. */
void fake_start(fake_server *s, const char *fixture_path, const char *const *extra_args);
void fake_stop(fake_server *s);
/* POSTs a JSON control document; fails the test unless the server accepts it. */
void fake_control(const fake_server *s, const char *json);
/* GET /_stats, parsed (caller deletes). */
cJSON *fake_stats(const fake_server *s);
/* POSTs body to /mcp with headers ("Name: value", NULL-terminated); the reply body in *reply. */
long fake_post_mcp(const fake_server *s, const char *const *headers, const char *body,
                   char **reply);
/* requests.<key> from stats, 0 when absent. */
long fake_count(const cJSON *stats, const char *key);

#endif
