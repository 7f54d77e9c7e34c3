# SPDX-License-Identifier: Apache-2.0
"""XGBoost itself as the test oracle of the explain library: models trained inside the test
(Debian's python3-xgboost 1.7.4, scikit-learn's bundled datasets and synthetic data), saved
with save_model, explained by `evidentctl explain`, and compared with XGBoost's own margins,
pred_contribs and pred_interactions.

    BUILD_DIR=build /usr/bin/python3 tests/explain/test_xgboost_oracle.py [-v]

XGBoost 1.7 computes in float32, so agreement is to float32 precision: margins within
1e-5 (1 + |m|), contributions within 2e-5 (1 + sum |contrib|) of a row.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")


def write_rows(path, X):
    with open(path, "w") as f:
        f.write(",".join("f%d" % i for i in range(X.shape[1])) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


class Oracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="evident-xgb-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def explain(self, bst, X, method="treeshap", edit=None):
        """Saves bst, runs evidentctl explain on X; returns the JSON rows."""
        model = os.path.join(self.tmp.name, "model.json")
        rows = os.path.join(self.tmp.name, "rows.csv")
        bst.save_model(model)
        if edit:
            with open(model) as f:
                doc = json.load(f)
            edit(doc)
            with open(model, "w") as f:
                json.dump(doc, f)
        write_rows(rows, X)
        r = subprocess.run([EVIDENTCTL, "explain", "--model", model, "--rows", rows,
                            "--method", method, "--json"], capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def check(self, bst, X, dm=None, interactions=False, edit=None, margin_offset=0.0):
        dm = dm if dm is not None else xgb.DMatrix(X, missing=np.nan)
        out = self.explain(bst, X, edit=edit)
        margins = bst.predict(dm, output_margin=True)
        contribs = bst.predict(dm, pred_contribs=True)
        multi = margins.ndim == 2
        for i, o in enumerate(out):
            ours = np.array(o["prediction"])
            theirs = np.atleast_1d(margins[i]) + margin_offset
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * (1 + np.abs(theirs).max()),
                                       err_msg="margin of row %d" % i)
            for g in range(len(ours)):
                mine = np.array(o["phi"][g] + [o["base_value"][g]])
                ref = contribs[i, g] if multi else contribs[i]
                ref = ref.copy()
                ref[-1] += margin_offset
                tol = 2e-5 * (1 + np.abs(ref).sum())
                np.testing.assert_allclose(mine, ref, rtol=0, atol=tol,
                                           err_msg="contributions of row %d output %d" % (i, g))
        if interactions:
            inter = bst.predict(dm, pred_interactions=True)
            out = self.explain(bst, X, method="interactions", edit=edit)
            M = X.shape[1]
            for i, o in enumerate(out):
                for g in range(len(o["interactions"])):
                    mine = np.array(o["interactions"][g])
                    ref = (inter[i, g] if multi else inter[i])[:M, :M]
                    tol = 5e-5 * (1 + np.abs(ref).sum())
                    np.testing.assert_allclose(mine, ref, rtol=0, atol=tol,
                                               err_msg="interactions of row %d" % i)
        return out

    # ------------------------------------------------------------------ objectives

    def cancer(self, missing=True):
        X, y = load_breast_cancer(return_X_y=True)
        X = X.copy()
        if missing:
            rng = np.random.default_rng(0)
            X[rng.random(X.shape) < 0.05] = np.nan
        return X, y

    def test_binary_logistic_with_missing_values(self):
        X, y = self.cancer()
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 0},
                        xgb.DMatrix(X, label=y, missing=np.nan), 40)
        self.check(bst, X[:60], interactions=True)

    def test_binary_logitraw_and_reg_logistic(self):
        X, y = self.cancer()
        for obj in ("binary:logitraw", "reg:logistic"):
            bst = xgb.train({"objective": obj, "max_depth": 3, "seed": 1},
                            xgb.DMatrix(X, label=y, missing=np.nan), 20)
            self.check(bst, X[:40])

    def test_regression_and_poisson(self):
        X, y = load_diabetes(return_X_y=True)
        bst = xgb.train({"objective": "reg:squarederror", "max_depth": 5},
                        xgb.DMatrix(X, label=y), 30)
        self.check(bst, X[:50], interactions=True)
        rng = np.random.default_rng(2)
        counts = rng.poisson(np.exp(X[:, 0] * 3 + 1))
        bst = xgb.train({"objective": "count:poisson", "max_depth": 4},
                        xgb.DMatrix(X, label=counts), 30)
        self.check(bst, X[:50])

    def test_multiclass(self):
        X, y = load_iris(return_X_y=True)
        for obj in ("multi:softprob", "multi:softmax"):
            bst = xgb.train({"objective": obj, "num_class": 3, "max_depth": 3},
                            xgb.DMatrix(X, label=y), 15)
            out = self.check(bst, X[::5], interactions=obj == "multi:softprob")
            self.assertEqual(len(out[0]["phi"]), 3)

    # ------------------------------------------------------------------ tree shapes

    def test_deep_and_pruned_trees(self):
        X, y = make_classification(n_samples=20000, n_features=20, n_informative=12,
                                   random_state=3)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 14, "tree_method": "hist",
                         "min_child_weight": 0.1}, xgb.DMatrix(X, label=y), 8)
        depth = max(t.count("\t") for t in bst.get_dump()[0].split("\n"))
        self.assertGreaterEqual(depth, 12)
        self.check(bst, X[:30])
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 8, "gamma": 4.0},
                        xgb.DMatrix(X, label=y), 20)
        self.check(bst, X[:30])

    def test_dart(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"booster": "dart", "objective": "binary:logistic", "max_depth": 3,
                         "rate_drop": 0.3, "skip_drop": 0.0, "seed": 4},
                        xgb.DMatrix(X, label=y), 15)
        self.check(bst, X[:30])

    def test_categorical_splits(self):
        rng = np.random.default_rng(5)
        n = 4000
        cat = rng.integers(0, 12, n).astype(float)
        num = rng.normal(size=n)
        y = ((np.isin(cat, [1, 4, 7]) & (num > 0)) | (cat == 9)).astype(float)
        X = np.column_stack([num, cat, rng.normal(size=n)])
        X[rng.random(n) < 0.05, 1] = np.nan
        dtrain = xgb.DMatrix(X, label=y, feature_types=["q", "c", "q"], enable_categorical=True)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 4, "tree_method": "hist",
                         "max_cat_to_onehot": 1}, dtrain, 20)
        self.assertIn('"split_type":[', bst.save_raw("json").decode())
        Xt = X[:80].copy()
        Xt[0, 1], Xt[1, 1], Xt[2, 1] = 15, -1, 3.5  # unseen, negative, non-integer
        dm = xgb.DMatrix(Xt, feature_types=["q", "c", "q"], enable_categorical=True)
        self.check(bst, Xt, dm=dm)

    def test_rows_on_thresholds_and_one_float_below(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y),
                        10)
        rows = []
        for tree in json.loads(bst.save_raw("json").decode())["learner"]["gradient_booster"][
                "model"]["trees"]:
            for k, left in enumerate(tree["left_children"]):
                if left == -1:
                    continue
                f, t = tree["split_indices"][k], np.float32(tree["split_conditions"][k])
                for v in (t, np.nextafter(t, np.float32(-np.inf))):
                    row = X[len(rows) % len(X)].copy()
                    row[f] = float(v)
                    rows.append(row)
        self.check(bst, np.array(rows))

    # ------------------------------------------------------------------ base_score forms

    def test_base_score_forms(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "base_score": 0.3},
                        xgb.DMatrix(X, label=y), 10)
        self.check(bst, X[:20])  # an explicit intercept (2.x estimates one)

        def as_array(doc):  # XGBoost 3.1 writes "[3E-1]"
            p = doc["learner"]["learner_model_param"]
            p["base_score"] = "[%s]" % p["base_score"]
        self.check(bst, X[:20], edit=as_array)

        def other(doc):  # a different intercept shifts every margin by its logit
            doc["learner"]["learner_model_param"]["base_score"] = "[6E-1]"
        offset = np.log(0.6 / 0.4) - np.log(0.3 / 0.7)
        self.check(bst, X[:20], edit=other, margin_offset=offset)


if __name__ == "__main__":
    unittest.main()
