#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The test command: installs what is missing, then builds and runs the tests three times: every
# test in a plain build and in an ASan+UBSan build, and the threaded code under ThreadSanitizer.
# `.ci/run` calls this.
#   tests/run.sh [--quick]     (--quick: plain build only)
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh test

# run_build DIR "TESTS" MESON_ARGS...: builds DIR and runs TESTS (empty: every test)
run_build() {
    dir=$1; tests=$2; shift 2
    if [ ! -d "$dir" ]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    if ! ninja -C "$dir" > "$dir/ninja.log" 2>&1; then
        tail -n 40 "$dir/ninja.log"
        echo "tests/run.sh: the build in $dir failed (full log: $dir/ninja.log)" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    meson test -C "$dir" --print-errorlogs --num-processes 2 $tests
}

# The Debian package, built once for test_deb.sh (root only: the test installs it; skipped
# otherwise). It is built from HEAD: commit before testing the packaging.
if [ "$(id -u)" -eq 0 ]; then
    echo "== Debian package (build-deb/)"
    tools/build-deb.sh build-deb
    EVIDENT_DEB=$(pwd)/$(ls build-deb/evidentd_*.deb)
    export EVIDENT_DEB
fi

echo "== plain build (build/)"
run_build build ""
[ "${1:-}" = --quick ] && exit 0

echo "== ASan+UBSan build (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
run_build build-asan "" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug

# ThreadSanitizer on the code that runs threads: the vault (verify's hashing threads, readers
# beside the writer), the C client (its I/O thread), the oracle pool, the audit (its second
# thread), the writer and session loop tests, and the daemon itself under its integration
# tests (writer thread, audit workers, verdict timers), and evident-witness (its HTTP thread
# pool and committer), the metrics (the library's unit test: four updating threads and a
# rendering one; evidentd and evident-witness scraped while they ingest and stop), and the
# publisher thread under `witnessing`, the forwarder under `forward` (its thread beside libnats's
# callback threads, a real nats-server killed and restarted) (vault/tiles.c opens its
# files through open() in TSan builds: GCC 12's libtsan does not intercept openat()). The
# single-threaded numeric tests are left out: they would only run ten times slower. A report fails the run (halt_on_error).
echo "== ThreadSanitizer build (build-tsan/)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
run_build build-tsan "vault libevident explain_oracle audit writer session daemon limits witness witnessing metrics forward" \
    -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
