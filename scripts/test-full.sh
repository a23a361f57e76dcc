#!/usr/bin/env bash
# The full matrix, after scripts/test.sh (CI runs both; docs/TESTING.md):
# the long tests (label "full") in the sanitizer build; then a plain build
# (RelWithDebInfo) running every test again, the leak-sensitive ones (label
# "valgrind") under valgrind; then a Release build, whose secret wipes must
# survive -O3; then the portable build (-DPA_PORTABLE=ON: the fallbacks other
# platforms use, under ASan+UBSan) running every test; then the macOS compile
# check (scripts/check_macos.sh). About 40 minutes on 2 cores. Ends with one summary line; the
# exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
logs=$(mktemp -d /tmp/pa-test-full.XXXXXX)
trap 'rm -rf "$logs"' EXIT
started=$SECONDS

scripts/install-deps.sh

# "N% tests passed, F tests failed out of T" -> "T F"
counts() { sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$1" | tail -n 1; }

status=0
echo "== sanitizer build: the long tests =="
cmake -S . -B build-asan -DPA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
# use_tls=0: see scripts/test.sh.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=use_tls=0 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -L full -j "$jobs" 2>&1 |
    tee "$logs/asan.log" || status=1

echo "== plain build: every test again, the leak-sensitive ones under valgrind =="
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-valgrind -j "$jobs"
ctest --test-dir build-valgrind --output-on-failure -j "$jobs" 2>&1 | tee "$logs/plain.log" ||
    status=1

# The binaries the demo and an install ship are Release (-O3): the wipes of
# secrets must survive that optimiser too, not only -O2's. Everything is
# built, tests and benchmarks too: -O3 finds truncations -O2 does not.
echo "== Release build: the secret wipes are in the shipped binaries =="
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs"
ctest --test-dir build-release --output-on-failure -R '^wipes_survive_optimisation$' 2>&1 |
    tee "$logs/release.log" || status=1

# The code macOS and the BSDs run, where Linux can run it: framed stream
# channel, file-backed held sites, parent death seen on the channel, volatile
# wipe, sigwait thread (docs/ARCHITECTURE.md, Platforms).
echo "== portable build (PA_PORTABLE, ASan+UBSan): every test =="
cmake -S . -B build-portable -DPA_SANITIZE=ON -DPA_PORTABLE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-portable -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=use_tls=0 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-portable --output-on-failure -j "$jobs" 2>&1 |
    tee "$logs/portable.log" || status=1

echo "== macOS compile check (aarch64, x86_64) =="
macos=passed
scripts/check_macos.sh || { macos=FAILED; status=1; }

read -r asan_total asan_failed < <(counts "$logs/asan.log" || echo "0 1")
read -r plain_total plain_failed < <(counts "$logs/plain.log" || echo "0 1")
read -r release_total release_failed < <(counts "$logs/release.log" || echo "0 1")
read -r portable_total portable_failed < <(counts "$logs/portable.log" || echo "0 1")
total=$((asan_total + plain_total + release_total + portable_total))
failed=$((asan_failed + plain_failed + release_failed + portable_failed))
echo "== full matrix: ASan+UBSan long tests $((asan_total - asan_failed))/$asan_total, plain and valgrind $((plain_total - plain_failed))/$plain_total, Release $((release_total - release_failed))/$release_total, portable $((portable_total - portable_failed))/$portable_total, macOS compile check $macos, in $((SECONDS - started)) s =="
echo "summary: $((total - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
