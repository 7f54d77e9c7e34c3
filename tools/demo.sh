#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job on an embedded default: a trading model with a planted flaw, evidentd
# beside it on a vault in ./demo-out, and the post-mortem of its flash-crash decisions.
#   tools/demo.sh [OUTDIR]          (BUILD_DIR=DIR: build in DIR instead of build/)
# 1. builds evidentd and evidentctl (only them; a build error is shown), starts evidentd with
#    tools/demo/evidentd-demo.conf (a trigger on large sells);
# 2. tools/demo/trading.py trains the model (it leans on the volatility of an obscure,
#    illiquid index), registers it with its reference data, streams 1,500 routine decisions
#    and a 40-decision flash crash through the Python client, with verdict deadlines on the
#    crash sells; the daemon opens incidents, audits them in its workers and answers
#    PROCEED/REVIEW before each deadline; a risk officer reviews one routed decision;
# 3. stops the daemon (a drain: every record acknowledged, every audit recorded, a signed
#    checkpoint), then inspects the incident, replays its audit bit for bit from the vault,
#    writes the HTML / Markdown / JSON report, checks the report names the planted cause,
#    verifies the vault and proves one entry the way an outside auditor would.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh build

out=${1:-demo-out}
# The demo needs the daemon and evidentctl, nothing else: the tests are not built here (they
# need more packages; tests/run.sh builds them). BUILD_DIR picks another build folder.
build=${BUILD_DIR:-build}
mkdir -p "$build"
log="$build/demo-build.log"
echo "demo: building evidentd and evidentctl in $build/ (log: $log)"
if [ ! -f "$build/build.ninja" ] && ! meson setup "$build" > "$log" 2>&1; then
    cat "$log" >&2
    echo "demo: meson setup $build failed (above; also in $log)" >&2
    exit 1
fi
if ! ninja -C "$build" daemon/evidentd tools/evidentctl > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "demo: the build failed (above; the whole log is $log)" >&2
    exit 1
fi
ctl=$build/tools/evidentctl
rm -rf "$out"
mkdir -p "$out"
vault="$out/vault"
sock="$out/ingest.sock"

step() { printf '\n$ %s\n' "$*"; "$@"; }

printf '\n$ %s/daemon/evidentd --vault %s --socket %s --config tools/demo/evidentd-demo.conf &\n' \
    "$build" "$vault" "$sock"
"$build"/daemon/evidentd --vault "$vault" --socket "$sock" --config tools/demo/evidentd-demo.conf \
    2> "$out/evidentd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
step /usr/bin/python3 tools/demo/trading.py "$sock" "$out"
printf '\n$ kill -TERM %s   # drain: records acknowledged, audits recorded, checkpoint signed\n' \
    "$daemon"
kill -TERM $daemon
wait $daemon
trap - EXIT
sed 's/^/  evidentd: /' "$out/evidentd.log"

id=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reviewed_incident_id"] or "")' \
    "$out/demo-summary.json")
if [ -z "$id" ]; then
    echo "demo: no decision was routed to review (see $out/demo-summary.json)" >&2
    exit 1
fi
step "$ctl" --vault "$vault" status
step "$ctl" --vault "$vault" incidents --status open
step "$ctl" --vault "$vault" incident "$id"
step "$ctl" --vault "$vault" replay "$id"
step "$ctl" --vault "$vault" report "$id" -o "$out/incident-$id.html"
"$ctl" --vault "$vault" report "$id" --format md -o "$out/incident-$id.md"
"$ctl" --vault "$vault" report "$id" --json -o "$out/incident-$id.json"
# The report must name the planted cause: the feature that drove the decision most.
/usr/bin/python3 - "$out/incident-$id.json" "$out/demo-summary.json" <<'PY'
import json, sys
rep, summ = (json.load(open(p)) for p in sys.argv[1:3])
planted = summ["planted_feature"]
feats = [f["name"] for f in rep["record"]["features"]]
phi = rep["audit"]["attribution"]["phi"]
top = feats[max(range(len(phi)), key=lambda j: abs(phi[j]))]
print("\nReport summary:")
for s in rep["summary"]:
    print("  - " + s)
if top != planted or planted not in rep["summary"][1]:
    sys.exit("demo: the report's top cause is %s, not the planted %s" % (top, planted))
print("\nThe report names the planted cause: %s." % planted)
PY
step "$ctl" --vault "$vault" verify
"$ctl" --vault "$vault" checkpoint --key > "$out/vault.pub"
"$ctl" --vault "$vault" prove "$id" -o "$out/incident-$id.tlog-proof"
# The auditor's side: no vault, only the bundle and the published key.
step "$ctl" verify-proof "$out/incident-$id.tlog-proof" --key "$out/vault.pub"
printf '\nDemo output is in %s/: the report incident-%s.html (also .md, .json), the vault,\n' \
    "$out" "$id"
printf 'the daemon log, the model and its data, demo-summary.json, the verifier key and a proof.\n'
