#!/usr/bin/env bash
# Runs every libFuzzer target with clang, ASan and UBSan, the code under test
# instrumented too (-fsanitize=fuzzer-no-link), starting from the checked-in
# corpus. Prints each target's final libFuzzer line (execs, cov:, ft:) and any
# crash; new interesting inputs go to a scratch corpus, a crashing input to
# the current directory.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each, every target)
#   FUZZ_RUNS=N scripts/fuzz.sh 0 TARGET       (stop after N inputs instead)
#   FUZZ_JOBS=2 runs two targets at a time.
#   FUZZ_PORTABLE=1 fuzzes the portable build (build-fuzz-portable): the
#   length-framed channel, where ipc_message and worker_replies differ.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(meeting_parser sse_reader date_parser config token_file
                                     jsonrpc_reply oauth_replies http_headers callback_request ipc_message
                                     worker_replies)
scripts/install-deps.sh
command -v clang >/dev/null || { echo "fuzz: clang is required (apt-get install clang)" >&2; exit 2; }
build=build-fuzz
[ "${FUZZ_PORTABLE:-0}" = 1 ] && build=build-fuzz-portable
CC=clang cmake -S . -B "$build" -DPA_FUZZ=ON -DPA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DPA_PORTABLE="$([ "$build" = build-fuzz ] && echo OFF || echo ON)" >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" \
    --target "${targets[@]/#/fuzz_}" >/dev/null
out=$(mktemp -d /tmp/pa-fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT

fuzz_one() {
    local target=$1 scratch="$out/$1" limit
    mkdir -p "$scratch"
    cp tests/fuzz/corpus/"$target"/* "$scratch/"
    if [ -n "${FUZZ_RUNS:-}" ]; then limit="-runs=$FUZZ_RUNS"; else limit="-max_total_time=$seconds"; fi
    local start=$SECONDS
    "$build"/tests/fuzz/fuzz_"$target" "$limit" -max_len=65536 -print_final_stats=1 \
        "$scratch" >"$out/$target.log" 2>&1 || true
    local done_line execs crash
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/$target.log" | tail -n 1 | tr -s '\t ' ' ' || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log")
    crash=$(grep -E '==[0-9]+==ERROR|property failed|deadly signal' "$out/$target.log" | head -n 1 || true)
    printf '%-16s %5ds  execs %-11s %s\n' "$target" $((SECONDS - start)) "${execs:-?}" \
        "${done_line:-no DONE line}"
    [ -z "$crash" ] || printf '%-16s CRASH: %s\n' "$target" "$crash"
}

jobs=${FUZZ_JOBS:-1}
for target in "${targets[@]}"; do
    fuzz_one "$target" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait
