# SPDX-License-Identifier: Apache-2.0
"""Attribution benchmark: evidentd's TreeSHAP (explain-bench) beside XGBoost's own
pred_contribs on the same model files and the same rows, in the same run, after checking that
both give the same numbers.

    /usr/bin/python3 tests/bench/explain_bench.py [BUILD_DIR] [--quick] [--rounds N]
        [--model-cache DIR] [--only TREESxDEPTH[,...]] [--whole-only]

Models: make_classification with 50 features; 100 trees of depth 6, 500 of depth 8 and 1000
of depth 10 (binary:logistic). Also interventional TreeSHAP with 100 background rows and SHAP
interaction values (beside XGBoost's pred_interactions). Then the whole command users run,
`evidentctl explain --method treeshap --json` on the same model files and rows (a process
that loads the model, reads the rows, explains and writes JSON Lines), with --threads 1 and
with every core, beside pred_contribs alone (the model and the DMatrix already in memory):
the median over --rounds interleaved rounds of wall time and of CPU time (the child's
rusage; XGBoost's process_time), and evidentctl's own --timings of loading the model and of
writing the output. CPU time is the steadier figure when the machine is shared: a busy
machine stretches wall time but not the work done. --only 100x6 runs the named models only,
--whole-only the whole-process table only. --model-cache DIR keeps the trained
models (same data and parameters) for the next run. Needs Debian's python3-xgboost,
python3-sklearn, python3-numpy.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
def option(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


ROUNDS = int(option("--rounds", "3"))
CACHE = option("--model-cache", None)
ONLY = option("--only", None)
WHOLE_ONLY = "--whole-only" in sys.argv
_skip = {sys.argv.index(o) + 1 for o in ("--rounds", "--model-cache", "--only")
         if o in sys.argv}
args = [a for i, a in enumerate(sys.argv[1:], 1) if not a.startswith("--") and i not in _skip]
QUICK = "--quick" in sys.argv
BUILD = os.path.abspath(args[0] if args else os.path.join(ROOT, "build"))
BENCH = os.path.join(BUILD, "tests", "bench", "explain-bench")
CTL = os.path.join(BUILD, "tools", "evidentctl")
NPROC = os.cpu_count() or 1
N_ROWS = 200 if QUICK else 1000


def timed(fn, min_seconds=1.0):
    """rows/s of fn (which explains N_ROWS rows), repeated until min_seconds."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if el >= min_seconds:
            return n * N_ROWS / el


def ours(model, rows, method, threads, dump=None, background=None, min_seconds=1.0):
    cmd = [BENCH, "--model", model, "--rows", rows, "--method", method, "--threads",
           str(threads), "--min-seconds", str(min_seconds)]
    if dump:
        cmd += ["--dump", dump]
    if background:
        cmd += ["--background", background]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[4])


def whole(model, rows, threads):
    """evidentctl explain as users run it: (wall ms, CPU ms, {phase: wall ms})."""
    cmd = [CTL, "--json", "explain", "--model", model, "--rows", rows, "--method", "treeshap",
           "--threads", str(threads), "--timings"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       check=True)
    wall = (time.perf_counter() - t0) * 1e3
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e3
    phases = {}
    for line in p.stderr.splitlines():
        # "timings: load model   wall  12.34 ms   cpu  11.00 ms"
        if line.startswith("timings:"):
            words = line[len("timings:"):].split()
            w = words.index("wall")
            phases[" ".join(words[:w])] = (float(words[w + 1]), float(words[w + 4]))
    return wall, cpu, phases


def xgb_call(bst, drow):
    t0, c0 = time.perf_counter(), time.process_time()
    bst.predict(drow, pred_contribs=True)
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def write_csv(path, X):
    with open(path, "w") as f:
        f.write(",".join("f%d" % i for i in range(X.shape[1])) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def main():
    configs = [(100, 6), (500, 8), (1000, 10)]
    if QUICK:
        configs = [(20, 4), (50, 6)]
    if ONLY:
        configs = [tuple(int(v) for v in c.split("x")) for c in ONLY.split(",")]
    # enough training rows that trees grow to their full depth, as production models do
    n_train = 5000 if QUICK else 100000
    X, y = make_classification(n_samples=n_train + N_ROWS, n_features=50, n_informative=20,
                               random_state=0)
    rng = np.random.default_rng(1)
    Xtrain, ytrain, Xrows = X[:n_train], y[:n_train], X[n_train:].copy()
    Xrows[rng.random(Xrows.shape) < 0.02] = np.nan  # a few missing values
    print("# command: %s" % " ".join(["/usr/bin/python3"] + sys.argv))
    print("# %d rows explained per pass, 50 features, trained on %d rows; xgboost %s; %d cores"
          % (N_ROWS, n_train, xgb.__version__, NPROC))
    print("%-30s %10s %12s %12s %10s %12s %12s %10s"
          % ("model", "max|diff|", "xgb 1t r/s", "ours 1t r/s", "speedup",
             "xgb %dt r/s" % NPROC, "ours %dt r/s" % NPROC, "speedup"))
    with tempfile.TemporaryDirectory(prefix="explain-bench-") as tmp:
        rows_csv = os.path.join(tmp, "rows.csv")
        write_csv(rows_csv, Xrows)
        bg_csv = os.path.join(tmp, "bg.csv")
        write_csv(bg_csv, Xtrain[:100])
        drow = xgb.DMatrix(Xrows, missing=np.nan)
        first = None
        models = []
        for trees, depth in configs:
            cached = CACHE and os.path.join(CACHE, "m%d_%d%s.json"
                                            % (trees, depth, "q" if QUICK else ""))
            if cached and os.path.exists(cached):
                bst = xgb.Booster(model_file=cached)
            else:
                bst = xgb.train({"objective": "binary:logistic", "max_depth": depth,
                                 "eta": 0.1, "tree_method": "hist", "nthread": NPROC,
                                 "seed": 0},
                                xgb.DMatrix(Xtrain, label=ytrain), num_boost_round=trees)
                if cached:
                    os.makedirs(CACHE, exist_ok=True)
                    bst.save_model(cached)
            model = os.path.join(tmp, "m%d_%d.json" % (trees, depth))
            bst.save_model(model)
            models.append((trees, depth, bst, model))
            first = first or model
            if (trees, depth) == configs[0]:
                small = (bst, model)
            if WHOLE_ONLY:
                continue
            dump = os.path.join(tmp, "phi.bin")
            ours(model, rows_csv, "treeshap", 1, dump=dump, min_seconds=0)
            mine = np.fromfile(dump, dtype=np.float64).reshape(N_ROWS, 51)
            theirs = bst.predict(drow, pred_contribs=True)
            diff = np.abs(mine - theirs).max()
            # XGBoost 1.7 accumulates in float32: agreement to its precision first
            tol = 1e-4 * (1 + np.abs(theirs).max())
            if diff > tol:
                sys.exit("explain_bench: %d trees depth %d: max |diff| %.3g over %.3g"
                         % (trees, depth, diff, tol))
            res = {}
            for t in (1, NPROC):
                bst.set_param({"nthread": t})
                res[("xgb", t)] = timed(lambda: bst.predict(drow, pred_contribs=True))
                res[("ours", t)] = ours(model, rows_csv, "treeshap", t)
            leaves = sum(1 for line in bst.get_dump() for tok in line.split("\n")
                         if "leaf=" in tok)
            print("%-30s %10.2g %12.0f %12.0f %9.1fx %12.0f %12.0f %9.1fx"
                  % ("%d x d%d (%d leaves)" % (trees, depth, leaves), diff, res[("xgb", 1)], res[("ours", 1)],
                     res[("ours", 1)] / res[("xgb", 1)], res[("xgb", NPROC)],
                     res[("ours", NPROC)], res[("ours", NPROC)] / res[("xgb", NPROC)]))

        bst, model = small
        if not WHOLE_ONLY:
            print()
            bst.set_param({"nthread": 1})
            inter_x = timed(lambda: bst.predict(drow, pred_interactions=True))
            inter_o = ours(model, rows_csv, "interactions", 1)
            interv = ours(model, rows_csv, "interventional", 1, background=bg_csv)
            single = ours(model, rows_csv, "single", 1)
            classic = ours(model, rows_csv, "classic", 1)
            tname = "%d x d%d" % configs[0]
            print("%s, 1 thread: interactions ours %.0f rows/s vs xgb pred_interactions %.0f "
                  "(%.1fx); interventional TreeSHAP with 100 background rows %.0f rows/s; "
                  "one row per call %.0f rows/s; classic recursion (reference) %.0f rows/s"
                  % (tname, inter_o, inter_x, inter_o / inter_x, interv, single, classic))

        # the whole command, beside pred_contribs alone, interleaved rounds
        print()
        print("# whole process: evidentctl --json explain --method treeshap --threads T "
              "--timings (%d rows) beside pred_contribs alone; medians of %d interleaved "
              "rounds; ms" % (N_ROWS, ROUNDS))
        print("%-12s %3s %10s %10s %10s %10s %8s %8s %9s %9s"
              % ("model", "T", "xgb wall", "xgb cpu", "ours wall", "ours cpu", "x wall",
                 "x cpu", "load cpu", "write cpu"))
        for trees, depth, bst, model in models:
            for t in sorted({1, NPROC}):
                bst.set_param({"nthread": t})
                xw, xc, ow, oc, lc, wc = [], [], [], [], [], []
                for _ in range(ROUNDS):
                    a, b = xgb_call(bst, drow)
                    xw.append(a)
                    xc.append(b)
                    a, b, ph = whole(model, rows_csv, t)
                    ow.append(a)
                    oc.append(b)
                    lc.append(ph.get("load model", (0, 0))[1])
                    wc.append(ph.get("write", (0, 0))[1])
                med = statistics.median
                print("%-12s %3d %10.1f %10.1f %10.1f %10.1f %7.1fx %7.1fx %9.1f %9.1f"
                      % ("%d x d%d" % (trees, depth), t, med(xw), med(xc), med(ow), med(oc),
                         med(xw) / med(ow), med(xc) / med(oc), med(lc), med(wc)), flush=True)


if __name__ == "__main__":
    main()
