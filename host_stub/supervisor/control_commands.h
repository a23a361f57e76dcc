/*
 * What the control socket's requests mean (docs/OPERATIONS.md, "Asking a
 * running host"). One request line, one JSON answer:
 *
 *   status            {"ok":true,"host":{...},"instances":[{...},...]}
 *   poll PLUGIN[/ID]  each matching running instance polls now, whatever its
 *                     backoff; answered when every one of those polls ended:
 *                     {"ok":ALL_OK,"polls":[{"instance","ok","items",
 *                     "duration_ms","error"},...]}
 *   reload            what SIGHUP does; answered once applied:
 *                     {"ok":APPLIED,"outcome":"configuration applied: ..."}
 *
 * Anything else, or a poll naming no running instance, is answered
 * {"ok":false,"error":"..."} at once. Supervisor loop only.
 */
#ifndef SUPERVISOR_CONTROL_COMMANDS_H
#define SUPERVISOR_CONTROL_COMMANDS_H

#include <stdbool.h>

struct host;

/* Takes every request waiting on the control socket; answers what can be answered now. */
void commands_serve(struct host *h);
/* Answers the poll requests whose polls have all ended. */
void commands_progress(struct host *h);
/* A reload was applied (ok) or refused; outcome is its log line. Answers reload requests. */
void commands_reload_done(struct host *h, bool ok, const char *outcome);
/* Requests still waiting get "the host is stopping"; their memory is freed. */
void commands_finish(struct host *h);

#endif
