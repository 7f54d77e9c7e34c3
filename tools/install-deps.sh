#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages evidentd needs that are missing on this machine.
#   tools/install-deps.sh [build|test]
# build: what building and running the demo needs; test: also what the test suite needs.
# Uses sudo when not root. The package lists are the one place dependencies are named.
set -eu

BUILD_PKGS="meson ninja-build pkg-config gcc libc6-dev protobuf-c-compiler libprotobuf-c-dev
liblmdb-dev libssl-dev libsodium-dev openssl libjansson-dev libuv1-dev libinih-dev python3 python3-protobuf
python3-numpy python3-xgboost libmicrohttpd-dev libcurl4-openssl-dev libnats-dev"
TEST_PKGS="check lmdb-utils valgrind clang-format protobuf-compiler strace systemd
python3-numpy python3-sklearn python3-xgboost liblapacke-dev chromium
golang-go golang-golang-x-mod-dev python3-cryptography nats-server prometheus"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
