#!/usr/bin/env bash
# The several-processes and kill -9 matrix, with isolation on (docs/TESTING.md):
# HOSTS host_stub processes share one database (--allow-shared-db) and poll the
# fake Granola server every second. Each round releases BATCH new meetings
# (their notes appear), waits a random 0.2 .. 1.2 s, and kills -9 either one
# random worker or one random supervisor (alternately); then the survivors get
# SIGTERM. Beside granola, a misbehave instance leaves a child process in its
# worker's group at every poll, and every round one such plugin grandchild
# is killed -9 too. A last clean run delivers what is left. Every meeting
# must be one task: none lost, none twice; and no process a plugin started
# may outlive the run (a killed supervisor's are ended by the next host to
# start). The figures are printed at the end.
#
#   scripts/kill_matrix.sh [BUILD_DIR] [ROUNDS] [HOSTS] [BATCH]
#
# With KILL_MATRIX_PG_URL (a libpq URI of a server, e.g. the contents of
# BUILD_DIR/pg/url), the hosts share a new database on that server instead
# of a SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
rounds=${2:-30}
hosts=${3:-4}
batch=${4:-10}
meetings=$((rounds * batch))
host_stub="$build/host_stub/host_stub"
[ -x "$host_stub" ] || { echo "kill_matrix: build first: $host_stub is missing" >&2; exit 2; }
[ -f "$build/test_plugins/misbehave.so" ] ||
    { echo "kill_matrix: build the tests first: $build/test_plugins/misbehave.so is missing" >&2; exit 2; }

work=$(mktemp -d /tmp/pa-kill-matrix.XXXXXX)
server_pid=""
db="$work/agent.db"
pg_admin=${KILL_MATRIX_PG_URL:-}
pg_name=""
if [ -n "$pg_admin" ]; then
    pg_name="pa_kill_matrix_$$"
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_name" -c "CREATE DATABASE $pg_name"
    db="${pg_admin%/*}/$pg_name"
fi
cleanup() {
    pkill -9 -f -- "--config $work/host.json" 2>/dev/null || true
    for pid in $(live_kids); do kill -9 "$pid" 2>/dev/null; done
    [ -n "$pg_name" ] && psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$work"
    return 0
}
trap cleanup EXIT
chmod 0755 "$work"
mkdir -m 0755 "$work/plugins"
install -m 0755 "$build/plugins/granola.so" "$work/plugins/"
install -m 0755 "$build/test_plugins/misbehave.so" "$work/plugins/"
mkdir -m 0755 "$work/kids"

# Meetings without notes: the plugin waits for them; each round gives some their notes.
{
    echo '{"meetings": ['
    for i in $(seq 1 "$meetings"); do
        [ "$i" -gt 1 ] && echo ','
        printf '{"id": "m-%04d", "title": "Meeting %d", "days_ago": 1, "workspace_id": "work", ' "$i" "$i"
        printf '"participants": [{"name": "A", "email": "a@example.com", "creator": true}]}'
    done
    echo ']}'
} >"$work/fixture.json"
"$build/tests/fake_granola/fake_granola" --era dual --fixture "$work/fixture.json" >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out")
control() { curl -sf -X POST --data "$1" "http://127.0.0.1:$port/_control" >/dev/null; }
# Each meeting fetch takes 20 ms, so a poll is long enough to be cut in the middle.
control '{"fault": {"method": "get_meetings", "kind": "delay", "delay_ms": 20, "count": -1}}'

umask 077
printf '{"access_token": "matrix-token", "expires_at": "2099-01-01T00:00:00Z"}\n' >"$work/token.json"
umask 022
cat >"$work/host.json" <<JSON
{ "poll_interval_seconds": 1, "backoff_cap_seconds": 2, "shutdown_grace_seconds": 2,
  "plugins": { "granola": { "instances": [ { "id": "work", "workspace_id": "work",
     "lookback_days": 7, "token_path": "$work/token.json",
     "server_url": "http://127.0.0.1:$port/mcp" } ] },
  "misbehave": { "instances": [ { "id": "kids", "does": "leave_child", "from_poll": 1,
     "pid_dir": "$work/kids" } ] } } }
JSON

run_host() { # $1: log name; the rest: extra arguments. exec: $! is host_stub itself
    local log=$1
    shift
    exec "$host_stub" --plugins "$work/plugins" --config "$work/host.json" --db "$db" \
        --allow-shared-db "$@" >>"$work/tasks.jsonl" 2>"$work/$log.log"
}

# The plugin grandchildren that still run (a zombie has ended).
live_kids() {
    local f pid
    for f in "$work"/kids/*; do
        [ -e "$f" ] || continue
        pid=${f##*/}
        grep -qs '^[^)]*) [^Z]' "/proc/$pid/stat" && echo "$pid"
    done
    return 0
}

# Live plugin grandchildren under this round's supervisors (args: their pids),
# not orphans of earlier rounds, which only the hosts may end.
round_kids() {
    local kid worker supervisor
    for kid in $(live_kids); do
        worker=$(awk '{print $4}' "/proc/$kid/stat" 2>/dev/null) || continue
        supervisor=$(awk '{print $4}' "/proc/$worker/stat" 2>/dev/null) || continue
        case " $* " in *" $supervisor "*) echo "$kid" ;; esac
    done
    return 0
}

worker_kills=0 supervisor_kills=0 grandchild_kills=0 unclean=0
SECONDS=0
for round in $(seq 1 "$rounds"); do
    for i in $(seq $(((round - 1) * batch + 1)) $((round * batch))); do
        control "$(printf '{"set_summary": {"id": "m-%04d", "summary": "- notes of meeting %d"}}' "$i" "$i")"
    done
    pids=()
    for h in $(seq 1 "$hosts"); do
        (run_host "r$round-h$h") &
        pids+=($!)
    done
    sleep "0.$((RANDOM % 10 + 2))"
    if [ $((round % 2)) -eq 1 ]; then
        # Children of this round's supervisors only: under ASan an exiting
        # worker's leak checker clones a tracer with the same command line.
        victim=$(pgrep -P "$(IFS=,; echo "${pids[*]}")" -f -- "--worker .*$work/plugins/granola.so" |
            shuf -n 1 || true)
        [ -n "$victim" ] && kill -9 "$victim" && worker_kills=$((worker_kills + 1))
    else
        victim=${pids[$((RANDOM % hosts))]}
        kill -9 "$victim" && supervisor_kills=$((supervisor_kills + 1))
    fi
    kid=$(round_kids "${pids[@]}" | shuf -n 1)
    [ -n "$kid" ] && kill -9 "$kid" 2>/dev/null && grandchild_kills=$((grandchild_kills + 1))
    sleep 0.3
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        status=0
        wait "$p" || status=$?
        [ "$status" -ne 0 ] && [ "$status" -ne 137 ] && unclean=$((unclean + 1))
    done
done
# A killed supervisor's workers die with it (PR_SET_PDEATHSIG): none may be left.
orphans=$(pgrep -f -- "--worker .*$work/plugins/granola.so" | wc -l || true)
(run_host final --polls 2 --fake-clock "$(date +%s)")
sleep 0.2
kids=$(find "$work/kids" -type f | wc -l)
orphan_kids=$(live_kids | wc -l)
elapsed=$SECONDS

if [ -n "$pg_name" ]; then
    q() { psql -At "$db" -c "$1"; }
else
    q() { sqlite3 "$db" "$1" 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$db" "$1"; }
fi
tasks=$(q "SELECT count(*) FROM pa_tasks WHERE source = 'granola'")
distinct=$(q "SELECT count(DISTINCT source_reference) FROM pa_tasks WHERE source = 'granola'")
pending=$(q "SELECT count(*) FROM pa_outbox WHERE consumed_at IS NULL")
printed=$(grep -c . "$work/tasks.jsonl" || true)
lost=$((meetings - distinct))
duplicated=$((tasks - distinct))
echo "kill_matrix: database=${pg_name:+PostgreSQL }${pg_name:-SQLite}" \
     "rounds=$rounds hosts=$hosts meetings=$meetings worker_kills=$worker_kills" \
     "supervisor_kills=$supervisor_kills seconds=$elapsed"
echo "kill_matrix: tasks=$tasks printed=$printed lost=$lost duplicated=$duplicated" \
     "outbox_pending=$pending orphan_workers=$orphans unclean_exits=$unclean"
echo "kill_matrix: plugin_children=$kids grandchild_kills=$grandchild_kills" \
     "orphan_plugin_children=$orphan_kids"
# The fake server's own exit (a sanitizer report, say) must not decide this.
kill "$server_pid" 2>/dev/null
server_status=0
wait "$server_pid" 2>/dev/null || server_status=$?
server_pid=""
[ "$server_status" -eq 0 ] || [ "$server_status" -eq 143 ] ||
    { echo "kill_matrix: the fake server exited with status $server_status" >&2; exit 1; }
[ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] && [ "$pending" -eq 0 ] && [ "$orphans" -eq 0 ] &&
    [ "$unclean" -eq 0 ] && [ "$orphan_kids" -eq 0 ] && [ "$kids" -gt 0 ]
