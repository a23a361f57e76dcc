#!/usr/bin/env bash
# The test command (README, CI): installs dependencies, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test, then
# builds without sanitizers and runs every test again, the leak-sensitive ones
# (label "valgrind") also under valgrind, and checks the secret wipes in a
# Release build. ctest runs as many tests at once as
# there are cores (suites that measure time run alone); one summary line
# covers every phase, and the exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
logs=$(mktemp -d /tmp/pa-test.XXXXXX)
trap 'rm -rf "$logs"' EXIT

scripts/install-deps.sh

# "N% tests passed, F tests failed out of T" -> "T F"
counts() { sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$1" | tail -n 1; }

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
    ctest --test-dir build-asan --output-on-failure -LE valgrind -j "$jobs" 2>&1 |
    tee "$logs/asan.log" || status=1

echo "== plain build: every test again, then the leak-sensitive ones under valgrind =="
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-valgrind -j "$jobs"
ctest --test-dir build-valgrind --output-on-failure -j "$jobs" 2>&1 | tee "$logs/plain.log" ||
    status=1

# The binaries the demo and an install ship are Release (-O3): the wipes of
# secrets must survive that optimiser too, not only -O2's.
echo "== Release build: the secret wipes are in the shipped binaries =="
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs" --target granola granola_login
ctest --test-dir build-release --output-on-failure -R '^wipes_survive_optimisation$' 2>&1 |
    tee "$logs/release.log" || status=1

read -r asan_total asan_failed < <(counts "$logs/asan.log" || echo "0 1")
read -r plain_total plain_failed < <(counts "$logs/plain.log" || echo "0 1")
read -r release_total release_failed < <(counts "$logs/release.log" || echo "0 1")
total=$((asan_total + plain_total + release_total))
failed=$((asan_failed + plain_failed + release_failed))
echo "== all phases: ASan+UBSan $((asan_total - asan_failed))/$asan_total, plain and valgrind $((plain_total - plain_failed))/$plain_total, Release $((release_total - release_failed))/$release_total =="
echo "summary: $((total - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
