#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# evidentctl on a mirror vault: an origin vault written by evident-sample (records with a data
# subject, an incident and its audit, a prune and an erasure, the model's artifact blob) is
# mirrored entry by entry through the fleet's messages and the vault's mirror API by
# tests/common/vault-mirror (a test auditor without NATS), in two rounds so that the erasure
# reaches payloads the mirror already holds. Every read verb must then work on the mirror
# unchanged and say what it says on the origin: the same leaf hashes, roots, checkpoints,
# proofs, entries and indexes; verify passes; the mirror holds no signing key.
#
# Standard library only. Build folder from $BUILD_DIR or the first argument:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_mirror_cli.py [-v]
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
EVIDENTCTL = SAMPLE = MIRROR = None
TIMEOUT = 120


def run(args, expect=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n"
                             f"stdout: {p.stdout[:3000]}\nstderr: {p.stderr}")
    return p


class MirrorCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evidentctl-mirror-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.origin = os.path.join(cls.tmp, "origin")
        cls.mirror = os.path.join(cls.tmp, "mirror")
        # entries 0-2: start, artifact, model; records 3-42, every fourth about alice
        run([SAMPLE, "--vault", cls.origin, "--records", "40", "--seed", "3",
             "--subject", "alice", "--subject-every", "4", "--incident", "23"], expect=0)
        cls.first = int(run([MIRROR, cls.origin, cls.mirror, "--subject", "alice",
                             "--batch", "5"], expect=0).stdout)
        # the origin prunes and erases payloads the mirror holds, and goes on
        run([SAMPLE, "--vault", cls.origin, "--records", "10", "--seed", "4",
             "--subject", "alice", "--subject-every", "3", "--prune", "5",
             "--erase", "alice"], expect=0)
        cls.size = int(run([MIRROR, cls.origin, cls.mirror, "--subject", "alice"],
                           expect=0).stdout)

    def ctl(self, vault, *args, expect=0):
        return run([EVIDENTCTL, "--vault", vault, *args], expect=expect).stdout

    def both(self, *args, expect=0):
        """The verb's output on the origin and on the mirror, which must be the same."""
        o = self.ctl(self.origin, *args, expect=expect)
        m = self.ctl(self.mirror, *args, expect=expect)
        self.assertEqual(o, m, f"evidentctl {' '.join(args)} differs on the mirror")
        return o

    def test_mirror_has_every_entry(self):
        status = json.loads(self.ctl(self.origin, "--json", "status"))
        self.assertGreater(self.first, 40)
        self.assertGreater(self.size, self.first)
        self.assertEqual(self.size, status["entries"])
        self.assertFalse(os.path.exists(os.path.join(self.mirror, "signing.key")))
        self.assertFalse(status["mirror"])
        self.assertTrue(json.loads(self.ctl(self.mirror, "--json", "status"))["mirror"])
        self.assertIn("mirror:", self.ctl(self.mirror, "status"))
        self.assertNotIn("mirror:", self.ctl(self.origin, "status"))

    def test_verify(self):
        o = json.loads(self.ctl(self.origin, "--json", "verify"))
        m = json.loads(self.ctl(self.mirror, "--json", "verify"))
        self.assertTrue(m["ok"], m)
        for key in ("entries", "root", "pruned", "checkpoints", "signed_size", "dedup_keys",
                    "unsigned_entries", "blobs"):
            self.assertEqual(o.get(key), m.get(key), key)
        self.assertGreater(m["pruned"], 1)  # the prune and the erasure reached the mirror
        # the mirror's checkpoints, checked against the origin's copy kept elsewhere
        kept = os.path.join(self.tmp, "origin.checkpoint")
        shutil.copy(os.path.join(self.origin, "checkpoint"), kept)
        self.ctl(self.mirror, "verify", "--checkpoint", kept)

    def test_log_and_leaf_hashes(self):
        out = self.both("--json", "log", "--limit", "1000000")
        leaves = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(len(leaves), self.size)
        self.assertEqual([e["seq"] for e in leaves], list(range(self.size)))
        self.both("log", "--limit", "1000000")
        self.both("--json", "log", "--type", "incident")
        self.both("--json", "log", "--model", "credit-risk@1.0.0", "--limit", "1000000")
        self.both("--json", "log", "--model", "credit-risk", "--since", "2000-01-01")

    def test_show_every_entry(self):
        for seq in range(self.size):
            self.both("--json", "show", str(seq))
        self.both("show", "23")  # the incident's record, by name
        pruned = json.loads(self.ctl(self.mirror, "--json", "show", "5"))
        self.assertNotIn("payload_bytes", pruned)

    def test_prove_and_verify_proof(self):
        key = os.path.join(self.tmp, "origin.vkey")
        with open(key, "w") as f:
            f.write(self.ctl(self.origin, "checkpoint", "--key"))
        for seq in (0, 5, 23, self.first - 1, self.size - 1):
            bundle = self.both("prove", str(seq))
            path = os.path.join(self.tmp, f"proof-{seq}")
            with open(path, "w") as f:
                f.write(bundle)
            self.ctl(self.mirror, "verify-proof", path, "--key", key)

    def test_checkpoint(self):
        self.both("checkpoint")
        self.both("checkpoint", "--key")
        self.both("--json", "checkpoint")
        with open(os.path.join(self.origin, "checkpoint")) as a, \
                open(os.path.join(self.mirror, "checkpoint")) as b:
            self.assertEqual(a.read(), b.read())
        self.both("consistency", str(self.first - 1))

    def test_other_read_verbs(self):
        self.both("--json", "models")
        self.both("--json", "incidents")
        self.both("--json", "subject", "alice")
        self.both("--json", "holds")


def main():
    global BUILD_DIR, EVIDENTCTL, SAMPLE, MIRROR
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD_DIR = sys.argv.pop(1)
    EVIDENTCTL = os.path.join(BUILD_DIR, "tools", "evidentctl")
    SAMPLE = os.path.join(BUILD_DIR, "tools", "evident-sample")
    MIRROR = os.path.join(BUILD_DIR, "tests", "common", "vault-mirror")
    for exe in (EVIDENTCTL, SAMPLE, MIRROR):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_mirror_cli.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()


if __name__ == "__main__":
    main()
