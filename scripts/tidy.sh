#!/usr/bin/env bash
# clang-tidy (the repo's .clang-tidy) on every product C file this platform
# compiles: host_stub/, plugin/, common/, as listed in BUILD_DIR's
# compile_commands.json (default build-valgrind, configured each run). The
# other platforms' files (kqueue, Mach-O, libproc) cannot be parsed without
# their headers; scripts/check_macos.sh compiles those with -Werror.
# Prints each finding; exits 1 on any.
#   scripts/tidy.sh [BUILD_DIR [CMAKE_ARGS...]]   (e.g. build-tidy-portable -DPA_PORTABLE=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
shift || true
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is required (apt-get install clang-tidy)" >&2; exit 2; }
# Configured each run, so that files added since are listed.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
out=$(mktemp)
files=$(mktemp)
trap 'rm -f "$out" "$files"' EXIT
git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c' | while read -r f; do
    if grep -q "\"file\": *\"$PWD/$f\"" "$build/compile_commands.json"; then echo "$f"; fi
done >"$files"
[ -s "$files" ] || { echo "tidy: $build/compile_commands.json lists none of the product's files" >&2; exit 2; }
xargs -P "$(nproc 2>/dev/null || echo 2)" -n 4 clang-tidy -p "$build" --quiet <"$files" >"$out" 2>/dev/null || true
findings=$(grep -c ': warning: \|: error: ' "$out" || true)
if [ "$findings" -gt 0 ]; then
    grep -A3 ': warning: \|: error: ' "$out" >&2
    echo "tidy: $findings finding(s)" >&2
    exit 1
fi
echo "tidy: no findings in $(wc -l <"$files") files (of $(git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c' | wc -l); the rest are other platforms')"
