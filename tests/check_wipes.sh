#!/usr/bin/env bash
# Proves the secret wipes survive the optimiser: in the built binaries (CI
# runs this on the -O2 RelWithDebInfo and the -O3 Release builds), secret_wipe calls
# WIPE, and each site that frees a secret still calls the wipe (a memset
# before free() would have been removed as a dead store). WIPE is what the
# build chose (common/CMakeLists.txt): explicit_bzero, memset_s, or the
# volatile fallback secret_wipe_volatile, which the optimiser may inline as a
# load of the pointer wipe_memset and a jump through it.
#   check_wipes.sh WIPE GRANOLA_SO GRANOLA_LOGIN
set -euo pipefail
command -v objdump >/dev/null || { echo "check_wipes: objdump is required" >&2; exit 2; }
[ $# -eq 3 ] || { echo "usage: check_wipes.sh WIPE GRANOLA_SO GRANOLA_LOGIN" >&2; exit 2; }
wipe=$1; shift
status=0
# The first of the functions $2... that binary $1 still has: the optimiser may
# inline a small wiping function into its caller, and the call moves with it.
site() {
    local bin=$1 f; shift
    for f in "$@"; do
        if nm "$bin" | grep -E " [tT] $f$" >/dev/null; then echo "$f"; return; fi
    done
    echo "$1"
}
# Lines of function $2's disassembly in binary $1.
body() { objdump -d --no-show-raw-insn "$1" | awk -v f="<$2>:" '$2 == f {on=1; next} on && /^$/ {exit} on'; }
# Where the volatile pointer lives in binary $1, as objdump writes addresses.
volatile_pointer() { nm "$1" | awk '$3 == "wipe_memset" {sub(/^0+/, "", $1); print $1}'; }
expect() { # binary function callee minimum
    local n
    n=$(body "$1" "$2" | grep -cE "(call|jmp) .*<$3(@plt)?>" || true)
    if [ "$n" -eq 0 ] && [ "$wipe" = secret_wipe_volatile ] && [[ "$3" == *"$wipe"* ]]; then
        local at
        at=$(volatile_pointer "$1")
        [ -n "$at" ] && n=$(body "$1" "$2" | grep -cE "mov .*# $at <" || true)
    fi
    if [ "$n" -lt "$4" ]; then
        echo "FAIL $(basename "$1"): $2 calls $3 $n time(s), expected at least $4"; status=1
    else
        echo "ok   $(basename "$1"): $2 calls $3 $n time(s)"
    fi
}
for bin in "$1" "$2"; do
    expect "$bin" secret_wipe "$wipe" 1
    expect "$bin" secret_free "(secret_wipe|$wipe)" 1  # inlined or not
    expect "$bin" granola_token_free secret_free 3          # access, refresh, client secret
    expect "$bin" oauth_parse_token_reply secret_free 2     # a refused reply's tokens
    expect "$bin" oauth_query_param secret_wipe 1           # the decoded authorization code
done
# the Authorization header libcurl copied (free_headers, or http_perform once it is inlined)
expect "$1" "$(site "$1" free_headers http_perform)" secret_wipe 1
# the callback request's bytes: after reading (serve) and when a connection is dropped (drop),
# or in callback_await once the optimiser has inlined them
expect "$2" "$(site "$2" serve callback_await)" secret_wipe 1
expect "$2" "$(site "$2" drop callback_await)" secret_wipe 1
exit $status
