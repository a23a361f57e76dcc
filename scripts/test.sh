#!/usr/bin/env bash
# The README's test command: installs dependencies, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test but the
# long ones (ctest labels "valgrind" and "full"), as many at once as there are
# cores (suites that measure time run alone). About 4 minutes on 2 cores.
# The full matrix (every test again in a plain build, the leak-sensitive
# ones under valgrind, the long ones, the Release wipes) is
# scripts/test-full.sh, which CI runs after this (docs/TESTING.md).
# Ends with one summary line; the exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
log=$(mktemp /tmp/pa-test.XXXXXX)
trap 'rm -f "$log"' EXIT
started=$SECONDS

scripts/install-deps.sh

echo "== sanitizer build (ASan + UBSan) =="
cmake -S . -B build-asan -DPA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
# use_tls=0: LeakSanitizer (gcc 12) can crash at exit reading the dynamic TLS
# of libraries dlclose() unloaded (gnutls, p11-kit arrive through libcurl with
# granola.so): "Tracer caught signal 11" after "DTLS ... at 0x12f". Not using
# TLS as a root can only add leak reports, never hide one.
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=use_tls=0 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -LE 'valgrind|full' -j "$jobs" 2>&1 |
    tee "$log" || status=1

# "N% tests passed, F tests failed out of T" -> "T F"
read -r total failed < <(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" |
    tail -n 1 | grep . || echo "0 1")
echo "== ASan+UBSan: $((total - failed))/$total in $((SECONDS - started)) s (the full matrix: scripts/test-full.sh) =="
echo "summary: $((total - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
