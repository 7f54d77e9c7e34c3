# SPDX-License-Identifier: Apache-2.0
"""The model loaders against XGBoost itself: models trained inside the test (Debian's
python3-xgboost, scikit-learn's bundled datasets and seeded synthetic data) are saved with
save_model, evaluated by tests/explain/ex-predict, and the margins compared with
Booster.predict(output_margin=True).

    EX_PREDICT=build/tests/ex-predict /usr/bin/python3 tests/explain/test_xgboost_margins.py -v

XGBoost sums float32 leaves in float32 and ex-predict sums the same float32 values in double,
so agreement is to float32 precision: |ours - xgboost| <= 1e-5 * max(1, |xgboost|). Every
split is replayed on rows placed exactly on its threshold and one float32 ulp below it, so a
wrong comparison (<= for <, double for float) shows at once. With -v each case prints the
number of rows and max |delta|.
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
EX_PREDICT = os.environ.get("EX_PREDICT") or os.path.join(ROOT, "build", "tests", "ex-predict")
VERBOSE = "-v" in sys.argv


def write_rows(path, X):
    with open(path, "w") as f:
        f.write(",".join("f%d" % i for i in range(X.shape[1])) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def model_doc(bst):
    raw = bst.save_raw("json").decode()
    return json.loads(raw)  # Python's json reads XGBoost's bare NaN


def trees_of(doc):
    gb = doc["learner"]["gradient_booster"]
    return (gb["gbtree"] if gb.get("name") == "dart" else gb)["model"]["trees"]


def threshold_rows(doc, X, limit=4000):
    """Rows from X with one split feature set exactly on the split's float32 threshold, one
    float32 ulp below it, and one double ulp below it (which rounds back up to the float)."""
    rows = []
    for tree in trees_of(doc):
        types = tree.get("split_type", [0] * len(tree["left_children"]))
        for k, left in enumerate(tree["left_children"]):
            if left == -1 or types[k] != 0:
                continue
            f = tree["split_indices"][k]
            t = np.float32(tree["split_conditions"][k])
            for v in (float(t), float(np.nextafter(t, np.float32(-np.inf))),
                      float(np.nextafter(np.float64(t), -np.inf))):
                row = X[len(rows) % len(X)].copy()
                row[f] = v
                rows.append(row)
                if len(rows) >= limit:
                    return np.array(rows)
    return np.array(rows)


class Margins(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="evident-xgb-margins-")
        cls.worst = []

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        if VERBOSE and cls.worst:
            total = sum(n for _, n, _ in cls.worst)
            print("\n%d rows in %d cases, max |delta| %.3g" %
                  (total, len(cls.worst), max(d for _, _, d in cls.worst)), file=sys.stderr)

    def ours(self, model, X):
        rows = os.path.join(self.tmp.name, "rows.csv")
        write_rows(rows, X)
        r = subprocess.run([EX_PREDICT, model, rows], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([o["row"] for o in out], list(range(len(X))))
        return np.array([o["margin"] for o in out])

    def check(self, name, bst, X, dm=None, edit=None, offset=0.0):
        """Saves bst (edited as JSON by edit), compares ex-predict with bst's margins (+
        offset, per output) on X; also on threshold rows when no dm is given."""
        model = os.path.join(self.tmp.name, name + ".json")
        bst.save_model(model)
        if edit:
            with open(model) as f:
                doc = json.load(f)
            edit(doc)
            with open(model, "w") as f:
                json.dump(doc, f)  # allow_nan: writes NaN as XGBoost does
        sets = [(X, dm)]
        if dm is None:
            T = threshold_rows(model_doc(bst), X)
            if len(T):
                sets.append((T, None))
        n = 0
        worst = 0.0
        for rows, d in sets:
            d = d if d is not None else xgb.DMatrix(rows, missing=np.nan)
            theirs = bst.predict(d, output_margin=True).reshape(len(rows), -1) + offset
            mine = self.ours(model, rows)
            self.assertEqual(mine.shape, theirs.shape)
            delta = np.abs(mine - theirs)
            bad = delta > 1e-5 * np.maximum(1.0, np.abs(theirs))
            if bad.any():
                i = np.argwhere(bad)[0]
                self.fail("%s: row %d output %d: ours %.9g, xgboost %.9g (%d rows off)" % (
                    name, i[0], i[1], mine[tuple(i)], theirs[tuple(i)], bad.sum()))
            n += len(rows)
            worst = max(worst, float(delta.max()))
        self.worst.append((name, n, worst))
        if VERBOSE:
            print("  %-34s %6d rows  max |delta| %.3g" % (name, n, worst), file=sys.stderr)

    # ------------------------------------------------------------------ data

    @staticmethod
    def cancer(missing):
        X, y = load_breast_cancer(return_X_y=True)
        X = X.copy()
        if missing:
            X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan
        return X, y

    # ------------------------------------------------------------------ objectives

    def test_binary_objectives_with_missing_values(self):
        X, y = self.cancer(missing=True)
        for obj in ("binary:logistic", "binary:logitraw", "reg:logistic", "binary:hinge"):
            bst = xgb.train({"objective": obj, "max_depth": 4, "seed": 0},
                            xgb.DMatrix(X, label=y, missing=np.nan), 25)
            self.check(obj, bst, X)

    def test_regression_objectives(self):
        X, y = load_diabetes(return_X_y=True)
        for obj in ("reg:squarederror", "reg:pseudohubererror", "reg:absoluteerror"):
            bst = xgb.train({"objective": obj, "max_depth": 5, "seed": 0},
                            xgb.DMatrix(X, label=y), 30)
            self.check(obj, bst, X)
        positive = y / 50.0
        counts = np.random.default_rng(2).poisson(np.exp(X[:, 2] * 5 + 1))
        for obj, label in (("count:poisson", counts), ("reg:gamma", positive),
                           ("reg:tweedie", positive)):
            bst = xgb.train({"objective": obj, "max_depth": 4, "seed": 0},
                            xgb.DMatrix(X, label=label), 30)
            self.check(obj, bst, X)

    def test_multiclass(self):
        X, y = load_iris(return_X_y=True)
        X = X.copy()
        X[np.random.default_rng(3).random(X.shape) < 0.1] = np.nan
        for obj in ("multi:softprob", "multi:softmax"):
            bst = xgb.train({"objective": obj, "num_class": 3, "max_depth": 3, "seed": 0},
                            xgb.DMatrix(X, label=y, missing=np.nan), 20)
            self.check(obj, bst, X)

    # ------------------------------------------------------------------ tree shapes

    def test_deep_trees(self):
        X, y = make_classification(n_samples=20000, n_features=20, n_informative=12,
                                   random_state=3)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 14, "tree_method": "hist",
                         "min_child_weight": 0.01, "seed": 0}, xgb.DMatrix(X, label=y), 6)
        depth = max(t.count("\t") for t in bst.get_dump()[0].split("\n"))
        self.assertGreaterEqual(depth, 12)
        self.check("deep (max_depth 14)", bst, X[:2000])

    def test_pruned_trees_keep_deleted_nodes(self):
        X, y = self.cancer(missing=True)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 8, "gamma": 4.0,
                         "seed": 0}, xgb.DMatrix(X, label=y, missing=np.nan), 20)
        trees = trees_of(model_doc(bst))
        self.assertTrue(any(int(t["tree_param"]["num_deleted"]) > 0 for t in trees))
        self.check("pruned (gamma 4)", bst, X)

    def test_dart(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"booster": "dart", "objective": "binary:logistic", "max_depth": 3,
                         "rate_drop": 0.3, "skip_drop": 0.0, "seed": 4},
                        xgb.DMatrix(X, label=y), 20)
        weights = model_doc(bst)["learner"]["gradient_booster"]["weight_drop"]
        self.assertTrue(any(w != 1.0 for w in weights))
        self.check("dart", bst, X)

    def test_random_forest_is_not_averaged(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 4,
                         "num_parallel_tree": 4, "subsample": 0.7, "colsample_bynode": 0.6,
                         "seed": 5}, xgb.DMatrix(X, label=y), 3)
        self.check("num_parallel_tree 4", bst, X)

    def test_categorical_splits(self):
        rng = np.random.default_rng(5)
        n = 5000
        cat = rng.integers(0, 40, n).astype(float)
        num = rng.normal(size=n)
        y = ((np.isin(cat, [1, 4, 7, 33, 38]) & (num > 0)) | (cat == 9)).astype(float)
        X = np.column_stack([num, cat, rng.normal(size=n)])
        X[rng.random(n) < 0.05, 1] = np.nan
        X[rng.random(n) < 0.05, 0] = np.nan
        types = ["q", "c", "q"]
        for onehot in (1, 64):  # partition splits, then one-hot splits
            bst = xgb.train({"objective": "binary:logistic", "max_depth": 4,
                             "tree_method": "hist", "max_cat_to_onehot": onehot, "seed": 0},
                            xgb.DMatrix(X, label=y, feature_types=types,
                                        enable_categorical=True), 20)
            self.assertIn(1, trees_of(model_doc(bst))[0]["split_type"])
            odd = [45, 1000, -1, -0.5, -1e-30, 3.5, 3.9999999, 32.2, 16777215, 16777215.7,
                   16777216, 1e9, np.nan, 0.0, -0.0]
            Xt = np.repeat(X[:len(odd)], 2, axis=0)
            Xt[:len(odd), 1] = odd  # unseen, negative, non-integer, near 2^24, missing
            Xt = np.vstack([Xt, X[:500]])
            dm = xgb.DMatrix(Xt, feature_types=types, enable_categorical=True, missing=np.nan)
            self.check("categorical (onehot < %d)" % onehot, bst, Xt, dm=dm)

    # ------------------------------------------------------------------ base_score forms

    def test_base_score_forms(self):
        X, y = self.cancer(missing=False)
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "base_score": 0.3,
                         "seed": 0}, xgb.DMatrix(X, label=y), 10)
        self.check("base_score 0.3 (as 2.x estimates)", bst, X)

        def as_array(doc):  # XGBoost 3.1 writes "[3E-1]"
            p = doc["learner"]["learner_model_param"]
            p["base_score"] = "[%s]" % p["base_score"]
        self.check("base_score \"[3E-1]\" (3.1)", bst, X, edit=as_array)

        def other(doc):
            doc["learner"]["learner_model_param"]["base_score"] = "[6E-1]"
        offset = np.log(np.float32(0.6) / np.float32(0.4)) - np.log(0.3 / 0.7)
        self.check("base_score edited to 0.6", bst, X[:50], edit=other, offset=offset)

        bst = xgb.train({"objective": "count:poisson", "max_depth": 3, "base_score": 2.5,
                         "seed": 0}, xgb.DMatrix(X, label=y * 3), 10)
        self.check("poisson base_score 2.5", bst, X)
        bst = xgb.train({"objective": "binary:logitraw", "max_depth": 3, "base_score": 0.3,
                         "seed": 0}, xgb.DMatrix(X, label=y), 10)
        self.check("logitraw base_score 0.3 (a margin)", bst, X)

    def test_multiclass_base_score_per_class(self):
        X, y = load_iris(return_X_y=True)
        bst = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3,
                         "seed": 0}, xgb.DMatrix(X, label=y), 10)

        def per_class(doc):  # 3.1: one entry per class
            doc["learner"]["learner_model_param"]["base_score"] = "[1E-1,2.5E-1,-2E0]"
        offset = np.array([0.1, 0.25, -2.0], dtype=np.float32) - np.float32(0.5)
        self.check("multiclass base_score per class", bst, X, edit=per_class, offset=offset)


if __name__ == "__main__":
    if not os.access(EX_PREDICT, os.X_OK):
        print("ex-predict not built at %s (set EX_PREDICT)" % EX_PREDICT, file=sys.stderr)
        sys.exit(1)
    unittest.main(argv=[a for a in sys.argv if a != "-v"], verbosity=2 if VERBOSE else 1)
