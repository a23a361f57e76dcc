#!/usr/bin/env bash
# The container image's smoke test, run on the host against what
# scripts/container-build.sh installed under PREFIX, the way the image runs
# it: through the entrypoint (a database URL from a *_FILE secret), the
# HEALTHCHECK's `host_stub status --quiet`, a stop by SIGTERM, and
# --check-config naming a missing token file. Prints one line; exit 1 on
# the first failure.
#   scripts/container-smoke.sh PREFIX
set -euo pipefail
prefix=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/pa-container.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
chmod 0700 "$work"
export PATH="$prefix/bin:$PATH" HOME="$work/home" PA_CONTROL_SOCKET="$work/control.sock"
fail() { echo "container-smoke: $*" >&2; [ -f "$work/err" ] && cat "$work/err" >&2; exit 1; }

host_stub --version | grep -q '^plugin ABI ' || fail "host_stub --version"
granola_login --version | grep -q '^granola_login ' || fail "granola_login --version"
[ -f "$(dirname "$(find "$prefix" -path '*pa-plugins/granola.so')")/granola.so" ] || fail "no granola.so"
# No host yet: the health check says so (3).
rc=0; host_stub status --quiet || rc=$?
[ "$rc" -eq 3 ] || fail "status --quiet without a host: exit $rc, expected 3"
# The database URL as a secret file; a host with no instance is healthy.
printf 'sqlite:///%s/agent.db' "$work" >"$work/db_url"
printf '{}' >"$work/host.json"
PA_DATABASE__URL_FILE="$work/db_url" pa-plugins-entrypoint --config "$work/host.json" \
    >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q "control: answering on" "$work/err" && break; sleep 0.1; done
rc=0; host_stub status --quiet || rc=$?
[ "$rc" -eq 0 ] || fail "status --quiet with a healthy host: exit $rc, expected 0"
grep -q "database: SQLite file $work/agent.db (from PA_DATABASE__URL" "$work/err" ||
    fail "the entrypoint did not hand PA_DATABASE__URL_FILE over"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "SIGTERM: exit $rc, expected 0"
# A Granola instance without a token file: --check-config says so before any poll.
printf '{"plugins": {"granola": {"instances": [{"id": "work", "workspace_id": "work"}]}}}' \
    >"$work/host.json"
rc=0; host_stub --config "$work/host.json" --check-config >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "token.granola.json" "$work/out" ||
    fail "--check-config without a token: exit $rc, $(cat "$work/out")"
echo "container-smoke: 5 passed, 0 failed (versions; status --quiet 3 with no host, 0 with a healthy one; the database URL from a *_FILE secret; SIGTERM exits 0; --check-config names the missing token file)"
