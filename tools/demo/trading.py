# SPDX-License-Identifier: Apache-2.0
"""The demo's production model: a trading bot that dumps a stable asset in a flash crash.

    /usr/bin/python3 tools/demo/trading.py SOCKET OUTDIR [--normal N] [--crash N]
                                           [--verdict-wait SECONDS]

The story. `trading-bot` decides every few seconds whether to "sell" or "hold" a position in
a stable, liquid asset. It is an XGBoost model trained on eight market features. Its
training data carries a flaw nobody noticed: it includes a stress episode in which the
volatility of an obscure, illiquid index (`obscure_index_vol`) happened to spike while the
desk was selling for unrelated reasons. The model learned "that index's volatility is high
-> sell", a rule that never mattered in normal times because the index is quiet.

This script is the model's process, as a model server would run it:
  1. trains the model (deterministic: fixed seeds, one thread) and saves it as XGBoost JSON,
     with the training data (CSV, hashed into the lineage) and a reference sample of
     normal-times rows (CSV with a header: the daemon's background for audits);
  2. registers the model version with evidentd (manifest: eight features with units and
     training ranges, the decision rule, lineage) through the Python client `evident`;
  3. streams its decisions: --normal routine decisions (mostly "hold", a few small
     rebalancing sells), then a flash-crash window of --crash decisions in which the obscure
     index's volatility spikes and the bot dumps whole positions (context.notional in the
     millions). Crash-window records ask for a verdict (verdict_deadline_ms = 3000); the
     daemon's trigger rule (tools/demo/evidentd-demo.conf) opens an incident for every large
     sell and audits it. One planted crash-window sell sits just above the threshold where a
     low-importance feature flips it: the audit's flip test marks it fragile;
  4. waits (bounded) for the verdicts, sends a risk officer's review of the first decision
     routed to REVIEW, and writes OUTDIR/demo-summary.json.

Files in OUTDIR: trading-bot.json (the model), trading-train.csv (training data with the
label), trading-reference.csv (reference rows), trading-crash-rows.csv (the crash window's
inputs with a header, row i = request id "crash-%03d" % i: `evidentctl explain --model
OUTDIR/trading-bot.json --rows OUTDIR/trading-crash-rows.csv --method treeshap`) and
demo-summary.json.

Run it against a daemon started with the demo's config:

    build/daemon/evidentd --vault OUT/vault --socket OUT/s.sock \\
        --config tools/demo/evidentd-demo.conf &
    /usr/bin/python3 tools/demo/trading.py OUT/s.sock OUT

Needs numpy and xgboost (Debian: python3-numpy, python3-xgboost) besides the client's
protobuf. Takes a few seconds; every number it prints is the same on every run (the record
timestamps and the daemon's seqs aside).
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
import evident  # noqa: E402

MODEL_ID = "trading-bot"
MODEL_VERSION = "4.2.0"
CLIENT_NAME = "trading-bot-1"
PLANTED = "obscure_index_vol"
DESK = "stable-assets"
VERDICT_DEADLINE_MS = 3000
LARGE = 1_000_000  # the trigger rule's notional threshold (evidentd-demo.conf)

# name, unit, description. The model's input order.
FEATURES = [
    ("spread_bps", "bps", "bid-ask spread of the asset"),
    ("order_book_depth", "USD millions", "resting liquidity within 10 bps of mid"),
    ("momentum_5m", "bps", "price change over the last 5 minutes"),
    ("realized_vol_1h", "% annualized", "realized volatility of the asset over 1 hour"),
    ("position_size", "USD millions", "size of the position held"),
    ("funding_rate", "bps per 8h", "funding rate of the asset's perpetual swap"),
    ("asset_beta", "ratio", "beta of the asset to the broad market (60-day)"),
    (PLANTED, "% annualized",
     "volatility of an obscure low-liquidity index (the planted flaw: spurious in training)"),
]
NAMES = [f[0] for f in FEATURES]
M = len(FEATURES)
J = {n: i for i, n in enumerate(NAMES)}
DECIMALS = [3, 3, 3, 3, 3, 4, 4, 3]  # values as a market data feed would print them

PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 4,
    "eta": 0.2,
    "min_child_weight": 2,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "lambda": 1.0,
    "tree_method": "exact",
    "nthread": 1,
    "seed": 0,
    "eval_metric": "logloss",
}
N_TREES = 80
N_TRAIN_NORMAL = 6000
N_TRAIN_STRESS = 600
N_REFERENCE = 200


# ---------------------------------------------------------------------------- market data


def _round(X):
    for j, d in enumerate(DECIMALS):
        X[:, j] = np.round(X[:, j], d)
    return X


def normal_market(rng, n):
    """n rows of an ordinary day in a stable, liquid asset."""
    X = np.empty((n, M))
    X[:, J["spread_bps"]] = rng.lognormal(math.log(2.5), 0.35, n)
    X[:, J["order_book_depth"]] = rng.lognormal(math.log(25.0), 0.3, n)
    X[:, J["momentum_5m"]] = rng.normal(0.0, 6.0, n)
    X[:, J["realized_vol_1h"]] = rng.lognormal(math.log(8.0), 0.25, n)
    X[:, J["position_size"]] = rng.uniform(0.5, 20.0, n)
    X[:, J["funding_rate"]] = rng.normal(1.0, 1.5, n)
    X[:, J["asset_beta"]] = rng.uniform(0.2, 0.9, n)
    X[:, J[PLANTED]] = rng.lognormal(math.log(3.5), 0.3, n)
    return _round(X)


def normal_sell_logit(X):
    """The desk's real reasons to sell in normal times: falling prices, rising volatility,
    a widening spread, a thinning book, expensive funding. Not the obscure index."""
    return (-3.4 - 0.30 * X[:, J["momentum_5m"]]
            + 0.35 * (X[:, J["realized_vol_1h"]] - 8.0)
            + 0.45 * (X[:, J["spread_bps"]] - 2.5)
            - 0.04 * (X[:, J["order_book_depth"]] - 25.0)
            + 0.30 * (X[:, J["funding_rate"]] - 1.0))


def stress_episode(rng, n):
    """The flaw: a past stress episode in the training data. The obscure index's volatility
    spiked while the desk was selling (for reasons the features do not show), so in the
    training data high obscure_index_vol goes with "sell"."""
    X = normal_market(rng, n)
    X[:, J[PLANTED]] = np.round(rng.uniform(10.0, 60.0, n), 3)
    X[:, J["momentum_5m"]] = np.round(rng.normal(-2.0, 6.0, n), 3)
    y = (rng.uniform(size=n) < 0.92).astype(np.float64)
    return X, y


def crash_market(rng, n):
    """The flash crash: the obscure index's volatility spikes; the stable asset itself barely
    moves (a slightly wider spread, a slightly thinner book). Large positions."""
    X = normal_market(rng, n)
    X[:, J[PLANTED]] = np.round(np.linspace(28.0, 55.0, n) + rng.normal(0, 1.5, n), 3)
    X[:, J["spread_bps"]] = np.round(X[:, J["spread_bps"]] * 1.15, 3)
    X[:, J["order_book_depth"]] = np.round(X[:, J["order_book_depth"]] * 0.9, 3)
    X[:, J["momentum_5m"]] = np.round(rng.normal(0.0, 3.0, n), 3)
    X[:, J["position_size"]] = np.round(rng.uniform(4.0, 20.0, n), 3)
    return X


# ---------------------------------------------------------------------------- training


def write_rows(path, X, y=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(NAMES + (["label_sell"] if y is not None else []))
        for i, row in enumerate(X):
            cells = [f"{v:.{d}f}" for v, d in zip(row, DECIMALS)]
            if y is not None:
                cells.append(str(int(y[i])))
            w.writerow(cells)


def train(outdir):
    """Trains the model; returns (booster, paths, training X, reference X)."""
    rng = np.random.default_rng(20261031)
    Xn = normal_market(rng, N_TRAIN_NORMAL)
    yn = (rng.uniform(size=N_TRAIN_NORMAL) < 1 / (1 + np.exp(-normal_sell_logit(Xn)))) \
        .astype(np.float64)
    Xs, ys = stress_episode(rng, N_TRAIN_STRESS)
    X = np.vstack([Xn, Xs])
    y = np.concatenate([yn, ys])
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    paths = {
        "training": os.path.join(outdir, "trading-train.csv"),
        "model": os.path.join(outdir, "trading-bot.json"),
        "reference": os.path.join(outdir, "trading-reference.csv"),
    }
    write_rows(paths["training"], X, y)
    # The reference data: routine days only (the background the audits compare against).
    ref = Xn[rng.choice(N_TRAIN_NORMAL, N_REFERENCE, replace=False)]
    write_rows(paths["reference"], ref)
    dtrain = xgb.DMatrix(X, label=y, feature_names=NAMES)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=N_TREES)
    booster.save_model(paths["model"])
    return booster, paths, X, ref


def predict(booster, X):
    """(probabilities, margins) as the model server computes them: the margin from XGBoost,
    the logistic link in double precision."""
    margin = booster.predict(xgb.DMatrix(X, feature_names=NAMES), output_margin=True)
    margin = margin.astype(np.float64)
    return 1.0 / (1.0 + np.exp(-margin)), margin


def treeshap(booster, X):
    """Path-dependent TreeSHAP (XGBoost's pred_contribs): M values per row, then the bias."""
    return booster.predict(xgb.DMatrix(X, feature_names=NAMES), pred_contribs=True)


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def manifest(paths, X):
    sha, _ = evident.file_sha256(paths["training"])
    lo, hi = X.min(axis=0), X.max(axis=0)
    return {
        "model_id": MODEL_ID,
        "version": MODEL_VERSION,
        "framework": "xgboost-json",
        "output_space": "probability",
        "decision": {"kind": "THRESHOLD", "threshold": 0.5, "label_below": "hold",
                     "label_above": "sell"},
        "output_names": ["p_sell"],
        "features": [{"name": name, "type": "numeric", "unit": unit, "description": desc,
                      "min": float(lo[j]), "max": float(hi[j])}
                     for j, (name, unit, desc) in enumerate(FEATURES)],
        "lineage": {
            "training_data_uri": "file://" + os.path.abspath(paths["training"]),
            "training_data_sha256": sha,
            "code_uri": "tools/demo/trading.py",
            "code_commit": git_commit(),
            "created_by": "quant-research@demo",
            "hyperparameters": {**{k: str(v) for k, v in PARAMS.items()},
                                "num_boost_round": str(N_TREES)},
            "notes": ("evidentd demo. Trained on %d routine rows and %d rows of a past stress "
                      "episode (the planted flaw: %s goes with sell there)."
                      % (N_TRAIN_NORMAL, N_TRAIN_STRESS, PLANTED)),
        },
    }


# ---------------------------------------------------------------------------- the planted case


def plant_fragile_sell(booster, ref, rng, tries=4000):
    """A routine-looking sell just above the threshold that a low-importance feature flips
    with a small, plausible change: what the audit's flip test must catch. Mirrors its
    definition (daemon/explain/METHODS.md §5.3): Low = {j : |phi_j| <= 5% of sum |phi|};
    plausible = inside the reference data's 0.5-99.5th percentiles and within 0.5 MAD. Returns
    (row, feature name, flipping value) or None."""
    med = np.median(ref, axis=0)
    mad = np.median(np.abs(ref - med), axis=0)
    lo, hi = np.quantile(ref, 0.005, axis=0), np.quantile(ref, 0.995, axis=0)
    C = normal_market(rng, tries)
    # push candidates towards the boundary: falling prices and a bit of stress
    C[:, J["momentum_5m"]] = np.round(rng.normal(-8.0, 3.0, tries), 3)
    p, _ = predict(booster, C)
    near = np.where((p >= 0.505) & (p <= 0.56))[0]
    best = None
    for i in near:
        x = C[i]
        if not np.all((x >= lo) & (x <= hi)):
            continue
        phi = treeshap(booster, x[None, :])[0, :M]
        low = np.abs(phi) <= 0.05 * np.abs(phi).sum()
        for j in np.where(low)[0]:
            # a grid over the plausible window (both directions), inside the support
            span = 0.3 * mad[j]  # margin below the 0.5 MAD limit
            grid = x[j] + np.concatenate([np.linspace(0, span, 61)[1:],
                                          -np.linspace(0, span, 61)[1:]])
            grid = np.round(grid[(grid >= lo[j]) & (grid <= hi[j])], DECIMALS[j])
            if not len(grid):
                continue
            Y = np.repeat(x[None, :], len(grid), axis=0)
            Y[:, j] = grid
            pg, _ = predict(booster, Y)
            flips = np.where(pg < 0.5)[0]
            if len(flips):
                k = flips[np.argmin(np.abs(grid[flips] - x[j]))]
                dist = abs(grid[k] - x[j]) / mad[j]
                if best is None or dist < best[3]:
                    best = (x.copy(), NAMES[j], float(grid[k]), dist)
        if best is not None:
            return best[:3]
    return None


# ---------------------------------------------------------------------------- the stream


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("outdir")
    ap.add_argument("--normal", type=int, default=1500, help="routine decisions (1500)")
    ap.add_argument("--crash", type=int, default=40, help="flash-crash decisions (40)")
    ap.add_argument("--verdict-wait", type=float, default=20.0,
                    help="seconds to wait for the verdicts after the stream (20)")
    a = ap.parse_args()
    if a.normal < 0 or a.crash < 2:
        ap.error("need --normal >= 0 and --crash >= 2")
    os.makedirs(a.outdir, exist_ok=True)
    t_start = time.monotonic()

    booster, paths, X_train, ref = train(a.outdir)
    man = manifest(paths, X_train)
    planted = plant_fragile_sell(booster, ref, np.random.default_rng(11))
    if planted is None:
        sys.exit("trading: no near-threshold fragile sell found (the model changed?)")

    # The decisions: routine ones, then the crash window with the planted sell in it (one
    # random stream each, so the crash window does not depend on --normal).
    Xn = normal_market(np.random.default_rng(7), a.normal)
    Xc = crash_market(np.random.default_rng(8), a.crash)
    rng = np.random.default_rng(9)
    k_planted = min(5, a.crash - 1)
    Xc[k_planted] = planted[0]
    # The crash window's inputs, for `evidentctl explain --rows` (row i: crash-%03d % i).
    crash_rows = os.path.join(a.outdir, "trading-crash-rows.csv")
    write_rows(crash_rows, Xc)
    X = np.vstack([Xn, Xc])
    p, _ = predict(booster, X)
    decisions = np.where(p >= 0.5, "sell", "hold")
    # Routine sells are small rebalancing trades; crash sells dump the whole position.
    notional = np.zeros(len(X))
    routine_sell = np.where(decisions[:a.normal] == "sell")[0]
    notional[routine_sell] = np.round(rng.uniform(50_000, 950_000, len(routine_sell)), 2)
    crash_idx = a.normal + np.arange(a.crash)
    sells = crash_idx[decisions[crash_idx] == "sell"]
    notional[sells] = np.round(X[sells, J["position_size"]] * 1e6, 2)

    lock = threading.Lock()
    verdicts = {}  # request_id -> Verdict (the last one received)
    errors = []

    def on_verdict(v):
        with lock:
            verdicts[v.request_id] = v

    def on_error(rid, code, message):
        with lock:
            errors.append((rid, code, message))

    with evident.Client(a.socket, client_name=CLIENT_NAME, on_verdict=on_verdict,
                        on_error=on_error) as c:
        model_seq = c.register(man, paths["model"], paths["reference"])
        print("registered %s@%s (XGBoost, %d trees, %d features) as entry %d"
              % (MODEL_ID, MODEL_VERSION, N_TREES, M, model_seq))
        deadline_rids = []
        planted_rid = None
        for i in range(len(X)):
            crash = i >= a.normal
            rid = ("crash-%03d" % (i - a.normal)) if crash else ("routine-%05d" % i)
            c.record(model_id=MODEL_ID, model_version=MODEL_VERSION,
                     features=[float(v) for v in X[i]], scores=[float(p[i])],
                     decision=str(decisions[i]), request_id=rid,
                     context={"notional": float(notional[i])}, labels={"desk": DESK},
                     verdict_deadline_ms=VERDICT_DEADLINE_MS if crash else 0)
            if crash:
                deadline_rids.append(rid)
                if i - a.normal == k_planted:
                    planted_rid = rid
        if not c.flush(timeout=60):
            sys.exit("trading: not every decision was acknowledged: %r" % c.stats())
        st = c.stats()
        print("%d decisions acknowledged as durable: %d routine, %d in the flash-crash window"
              % (st["acked"], a.normal, a.crash))

        # The verdicts (bounded wait: a daemon without audit workers sends none).
        wait_until = time.monotonic() + a.verdict_wait
        while time.monotonic() < wait_until:
            with lock:
                if all(r in verdicts for r in deadline_rids):
                    break
            time.sleep(0.05)
        with lock:
            got = [verdicts[r] for r in deadline_rids if r in verdicts]
            errs = list(errors)
        if len(got) < len(deadline_rids):
            print("warning: %d of %d verdicts arrived within %.0f s (does this evidentd run "
                  "audits?)" % (len(got), len(deadline_rids), a.verdict_wait),
                  file=sys.stderr)
        reviewed = None
        review_ack = None
        first_review = next((v for v in got if v.action == "REVIEW" and v.incident_id),
                            None)
        if first_review is not None:
            note = ("The crash was in an obscure illiquid index, not in our asset: the sell "
                    "(%s) was driven by %s, a spurious correlation in the training data. "
                    "Position reinstated; model pulled for retraining."
                    % (first_review.request_id, PLANTED))
            try:
                review_ack = c.review(first_review.incident_id, reviewer="risk-officer@demo",
                                      outcome="overturned", note=note)
                reviewed = first_review.incident_id
                print("risk-officer@demo overturned incident %d (%s): review entry %d"
                      % (reviewed, first_review.request_id, review_ack.seq))
            except evident.EvidentError as e:
                print("warning: the review of incident %d was not stored: %s"
                      % (first_review.incident_id, e), file=sys.stderr)
        elif got:
            print("warning: no verdict routed a decision to REVIEW", file=sys.stderr)

    by_action = {}
    for v in got:
        by_action[v.action] = by_action.get(v.action, 0) + 1
    crash_sells = [r for r, i in zip(deadline_rids, crash_idx) if decisions[i] == "sell"]
    print("flash crash: the bot sold %d of %d positions (USD %.1fM) on %s's spike"
          % (len(crash_sells), a.crash, notional[crash_idx].sum() / 1e6, PLANTED))
    print("verdicts: %s" % (", ".join("%d %s" % (n, k) for k, n in sorted(by_action.items()))
                            or "none"))
    for v in got[:3]:
        print("  %s: %s (confidence %.3f, incident %d) %s"
              % (v.request_id, v.action, v.confidence, v.incident_id,
                 "; ".join(v.reasons)[:160]))
    if planted_rid in verdicts:
        v = verdicts[planted_rid]
        print("  planted near-threshold sell %s (%s flips it): %s"
              % (planted_rid, planted[1], v.action))

    summary = {
        "model": {"id": MODEL_ID, "version": MODEL_VERSION, "seq": model_seq,
                  "framework": "xgboost-json", "trees": N_TREES,
                  "artifact": os.path.basename(paths["model"]),
                  "reference_data": os.path.basename(paths["reference"]),
                  "training_data": os.path.basename(paths["training"]),
                  "training_data_sha256": man["lineage"]["training_data_sha256"],
                  "crash_rows": os.path.basename(crash_rows)},
        "planted_feature": PLANTED,
        "counts": {
            "normal": a.normal, "crash": a.crash, "acked": st["acked"],
            "errors": len(errs),
            "decisions": {d: int((decisions == d).sum()) for d in ("hold", "sell")},
            "crash_sells": len(crash_sells),
            "crash_sell_notional": float(notional[crash_idx].sum()),
            "verdicts_expected": len(deadline_rids), "verdicts_received": len(got),
            "verdicts_by_action": by_action,
        },
        "planted_fragile": {"request_id": planted_rid, "feature": planted[1],
                            "flips_at": planted[2],
                            "score": float(p[a.normal + k_planted])},
        "verdicts": [{"request_id": v.request_id, "seq": v.seq, "action": v.action,
                      "confidence": v.confidence if math.isfinite(v.confidence) else None,
                      "incident_id": v.incident_id, "reasons": list(v.reasons)}
                     for v in got],
        "reviewed_incident_id": reviewed,
        "review_seq": review_ack.seq if review_ack else None,
        "errors": [list(e) for e in errs[:20]],
        "seconds": round(time.monotonic() - t_start, 2),
    }
    with open(os.path.join(a.outdir, "demo-summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print("summary: %s" % os.path.join(a.outdir, "demo-summary.json"))
    if errs:
        sys.exit("trading: %d records refused, first: %r" % (len(errs), errs[0]))


if __name__ == "__main__":
    main()
