#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The test command: installs what is missing, then builds and runs every test twice, in a
# plain build and in an ASan+UBSan build. `.ci/run` calls this.
#   tests/run.sh [--quick]     (--quick: plain build only)
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh test

run_build() {
    dir=$1; shift
    if [ ! -d "$dir" ]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    if ! ninja -C "$dir" > "$dir/ninja.log" 2>&1; then
        tail -n 40 "$dir/ninja.log"
        echo "tests/run.sh: the build in $dir failed (full log: $dir/ninja.log)" >&2
        exit 1
    fi
    meson test -C "$dir" --print-errorlogs --num-processes 2
}

echo "== plain build (build/)"
run_build build
[ "${1:-}" = --quick ] && exit 0

echo "== ASan+UBSan build (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
