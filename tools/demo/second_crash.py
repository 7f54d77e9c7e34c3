# SPDX-License-Identifier: Apache-2.0
"""The demo's last act: the same trading bot meets a second flash crash, now under a guard.

    /usr/bin/python3 tools/demo/second_crash.py SOCKET OUTDIR [--normal N] [--crash N]

After the post-mortem of the first crash (tools/demo/trading.py), the risk officer deployed
the report's suggested guard (a [guard] section reloaded into evidentd: hold the bot's sells
while the obscure index's volatility is above the audit's threshold). This script is the same
model process again: it loads the model trading.py trained (OUTDIR/trading-bot.json, the
artifact registered in the vault), streams --normal routine decisions and a second crash
window of --crash decisions (other seeds than the first, the same market pattern), the crash
ones with the same 3 s verdict deadline, and notes when each Ack and each Verdict arrives.
The guard's verdicts come right after their Acks, HOLD with the guard's reason, while the
trigger's audits of the same sells are still running; routine decisions the guard does not
catch get no verdict at all. It writes OUTDIR/second-crash.json (every Ack and Verdict with
its arrival time, in Unix nanoseconds of this host's clock, which the daemon's entries use
too) and prints the guarded sells.
"""
import argparse
import json
import os
import sys
import threading
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import trading  # noqa: E402  (the model, its features and markets: tools/demo/trading.py)
from trading import evident  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("outdir")
    ap.add_argument("--normal", type=int, default=200, help="routine decisions (200)")
    ap.add_argument("--crash", type=int, default=40, help="second-crash decisions (40)")
    ap.add_argument("--wait", type=float, default=20.0,
                    help="seconds to wait for the verdicts after the stream (20)")
    a = ap.parse_args()

    booster = xgb.Booster()
    booster.load_model(os.path.join(a.outdir, "trading-bot.json"))
    Xn = trading.normal_market(np.random.default_rng(17), a.normal)
    Xc = trading.crash_market(np.random.default_rng(18), a.crash)
    X = np.vstack([Xn, Xc])
    p, _ = trading.predict(booster, X)
    decisions = np.where(p >= 0.5, "sell", "hold")
    rng = np.random.default_rng(19)
    notional = np.zeros(len(X))
    routine_sell = np.where(decisions[:a.normal] == "sell")[0]
    notional[routine_sell] = np.round(rng.uniform(50_000, 950_000, len(routine_sell)), 2)
    crash_idx = a.normal + np.arange(a.crash)
    sells = crash_idx[decisions[crash_idx] == "sell"]
    notional[sells] = np.round(X[sells, trading.J["position_size"]] * 1e6, 2)

    lock = threading.Lock()
    acks, verdicts, errors = {}, {}, []

    def on_ack(ack):
        with lock:
            acks[ack.request_id] = (ack.seq, time.time_ns())

    def on_verdict(v):
        with lock:
            verdicts[v.request_id] = (v, time.time_ns())

    def on_error(rid, code, message):
        with lock:
            errors.append((rid, code, message))

    rids = []
    with evident.Client(a.socket, client_name=trading.CLIENT_NAME, on_ack=on_ack,
                        on_verdict=on_verdict, on_error=on_error) as c:
        for i in range(len(X)):
            crash = i >= a.normal
            rid = ("crash2-%03d" % (i - a.normal)) if crash else ("routine2-%05d" % i)
            rids.append(rid)
            c.record(model_id=trading.MODEL_ID, model_version=trading.MODEL_VERSION,
                     features=[float(v) for v in X[i]], scores=[float(p[i])],
                     decision=str(decisions[i]), request_id=rid,
                     context={"notional": float(notional[i])}, labels={"desk": trading.DESK},
                     verdict_deadline_ms=trading.VERDICT_DEADLINE_MS if crash else 0)
        if not c.flush(timeout=60):
            sys.exit("second_crash: not every decision was acknowledged: %r" % c.stats())
        crash_rids = rids[a.normal:]
        until = time.monotonic() + a.wait
        while time.monotonic() < until:
            with lock:
                if all(r in verdicts for r in crash_rids):
                    break
            time.sleep(0.02)
    if errors:
        sys.exit("second_crash: %d records refused, first: %r" % (len(errors), errors[0]))

    out = []
    for i, rid in enumerate(rids):
        seq, t_ack = acks.get(rid, (None, None))
        v, t_v = verdicts.get(rid, (None, None))
        out.append({"request_id": rid, "decision": str(decisions[i]),
                    "crash": i >= a.normal, "seq": seq, "ack_unix_ns": t_ack,
                    "verdict": None if v is None else {
                        "action": v.action, "seq": v.seq, "incident_id": v.incident_id,
                        "reasons": list(v.reasons), "unix_ns": t_v}})
    with open(os.path.join(a.outdir, "second-crash.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    guarded = [o for o in out if o["verdict"] and any(r.startswith("guard ")
                                                      for r in o["verdict"]["reasons"])]
    crash_sells = [o for o in out if o["crash"] and o["decision"] == "sell"]
    routine_v = [o for o in out if not o["crash"] and o["verdict"]]
    print("second flash crash: the bot tried to sell %d of %d positions (USD %.1fM)"
          % (len(crash_sells), a.crash, notional[crash_idx].sum() / 1e6))
    by_action = {}
    for o in out:
        if o["verdict"]:
            k = o["verdict"]["action"]
            by_action[k] = by_action.get(k, 0) + 1
    print("verdicts: %s; %d of %d routine decisions got one (a guard caught them), the "
          "others none" % (", ".join("%d %s" % (n, k) for k, n in sorted(by_action.items())),
                           len(routine_v), a.normal))
    for o in guarded[:3]:
        v = o["verdict"]
        print("  %s: Ack (record %d), then %s %.2f ms later: %s"
              % (o["request_id"], o["seq"], v["action"], (v["unix_ns"] - o["ack_unix_ns"]) / 1e6,
                 "; ".join(v["reasons"])))
    missed = [o["request_id"] for o in crash_sells if o not in guarded]
    if missed:
        sys.exit("second_crash: crash sells the guard did not hold: %s" % ", ".join(missed))


if __name__ == "__main__":
    main()
