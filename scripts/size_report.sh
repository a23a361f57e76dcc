#!/usr/bin/env bash
# File sizes and function lengths of the product's C, for the before-stop
# reread: the largest files, then every function longer than LIMIT lines
# (default 60), longest first. Functions are found as clang-format lays them
# out: a signature starting at column 0, "{" alone at column 0, and "}" at
# column 0 closing it.
#   scripts/size_report.sh [LIMIT] [--fail]   (--fail: exit 1 if any function is over LIMIT)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=60
fail=0
for arg in "$@"; do
    case "$arg" in
    --fail) fail=1 ;;
    *[!0-9]* | "") echo "usage: scripts/size_report.sh [LIMIT] [--fail]" >&2; exit 2 ;;
    *) limit=$arg ;;
    esac
done
files=$(git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c' 'include/*.h' 'host_stub/*.h' \
        'plugin/*.h' 'common/*.h')
echo "== largest files (lines) =="
# shellcheck disable=SC2086
wc -l $files | grep -v ' total$' | sort -rn | head -n 12
echo "== functions over $limit lines =="
# shellcheck disable=SC2086
over=$(awk -v limit="$limit" '
    FNR == 1 { name = ""; start = 0 }
    /^[A-Za-z_].*\(/ && !/;$/ { sig = $0 }
    /^\{$/ && sig != "" { start = FNR; name = sig; sig = "" ; next }
    /^\}/ && start {
        n = FNR - start - 1
        if (n > limit) {
            fn = name; sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn)
            printf "%5d  %s:%d %s\n", n, FILENAME, start, fn
        }
        start = 0; name = ""
    }
' $(git ls-files 'host_stub/*.c' 'plugin/*.c' 'common/*.c') | sort -rn)
if [ -n "$over" ]; then
    echo "$over"
    count=$(echo "$over" | wc -l)
else
    echo "(none)"
    count=0
fi
echo "size_report: $count function(s) over $limit lines"
[ "$fail" -eq 0 ] || [ "$count" -eq 0 ]
