#!/usr/bin/env bash
# Installs a plugin the safe way: write a hidden temporary file next to the
# target, then rename(2) it into place, so a watching host_stub never sees a
# half-written file.
#   scripts/install-plugin.sh build/plugins/granola.so ./plugins
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN.so PLUGINS_DIR" >&2; exit 2; }
src=$1
dir=$2
name=$(basename "$src")
case "$name" in *.so) ;; *) echo "install-plugin: $src does not end in .so" >&2; exit 2 ;; esac
tmp="$dir/.$name.tmp.$$"
trap 'rm -f "$tmp"' EXIT
install -m 0755 "$src" "$tmp"
mv -f "$tmp" "$dir/$name"
trap - EXIT
echo "installed $dir/$name"
