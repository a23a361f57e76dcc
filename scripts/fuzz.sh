#!/usr/bin/env bash
# Runs each libFuzzer target for a while (default 60 s each) with clang,
# ASan and UBSan, starting from the checked-in corpus. New interesting inputs
# go to a scratch corpus; a crash leaves its input in the current directory.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/install-deps.sh
command -v clang >/dev/null || { echo "fuzz: clang is required" >&2; exit 2; }
CC=clang cmake -S . -B build-fuzz -DPA_FUZZ=ON -DPA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" \
    --target fuzz_meeting_parser fuzz_sse_reader fuzz_date_parser >/dev/null
for target in meeting_parser sse_reader date_parser; do
    scratch=$(mktemp -d /tmp/pa-fuzz-$target.XXXXXX)
    cp tests/fuzz/corpus/$target/* "$scratch/"
    echo "== fuzz_$target for $seconds s =="
    build-fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds" -max_len=65536 \
        -print_final_stats=1 "$scratch" 2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==ERROR)' || true
    rm -rf "$scratch"
done
