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
#    verifies the vault and proves one entry the way an outside auditor would;
# 4. closes the loop: takes the report's suggested guard (its `when`; without one, the
#    audit's counterfactual threshold of the planted feature), backtests it on the vault
#    (evidentctl backtest: it catches the crash sells and holds under 5% of routine
#    decisions), starts evidentd again and deploys it as a [guard] with a reload (SIGHUP),
#    replays a second flash crash (tools/demo/second_crash.py) and shows the guarded sells
#    answered HOLD right after their Acks, with the guard's reason, before the trigger's
#    audits of the same sells are recorded.
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

# From finding to constraint: the report's suggested guard, backtested, deployed, enforced.
printf '\n# The post-mortem proposes a constraint; the risk officer tests it, then deploys it.\n'
/usr/bin/python3 - "$out/incident-$id.json" "$out/guard.conf" "$out/guard.when" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
g = rep.get("suggested_guard") or {}
when, source = g.get("when"), "the report's suggested guard"
if not when:
    # no suggested guard in this report: the audit's counterfactual threshold of the
    # feature that drove the decision most
    feats = [f["name"] for f in rep["record"]["features"]]
    phi = rep["audit"]["attribution"]["phi"]
    top = feats[max(range(len(phi)), key=lambda j: abs(phi[j]))]
    cf = next(c["changes"][top] for c in rep["audit"]["counterfactuals"]
              if top in c["changes"])
    when = 'decision == "sell" && feature.%s > %.6g' % (top, cf)
    source = "the audit's counterfactual threshold of %s" % top
model = (g.get("model") or rep["model"]["id"] if isinstance(rep.get("model"), dict)
         else "trading-bot").split("@")[0]
section = ("[guard obscure-vol-sells]\nmodel = %s\nwhen = %s\naction = hold\n"
           "reason = sells on the obscure index's volatility: the flash-crash pattern of "
           "incident %s; held for a human\n" % (model, when, rep["incident"]["id"]))
open(sys.argv[2], "w").write(section)
open(sys.argv[3], "w").write(when)
print("guard from %s:\n\n%s" % (source, "".join("    " + l + "\n"
                                               for l in section.splitlines())))
PY
when=$(cat "$out/guard.when")
step "$ctl" --vault "$vault" backtest --when "$when" --model trading-bot
"$ctl" --vault "$vault" --json backtest --when "$when" --model trading-bot \
    > "$out/guard-backtest.json"
/usr/bin/python3 - "$out/guard-backtest.json" "$out/demo-summary.json" <<'PY'
import json, sys
bt = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
summ = json.load(open(sys.argv[2]))
b = next(x for x in bt if x.get("model_id") == "trading-bot")
crash_sells = summ["counts"]["crash_sells"]
routine = b.get("routine", summ["counts"]["normal"])
held = b["routine_held"] if "routine_held" in b else max(b["caught"] - crash_sells, 0)
caught = b.get("incidents_caught", min(b["caught"], crash_sells))
print("backtest: it would have caught %d of the %d crash sells (their incidents) and held %d "
      "of %d routine decisions (%.2f%%)"
      % (caught, crash_sells, held, routine, 100.0 * held / max(routine, 1)))
if held >= 0.05 * routine or caught < crash_sells - 1:
    sys.exit("demo: the guard does not pass its backtest (catch the crash sells, hold under "
             "5% of routine decisions)")
PY

cp tools/demo/evidentd-demo.conf "$out/evidentd.conf"
printf '\n$ %s/daemon/evidentd --vault %s --socket %s --config %s/evidentd.conf &\n' \
    "$build" "$vault" "$sock" "$out"
"$build"/daemon/evidentd --vault "$vault" --socket "$sock" --config "$out/evidentd.conf" \
    2> "$out/evidentd-2.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
printf '\n$ cat %s/guard.conf >> %s/evidentd.conf; kill -HUP %s   # deploy: a reload\n' \
    "$out" "$out" "$daemon"
cat "$out/guard.conf" >> "$out/evidentd.conf"
kill -HUP $daemon
i=0
while ! grep -q "configuration reloaded" "$out/evidentd-2.log" && [ $i -lt 500 ]; do
    if grep -q "reload rejected" "$out/evidentd-2.log"; then
        cat "$out/evidentd-2.log" >&2
        exit 1
    fi
    sleep 0.01
    i=$((i + 1))
done
step /usr/bin/python3 tools/demo/second_crash.py "$sock" "$out"
kill -TERM $daemon
wait $daemon
trap - EXIT
grep -E "guard|reload" "$out/evidentd-2.log" | sed 's/^/  evidentd: /'
# Answered at commit, before the audits: the verdicts' arrival beside the audit entries the
# trigger's incidents of the same sells wrote (one host clock).
"$ctl" --vault "$vault" --json log --type audit > "$out/audits.jsonl"
/usr/bin/python3 - "$out/second-crash.json" "$out/audits.jsonl" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))
first = min(r["seq"] for r in recs)
audits = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
audits = [a for a in audits if a["seq"] > first]
held = [r for r in recs if r["verdict"] and r["verdict"]["action"] == "HOLD"]
if not held or not audits:
    sys.exit("demo: no guarded sell or no audit in the second crash")
t_audit = min(a["timestamp_ns"] for a in audits)
late = max(r["verdict"]["unix_ns"] for r in held)
before = sum(1 for r in held if r["verdict"]["unix_ns"] < t_audit)
print("\nThe guard answered %d sells HOLD at commit, each right after its Ack (%.1f ms after "
      "it at most); %d of them before the first of the %d audits of the second crash was "
      "recorded (%.1f ms after the last guard verdict)."
      % (len(held), max((r["verdict"]["unix_ns"] - r["ack_unix_ns"]) / 1e6 for r in held),
         before, len(audits), (t_audit - late) / 1e6))
PY
printf '\n# Who deployed which constraint when: the reload wrote the config text, guard included.\n'
step "$ctl" --vault "$vault" log --type config

step "$ctl" --vault "$vault" verify
"$ctl" --vault "$vault" checkpoint --key > "$out/vault.pub"
"$ctl" --vault "$vault" prove "$id" -o "$out/incident-$id.tlog-proof"
# The auditor's side: no vault, only the bundle and the published key.
step "$ctl" verify-proof "$out/incident-$id.tlog-proof" --key "$out/vault.pub"
printf '\nDemo output is in %s/: the report incident-%s.html (also .md, .json), the vault,\n' \
    "$out" "$id"
printf 'the daemon log, the model and its data, demo-summary.json, the verifier key and a proof.\n'
