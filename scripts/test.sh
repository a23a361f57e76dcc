#!/usr/bin/env bash
# The test command (README, CI): installs dependencies, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test, then
# builds without sanitizers and runs every test again, the leak-sensitive ones
# (label "valgrind") also under valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

echo "== sanitizer build (ASan + UBSan) =="
cmake -S . -B build-asan -DPA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
# use_tls=0: LeakSanitizer (gcc 12) can crash at exit reading the dynamic TLS
# of libraries dlclose() unloaded (gnutls, p11-kit arrive through libcurl with
# granola.so): "Tracer caught signal 11" after "DTLS ... at 0x12f". Not using
# TLS as a root can only add leak reports, never hide one.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=use_tls=0 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -LE valgrind

echo "== plain build: every test again, then the leak-sensitive ones under valgrind =="
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-valgrind -j "$jobs"
ctest --test-dir build-valgrind --output-on-failure
