#!/usr/bin/env bash
# Fails unless the plugin exports exactly the four ABI entry points.
set -euo pipefail
so=$1
actual=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
expected=$(printf '%s\n' pa_plugin_describe pa_plugin_init pa_plugin_poll pa_plugin_shutdown)
if [ "$actual" != "$expected" ]; then
    echo "unexpected exports in $so:" >&2
    diff <(echo "$expected") <(echo "$actual") >&2 || true
    exit 1
fi
echo "$so exports exactly the ABI entry points"
