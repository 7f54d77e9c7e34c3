#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job on an embedded default: builds evidentd's tools, writes a sample evidence vault
# into ./demo-out/vault, verifies it, and proves one entry's inclusion against the signed
# checkpoint, the way an auditor would, with nothing but the bundle and the public key.
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

step() { printf '\n$ %s\n' "$*"; "$@"; }

step build/tools/evident-sample --vault "$vault" --records 1000
step "$ctl" --vault "$vault" status
step "$ctl" --vault "$vault" log --limit 6
step "$ctl" --vault "$vault" show 42
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
printf '\nDemo output is in %s/ (vault, verifier key, kept checkpoint, proof bundle).\n' "$out"
