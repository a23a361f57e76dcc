#!/usr/bin/env bash
# Runs every benchmark on this machine in one go and prints the numbers and
# ratios docs/PERFORMANCE.md quotes: lease cost against the SQLAlchemy session
# pattern, parser throughput against a Python regex parser on the same bytes,
# the Granola poll's CPU time, requests and connections, and leases on a
# throwaway PostgreSQL server against one libpq round trip and SQLAlchemy's
# session on the same server, and the worker channel's two framings.
set -euo pipefail
cd "$(dirname "$0")/.."
PA_WITH_BENCH_DEPS=1 scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
bench=build-release/tests/bench
tmp=$(mktemp -d /tmp/pa-bench.XXXXXX)
chmod 0755 "$tmp"
trap 'scripts/pg_cluster.sh stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }

echo "== leases =="
c_out=$("$bench/bench_lease")
py_out=$(/usr/bin/python3 tests/bench/sqlalchemy_session.py)
echo "$c_out"
echo "$py_out"
awk -v r="$(value read_lease_release_ns "$c_out")" \
    -v s="$(value read_lease_select1_release_ns "$c_out")" \
    -v p="$(value session_open_close_us "$py_out")" 'BEGIN {
    printf "ratio_session_over_read_lease          %10.1f\n", p * 1000 / r
    printf "ratio_session_over_lease_select1       %10.1f\n", p * 1000 / s
}'

echo "== meeting parser =="
parser_out=$("$bench/bench_parser" --write "$tmp/reply.txt")
regex_out=$(/usr/bin/python3 tests/bench/python_regex_parser.py "$tmp/reply.txt")
echo "$parser_out"
echo "$regex_out"
awk -v c="$(value parser_mb_per_s "$parser_out")" \
    -v p="$(value python_regex_mb_per_s "$regex_out")" \
    'BEGIN { printf "ratio_parser_over_python_regex         %10.1f\n", c / p }'

echo "== granola poll =="
"$bench/bench_poll" build-release/plugins/granola.so build-release/tests/fake_granola/fake_granola

echo "== hot reload =="
"$bench/bench_reload" build-release/host_stub/host_stub build-release/test_plugins process
"$bench/bench_reload" build-release/host_stub/host_stub build-release/test_plugins none

echo "== isolation: poll cost, memory, SIGTERM with a hung poll =="
"$bench/bench_isolation" build-release/host_stub/host_stub build-release/test_plugins \
    build-release/plugins/granola.so

echo "== the worker channel: length-framed stream against SOCK_SEQPACKET, one CPU =="
# On one CPU the difference is the framings' system calls; across two it is
# lost in where the scheduler wakes the echo (docs/PERFORMANCE.md).
taskset -c 0 "$bench/bench_channel"

echo "== PostgreSQL: leases against one round trip and SQLAlchemy's session, connections, poll CPU =="
scripts/pg_cluster.sh start "$tmp/pg"
pg_url=$(cat "$tmp/pg/url")
pg_out=$("$bench/bench_pg" "$pg_url" build-release/host_stub/host_stub build-release/test_plugins 10000)
sa_out=$(/usr/bin/python3 tests/bench/sqlalchemy_pg_session.py "$pg_url")
echo "$pg_out"
echo "$sa_out"
awk -v l="$(value read_lease_select1_us "$pg_out")" \
    -v s="$(value sqlalchemy_session_select1_us "$sa_out")" \
    -v q="$(value sqlalchemy_session_select1_pre_ping_us "$sa_out")" 'BEGIN {
    printf "ratio_sqlalchemy_session_over_read_lease          %8.1f\n", s / l
    printf "ratio_sqlalchemy_pre_ping_session_over_read_lease %8.1f\n", q / l
}'
