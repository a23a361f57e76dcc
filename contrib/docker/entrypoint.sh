#!/bin/sh
# The container's entrypoint: secrets come as files, as the agent's compose
# passes them (PA_DATABASE__URL_FILE=/run/secrets/...), read here into the
# variable host_stub reads. Then host_stub replaces this shell (exec) and is
# PID 1: `docker stop`'s SIGTERM reaches it, and it reaps what is orphaned.
set -eu
if [ -n "${PA_DATABASE__URL_FILE:-}" ]; then
    [ -r "$PA_DATABASE__URL_FILE" ] || { echo "entrypoint: cannot read PA_DATABASE__URL_FILE ($PA_DATABASE__URL_FILE)" >&2; exit 2; }
    PA_DATABASE__URL=$(cat "$PA_DATABASE__URL_FILE")
    export PA_DATABASE__URL
    unset PA_DATABASE__URL_FILE
fi
exec host_stub "$@"
