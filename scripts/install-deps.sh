#!/usr/bin/env bash
# Installs the Debian packages the build, tests, demo and benchmarks need.
# Skips apt entirely when everything is already there. libdl comes with libc6-dev.
set -euo pipefail

if [ "$(uname -s)" = Darwin ]; then
    # macOS: Homebrew's formulas for the same libraries; the keg-only ones need
    # PKG_CONFIG_PATH (docs/OPERATIONS.md, "On macOS").
    command -v brew >/dev/null || { echo "install-deps: install Homebrew first (https://brew.sh)" >&2; exit 1; }
    brew install cmake pkg-config sqlite libpq curl cjson libyaml openssl@3 cmocka libmicrohttpd
    exit 0
fi

packages=(build-essential cmake pkg-config
          libsqlite3-dev libpq-dev libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev
          libcmocka-dev libmicrohttpd-dev valgrind python3 curl
          postgresql python3-psycopg2 python3-sqlalchemy python3-pytest python3-alembic
          python3-pip python3-setuptools python3-wheel python3-yaml patch sqlite3)
[ "${PA_WITH_BENCH_DEPS:-0}" = 1 ] && packages+=(python3 python3-sqlalchemy)
# CI's checks beyond the tests: clang-tidy (scripts/tidy.sh), and systemd-analyze,
# which verifies the installed unit (ctest installed_sdk).
[ "${PA_CI_TOOLS:-0}" = 1 ] && packages+=(clang-tidy systemd)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
