# SPDX-License-Identifier: Apache-2.0
"""KernelSHAP cost benchmark: model rows (what an oracle is asked to score) and wall time for
evidentd's KernelSHAP beside shap's fixed budget of 2M + 2048 coalitions, M = 10, 20, 50,
against exact interventional TreeSHAP: evidentd at 100%, 50% and 25% of that budget beside
shap's scheme at 100%, and (M <= 20) adaptive until a max absolute error of 1e-3.

    /usr/bin/python3 tests/bench/kernelshap_bench.py [BUILD_DIR] [--quick]

Models: XGBoost 1.7 binary:logistic, 100 trees of depth 4 on make_classification data with M
features (margins are explained); 5 rows explained, 5 seeds each; 10 background rows drawn
from the training set. Needs Debian's python3-xgboost, python3-sklearn, python3-numpy.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
args = [a for a in sys.argv[1:] if not a.startswith("--")]
QUICK = "--quick" in sys.argv
BUILD = os.path.abspath(args[0] if args else os.path.join(ROOT, "build"))
BENCH = os.path.join(BUILD, "tests", "bench", "kernelshap-bench")


def write_csv(path, X):
    with open(path, "w") as f:
        f.write(",".join("f%d" % j for j in range(X.shape[1])) + "\n")
        for row in X:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def main():
    print("$ /usr/bin/python3 tests/bench/kernelshap_bench.py %s%s"
          % (os.path.relpath(BUILD, ROOT), " --quick" if QUICK else ""), flush=True)
    with tempfile.TemporaryDirectory() as d:
        for M in (10, 20, 50):
            X, y = make_classification(n_samples=2000, n_features=M, n_informative=min(M, 8),
                                       random_state=M)
            model = xgb.XGBClassifier(n_estimators=100, max_depth=4, learning_rate=0.3,
                                      random_state=0)
            model.fit(X, y)
            mp = os.path.join(d, "m%d.json" % M)
            model.get_booster().save_model(mp)
            rng = np.random.default_rng(M)
            rp, bp = os.path.join(d, "rows%d.csv" % M), os.path.join(d, "bg%d.csv" % M)
            write_csv(rp, X[rng.choice(len(X), 2 if QUICK else 5, replace=False)])
            write_csv(bp, X[rng.choice(len(X), 10, replace=False)])
            cmd = [BENCH, "--model", mp, "--rows", rp, "--background", bp,
                   "--seeds", "2" if QUICK else "5", "--target", "1e-3"]
            if M <= 20:
                cmd.append("--to-target")
            sys.stdout.flush()
            subprocess.run(cmd, check=True)
            print()


if __name__ == "__main__":
    main()
