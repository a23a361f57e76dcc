#!/usr/bin/env bash
# Several hosts starting at once on a brand-new database must all wait out
# SQLite's locks (busy_timeout) instead of failing with "database is locked".
# Each round: a fresh file, HOSTS host_stub processes started together, each
# one poll round of the example plugin. Prints the failures; exits 1 on any.
#   startup_race.sh BUILD_DIR [ROUNDS] [HOSTS]
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-20}
hosts=${3:-8}
work=$(mktemp -d /tmp/pa-race.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
mkdir -m 0755 "$work/plugins"
install -m 0755 "$build/test_plugins/example.so" "$work/plugins/"
printf '{"plugins": {"example": {"instances": [{"id": "a", "items_per_poll": 1}]}}}' >"$work/host.json"
failures=0
for round in $(seq "$rounds"); do
    rm -f "$work"/race.db*
    pids=()
    for h in $(seq "$hosts"); do
        "$build/host_stub/host_stub" --plugins "$work/plugins" --config "$work/host.json" \
            --db "$work/race.db" --polls 1 --allow-shared-db >"$work/out.$h" 2>"$work/err.$h" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            failures=$((failures + 1))
            echo "round $round host $((i + 1)): $(grep -m1 -E 'error' "$work/err.$((i + 1))" || true)"
        fi
    done
done
echo "startup_race: $((rounds * hosts - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
