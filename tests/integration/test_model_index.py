#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# evidentctl answers the same on a vault of format 1 (no model index: it scans), on the same
# vault once a writer migrated it (format 2: the model index, filled in by the writer's open)
# and on a vault written with the index from the start: log --model (one version, every version,
# from a seq, with --type), log --type of every kind, models, incidents, show, subject and
# verify. Vaults written by evident-sample, made format 1 by vault-tamper.
#
# Standard library only. Build folder from $BUILD_DIR:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_model_index.py [-v]
import os
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("BUILD_DIR", "build"))
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
SAMPLE = os.path.join(BUILD, "tools", "evident-sample")
TAMPER = os.path.join(BUILD, "tests", "common", "vault-tamper")
TIMEOUT = 120

QUERIES = [
    ["log", "--model", "credit-risk@2.0.0"],
    ["log", "--model", "credit-risk@1.0.0", "--limit", "7"],
    ["log", "--model", "credit-risk", "--from", "1500", "--limit", "9"],
    ["log", "--model", "credit-risk", "--type", "model"],
    ["log", "--model", "other-model"],
    ["--json", "log", "--model", "credit-risk@2.0.0", "--limit", "3"],
    ["log", "--type", "model"],
    ["log", "--type", "prune"],
    ["log", "--type", "record", "--limit", "4"],
    ["log", "--type", "incident"],
    ["models"],
    ["incidents"],
    ["show", "2010"],
    ["subject", "alice"],
]


def run(*argv):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr}")
    return p.stdout


class ModelIndexTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evident-model-index-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.fresh = os.path.join(cls.tmp, "fresh")
        run(SAMPLE, "--vault", cls.fresh, "--records", "2000", "--subject", "alice",
            "--subject-every", "97", "--incident", "1900", "--prune", "1000")
        run(SAMPLE, "--vault", cls.fresh, "--records", "50", "--model-version", "2.0.0",
            "--prune", "2010")
        cls.old = os.path.join(cls.tmp, "old")
        shutil.copytree(cls.fresh, cls.old)
        run(TAMPER, cls.old, "format1", "-")

    def answers(self, vault):
        return {" ".join(q): run(EVIDENTCTL, "--vault", vault, *q) for q in QUERIES}

    def test_format1_migrated_and_fresh_answer_alike(self):
        want = self.answers(self.fresh)
        self.assertIn("credit-risk@2.0.0", want["log --model credit-risk@2.0.0"])
        self.assertEqual(len(want["log --model credit-risk@1.0.0 --limit 7"].splitlines()), 7)
        self.assertEqual(want["log --model other-model"], "")
        # format 1: no index, evidentctl scans
        self.assertEqual(self.answers(self.old), want)
        # a writer's open migrates it (and appends its lifecycle entry, as on the fresh one)
        for v in (self.old, self.fresh):
            run(SAMPLE, "--vault", v, "--records", "0")
        want = self.answers(self.fresh)
        self.assertEqual(self.answers(self.old), want)
        for v in (self.old, self.fresh):
            self.assertIn("OK", run(EVIDENTCTL, "--vault", v, "verify"))


if __name__ == "__main__":
    unittest.main()
