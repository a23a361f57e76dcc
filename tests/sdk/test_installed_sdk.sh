#!/usr/bin/env bash
# A plugin author's build, from the installed SDK alone: install the project
# to a scratch prefix, build examples/hello_plugin outside the tree both ways
# (CMake package PaPlugin with pa_add_plugin; a plain cc line with pkg-config
# pa-plugin), and load each in the installed host_stub.
#   test_installed_sdk.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/pa-sdk.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
cp -r "$src/examples/hello_plugin" "$work/hello"      # outside the repository

# 1. CMake: find_package(PaPlugin CONFIG) + pa_add_plugin.
cmake -S "$work/hello" -B "$work/build-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$work/build-cmake" >/dev/null
# 2. pkg-config: the one line the plugin guide gives.
pc_dir=$(dirname "$(find "$prefix" -name pa-plugin.pc | head -n 1)")
PKG_CONFIG_PATH="$pc_dir" cc -Wall -Wextra -Werror -o "$work/hello-pc.so" \
    "$work/hello/hello_plugin.c" $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs pa-plugin)

for so in "$work/build-cmake/hello.so" "$work/hello-pc.so"; do
    exported=$(nm -D --defined-only "$so" | awk '{print $3}' | grep '^pa_plugin_' | sort | tr '\n' ' ')
    [ "$exported" = "pa_plugin_describe pa_plugin_init pa_plugin_poll pa_plugin_shutdown " ] ||
        { echo "installed_sdk: $so exports: $exported" >&2; exit 1; }
    others=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -vc '^pa_plugin_' || true)
    [ "$others" -eq 0 ] || { echo "installed_sdk: $so exports $others other symbol(s)" >&2; exit 1; }
    rm -rf "$work/plugins" && mkdir -m 0755 "$work/plugins"
    install -m 0755 "$so" "$work/plugins/hello.so"
    printf '{"plugins": {"hello": {"instances": [{"id": "greeter", "greeting": "Hi", "name": "SDK"}]}}}' \
        >"$work/host.json"
    rm -f "$work/hello.db"*
    "$prefix/bin/host_stub" --plugins "$work/plugins" --config "$work/host.json" \
        --db "$work/hello.db" --polls 2 --fake-clock 1767225600 >"$work/out" 2>"$work/err" ||
        { cat "$work/err" >&2; echo "installed_sdk: host_stub failed with $so" >&2; exit 1; }
    grep -q '"title":"Hi, SDK #1"' "$work/out" && grep -q '"title":"Hi, SDK #2"' "$work/out" ||
        { cat "$work/out" "$work/err" >&2; echo "installed_sdk: no greetings from $so" >&2; exit 1; }
done
# The file name is the plugin's name; another inner name is warned about.
rm -rf "$work/plugins" && mkdir -m 0755 "$work/plugins"
install -m 0755 "$work/hello-pc.so" "$work/plugins/greeter.so"
printf '{"plugins": {"greeter": {"instances": [{"id": "g"}]}}}' >"$work/host.json"
"$prefix/bin/host_stub" --plugins "$work/plugins" --config "$work/host.json" --db "$work/hello.db" \
    --polls 1 --fake-clock 1767225600 >"$work/out" 2>"$work/err"
grep -q "greeter.so describes itself as 'hello'; host.json and the logs call it 'greeter'" "$work/err" ||
    { cat "$work/err" >&2; echo "installed_sdk: no warning for a renamed plugin" >&2; exit 1; }
for f in include/pa_plugin.h bin/host_stub bin/granola_login; do
    [ -e "$prefix/$f" ] || { echo "installed_sdk: $f not installed" >&2; exit 1; }
done
[ -n "$(find "$prefix" -path '*pa-plugins/granola.so')" ] || { echo "installed_sdk: granola.so not installed" >&2; exit 1; }
for f in share/doc/pa-plugins/OPERATIONS.md share/doc/pa-plugins/README.md \
    share/pa-plugins/examples/host.json share/pa-plugins/examples/consume_tasks.py \
    share/pa-plugins/examples/hello_plugin/hello_plugin.c; do
    [ -e "$prefix/$f" ] || { echo "installed_sdk: $f not installed" >&2; exit 1; }
done
# install-plugin.sh names the file after describe().name, not after the file it was given.
mkdir -m 0755 "$work/named"
HOST_STUB="$prefix/bin/host_stub" bash "$src/scripts/install-plugin.sh" "$work/hello-pc.so" \
    "$work/named" >"$work/out"
[ "$(ls "$work/named")" = "hello.so" ] ||
    { ls "$work/named" >&2; echo "installed_sdk: install-plugin.sh did not name it hello.so" >&2; exit 1; }
# The install's own plugins folder is the default, whatever --prefix was.
plugin_dir=$(dirname "$(find "$prefix" -path '*pa-plugins/granola.so')")
install -m 0755 "$work/hello-pc.so" "$plugin_dir/hello.so"
printf '{"plugins": {"hello": {"instances": [{"id": "d"}]}}}' >"$work/host.json"
(cd "$work" && "$prefix/bin/host_stub" --config host.json --db "$work/default.db" --polls 1 \
    --fake-clock 1767225600 >"$work/out" 2>"$work/err") ||
    { cat "$work/err" >&2; echo "installed_sdk: the default plugins folder is not the install's" >&2; exit 1; }
# The unit names what this install wrote, and systemd accepts it.
unit="$prefix/share/pa-plugins/host_stub.service"
grep -q "^ExecStart=$prefix/bin/host_stub --plugins $plugin_dir " "$unit" &&
    grep -q "^Documentation=file://$prefix/share/doc/pa-plugins/OPERATIONS.md" "$unit" ||
    { cat "$unit" >&2; echo "installed_sdk: the unit's paths are not the install's" >&2; exit 1; }
units=5
if command -v systemd-analyze >/dev/null; then
    # verify wants the unit's user to exist; a copy names root (the check is of the rest).
    sed -e 's/^User=.*/User=root/' -e 's/^Group=.*/Group=root/' "$unit" >"$work/host_stub.service"
    systemd-analyze verify "$work/host_stub.service" >"$work/verify" 2>&1 && ! grep -q . "$work/verify" ||
        { cat "$work/verify" >&2; echo "installed_sdk: systemd-analyze verify failed" >&2; exit 1; }
    units=6
fi
echo "installed_sdk: $units passed, 0 failed (hello.so via CMake package and via pkg-config, loaded by the installed host_stub; docs and examples installed; install-plugin.sh's naming; the default plugins folder; the unit's paths$([ $units -eq 6 ] && echo ', systemd-analyze verify'))"
