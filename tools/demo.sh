#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job on an embedded default: builds evidentd, starts it on a vault in ./demo-out,
# streams a model's decisions into it from the Python client, stops it (drain), then inspects
# and verifies the vault and proves one decision's inclusion the way an auditor would, with
# nothing but the proof bundle and the public key.
#   tools/demo.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh build

out=${1:-demo-out}
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
ctl=build/tools/evidentctl
rm -rf "$out"
mkdir -p "$out"
vault="$out/vault"
sock="$out/ingest.sock"

step() { printf '\n$ %s\n' "$*"; "$@"; }

printf '\n$ build/daemon/evidentd --vault %s --socket %s &\n' "$vault" "$sock"
build/daemon/evidentd --vault "$vault" --socket "$sock" 2> "$out/evidentd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
step /usr/bin/python3 tools/demo/stream.py "$sock" "$out" 2000
printf '\n$ kill -TERM %s   # drain: everything received is committed and acknowledged\n' "$daemon"
kill -TERM $daemon
wait $daemon
trap - EXIT
sed 's/^/  evidentd: /' "$out/evidentd.log"

step "$ctl" --vault "$vault" status
step "$ctl" --vault "$vault" log --limit 6
step "$ctl" --vault "$vault" show 4
step "$ctl" --vault "$vault" verify
step "$ctl" --vault "$vault" checkpoint
"$ctl" --vault "$vault" checkpoint --key > "$out/vault.pub"
cp "$vault/checkpoint" "$out/checkpoint.kept"
"$ctl" --vault "$vault" prove 42 -o "$out/entry-42.tlog-proof"
printf '\n$ %s\n' "$ctl --vault $vault prove 42 -o $out/entry-42.tlog-proof"
cat "$out/entry-42.tlog-proof"
# The auditor's side: no vault, only the bundle and the published key.
step "$ctl" verify-proof "$out/entry-42.tlog-proof" --key "$out/vault.pub"
step "$ctl" --vault "$vault" verify --checkpoint "$out/checkpoint.kept"
printf '\nDemo output is in %s/ (vault, daemon log, verifier key, kept checkpoint, proof).\n' \
    "$out"
