#!/usr/bin/env bash
# Runs the lease benchmark and the SQLAlchemy baseline on the same machine in
# the same run, and prints the ratios docs/PERFORMANCE.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
PA_WITH_BENCH_DEPS=1 scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

c_out=$(build-release/tests/bench/bench_lease)
py_out=$(/usr/bin/python3 tests/bench/sqlalchemy_session.py)
echo "$c_out"
echo "$py_out"
value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }
read_ns=$(value read_lease_release_ns "$c_out")
select_ns=$(value read_lease_select1_release_ns "$c_out")
session_us=$(value session_open_close_us "$py_out")
awk -v r="$read_ns" -v s="$select_ns" -v p="$session_us" 'BEGIN {
    printf "ratio_session_over_read_lease          %10.1f\n", p * 1000 / r
    printf "ratio_session_over_lease_select1       %10.1f\n", p * 1000 / s
}'
