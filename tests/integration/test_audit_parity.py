# SPDX-License-Identifier: Apache-2.0
"""The audit and `evidentctl explain` write each method's result with the same code (the audit
library's method writers), so for the same model, row, background and seed they must print the
same object, key for key and value for value.

The demo's incident audit is run for real: evidentd with the demo's trigger rule (large sells of
tools/demo/trading.py's XGBoost model) asking for every method a daemon audit runs, LIME
included, and a short stream of the demo's decisions. Then, for every audited incident,
everything the audit used is recovered from the vault alone: the audit document (`evidentctl
show SEQ --json` of the audit entry), the record's features (`show` of the record it names), the
model artifact and the reference data (the vault's blobs, read from a copy of data.mdb with
mdb_dump and checked against the SHA-256 the audit recorded), and the parameters (seed, decision
threshold in margin space, background summary size, the manifest's immutable and categorical
features). `evidentctl explain` runs each method on those inputs and its object, "row" aside,
must equal the audit's result for that method exactly. Exactness is expected, not a tolerance:
both run the same explain-library functions on bit-identical inputs in the same order (the
reported treeshap comes from the batched entry point in both, the flip test's and the failure
search's attributions from the single-row one in both, the sampled methods see the same k-means
summary of the same rows with the same seed, LIME fits its bins on the whole background with the
same seed and defaults), and both write every real with 17 digits.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_audit_parity.py
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_incidents import CTL, PY, ROOT, TIMEOUT, Daemon  # noqa: E402

# Every method a daemon audit runs for a model file (lime on the audit's second thread, with
# the parameters explain uses by default: params.lime records them).
METHODS = ["treeshap", "treeshap-interventional", "kernelshap", "permutation", "lime",
           "counterfactual", "flip", "adversarial"]
AUDITS = 3  # the rule's burst: the first three large sells are audited


def demo_config():
    """tools/demo/evidentd-demo.conf with its rule asking for every method, auditing three
    incidents (the rest are recorded as rate-limited)."""
    with open(os.path.join(ROOT, "tools", "demo", "evidentd-demo.conf")) as f:
        text = f.read()
    for key, value in (("methods", ", ".join(METHODS)), ("burst", str(AUDITS)),
                       ("rate_limit", "1/h")):
        text, n = re.subn(r"(?m)^%s = .*$" % key, "%s = %s" % (key, value), text)
        if n != 1:
            raise AssertionError("evidentd-demo.conf has no single %r line" % key)
    return text


def vault_blobs(vault, tmp):
    """Every blob of the vault by its hex SHA-256, read with LMDB's own mdb_dump from a copy of
    data.mdb (vault/FORMAT.md: blobs maps the hash to size, blob id and chunk count; chunks
    maps blob id and chunk index, big-endian, to the content)."""
    copy = os.path.join(tmp, "data-copy")
    os.makedirs(copy)
    shutil.copy(os.path.join(vault, "data.mdb"), copy)

    def dump(db):
        out = subprocess.run(["mdb_dump", "-s", db, copy], capture_output=True, text=True,
                             check=True, timeout=TIMEOUT).stdout
        lines = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split()
        return [(bytes.fromhex(lines[i]), bytes.fromhex(lines[i + 1]))
                for i in range(0, len(lines), 2)]

    chunks = dict(dump("chunks"))
    blobs = {}
    for key, value in dump("blobs"):
        size = int.from_bytes(value[0:8], "big")
        blob_id, count = value[8:16], int.from_bytes(value[16:20], "big")
        data = b"".join(chunks[blob_id + i.to_bytes(4, "big")] for i in range(count))
        assert len(data) == size, (key.hex(), len(data), size)
        blobs[key.hex()] = data
    return blobs


class AuditMatchesExplain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("mdb_dump"):
            raise unittest.SkipTest("mdb_dump (lmdb-utils) is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="evident-parity-")
        cls.d = Daemon(cls.tmp, demo_config())
        cls.d.start()
        try:  # the demo's stream, shortened: 300 routine decisions and 6 of the crash
            r = subprocess.run([PY, os.path.join(ROOT, "tools", "demo", "trading.py"),
                                cls.d.sock, os.path.join(cls.tmp, "demo"), "--normal", "300",
                                "--crash", "6"], capture_output=True, text=True,
                               timeout=TIMEOUT)
        finally:
            rc = cls.d.stop()  # a drain waits for the audits
        if r.returncode or rc:
            raise AssertionError("demo failed (%d, daemon %d): %s %s" % (
                r.returncode, rc, r.stdout[-2000:], r.stderr[-2000:]))
        cls.audits = cls.d.entries("audit")
        cls.blobs = vault_blobs(cls.d.vault, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def show(self, seq):
        return json.loads(self.d.ctl("--json", "show", str(seq)).stdout)

    def inputs(self, doc, n):
        """Files and options for `evidentctl explain` with the audit's inputs, from the
        vault."""
        params = doc["params"]
        record = self.show(doc["record_seq"])["payload"]
        self.assertEqual((record["model_id"], record["model_version"]),
                         (doc["model_id"], doc["model_version"]))
        (manifest,) = [m["payload"]["manifest"] for m in self.d.entries("model")
                       if (m["payload"]["manifest"]["model_id"],
                           m["payload"]["manifest"]["version"]) == (doc["model_id"],
                                                                    doc["model_version"])]
        names = [f["name"] for f in manifest["features"]]
        artifact = self.blobs[params["artifact_sha256"]]
        self.assertEqual(hashlib.sha256(artifact).hexdigest(), manifest["artifact_sha256"])
        bg = params["background"]
        self.assertEqual(bg["source"], "reference_data")  # the demo registers reference data
        reference = self.blobs[bg["sha256"]]
        self.assertEqual(hashlib.sha256(reference).hexdigest(), bg["sha256"])
        paths = {}
        for what, data in (("model", artifact), ("background", reference)):
            paths[what] = os.path.join(self.tmp, "%s-%d" % (what, n))
            with open(paths[what], "wb") as f:
                f.write(data)
        paths["rows"] = os.path.join(self.tmp, "row-%d.csv" % n)
        with open(paths["rows"], "w") as f:  # repr: the shortest text that reads back exactly
            f.write(",".join(names) + "\n")
            f.write(",".join(repr(float(v)) for v in record["feature_values"]) + "\n")
        args = ["--model", paths["model"], "--rows", paths["rows"], "--background",
                paths["background"], "--seed", str(params["seed"]),
                "--background-size", str(params["background_size"])]
        if params["threshold"] is not None:  # null: argmax, as explain does for G > 1
            args += ["--threshold", repr(float(params["threshold"]))]
        for flag, pick in (("--immutable", lambda f: f.get("immutable")),
                           ("--categorical", lambda f: f.get("type") == "CATEGORICAL")):
            chosen = [f["name"] for f in manifest["features"] if pick(f)]
            if chosen:
                args += [flag, ",".join(chosen)]
        return args

    def explain(self, method, args, *extra):
        r = subprocess.run([CTL, "explain", "--method", method, "--json"] + args + list(extra),
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        (line,) = r.stdout.splitlines()
        out = json.loads(line)
        self.assertEqual(out.pop("row"), 0)
        return out

    def assert_same(self, audit, cli, path):
        """Equal key for key and value for value; reals exactly."""
        self.assertIs(type(audit), type(cli), path)
        if isinstance(audit, dict):
            self.assertEqual(sorted(audit), sorted(cli), path)
            for k in audit:
                self.assert_same(audit[k], cli[k], "%s.%s" % (path, k))
        elif isinstance(audit, list):
            self.assertEqual(len(audit), len(cli), path)
            for i, (a, c) in enumerate(zip(audit, cli)):
                self.assert_same(a, c, "%s[%d]" % (path, i))
        else:
            self.assertEqual(audit, cli, path)

    def test_every_method_of_every_audit_equals_evidentctl_explain(self):
        self.assertEqual(len(self.audits), AUDITS)
        for n, entry in enumerate(self.audits):
            doc = json.loads(entry["payload"]["document"])
            self.assertEqual(doc["status"], "complete", doc["reasons"])
            self.assertEqual(doc["params"]["methods"], METHODS)
            args = self.inputs(doc, n)
            results = doc["results"]
            compared = []
            for method in doc["params"]["methods"]:
                cli = self.explain(method, args)
                self.assertEqual(cli["prediction"], results["prediction"], method)
                self.assert_same(results[method], cli, "incident %d: %s" % (
                    doc["incident_id"], method))
                compared.append(method)
            self.assertEqual(compared, METHODS)
            # LIME ran with explain's defaults, recorded for replay
            lime, fit = doc["params"]["lime"], results["lime"]["lime"]
            self.assertEqual((lime["samples"], lime["repeats"], lime["max_samples"]),
                             (fit["samples"], fit["repeats"], 0))
            self.assertIn("lime", doc["timings_ms"])

    def test_the_confidence_object_has_the_keys_of_explain_confidence(self):
        # the audit's confidence is of its exact attribution, explain's of a sampled one: the
        # numbers differ by design, the object (one writer) does not
        doc = json.loads(self.audits[0]["payload"]["document"])
        cli = self.explain("kernelshap", self.inputs(doc, 100), "--confidence")
        self.assertEqual(sorted(doc["results"]["confidence"]), sorted(cli["confidence"]))
        self.assertEqual(cli["confidence"]["a_method_against"], "permutation")


if __name__ == "__main__":
    unittest.main(verbosity=2)
