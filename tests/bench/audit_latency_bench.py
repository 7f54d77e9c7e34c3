# SPDX-License-Identifier: Apache-2.0
"""Trigger-to-audit latency and verdict latency of evidentd's incident pipeline.

    /usr/bin/python3 tests/bench/audit_latency_bench.py [BUILD_DIR] [--incidents N]
        [--trees 500] [--features 50] [--workers 2] [--gap-ms 50] [--model-cache DIR]

An XGBoost model (500 trees of depth 6 over 50 features by default) is trained, registered
with 200 reference rows, and evidentd runs one rule that fires on every record marked
context.fire = 1, asking for treeshap, counterfactual and flip (the issue's audit). The
Python client sends N firing records one at a time, GAP ms apart (so the figures are the
pipeline's service time, not queueing), each with verdict_deadline_ms = 10000, between
routine records that do not fire. Measured, all on the daemon's clock from the vault:
  trigger -> audit complete: incident fired_unix_ns to the audit entry's timestamp;
  verdict: the record's received_unix_ns to the verdict's decided_unix_ns;
and on the client's clock, send -> Verdict received. The same-run baseline is XGBoost's
own TreeSHAP (Booster.predict(pred_contribs=True)) on one row of the same model: the floor
of any exact attribution, i.e. what the audit costs beyond the attribution itself. The
audit documents' own phase timings are summarised too. --model-cache DIR keeps the trained
model (same data and parameters) for the next run, e.g. to run two builds one after the other.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
import evident  # noqa: E402


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def show(name, v):
    print("  %-34s p50 %8.2f ms   p99 %8.2f ms   max %8.2f ms   (n=%d)"
          % (name, pct(v, 0.5), pct(v, 0.99), max(v), len(v)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--incidents", type=int, default=200)
    ap.add_argument("--trees", type=int, default=500)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--gap-ms", type=float, default=50)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--model-cache")
    a = ap.parse_args()
    print("# command: %s" % " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]))
    import numpy as np
    import xgboost as xgb

    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="evident-audit-bench-")
    M = a.features
    names = ["f%d" % i for i in range(M)]
    rng = np.random.default_rng(11)
    X = rng.normal(size=(5000, M))
    y = ((X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.6 * X[:, 3] + 0.3 * X[:, 4:10].sum(1)
          + rng.normal(scale=0.5, size=len(X))) > 0).astype(int)
    t0 = time.time()
    cached = a.model_cache and os.path.join(a.model_cache, "audit-%d-%d.json" % (a.trees, M))
    if cached and os.path.exists(cached):
        b = xgb.Booster(model_file=cached)
    else:
        b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1,
                       "nthread": 2, "seed": 0},
                      xgb.DMatrix(X, label=y, feature_names=names), a.trees)
        if cached:
            os.makedirs(a.model_cache, exist_ok=True)
            b.save_model(cached)
    model = os.path.join(tmp, "model.json")
    b.save_model(model)
    ref = os.path.join(tmp, "reference.csv")
    np.savetxt(ref, X[:200], delimiter=",", header=",".join(names), comments="")
    print("# model: %d trees, depth 6, %d features (trained in %.1f s); reference 200 rows"
          % (a.trees, M, time.time() - t0))

    # same-run baseline: XGBoost's TreeSHAP on one row, one call at a time
    rows = X[1000:1000 + a.incidents]
    dm1 = [xgb.DMatrix(rows[i:i + 1], feature_names=names) for i in range(len(rows))]
    b.set_param({"nthread": 1})
    base_ms = []
    for d in dm1:
        t = time.perf_counter()
        b.predict(d, pred_contribs=True)
        base_ms.append((time.perf_counter() - t) * 1e3)
    P = b.predict(xgb.DMatrix(rows, feature_names=names))

    conf = os.path.join(tmp, "evidentd.conf")
    with open(conf, "w") as f:
        f.write("[daemon]\nworkers = %d\njob_queue = 4096\n"
                "[trigger bench]\nwhen = context.fire == 1\n"
                "methods = treeshap, counterfactual, flip\nreview_below = 0.5\n"
                "rate_limit = 1000000/s\nburst = 1000000\n" % a.workers)
    sock = os.path.join(tmp, "s.sock")
    vault = os.path.join(tmp, "vault")
    log = open(os.path.join(tmp, "evidentd.log"), "w")
    d = subprocess.Popen([os.path.join(build, "daemon", "evidentd"), "--vault", vault,
                          "--socket", sock, "--config", conf, "--log-level", "warning"],
                         stderr=log)
    while not os.path.exists(sock):
        time.sleep(0.01)
    man = {"model_id": "bench", "version": "1", "framework": "xgboost-json",
           "output_space": "probability",
           "decision": {"kind": "THRESHOLD", "threshold": 0.5, "label_below": "no",
                        "label_above": "yes"},
           "features": [{"name": n} for n in names],
           "lineage": {"training_data_sha256": "00" * 32, "code_commit": "bench"}}
    sent, got = {}, {}

    def on_verdict(v):
        got[v.request_id] = time.perf_counter()

    with evident.Client(sock, client_name="bench", on_verdict=on_verdict) as c:
        c.register(man, model, ref)
        # warm-up: the first audit loads the model and computes the baseline attributions
        c.record_sync("bench", "1", list(map(float, rows[0])), [float(P[0])],
                      request_id="warm", context={"fire": 1.0}, verdict_deadline_ms=60000)
        end = time.time() + 120
        while "warm" not in got and time.time() < end:
            time.sleep(0.01)
        for i in range(a.incidents):
            for k in range(4):  # routine records between firings
                j = (i * 4 + k) % len(X)
                c.record("bench", "1", list(map(float, X[j])), [0.5], request_id="n%d-%d" % (i, k),
                         context={"fire": 0.0})
            rid = "f%d" % i
            sent[rid] = time.perf_counter()
            c.record("bench", "1", list(map(float, rows[i])), [float(P[i])], request_id=rid,
                     context={"fire": 1.0}, verdict_deadline_ms=10000)
            time.sleep(a.gap_ms / 1000)
        c.flush(120)
        end = time.time() + 120
        while len(got) < a.incidents + 1 and time.time() < end:
            time.sleep(0.01)
    d.send_signal(signal.SIGTERM)
    d.wait(300)
    log.close()

    ctl = os.path.join(build, "tools", "evidentctl")

    def entries(kind):
        out = subprocess.run([ctl, "--vault", vault, "--json", "log", "--type", kind],
                             capture_output=True, text=True, check=True).stdout
        res = []
        for line in out.splitlines():
            seq = json.loads(line)["seq"]
            res.append(json.loads(subprocess.run([ctl, "--vault", vault, "--json", "show",
                                                  str(seq)], capture_output=True, text=True,
                                                 check=True).stdout))
        return res

    incidents = {e["seq"]: e for e in entries("incident")}
    audits = entries("audit")
    records = {}
    t2a, phases, statuses = [], {}, {}
    for e in audits:
        doc = json.loads(e["payload"]["document"])
        statuses[doc["status"]] = statuses.get(doc["status"], 0) + 1
        inc = incidents[doc["incident_id"]]
        if inc["payload"].get("request_id") == "warm":
            continue
        t2a.append((int(e["timestamp_ns"]) - int(inc["payload"]["fired_unix_ns"])) / 1e6)
        for k, v in doc.get("timings_ms", {}).items():
            phases.setdefault(k, []).append(v)
    verdict_daemon = []
    for e in entries("verdict"):
        p = e["payload"]
        seq = int(p["record_seq"])
        if seq not in records:
            records[seq] = json.loads(subprocess.run(
                [ctl, "--vault", vault, "--json", "show", str(seq)], capture_output=True,
                text=True, check=True).stdout)
        r = records[seq]["payload"]
        if r["request_id"] == "warm":
            continue
        recv = int(records[seq]["received_unix_ns"]) if "received_unix_ns" in records[seq] \
            else int(records[seq]["timestamp_ns"])
        verdict_daemon.append((int(p["decided_unix_ns"]) - recv) / 1e6)
    verdict_client = [(got[r] - sent[r]) * 1e3 for r in sent if r in got]
    print("# %d firing records (+%d routine), %d audit workers, one every %.0f ms; audit "
          "status %s" % (a.incidents, 4 * a.incidents, a.workers, a.gap_ms, statuses))
    show("trigger -> audit complete (daemon)", t2a)
    show("verdict (daemon: received->decided)", verdict_daemon)
    show("verdict (client: send->Verdict)", verdict_client)
    show("baseline: XGBoost pred_contribs 1 row", base_ms)
    print("# audit phases (the audit document's timings_ms):")
    for k in ("attribution", "flip", "confidence", "baseline", "fast_phase", "counterfactual",
              "total"):
        if k in phases:
            show("  " + k, phases[k])
    if a.keep:
        print("# kept: " + tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
