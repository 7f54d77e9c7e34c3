# SPDX-License-Identifier: Apache-2.0
"""The demo's production model: a small logistic credit model that registers itself with
evidentd and streams its decisions through the Python client, as a model server would.

    /usr/bin/python3 tools/demo/stream.py SOCKET OUTDIR [N]
"""
import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import evident  # noqa: E402

FEATURES = [("income", 12000, 240000), ("age", 18, 85), ("debt_ratio", 0, 1.5),
            ("credit_history_months", 0, 480), ("late_payments_12m", 0, 10)]
COEF = [-0.00002, -0.01, 2.5, -0.004, 0.6]
INTERCEPT = 0.4


def main():
    sock, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    artifact = os.path.join(out, "credit-model.json")
    with open(artifact, "w") as f:
        json.dump({"intercept": INTERCEPT, "coef": COEF, "link": "logit",
                   "feature_names": [name for name, _, _ in FEATURES]}, f)
    manifest = {
        "model_id": "credit-risk", "version": "1.0.0", "framework": "linear-json",
        "output_space": "probability",
        "decision": {"kind": "THRESHOLD", "threshold": 0.5, "label_below": "approve",
                     "label_above": "decline"},
        "features": [{"name": name, "min": lo, "max": hi} for name, lo, hi in FEATURES],
        "lineage": {"training_data_uri": "s3://example/credit/2026-10.parquet",
                    "training_data_sha256": "5f" * 32, "code_uri": "git@example:credit.git",
                    "code_commit": "4e1d2c9", "created_by": "demo", "notes": "evidentd demo"},
    }
    rng = random.Random(7)
    with evident.Client(sock, client_name="credit-scorer-1") as c:
        seq = c.register(manifest, artifact)
        print("registered credit-risk@1.0.0 as entry %d" % seq)
        for i in range(n):
            x = [rng.uniform(lo, hi) for _, lo, hi in FEATURES]
            x[4] = float(rng.randint(0, 10))
            if i % 97 == 0:
                x[1] = float("nan")  # a missing value, kept as evidence
            margin = INTERCEPT + sum(b * v for b, v in zip(COEF, x) if not math.isnan(v))
            p = 1 / (1 + math.exp(-margin))
            c.record(model_id="credit-risk", model_version="1.0.0", features=x, scores=[p],
                     decision="decline" if p >= 0.5 else "approve",
                     context={"amount": round(rng.uniform(500, 50000), 2)},
                     labels={"branch": rng.choice(["north", "south", "online"])})
        if not c.flush(timeout=60):
            sys.exit("demo: not every decision was acknowledged: %r" % c.stats())
        st = c.stats()
        print("%d decisions acknowledged as durable (%d duplicates, %d errors)"
              % (st["acked"], st["duplicates"], sum(st["errors"].values())))


if __name__ == "__main__":
    main()
