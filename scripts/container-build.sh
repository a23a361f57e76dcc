#!/usr/bin/env bash
# The container image's build steps (Dockerfile, stage "build"), kept here so
# CI runs them on the host where no docker daemon exists: a Release build of
# what the image ships (host_stub, granola.so, granola_login, the SDK header),
# without tests, installed under PREFIX, plus the entrypoint.
#   scripts/container-build.sh PREFIX [BUILD_DIR]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PREFIX [BUILD_DIR]" >&2; exit 2; }
prefix=$1
build=${2:-build-container}
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPA_BUILD_TESTS=OFF \
    -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$build" -j "$jobs" --target host_stub granola granola_login
cmake --install "$build" >/dev/null
install -m 0755 contrib/docker/entrypoint.sh "$prefix/bin/pa-plugins-entrypoint"
echo "container-build: installed under $prefix"
