#!/usr/bin/env bash
# clang-tidy (the repo's .clang-tidy) on every product C file: host_stub/,
# plugin/, common/. Uses BUILD_DIR's compile_commands.json (default
# build-valgrind, configured if missing). Prints each finding; exits 1 on any.
#   scripts/tidy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is required (apt-get install clang-tidy)" >&2; exit 2; }
[ -f "$build/compile_commands.json" ] ||
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c' |
    xargs -P "$(nproc 2>/dev/null || echo 2)" -n 4 clang-tidy -p "$build" --quiet >"$out" 2>/dev/null || true
findings=$(grep -c ': warning: \|: error: ' "$out" || true)
if [ "$findings" -gt 0 ]; then
    grep -A3 ': warning: \|: error: ' "$out" >&2
    echo "tidy: $findings finding(s)" >&2
    exit 1
fi
echo "tidy: no findings in $(git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c' | wc -l) files"
