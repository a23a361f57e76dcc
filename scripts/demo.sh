#!/usr/bin/env bash
# The demo (README): builds host_stub and the example plugin, then runs two
# polls on a fresh SQLite file and prints the tasks they created.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs" >/dev/null

work=$(mktemp -d /tmp/pa-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
mkdir -m 0755 "$work/plugins"
install -m 0755 build-release/test_plugins/example.so "$work/plugins/"
cat > "$work/host.json" <<'JSON'
{ "poll_interval_seconds": 900,
  "pool": { "size": 4, "lease_timeout_ms": 5000, "max_lifetime_seconds": 1800 },
  "plugins": { "example": { "enabled": true,
     "instances": [ { "id": "demo", "items_per_poll": 2, "title": "Demo item" } ] } } }
JSON
echo "== host_stub: 2 polls of the example plugin (virtual clock, 900 s apart) =="
build-release/host_stub/host_stub --plugins "$work/plugins" --config "$work/host.json" \
    --db "$work/agent.db" --polls 2 --fake-clock "$(date +%s)" --stats
