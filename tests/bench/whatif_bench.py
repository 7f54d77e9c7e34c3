# SPDX-License-Identifier: Apache-2.0
"""What-if benchmark: time per row of counterfactuals, the flip test and adversarial search
for a 500-tree, 50-feature XGBoost model, in process (whatif-bench, adversarial-bench: the
model file with its exact methods, and the same model seen only as a function) and end to
end through `evidentctl explain`, both on the model file and through the Python oracle
(evident-sklearn-oracle serving the same model pickled with joblib).

    /usr/bin/python3 tests/bench/whatif_bench.py [BUILD_DIR] [--quick]

Model: 20000 N(0, 1) rows, 50 features, logit from 10 linear terms, a sin x product and a
square; binary:logistic, depth 6, eta 0.05, 500 rounds (about a minute to train). Needs
Debian's python3-xgboost, python3-sklearn, python3-numpy.
"""
import os
import subprocess
import sys
import tempfile
import time

import joblib
import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
args = [a for a in sys.argv[1:] if not a.startswith("--")]
QUICK = "--quick" in sys.argv
BUILD = os.path.abspath(args[0] if args else os.path.join(ROOT, "build"))
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
ORACLE = os.path.join(ROOT, "tools", "oracles", "sklearn_oracle.py")
N_ROWS = 3 if QUICK else 10


def write_csv(path, X):
    with open(path, "w") as f:
        f.write(",".join("f%d" % j for j in range(X.shape[1])) + "\n")
        for row in X:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def timed_cli(label, source, rows, bg, method, budget):
    cmd = [EVIDENTCTL, "explain", *source, "--rows", rows, "--background", bg,
           "--method", method, "--json", "--timeout", "600000"]
    if budget:
        cmd += ["--budget", str(budget)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    el = time.perf_counter() - t0
    if p.returncode != 0:
        print("%-44s failed: %s" % (label, p.stderr.strip()[:200]))
        return
    n = len(p.stdout.splitlines())
    print("%-44s %9.1f ms/row  (%d rows, %.1f s in all)" % (label, 1e3 * el / n, n, el),
          flush=True)


def main():
    print("$ /usr/bin/python3 tests/bench/whatif_bench.py %s%s"
          % (os.path.relpath(BUILD, ROOT), " --quick" if QUICK else ""), flush=True)
    rng = np.random.default_rng(0)
    n, M = 20000, 50
    X = rng.normal(size=(n, M))
    logit = (X[:, :10] @ rng.normal(size=10) + 0.5 * np.sin(3 * X[:, 10]) * X[:, 11]
             + 0.3 * X[:, 12] ** 2 - 0.3)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    clf = xgb.XGBClassifier(n_estimators=500, max_depth=6, learning_rate=0.05,
                            tree_method="hist", random_state=0)
    clf.fit(X, y)
    with tempfile.TemporaryDirectory() as d:
        mp, jp = os.path.join(d, "m.json"), os.path.join(d, "m.joblib")
        clf.get_booster().save_model(mp)
        joblib.dump(clf, jp)
        rows, bg, both = (os.path.join(d, f) for f in ("rows.csv", "bg.csv", "both.csv"))
        write_csv(rows, X[:N_ROWS])
        write_csv(bg, X[1000:1500])
        write_csv(both, np.vstack([X[1000:2000], X[:N_ROWS]]))
        print("\n-- in process (CPU time per row; whatif-bench %s %d 500)" % ("MODEL", N_ROWS))
        subprocess.run([os.path.join(BUILD, "tests", "bench", "whatif-bench"), mp, str(N_ROWS),
                        "500"], check=True)
        for method in ("tree", "search"):
            print("\n-- adversarial-bench --method %s --budget 5000" % method, flush=True)
            subprocess.run([os.path.join(BUILD, "tests", "bench", "adversarial-bench"),
                            "--model", mp, "--rows", both, "--method", method, "--n",
                            str(N_ROWS), "--budget", "5000"], check=True)
        print("\n-- end to end: evidentctl explain (wall time per row, oracle start-up "
              "included)", flush=True)
        oracle = ["--oracle", "/usr/bin/python3 %s --output proba %s" % (ORACLE, jp)]
        for method, budget in (("counterfactual", 0), ("flip", 0), ("adversarial", 5000)):
            timed_cli("%s, model file" % method, ["--model", mp], rows, bg, method, budget)
            timed_cli("%s, Python oracle" % method, oracle, rows, bg, method, budget)


if __name__ == "__main__":
    main()
