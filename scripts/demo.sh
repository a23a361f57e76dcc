#!/usr/bin/env bash
# The demo (README): builds everything, starts the fake Granola MCP server on
# 127.0.0.1 with a sample fixture, runs host_stub with granola.so for two polls
# on a fresh SQLite file, prints the tasks from the first poll and shows that
# the second poll created none, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs" >/dev/null

work=$(mktemp -d /tmp/pa-demo.XXXXXX)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
chmod 0755 "$work"
mkdir -m 0755 "$work/plugins"
install -m 0755 build-release/plugins/granola.so "$work/plugins/"

build-release/tests/fake_granola/fake_granola --era dual --fixture tests/fake_granola/sample_fixture.json \
    >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out")
[ -n "$port" ] || { echo "demo: fake Granola server did not start" >&2; exit 1; }

# A demo token (the fake server accepts any); real tokens come from logging in.
umask 077
printf '{"access_token": "demo-token", "expires_at": "2099-01-01T00:00:00Z"}\n' \
    >"$work/token.granola.json"
umask 022
cat >"$work/host.json" <<JSON
{ "poll_interval_seconds": 900,
  "pool": { "size": 4, "lease_timeout_ms": 5000, "max_lifetime_seconds": 1800 },
  "plugins": { "granola": { "enabled": true,
     "instances": [ { "id": "work", "workspace_id": "work", "lookback_days": 7,
                      "token_path": "$work/token.granola.json",
                      "server_url": "http://127.0.0.1:$port/mcp" } ] } } }
JSON

echo "== fake Granola MCP server on 127.0.0.1:$port; host_stub runs 2 polls 15 min apart (virtual clock) =="
build-release/host_stub/host_stub --plugins "$work/plugins" --config "$work/host.json" \
    --db "$work/agent.db" --polls 2 --fake-clock "$(date +%s)" \
    >"$work/tasks.jsonl" 2>"$work/host.log" || { cat "$work/host.log" >&2; exit 1; }

echo
echo "== tasks created (one JSON line each, as host_stub prints them) =="
cat "$work/tasks.jsonl"
echo
echo "== what each poll did (from the host log) =="
grep -o 'plugin granola/work: listed.*' "$work/host.log" | nl -w1 -s': poll '
grep -E ' (warn|error) ' "$work/host.log" || true
echo
first=$(grep -o 'listed.*emitted [0-9]*' "$work/host.log" | sed -n 1p | grep -o '[0-9]*$')
second=$(grep -o 'listed.*emitted [0-9]*' "$work/host.log" | sed -n 2p | grep -o '[0-9]*$')
printed=$(grep -c . "$work/tasks.jsonl" || true)
echo "== poll 1 created $first task(s), poll 2 created ${second:-?}; $printed printed in all =="
[ "$second" = 0 ] && [ "$first" = "$printed" ] || { echo "demo: unexpected result" >&2; exit 1; }
