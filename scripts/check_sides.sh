#!/usr/bin/env bash
# The sides of host_stub (docs/ARCHITECTURE.md) hold as the folders say: a
# file may include its own side's headers, shared/'s, common/'s and the ABI
# (include/); host_stub/main.c joins the two sides through their entry
# headers only. The build enforces this with PRIVATE include folders; this
# check names the offending line, and also catches an include that happens to
# resolve through a system path. Prints every violation; exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=0
header_side() { # the side a header name belongs to, or "other"
    local h=$1
    for side in shared worker supervisor; do
        [ -f "host_stub/$side/$h" ] && { echo "$side"; return; }
    done
    [ -f "common/$h" ] && { echo common; return; }
    [ -f "include/$h" ] && { echo abi; return; }
    echo other
}
check_file() { # file, allowed sides...
    local file=$1; shift
    local allowed=" $* "
    while IFS=: read -r line text; do
        local h side
        h=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
        [ -n "$h" ] || continue
        side=$(header_side "$h")
        if [[ "$allowed" != *" $side "* ]]; then
            echo "$file:$line: includes \"$h\" from $side/, which this side may not use" >&2
            bad=1
        fi
    done < <(grep -n '#[[:space:]]*include[[:space:]]*"' "$file" || true)
}
for f in host_stub/shared/*.[ch]; do check_file "$f" shared common abi; done
for f in host_stub/worker/*.[ch]; do check_file "$f" worker shared common abi; done
for f in host_stub/supervisor/*.[ch]; do check_file "$f" supervisor shared common abi; done
# The joint: each side's entry header, nothing else of theirs.
while IFS=: read -r line text; do
    h=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
    case "$h" in
    supervisor.h | worker_main.h | "") ;;
    *) echo "host_stub/main.c:$line: includes \"$h\"; main.c may include supervisor.h and worker_main.h only" >&2
       bad=1 ;;
    esac
done < <(grep -n '#[[:space:]]*include[[:space:]]*"' host_stub/main.c || true)
if [ "$bad" -eq 0 ]; then
    echo "check_sides: every include in host_stub/ stays on its side"
fi
exit "$bad"
