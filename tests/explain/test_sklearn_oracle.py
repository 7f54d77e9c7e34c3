# SPDX-License-Identifier: Apache-2.0
"""The scikit-learn reference oracle (tools/oracles/sklearn_oracle.py) through the real
protocol: small models trained here (Debian's scikit-learn 1.2) are joblib-dumped to a temp
dir, the oracle is started as evidentd starts it (EVIDENT_ARTIFACT, EVIDENT_N_FEATURES,
EVIDENT_ORACLE_PROTOCOL=1), and this test speaks delimited PredictRequest/PredictResponse
to it, comparing with the model's own predict_proba / decision_function to 1e-12.

    /usr/bin/python3 tests/explain/test_sklearn_oracle.py [-v]
"""
import os
import subprocess
import sys
import tempfile
import unittest

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORACLE = os.environ.get("SKLEARN_ORACLE") or os.path.join(ROOT, "tools", "oracles", "sklearn_oracle.py")
sys.path.insert(0, os.path.join(ROOT, "tools", "python", "evident"))
import evident_pb2 as pb  # noqa: E402


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


class Oracle:
    """One oracle process, spoken to synchronously."""

    def __init__(self, path, n_features, *args):
        env = dict(os.environ, EVIDENT_ARTIFACT=path, EVIDENT_N_FEATURES=str(n_features),
                   EVIDENT_ORACLE_PROTOCOL="1")
        self.p = subprocess.Popen(["/usr/bin/python3", ORACLE, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.next_id = 1

    def send_raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def read_response(self):
        shift = n = 0
        while True:
            b = self.p.stdout.read(1)
            if not b:
                raise EOFError("oracle closed stdout: " + self.p.stderr.read().decode())
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        r = pb.PredictResponse()
        r.ParseFromString(self.p.stdout.read(n))
        return r

    def predict(self, X, n_features=None):
        X = np.asarray(X, dtype=np.float64)
        q = pb.PredictRequest(n_rows=X.shape[0], n_features=n_features or X.shape[1],
                              request_id=self.next_id)
        q.values.extend(X.ravel().tolist())
        body = q.SerializeToString()
        self.send_raw(varint(len(body)) + body)
        r = self.read_response()
        if not r.HasField("error"):
            assert r.request_id == self.next_id, (r.request_id, self.next_id)
        self.next_id += 1
        return r

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        self.p.stdout.close()
        self.p.stderr.close()
        return rc


class SklearnOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="evident-sklearn-")
        rng = np.random.default_rng(7)
        cls.X = rng.normal(size=(400, 6))
        y = (cls.X[:, 0] + 0.5 * cls.X[:, 1] - cls.X[:, 2] * cls.X[:, 3] > 0).astype(int)
        y3 = y + (cls.X[:, 4] > 0.7)
        cls.models = {
            "logreg": LogisticRegression(max_iter=500).fit(cls.X, y),
            "logreg3": LogisticRegression(max_iter=500).fit(cls.X, y3),
            "forest": RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(cls.X, y3),
        }
        Xn = cls.X.copy()
        Xn[rng.random(Xn.shape) < 0.15] = np.nan
        cls.Xn = Xn
        cls.models["hgb"] = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(Xn, y)
        cls.paths = {}
        for name, m in cls.models.items():
            cls.paths[name] = os.path.join(cls.tmp.name, name + ".joblib")
            joblib.dump(m, cls.paths[name])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, name, X, method, *args):
        m = self.models[name]
        o = Oracle(self.paths[name], X.shape[1], *args)
        try:
            for lo, hi in [(0, 1), (1, 50), (50, X.shape[0])]:
                r = o.predict(X[lo:hi])
                self.assertFalse(r.HasField("error"), r.error)
                want = np.asarray(getattr(m, method)(X[lo:hi]), dtype=np.float64)
                if want.ndim == 1:
                    want = want.reshape(-1, 1)
                self.assertEqual(r.n_outputs, want.shape[1])
                got = np.array(r.values).reshape(hi - lo, r.n_outputs)
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        finally:
            self.assertEqual(o.close(), 0)

    def test_logistic_regression_proba(self):
        self.check("logreg", self.X, "predict_proba")
        self.check("logreg3", self.X, "predict_proba")

    def test_logistic_regression_decision(self):
        self.check("logreg", self.X, "decision_function", "--output", "decision")
        self.check("logreg3", self.X, "decision_function", "--output", "decision")

    def test_random_forest(self):
        self.check("forest", self.X, "predict_proba")
        self.check("forest", self.X, "predict", "--output", "predict")

    def test_nan_passed_through(self):
        self.check("hgb", self.Xn, "predict_proba")

    def test_refusals_keep_serving(self):
        o = Oracle(self.paths["logreg"], 6)
        try:
            r = o.predict(self.X[:3, :5])  # the model has 6 features
            self.assertIn("n_features 5, the model has 6", r.error)
            r = o.predict(self.Xn[:20])  # LogisticRegression refuses NaN
            self.assertIn("predict_proba", r.error)
            self.assertIn("NaN", r.error)
            body = b"\x0f\xff\xff"  # not a PredictRequest
            o.send_raw(varint(len(body)) + body)
            self.assertIn("do not decode", o.read_response().error)
            r = o.predict(self.X[:2])
            self.assertFalse(r.HasField("error"), r.error)
            self.assertEqual(len(r.values), 4)
        finally:
            self.assertEqual(o.close(), 0)

    def test_values_in_any_encoding(self):
        """The oracle reads values from the packed bytes directly; unpacked (one tag per
        value) and split packed encodings are legal protobuf too and must give the same."""
        import struct

        m, X = self.models["logreg"], self.X[:3]
        want = m.predict_proba(X)
        o = Oracle(self.paths["logreg"], 6)
        try:
            head = b"\x08\x03\x10\x06"  # n_rows 3, n_features 6
            unpacked = b"".join(b"\x19" + struct.pack("<d", v) for v in X.ravel())
            half = X.ravel()[:7].tobytes(), X.ravel()[7:].tobytes()
            split = b"".join(b"\x1a" + varint(len(h)) + h for h in half)
            for i, vals in enumerate([unpacked, split]):
                body = head + vals + b"\x20" + varint(100 + i)
                o.send_raw(varint(len(body)) + body)
                r = o.read_response()
                self.assertFalse(r.HasField("error"), r.error)
                self.assertEqual(r.request_id, 100 + i)
                np.testing.assert_allclose(np.array(r.values).reshape(3, 2), want, rtol=0, atol=1e-12)
        finally:
            self.assertEqual(o.close(), 0)

    def test_help_and_bad_artifact(self):
        h = subprocess.run(["/usr/bin/python3", ORACLE, "--help"], capture_output=True, text=True)
        self.assertEqual(h.returncode, 0)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES", "TRUSTED"):
            self.assertIn(section, h.stdout)
        bad = os.path.join(self.tmp.name, "bad.joblib")
        with open(bad, "wb") as f:
            f.write(b"not a pickle")
        b = subprocess.run(["/usr/bin/python3", ORACLE, bad], input=b"", capture_output=True)
        self.assertEqual(b.returncode, 1)
        self.assertIn(b"cannot load", b.stderr)


if __name__ == "__main__":
    unittest.main()
