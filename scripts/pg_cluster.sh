#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (docs/TESTING.md, "PostgreSQL"):
# initdb as a non-root user in a new folder under /tmp, its own port on
# 127.0.0.1 and its socket in that folder, trust authentication for the user
# "pa", no fsync. DIR keeps what the tests read: DIR/url (a libpq URI) and
# DIR/cluster (the server's folder, which any user can reach, whatever the
# permissions of the folders above DIR).
#
#   scripts/pg_cluster.sh start DIR     starts it; writes DIR/url and DIR/cluster
#   scripts/pg_cluster.sh stop DIR      stops it (immediate) and removes both folders
#   scripts/pg_cluster.sh restart DIR   stops it (fast) and starts it again, same port
#
# Debian's server binaries (/usr/lib/postgresql/N/bin) or the PATH's
# (Homebrew). A server that cannot start is an error naming its log.
set -euo pipefail
cmd=${1:?usage: pg_cluster.sh start|stop|restart DIR}
dir=${2:?usage: pg_cluster.sh start|stop|restart DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bin" ] || bin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
[ -x "$bin/initdb" ] || { echo "pg_cluster: no PostgreSQL server found (Debian: apt-get install postgresql)" >&2; exit 2; }

# initdb refuses root: run the server as the postgres user then.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_cluster() {
    local cluster
    cluster=$(cat "$dir/cluster" 2>/dev/null || true)
    if [ -n "$cluster" ] && [ -f "$cluster/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    [ -n "$cluster" ] && case $cluster in /tmp/pa-pg.*) rm -rf "$cluster" ;; esac
    rm -rf "$dir"
}

case $cmd in
start)
    stop_cluster
    mkdir -p "$dir"
    cluster=$(mktemp -d /tmp/pa-pg.XXXXXX)
    echo "$cluster" >"$dir/cluster"
    chmod 0755 "$cluster"
    [ "$(id -u)" -eq 0 ] && chown postgres "$cluster"
    as_owner "$bin/initdb" -D "$cluster/data" -U pa --auth=trust -E UTF8 --no-sync \
        >"$cluster/initdb.log" 2>&1 ||
        { echo "pg_cluster: initdb failed, see $cluster/initdb.log:" >&2; tail -n 5 "$cluster/initdb.log" >&2; exit 1; }
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        if as_owner "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
            -o "-p $port -k $cluster -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" \
            start >/dev/null; then
            echo "postgresql://pa@127.0.0.1:$port/postgres" >"$dir/url"
            echo "pg_cluster: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($cluster)"
            exit 0
        fi
        grep -q "could not bind\|already in use" "$cluster/server.log" 2>/dev/null || break
    done
    echo "pg_cluster: the server did not start, see $cluster/server.log:" >&2
    tail -n 5 "$cluster/server.log" >&2 || true
    exit 1
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$(cat "$dir/cluster")/data" -m fast -w -t 60 restart >/dev/null
    ;;
stop)
    stop_cluster
    ;;
*)
    echo "usage: pg_cluster.sh start|stop|restart DIR" >&2
    exit 2
    ;;
esac
