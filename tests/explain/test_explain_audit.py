# SPDX-License-Identifier: Apache-2.0
"""`evidentctl explain` with the model-agnostic methods, through the real oracle protocol:
scikit-learn models (a logistic regression, a random forest, and a polynomial model with
interactions of order 3) trained here are served by tools/oracles/sklearn_oracle.py, and
every number is checked against an independent computation in numpy:

- KernelSHAP equals brute-force interventional Shapley values (every coalition, scored by
  the model's own predict_proba / predict) to 1e-9 when it enumerates (M = 8), and lies
  within its reported 95% intervals at about their stated coverage when it samples (M = 12);
- permutation Shapley agrees with the same brute force within its intervals;
- applying each reported counterfactual change flips the model's own decision;
- the same seed gives bit-identical output for every method;
- oracle faults (a hang, a crash, a wrong shape) give a clear error within the timeout.

    BUILD_DIR=build /usr/bin/python3 tests/explain/test_explain_audit.py [-v]
"""
import itertools
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR", os.path.join(ROOT, "build")))
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
FAULTY = os.path.join(BUILD, "tests", "common", "faulty-oracle")
SKLEARN_ORACLE = os.path.join(ROOT, "tools", "oracles", "sklearn_oracle.py")
N_BG = 5


def write_csv(path, X, names):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def brute_shapley(predict, x, bg):
    """Interventional Shapley values of every output: all 2^M coalitions, equal weights."""
    M = len(x)
    masks = np.array(list(itertools.product([0, 1], repeat=M)), dtype=bool)
    rows = np.where(masks[:, None, :], x[None, None, :], bg[None, :, :]).reshape(-1, M)
    out = predict(rows)
    out = out.reshape(len(masks), len(bg), -1).mean(axis=1)  # v(S) per output
    index = {tuple(m): i for i, m in enumerate(masks)}
    phi = np.zeros((out.shape[1], M))
    for i, m in enumerate(masks):
        s = int(m.sum())
        for j in range(M):
            if m[j]:
                continue
            w = math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M)
            m2 = m.copy()
            m2[j] = True
            phi[:, j] += w * (out[index[tuple(m2)]] - out[i])
    return phi


class Models:
    """Small models trained once, joblib-dumped to a temp dir, with rows and backgrounds."""

    def __init__(self, d):
        self.d = d
        self.sets = {}
        for M in (8, 12):
            X, y = make_classification(n_samples=800, n_features=M, n_informative=5,
                                       random_state=M)
            names = ["x%d" % j for j in range(M)]
            bg = X[:N_BG]
            rows = X[100:110] if M == 8 else X[100:120]
            lr = LogisticRegression().fit(X, y)
            rf = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0).fit(X, y)
            poly = make_pipeline(PolynomialFeatures(degree=3, interaction_only=True),
                                 Ridge(alpha=1.0)).fit(X, X[:, 0] * X[:, 1] * X[:, 2] + y)
            for name, model, output in (("logistic", lr, "proba"), ("forest", rf, "proba"),
                                        ("poly", poly, "predict")):
                path = os.path.join(d, "%s%d.joblib" % (name, M))
                joblib.dump(model, path)
                predict = model.predict_proba if output == "proba" else (
                    lambda A, m=model: m.predict(A)[:, None])
                self.sets[(name, M)] = dict(path=path, predict=predict, output=output)
            rp, bp = os.path.join(d, "rows%d.csv" % M), os.path.join(d, "bg%d.csv" % M)
            write_csv(rp, rows, names)
            write_csv(bp, bg, names)
            self.sets[("rows", M)] = (rp, bp, rows, bg)

    def oracle(self, name, M):
        s = self.sets[(name, M)]
        return "/usr/bin/python3 %s --output %s %s" % (shlex.quote(SKLEARN_ORACLE), s["output"],
                                                       shlex.quote(s["path"]))


def explain(oracle, rows, bg, method, *extra, check=True):
    cmd = [EVIDENTCTL, "explain", "--oracle", oracle, "--rows", rows, "--background", bg,
           "--method", method, "--json", "--timeout", "60000"] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
    return p


class TestKernelShapThroughOracle(unittest.TestCase):
    def test_enumeration_equals_brute_force(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        for name in ("logistic", "forest", "poly"):
            with self.subTest(model=name):
                s = M8.sets[(name, 8)]
                out = [json.loads(line) for line in
                       explain(M8.oracle(name, 8), rp, bp, "kernelshap").stdout.splitlines()]
                self.assertEqual(len(out), len(rows))
                for r, x in zip(out, rows):
                    self.assertTrue(r["exact"])
                    truth = brute_shapley(s["predict"], x, bg)
                    phi = np.array(r["phi"])
                    self.assertEqual(phi.shape, truth.shape)
                    self.assertLessEqual(np.abs(phi - truth).max(), 1e-9)
                    self.assertEqual(np.abs(np.array(r["stderr"])).max(), 0.0)

    def test_sampled_intervals_cover(self):
        rp, bp, rows, bg = M8.sets[("rows", 12)]
        for name in ("logistic", "forest", "poly"):
            s = M8.sets[(name, 12)]
            inside = total = 0
            for method in ("kernelshap", "permutation"):
                out = [json.loads(line) for line in
                       explain(M8.oracle(name, 12), rp, bp, method, "--seed", "3")
                       .stdout.splitlines()]
                for r, x in zip(out, rows):
                    if method == "kernelshap":
                        self.assertFalse(r["exact"])
                    truth = brute_shapley(s["predict"], x, bg)[0]
                    phi, se = np.array(r["phi"][0]), np.array(r["stderr"][0])
                    # the efficiency constraint holds exactly whatever the sample
                    self.assertAlmostEqual(phi.sum() + r["base_value"][0], r["prediction"][0],
                                           delta=1e-9)
                    inside += int((np.abs(phi - truth) <= 1.959964 * se + 1e-9).sum())
                    total += len(phi)
            rate = inside / total
            print("%s: 95%% intervals cover the exact values %.3f of the time (%d)"
                  % (name, rate, total), file=sys.stderr)
            self.assertGreaterEqual(rate, 0.85, name)


class TestModelFile(unittest.TestCase):
    def test_linear_model_file_kernelshap_and_confidence(self):
        # a linear-json model file: the interventional Shapley value of feature j is
        # w_j (x_j - mean_b b_j) in margin space, whatever the estimator
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        w = np.array([0.8, -1.2, 0.5, 2.0, -0.3, 0.0, 1.1, -0.7])
        path = os.path.join(M8.d, "lin.json")
        with open(path, "w") as f:
            json.dump({"intercept": -0.2, "coef": list(w), "link": "logit",
                       "feature_names": ["x%d" % j for j in range(8)]}, f)
        cmd = [EVIDENTCTL, "explain", "--model", path, "--rows", rp, "--background", bp,
               "--method", "kernelshap", "--confidence", "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout.splitlines()), len(rows))
        for line, x in zip(p.stdout.splitlines(), rows):
            r = json.loads(line)
            truth = w * (x - bg.mean(axis=0))
            self.assertLessEqual(np.abs(np.array(r["phi"][0]) - truth).max(), 1e-9)
            c = r["confidence"]
            # exact methods: P_est = 1; permutation agrees exactly on an additive game
            self.assertEqual(c["p_est"], 1.0)
            self.assertEqual(c["a_method"], 1.0)
            self.assertTrue(c["gate"])
            self.assertGreater(c["noise_neighbours"], 0)
            want = min(c["p_noise"], 0.3) if c["fragile"] else c["p_noise"]
            self.assertAlmostEqual(c["c"], want, delta=1e-15)


class TestFlipWithoutBackground(unittest.TestCase):
    """`explain --method flip` on a model file needs no --background: the ranges come from the
    model's splits (trees) or the manifest's training ranges, and the output says which."""

    def run_flip(self, model, rows, *extra, check=True):
        cmd = [EVIDENTCTL, "explain", "--model", model, "--rows", rows, "--method", "flip"]
        p = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=300)
        if check and p.returncode:
            raise AssertionError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
        return p

    def test_a_tree_model_uses_its_thresholds(self):
        import xgboost as xgb
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        X, y = make_classification(n_samples=800, n_features=8, n_informative=5,
                                   random_state=8)
        booster = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y).get_booster()
        booster.feature_names = ["x%d" % j for j in range(8)]
        path = os.path.join(M8.d, "xgb8.json")
        booster.save_model(path)
        out = [json.loads(line) for line in
               self.run_flip(path, rp, "--json").stdout.splitlines()]
        with_bg = [json.loads(line) for line in
                   self.run_flip(path, rp, "--json", "--background", bp).stdout.splitlines()]
        self.assertEqual(len(out), len(rows))
        found = 0
        for r, rb, x in zip(out, with_bg, rows):
            self.assertEqual(r["ranges"], "model thresholds")
            self.assertEqual(rb["ranges"], "background")
            d0 = r["decision"]
            for j, v in enumerate(r["flips"]):
                if v is None:
                    continue
                z = x.copy()
                z[j] = v
                margin = booster.predict(xgb.DMatrix(z[None, :], feature_names=[
                    "x%d" % k for k in range(8)]), output_margin=True)[0]
                self.assertNotEqual(int(margin >= 0), d0, (j, v))
                found += 1
                # every region the model tells apart is inside the thresholds' range, so
                # the nearest flip is never farther than inside the background's range
                if rb["flips"][j] is not None:
                    self.assertLessEqual(abs(v - x[j]), abs(rb["flips"][j] - x[j]))
        self.assertGreater(found, 0)
        text = self.run_flip(path, rp).stdout
        self.assertIn("ranges: model thresholds (no --background", text)

    def test_a_linear_model_needs_the_manifest_ranges(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        names = ["x%d" % j for j in range(8)]
        w = np.array([0.8, -1.2, 0.5, 2.0, -0.3, 0.0, 1.1, -0.7])
        path = os.path.join(M8.d, "lin-flip.json")
        with open(path, "w") as f:
            json.dump({"intercept": -0.2, "coef": list(w), "link": "logit",
                       "feature_names": names}, f)
        p = self.run_flip(path, rp, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs each feature's training range (min and max) from --manifest",
                      p.stderr)
        manifest = os.path.join(M8.d, "lin-manifest.json")
        with open(manifest, "w") as f:
            json.dump({"model_id": "lin", "version": "1", "framework": "linear-json",
                       "features": [{"name": n, "min": -4, "max": 4,
                                     "immutable": n == "x3"} for n in names]}, f)
        out = [json.loads(line) for line in
               self.run_flip(path, rp, "--json", "--manifest", manifest).stdout.splitlines()]
        for r, x in zip(out, rows):
            self.assertEqual(r["ranges"], "manifest")
            m = -0.2 + float(w @ x)
            for j, v in enumerate(r["flips"]):
                detail = r["flip_details"][j]
                if j == 3:  # immutable in the manifest
                    self.assertIsNone(v)
                    self.assertTrue(detail["immutable"])
                    continue
                if w[j] == 0:
                    self.assertIsNone(v)
                    continue
                closed = x[j] - m / w[j]  # where the margin crosses 0
                if not -4 <= closed <= 4:
                    self.assertIsNone(v)
                    continue
                self.assertAlmostEqual(v, closed, delta=1e-9 * (1 + abs(closed)))
                # distances are in MADs of the range: (max - min) / 7.638
                self.assertAlmostEqual(detail["distance"], abs(v - x[j]) / (8 / 7.638),
                                       delta=1e-9)
        # a manifest for another model
        bad = os.path.join(M8.d, "bad-manifest.json")
        with open(bad, "w") as f:
            json.dump({"features": [{"name": "nope", "min": 0, "max": 1}]}, f)
        p = self.run_flip(path, rp, "--manifest", bad, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('("nope"): the model has no such feature', p.stderr)

    def test_other_methods_and_oracles_still_need_a_background(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        p = subprocess.run([EVIDENTCTL, "explain", "--oracle", M8.oracle("logistic", 8),
                            "--rows", rp, "--method", "flip"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs --background FILE", p.stderr)
        self.assertIn("only a model file can do without", p.stderr)


class TestWhatIfThroughOracle(unittest.TestCase):
    def test_counterfactuals_flip_the_models_own_decision(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        names = ["x%d" % j for j in range(8)]
        for name in ("logistic", "forest"):
            s = M8.sets[(name, 8)]
            out = [json.loads(line) for line in
                   explain(M8.oracle(name, 8), rp, bp, "counterfactual",
                           "--budget", "20000").stdout.splitlines()]
            found = 0
            for r, x in zip(out, rows):
                d0 = int(np.argmax(s["predict"](x[None, :])[0]))
                self.assertEqual(d0, r["decision"])
                for cf in r["counterfactuals"]:
                    z = x.copy()
                    for f, v in cf["changes"].items():
                        z[names.index(f)] = v
                    self.assertNotEqual(int(np.argmax(s["predict"](z[None, :])[0])), d0)
                    found += 1
            self.assertGreater(found, 0, name)

    def test_flip_and_adversarial_report(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        r = json.loads(explain(M8.oracle("logistic", 8), rp, bp, "flip",
                               "--budget", "20000").stdout.splitlines()[0])
        self.assertEqual(len(r["flips"]), 8)
        self.assertIn(r["fragile"], (True, False))
        self.assertGreaterEqual(r["margin"], 0)
        r = json.loads(explain(M8.oracle("logistic", 8), rp, bp, "adversarial",
                               "--budget", "3000").stdout.splitlines()[0])
        region = r["region"]
        self.assertGreaterEqual(region["precision"], region["precision_ci95"][0])
        self.assertLessEqual(region["precision"], region["precision_ci95"][1])
        self.assertTrue(region["decision_only"])

    def test_same_seed_bit_identical(self):
        rp, bp, rows, bg = M8.sets[("rows", 12)]
        oracle = M8.oracle("forest", 12)
        for method, extra in (("kernelshap", ["--confidence"]), ("permutation", []),
                              ("lime", ["--budget", "20000"]),
                              ("counterfactual", ["--budget", "20000"]),
                              ("flip", ["--budget", "20000"]),
                              ("adversarial", ["--budget", "2000"])):
            with self.subTest(method=method):
                a = explain(oracle, rp, bp, method, "--seed", "11", *extra).stdout
                b = explain(oracle, rp, bp, method, "--seed", "11", *extra).stdout
                self.assertTrue(a)
                self.assertEqual(a, b)


class TestOracleFaults(unittest.TestCase):
    def test_faults_give_clear_errors(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        for mode, message in (("hang", "did not answer"), ("crash-big 1", "SIGABRT"),
                              ("shape", "n_outputs 2, expected 1")):
            with self.subTest(mode=mode):
                t0 = time.monotonic()
                p = explain("%s %s" % (shlex.quote(FAULTY), mode), rp, bp, "kernelshap",
                            "--timeout", "1000", check=False)
                elapsed = time.monotonic() - t0
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(message, p.stderr)
                self.assertIn("row 0", p.stderr)
                self.assertLess(elapsed, 60)

    def test_usage_errors(self):
        rp, bp, rows, bg = M8.sets[("rows", 8)]
        oracle = M8.oracle("logistic", 8)
        cases = (
            (["--method", "kernelshap"], "needs --background FILE"),
            (["--method", "treeshap", "--background", bp], "needs --model FILE"),
            (["--method", "flip", "--background", bp, "--immutable", "nope"],
             'no feature named "nope"'),
            (["--method", "flip", "--background", bp, "--threshold", "x"],
             "is not a finite number"),
            (["--method", "kernelshap", "--background", bp, "--budget", "10"], "budget of 10"),
        )
        for args, message in cases:
            with self.subTest(args=args):
                p = subprocess.run([EVIDENTCTL, "explain", "--oracle", oracle, "--rows", rp]
                                   + args, capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(message, p.stderr)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        M8 = Models(tmp)
        unittest.main()
