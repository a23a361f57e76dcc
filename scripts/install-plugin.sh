#!/usr/bin/env bash
# Installs a plugin the safe way, under the name it gives itself: host_stub
# describes the file (describe().name, loaded as a host would load it), then
# it is written to a hidden temporary file next to the target and rename(2)d
# into place as NAME.so, so a watching host_stub never sees a half-written
# file, and "linefeed-crash2.so" built from linefeed's source still replaces
# linefeed.so instead of becoming a second plugin.
#   scripts/install-plugin.sh build/plugins/granola.so ./plugins
# host_stub: $HOST_STUB, else the one on PATH, else this repository's build.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN.so PLUGINS_DIR" >&2; exit 2; }
src=$1
dir=$2
case "$src" in *.so) ;; *) echo "install-plugin: $src does not end in .so" >&2; exit 2 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
host_stub=${HOST_STUB:-$(command -v host_stub || true)}
for candidate in "$repo/build-release/host_stub/host_stub" "$repo/build/host_stub/host_stub"; do
    [ -n "$host_stub" ] || { [ -x "$candidate" ] && host_stub=$candidate; } || true
done
[ -n "$host_stub" ] || { echo "install-plugin: no host_stub to describe $src with; set HOST_STUB" >&2; exit 2; }
name=$("$host_stub" describe "$src" | sed -n 's/^name=//p')
case "$name" in
    "" | */* | .*) echo "install-plugin: $src does not describe itself with a usable name ('$name')" >&2; exit 2 ;;
esac
[ "$(basename "$src")" = "$name.so" ] ||
    echo "install-plugin: $(basename "$src") describes itself as '$name': installing it as $name.so"
tmp="$dir/.$name.so.tmp.$$"
trap 'rm -f "$tmp"' EXIT
install -m 0755 "$src" "$tmp"
mv -f "$tmp" "$dir/$name.so"
trap - EXIT
echo "installed $dir/$name.so"
