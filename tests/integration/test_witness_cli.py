#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Integration tests of evidentctl's consistency proofs and witness cosignatures on vaults written
# by evident-sample and cosigned by tests/common/vault-cosign (a test witness): the consistency
# verb against an independent RFC 6962 computation, verify --checkpoint against a vault
# rewritten and re-signed with its own key (vault-tamper resign), witness quorums in verify and
# verify-proof, the checkpoint prove cites, checkpoint and status, and the report's witnesses.
#
# Standard library only. Build folder from $BUILD_DIR or the first argument:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_witness_cli.py [-v]
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EVIDENTCTL = SAMPLE = TAMPER = COSIGN = EVIDENTD = None
TIMEOUT = 120
HEX64 = re.compile(r"^[0-9a-f]{64}$")
FIRST = 43   # entries of the first sample run: lifecycle, artifact, model, 40 records
SECOND = 64  # after the second: lifecycle and 20 records more


# ------------------------------------------------------------ RFC 6962, independently

def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    """The largest power of two smaller than n (RFC 6962 section 2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def subproof(m, leaves, complete):
    """SUBPROOF of RFC 6962 section 2.1.2."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency_proof(m, leaves):
    return subproof(m, leaves, True)


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2, with the empty tree refused as vault.h does."""
    if first == 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# ------------------------------------------------------------ programs

def run(args, expect=None, stdin=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, input=stdin)
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n"
                             f"stdout: {p.stdout[:3000]}\nstderr: {p.stderr}")
    return p


def sample(vault, *args):
    run([SAMPLE, "--vault", vault, *args], expect=0)


def tamper(vault, *args):
    run([TAMPER, vault, *args], expect=0)


def cosign(*args):
    """vault-cosign ARGS: the witness's verifier key, or the cosigned note (--note)."""
    return run([COSIGN, *args], expect=0).stdout


class WitnessCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evidentctl-witness-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.vault = os.path.join(cls.tmp, "a")
        sample(cls.vault, "--records", "40", "--seed", "3")
        cls.cp_first = cls.keep(cls.vault, "first.checkpoint")
        sample(cls.vault, "--records", "20", "--seed", "4")
        cls.cp_second = cls.keep(cls.vault, "second.checkpoint")
        cls.vkey = run([EVIDENTCTL, "--vault", cls.vault, "checkpoint", "--key"],
                       expect=0).stdout.strip()
        cls.vkey_file = os.path.join(cls.tmp, "a.vkey")
        with open(cls.vkey_file, "w") as f:
            f.write(cls.vkey + "\n")
        # three witnesses: their private keys (created by vault-cosign) and verifier keys
        cls.wkey, cls.wvkey, cls.wvkey_file = {}, {}, {}
        for w in ("w1", "w2", "w3"):
            cls.wkey[w] = os.path.join(cls.tmp, w + ".key")
            cls.wvkey[w] = cosign("--key", cls.wkey[w], "--name", f"witness.example/{w}").strip()
            cls.wvkey_file[w] = os.path.join(cls.tmp, w + ".vkey")
            with open(cls.wvkey_file[w], "w") as f:
                f.write(cls.wvkey[w] + "\n")
        leaves = json.loads("[" + ",".join(cls.ctl_static("--json", "log").splitlines()) + "]")
        cls.leaves = [bytes.fromhex(e["leaf_hash"]) for e in leaves]

    @classmethod
    def keep(cls, vault, name):
        """A copy of the vault's checkpoint file kept elsewhere."""
        dst = os.path.join(cls.tmp, name)
        shutil.copy(os.path.join(vault, "checkpoint"), dst)
        return dst

    @classmethod
    def ctl_static(cls, *args, vault=None):
        return run([EVIDENTCTL, "--vault", vault or cls.vault, *args], expect=0).stdout

    # ------------------------------------------------------------ helpers

    def ctl(self, *args, vault=None, expect=None, stdin=None):
        return run([EVIDENTCTL, "--vault", vault or self.vault, *args], expect=expect,
                   stdin=stdin)

    def ctl_json(self, *args, vault=None, expect=0):
        return json.loads(self.ctl("--json", *args, vault=vault, expect=expect).stdout)

    def copy_vault(self, name, src=None):
        dst = os.path.join(self.tmp, name)
        shutil.copytree(src or self.vault, dst)
        return dst

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()

    def one_line_error(self, p, *fragments):
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("evidentctl: "), p.stderr)
        for frag in fragments:
            self.assertIn(frag, lines[0])

    def cosigned_note(self, note_file, *witnesses, time_=None):
        """The note in note_file with a cosignature by each witness appended."""
        text = self.read(note_file)
        for w in witnesses:
            path = self.write("tmp.note", text)
            args = ["--key", self.wkey[w], "--name", f"witness.example/{w}", "--note", path]
            if time_ is not None:
                args += ["--time", str(time_)]
            text = cosign(*args)
        return text

    def witness_args(self, *ws, files=False):
        out = []
        for w in ws:
            out += ["--witness-key", self.wvkey_file[w] if files else self.wvkey[w]]
        return out

    # ------------------------------------------------------------ consistency

    def test_consistency_matches_rfc6962(self):
        pairs = [(1, 1), (1, 2), (1, SECOND), (2, 3), (3, 7), (4, 8), (5, SECOND), (7, 13),
                 (8, SECOND), (16, 32), (17, 40), (FIRST, SECOND), (SECOND - 1, SECOND),
                 (SECOND, SECOND), (32, SECOND)]
        for old, new in pairs:
            with self.subTest(old=old, new=new):
                pr = self.ctl_json("consistency", str(old), str(new))
                self.assertEqual(sorted(pr), ["new_root", "new_size", "old_root", "old_size",
                                              "proof"])
                self.assertEqual((pr["old_size"], pr["new_size"]), (old, new))
                self.assertEqual(pr["old_root"], mth(self.leaves[:old]).hex())
                self.assertEqual(pr["new_root"], mth(self.leaves[:new]).hex())
                want = [h.hex() for h in consistency_proof(old, self.leaves[:new])]
                self.assertEqual(pr["proof"], want)
                proof = [bytes.fromhex(h) for h in pr["proof"]]
                self.assertTrue(verify_consistency(old, new, mth(self.leaves[:old]),
                                                   mth(self.leaves[:new]), proof))
                # the verifier's semantics: a changed hash, a dropped hash or another old root
                # fail
                if proof:
                    bad = proof[:]
                    bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
                    self.assertFalse(verify_consistency(old, new, mth(self.leaves[:old]),
                                                        mth(self.leaves[:new]), bad))
                    self.assertFalse(verify_consistency(old, new, mth(self.leaves[:old]),
                                                        mth(self.leaves[:new]), proof[:-1]))
                if old > 1:
                    self.assertFalse(verify_consistency(old, new, mth(self.leaves[:old - 1]),
                                                        mth(self.leaves[:new]), proof))
        self.assertEqual(self.ctl_json("consistency", "9", "9")["proof"], [])

    def test_consistency_text_and_default(self):
        pr = self.ctl_json("consistency", str(FIRST))
        self.assertEqual(pr["new_size"], SECOND)  # the latest signed checkpoint
        self.assertEqual(pr["new_root"], self.ctl_json("checkpoint")["root"])
        lines = self.ctl("consistency", str(FIRST), expect=0).stdout.splitlines()
        self.assertEqual(lines[0], f"old size:  {FIRST} (a signed checkpoint)")
        self.assertEqual(lines[1], f"old root:  {pr['old_root']}")
        self.assertEqual(lines[2], f"new size:  {SECOND} (the latest signed checkpoint)")
        self.assertEqual(lines[3], f"new root:  {pr['new_root']}")
        self.assertEqual(lines[4], f"proof:     {len(pr['proof'])} hashes, verified (RFC 9162 "
                                   "consistency proof, old tree to new)")
        self.assertEqual(lines[5:], pr["proof"])
        out = self.ctl("consistency", "5", "20", expect=0).stdout
        self.assertIn("old size:  5 (no stored checkpoint of this size)", out)
        # the unsigned tail: NEW defaults to the latest checkpoint, and may name the head
        v = self.copy_vault("tail")
        sample(v, "--records", "3", "--no-checkpoint")
        self.assertEqual(self.ctl_json("consistency", "10", vault=v)["new_size"], SECOND)
        head = self.ctl_json("consistency", "10", str(SECOND + 4), vault=v)
        self.assertEqual(head["new_root"], self.ctl_json("status", vault=v)["root"])
        self.assertIn("(no stored checkpoint of this size)",
                      self.ctl("consistency", "10", str(SECOND + 4), vault=v, expect=0).stdout)

    def test_consistency_bad_arguments(self):
        cases = [
            (["consistency"], "OLD"),
            (["consistency", "0"], "OLD must be at least 1"),
            (["consistency", "0", "5"], "OLD must be at least 1"),
            (["consistency", "30", "20"], "OLD 30 is larger than NEW 20"),
            (["consistency", str(SECOND + 1)], f"larger than NEW {SECOND}"),
            (["consistency", "3", str(SECOND + 1)], f"beyond the vault's {SECOND} entries"),
            (["consistency", "x"], "OLD: not a non-negative integer: 'x'"),
            (["consistency", "-1"], "-1"),
            (["consistency", "3", "y"], "NEW: not a non-negative integer: 'y'"),
            (["consistency", "1", "2", "3"], "unexpected argument '3'"),
        ]
        for args, frag in cases:
            with self.subTest(args=args):
                self.one_line_error(self.ctl(*args, expect=2), frag)
        v = os.path.join(self.tmp, "unsigned")
        sample(v, "--records", "3", "--no-checkpoint")
        self.one_line_error(self.ctl("consistency", "2", vault=v, expect=1),
                            "no signed checkpoint yet: give NEW")
        self.assertEqual(self.ctl_json("consistency", "2", "6", vault=v)["new_size"], 6)
        out = self.ctl("consistency", "--help", expect=0).stdout
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
            self.assertRegex(out, rf"(?m)^{section}$")
        self.assertRegex(self.ctl("--help", expect=0).stdout, r"\n\s+consistency\s")

    # ------------------------------------------------------------ verify --checkpoint

    def test_verify_checkpoints_consistent(self):
        p = self.ctl("verify", "--checkpoint", self.cp_first, "--checkpoint", self.cp_second,
                     expect=0)
        self.assertIn(f"checkpoint {self.cp_first} (size {FIRST}): consistent with the vault's "
                      f"latest signed checkpoint of size {SECOND} (consistency proof of ",
                      p.stdout)
        self.assertIn(f"checkpoint {self.cp_second} (size {SECOND}): consistent: the same tree "
                      "as the vault's latest signed checkpoint", p.stdout)
        rep = self.ctl_json("verify", "--checkpoint", self.cp_first)
        self.assertTrue(rep["ok"])
        (g,) = rep["given_checkpoints"]
        self.assertEqual((g["file"], g["size"], g["consistent"], g["against"],
                          g["against_size"]), (self.cp_first, FIRST, True, "checkpoint", SECOND))
        self.assertEqual(g["root"], g["vault_root"])
        self.assertEqual(g["proof"], self.ctl_json("consistency", str(FIRST))["proof"])
        # a checkpoint newer than the vault's latest is proven against its head
        v = self.copy_vault("longer")
        sample(v, "--records", "2", "--no-checkpoint")
        rep = self.ctl_json("verify", "--checkpoint", self.cp_first, vault=v)
        self.assertEqual(rep["given_checkpoints"][0]["against_size"], SECOND)
        # a vault rolled back: the kept checkpoint covers entries it no longer holds
        short = self.copy_vault("short")
        tamper(short, "truncate", str(FIRST))
        p = self.ctl("verify", "--checkpoint", self.cp_second, vault=short, expect=1)
        self.assertIn(f"FAILED: checkpoint {self.cp_second} (size {SECOND}) is not consistent "
                      f"with the vault: it covers {SECOND} entries but the vault holds {FIRST} "
                      "(truncated or rolled back)", p.stdout)
        # a vault too damaged to build proofs from: the file is not checked, and says why
        damaged = self.copy_vault("damaged")
        tamper(damaged, "move", str(SECOND - 1), str(SECOND + 16))
        p = self.ctl("verify", "--checkpoint", self.cp_second, vault=damaged, expect=1)
        self.assertEqual(p.stdout.splitlines()[1:], [
            f"FAILED: checkpoint {self.cp_second}: not checked: the vault is damaged (an entry "
            "or a Merkle node is missing or malformed)"])
        # a checkpoint of another log
        other = os.path.join(self.tmp, "other")
        sample(other, "--records", "2")
        p = self.ctl("verify", "--checkpoint", os.path.join(other, "checkpoint"), expect=1)
        self.assertIn("not signed by the vault's key", p.stdout)

    def test_resigned_rewrite_passes_alone_and_fails_against_a_kept_checkpoint(self):
        forged = self.copy_vault("forged")
        cosign(forged, "--key", self.wkey["w1"], "--name", "witness.example/w1")
        self.assertEqual(self.ctl_json("status", vault=forged)["checkpoint_cosignatures"], 1)
        tamper(forged, "resign", "50")
        st = self.ctl_json("status", vault=forged)
        self.assertEqual((st["entries"], st["checkpoint_size"]), (SECOND, SECOND))
        self.assertEqual(st["checkpoint_cosignatures"], 0)  # the attacker dropped them
        self.assertNotEqual(st["root"], self.ctl_json("status")["root"])
        # the threat: the vault verifies by itself, its signature is the real key's
        p = self.ctl("verify", vault=forged, expect=0)
        self.assertTrue(p.stdout.startswith(f"OK: {SECOND} entries"), p.stdout)
        self.assertEqual(self.ctl_json("checkpoint", "--key", vault=forged)["key"], self.vkey)
        # a checkpoint copied before the rewrite names the divergence
        old_root = self.ctl_json("checkpoint")["root"]
        p = self.ctl("verify", "--checkpoint", self.cp_second, vault=forged, expect=1)
        self.assertIn(f"FAILED: checkpoint {self.cp_second} (size {SECOND}, root {old_root}) is "
                      f"not consistent with the vault: the first {SECOND} entries now hash to "
                      f"{st['root']}\n", p.stdout)
        # a smaller kept checkpoint that still holds narrows it down
        p = self.ctl("verify", "--checkpoint", self.cp_first, "--checkpoint", self.cp_second,
                     vault=forged, expect=1)
        self.assertIn(f"checkpoint {self.cp_first} (size {FIRST}): consistent", p.stdout)
        self.assertIn(f"; entries 0..{FIRST - 1} still match checkpoint {self.cp_first} (size "
                      f"{FIRST}), so the change is among entries {FIRST}..{SECOND - 1}\n",
                      p.stdout)
        rep = self.ctl_json("verify", "--checkpoint", self.cp_second, vault=forged, expect=1)
        self.assertFalse(rep["ok"])
        (g,) = rep["given_checkpoints"]
        self.assertFalse(g["consistent"])
        self.assertEqual((g["root"], g["vault_root"]), (old_root, st["root"]))
        self.assertIn("is not consistent with the vault", g["problem"])
        # the forged vault's consistency proofs hold for its own roots only
        pr = self.ctl_json("consistency", str(FIRST), vault=forged)
        self.assertEqual(pr["old_root"], self.ctl_json("consistency", str(FIRST))["old_root"])
        self.assertNotEqual(pr["new_root"], old_root)

    # ------------------------------------------------------------ witness quorums

    def test_verify_witness_quorum(self):
        notes = {0: self.cp_second,
                 1: self.write("c1.note", self.cosigned_note(self.cp_second, "w1")),
                 2: self.write("c2.note", self.cosigned_note(self.cp_second, "w1", "w2"))}
        for valid, note in notes.items():
            for quorum in (0, 1, 2):
                with self.subTest(valid=valid, quorum=quorum):
                    p = self.ctl("verify", "--checkpoint", note, *self.witness_args("w1", "w2"),
                                 "--quorum", str(quorum))
                    self.assertEqual(p.returncode, 0 if valid >= quorum else 1, p.stdout)
                    line = [ln for ln in p.stdout.splitlines() if "witnesses cosigned" in ln]
                    self.assertEqual(len(line), 1, p.stdout)
                    self.assertIn(f"{valid} of 2 witnesses cosigned (quorum {quorum})", line[0])
                    self.assertEqual(line[0].startswith("FAILED: "), valid < quorum)
        # the default quorum is every witness given
        self.ctl("verify", "--checkpoint", notes[1], *self.witness_args("w1", "w2"), expect=1)
        self.ctl("verify", "--checkpoint", notes[2], *self.witness_args("w1", "w2"), expect=0)
        # who cosigned and when, in text and JSON
        p = self.ctl("verify", "--checkpoint", notes[1], *self.witness_args("w1", "w2"),
                     expect=1)
        self.assertRegex(p.stdout, r"FAILED: checkpoint \S+: 1 of 2 witnesses cosigned \(quorum "
                                   r"2\): witness\.example/w1 \(key [0-9a-f]{8}\) at "
                                   r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; witness\.example/w2 \(key "
                                   r"[0-9a-f]{8}\): no cosignature\n")
        rep = self.ctl_json("verify", "--checkpoint", notes[1], *self.witness_args("w1", "w2"),
                            expect=1)
        self.assertEqual(rep["problem"], "a given checkpoint does not hold")
        self.assertIn("too few witness cosignatures", rep["detail"])
        wit = rep["given_checkpoints"][0]["witnesses"]
        self.assertEqual((wit["quorum"], wit["cosigned"], wit["ok"]), (2, 1, False))
        w1, w2 = wit["witnesses"]
        self.assertEqual((w1["name"], w1["cosigned"], w1["problem"]),
                         ("witness.example/w1", True, None))
        self.assertEqual(w1["key_id"], self.wvkey["w1"].split("+")[1])
        self.assertAlmostEqual(w1["timestamp_unix"], time.time(), delta=600)
        self.assertEqual((w2["cosigned"], w2["problem"], w2["timestamp"]),
                         (False, "no cosignature", None))

    def test_cosignatures_that_do_not_count(self):
        now = int(time.time())
        # a witness the verifier does not know
        unknown = self.write("c3.note", self.cosigned_note(self.cp_second, "w3"))
        rep = self.ctl_json("verify", "--checkpoint", unknown, *self.witness_args("w1", "w2"),
                            "--quorum", "1", expect=1)
        self.assertEqual(rep["given_checkpoints"][0]["witnesses"]["cosigned"], 0)
        self.ctl("verify", "--checkpoint", unknown, *self.witness_args("w3"), expect=0)
        # a tampered cosignature: one bit of its signature
        text = self.cosigned_note(self.cp_second, "w1")
        head, last = text.rstrip("\n").rsplit("\n", 1)
        dash, name, sig64 = last.split(" ")
        raw = bytearray(base64.b64decode(sig64))
        raw[40] ^= 1
        bad = self.write("bad.note", f"{head}\n{dash} {name} "
                                     f"{base64.b64encode(bytes(raw)).decode()}\n")
        p = self.ctl("verify", "--checkpoint", bad, *self.witness_args("w1"), expect=1)
        self.assertIn("witness.example/w1 (key", p.stdout)
        self.assertIn("its cosignature does not verify", p.stdout)
        # a cosignature of another checkpoint grafted onto this one
        graft = self.write("graft.note", self.read(self.cp_first) + last + "\n")
        p = self.ctl("verify", "--checkpoint", graft, *self.witness_args("w1"), expect=1)
        self.assertIn("its cosignature does not verify", p.stdout)
        # far in the future: not counted; within 10 minutes ahead: counted
        future = self.write("future.note",
                            self.cosigned_note(self.cp_second, "w1", time_=now + 86400))
        p = self.ctl("verify", "--checkpoint", future, *self.witness_args("w1"), expect=1)
        self.assertRegex(p.stdout, r"witness\.example/w1 \(key [0-9a-f]{8}\): cosignature dated "
                                   r"\d{4}-\S+Z, in the future")
        soon = self.write("soon.note", self.cosigned_note(self.cp_second, "w1", time_=now + 300))
        self.ctl("verify", "--checkpoint", soon, *self.witness_args("w1"), expect=0)

    def test_key_options_take_text_or_file(self):
        note = self.write("c12.note", self.cosigned_note(self.cp_second, "w1", "w2"))
        for files in (False, True):
            self.ctl("verify", "--checkpoint", note, *self.witness_args("w1", "w2", files=files),
                     expect=0)
        self.ctl("verify", "--checkpoint", note, "--witness-key", self.wvkey["w1"],
                 "--witness-key", self.wvkey_file["w2"], "--key", self.vkey, expect=0)
        self.ctl("verify", "--key", self.vkey_file, expect=0)
        # the wrong kind of key, a key that is neither, a malformed key file
        p = self.ctl("verify", "--checkpoint", note, "--witness-key", self.vkey, expect=3)
        self.one_line_error(p, "a log's key, not a witness's")
        p = self.ctl("verify", "--key", self.wvkey["w1"], expect=3)
        self.one_line_error(p, "a witness's key", "not a log's")
        broken = self.wvkey["w1"][:-4] + "AAA="
        p = self.ctl("verify", "--checkpoint", note, "--witness-key", broken, expect=3)
        self.one_line_error(p, "neither a verifier key (NAME+HEXID+BASE64) nor an existing file")
        bad = self.write("bad.vkey", "not a key\n")
        p = self.ctl("verify", "--checkpoint", note, "--witness-key", bad, expect=3)
        self.one_line_error(p, bad, "malformed key")

    def test_witness_usage_errors(self):
        cases = [
            (["verify", "--checkpoint", self.cp_second, "--quorum", "1"],
             "--quorum needs the witnesses' keys"),
            (["verify", "--checkpoint", self.cp_second, "--quorum", "3",
              *self.witness_args("w1", "w2")], "--quorum 3 but only 2 --witness-key given"),
            (["verify", "--checkpoint", self.cp_second, "--quorum", "x",
              *self.witness_args("w1")], "--quorum: not a non-negative integer"),
            (["verify", "--checkpoint", self.cp_second, "--witness-key", self.wvkey["w1"],
              "--witness-key", self.wvkey_file["w1"]], "is given twice"),
            (["verify", *self.witness_args("w1")], "give one"),
            (["verify-proof", "x", "--key", self.vkey, "--quorum", "1"],
             "--quorum needs the witnesses' keys"),
            (["verify-proof", "x", "--key", self.vkey, "--quorum", "2",
              *self.witness_args("w1")], "--quorum 2 but only 1 --witness-key given"),
        ]
        for args, frag in cases:
            with self.subTest(args=args):
                self.one_line_error(self.ctl(*args, expect=2), frag)

    # ------------------------------------------------------------ prove and verify-proof

    def prove(self, vault, seq, expect_warning=False):
        p = self.ctl("--json", "prove", str(seq), vault=vault, expect=0)
        if expect_warning:
            self.one_line_error(p, "warning: no checkpoint covering entry")
        else:
            self.assertEqual(p.stderr, "")
        pr = json.loads(p.stdout)
        return pr, self.write(f"proof-{os.path.basename(vault)}-{seq}", pr["bundle"])

    def test_prove_cites_the_witnessed_checkpoint(self):
        v = self.copy_vault("witnessed")
        cosign(v, "--key", self.wkey["w1"], "--name", "witness.example/w1", "--size", str(FIRST))
        cosign(v, "--key", self.wkey["w2"], "--name", "witness.example/w2", "--size", str(FIRST))
        cosign(v, "--key", self.wkey["w1"], "--name", "witness.example/w1")
        # no quorum recorded: the newest signed checkpoint, with the cosignature it holds
        pr, _ = self.prove(v, 5)
        self.assertEqual((pr["tree_size"], pr["witness_quorum"]), (SECOND, 0))
        self.assertEqual([c["name"] for c in pr["cosignatures"]], ["witness.example/w1"])
        cosign(v, "--quorum", "2")
        # entry 5: the checkpoint of size FIRST holds 2 cosignatures
        pr, bundle = self.prove(v, 5)
        self.assertEqual((pr["tree_size"], pr["witness_quorum"]), (FIRST, 2))
        self.assertEqual(sorted(c["name"] for c in pr["cosignatures"]),
                         ["witness.example/w1", "witness.example/w2"])
        self.assertEqual(pr["bundle"].count("\n\u2014 "), 3)  # the log's and two witnesses'
        # bundle.c parses a note with extra signature lines: the log's key alone still checks
        self.ctl("verify-proof", bundle, "--key", self.vkey, expect=0)
        p = self.ctl("verify-proof", bundle, "--key", self.vkey, *self.witness_args("w1", "w2"),
                     expect=0)
        self.assertRegex(p.stdout, r"\nwitnesses: 2 of 2 witnesses cosigned \(quorum 2\): "
                                   r"witness\.example/w1 \(key [0-9a-f]{8}\) at \S+Z; "
                                   r"witness\.example/w2 \(key [0-9a-f]{8}\) at \S+Z\n$")
        rep = self.ctl_json("verify-proof", bundle, "--key", self.vkey,
                            *self.witness_args("w1", "w2", "w3"), "--quorum", "2")
        self.assertTrue(rep["ok"])
        self.assertEqual([w["cosigned"] for w in rep["witnesses"]["witnesses"]],
                         [True, True, False])
        # entry 50 is after FIRST: no checkpoint covering it has 2 cosignatures yet
        p = self.ctl("prove", "50", vault=v, expect=0)
        self.assertEqual(p.stderr, "evidentctl: warning: no checkpoint covering entry 50 has 2 "
                                   f"cosignatures yet; citing the newest signed checkpoint (size "
                                   f"{SECOND})\n")
        pr, bundle = self.prove(v, 50, expect_warning=True)
        self.assertEqual(pr["tree_size"], SECOND)
        p = self.ctl("verify-proof", bundle, "--key", self.vkey, *self.witness_args("w1", "w2"),
                     expect=1)
        self.assertRegex(p.stdout, rf"^FAILED: too few witnesses cosigned the checkpoint \(size "
                                   rf"{SECOND}\): 1 of 2 witnesses cosigned \(quorum 2\): "
                                   r"witness\.example/w1 \(key [0-9a-f]{8}\) at \S+Z; "
                                   r"witness\.example/w2 \(key [0-9a-f]{8}\): no cosignature\n$")
        rep = self.ctl_json("verify-proof", bundle, "--key", self.vkey,
                            *self.witness_args("w1", "w2"), expect=1)
        self.assertFalse(rep["ok"])
        self.assertEqual(rep["witnesses"]["cosigned"], 1)
        self.ctl("verify-proof", bundle, "--key", self.vkey, *self.witness_args("w1", "w2"),
                 "--quorum", "1", expect=0)
        self.ctl("verify-proof", bundle, "--key", self.vkey, *self.witness_args("w2"),
                 "--quorum", "0", expect=0)
        # once the second witness cosigns, entry 50's proof cites the newest checkpoint
        cosign(v, "--key", self.wkey["w2"], "--name", "witness.example/w2")
        pr, bundle = self.prove(v, 50)
        self.assertEqual(pr["tree_size"], SECOND)
        self.ctl("verify-proof", bundle, "--key", self.vkey_file,
                 *self.witness_args("w1", "w2", files=True), expect=0)
        # the newest witnessed checkpoint covering entry 5 is now the newest
        self.assertEqual(self.prove(v, 5)[0]["tree_size"], SECOND)
        # an explicit --checkpoint is cited as given
        pr, _ = self.prove_with_checkpoint(v, 5, self.cp_first)
        self.assertEqual(pr["tree_size"], FIRST)

    def prove_with_checkpoint(self, vault, seq, cp):
        pr = self.ctl_json("prove", str(seq), "--checkpoint", cp, vault=vault)
        return pr, self.write(f"proof-cp-{seq}", pr["bundle"])

    def test_verify_proof_refuses_a_fork_the_witnesses_did_not_see(self):
        honest = self.copy_vault("honest")
        cosign(honest, "--key", self.wkey["w1"], "--name", "witness.example/w1")
        forked = self.copy_vault("fork", src=honest)
        tamper(forked, "resign", "20")
        _, good = self.prove(honest, 7)
        _, bad = self.prove(forked, 7)
        # the log's signature is valid on both: that alone cannot tell them apart
        self.ctl("verify-proof", good, "--key", self.vkey, expect=0)
        self.ctl("verify-proof", bad, "--key", self.vkey, expect=0)
        # the witness cosigned the honest checkpoint only
        self.ctl("verify-proof", good, "--key", self.vkey, *self.witness_args("w1"), expect=0)
        p = self.ctl("verify-proof", bad, "--key", self.vkey, *self.witness_args("w1"), expect=1)
        self.assertIn("0 of 1 witness cosigned (quorum 1): witness.example/w1 (key", p.stdout)
        self.assertIn("no cosignature", p.stdout)
        # the honest cosignature copied onto the forked checkpoint does not verify there
        line = self.read(good).rstrip("\n").rsplit("\n", 1)[1]
        self.assertTrue(line.startswith("\u2014 witness.example/w1 "))
        grafted = self.write("grafted.proof", self.read(bad) + line + "\n")
        p = self.ctl("verify-proof", grafted, "--key", self.vkey, *self.witness_args("w1"),
                     expect=1)
        self.assertIn("its cosignature does not verify", p.stdout)

    # ------------------------------------------------------------ checkpoint and status

    def test_checkpoint_and_status(self):
        v = self.copy_vault("shown")
        st = self.ctl_json("status", vault=v)
        self.assertEqual((st["witness_quorum"], st["witnessed_size"], st["unwitnessed_entries"],
                          st["checkpoint_cosignatures"]), (0, None, None, 0))
        self.assertIn("witnessed checkpoint:  none (no witness quorum recorded)",
                      self.ctl("status", vault=v, expect=0).stdout)
        self.assertEqual(self.ctl_json("checkpoint", vault=v)["cosignatures"], [])
        cosign(v, "--quorum", "2")
        cosign(v, "--key", self.wkey["w1"], "--name", "witness.example/w1", "--time", "1700000000")
        st = self.ctl_json("status", vault=v)
        self.assertEqual((st["witness_quorum"], st["witnessed_size"], st["unwitnessed_entries"],
                          st["checkpoint_cosignatures"]), (2, None, SECOND, 1))
        out = self.ctl("status", vault=v, expect=0).stdout
        self.assertIn(f"latest checkpoint:     size {SECOND} (0 entries not yet checkpointed), "
                      "1 cosignature\n", out)
        self.assertIn("witnessed checkpoint:  none yet (quorum 2 cosignatures)", out)
        cosign(v, "--key", self.wkey["w2"], "--name", "witness.example/w2", "--time", "1700000100")
        sample(v, "--records", "1", "--no-checkpoint")
        st = self.ctl_json("status", vault=v)
        self.assertEqual((st["witnessed_size"], st["unwitnessed_entries"]), (SECOND, 2))
        self.assertIn(f"witnessed checkpoint:  size {SECOND} (quorum 2 cosignatures; 2 entries "
                      "not yet witnessed)", self.ctl("status", vault=v, expect=0).stdout)
        # checkpoint: the note with every cosignature, and the list in JSON
        note = self.ctl("checkpoint", vault=v, expect=0).stdout
        with open(os.path.join(v, "checkpoint")) as f:
            plain = f.read()
        self.assertTrue(note.startswith(plain))
        extra = note[len(plain):].splitlines()
        self.assertEqual(sorted(line.split(" ")[1] for line in extra),
                         ["witness.example/w1", "witness.example/w2"])
        cp = self.ctl_json("checkpoint", vault=v)
        self.assertEqual(cp["note"], note)
        got = sorted((c["name"], c["key_id"], c["timestamp"], c["timestamp_unix"])
                     for c in cp["cosignatures"])
        self.assertEqual(got, [
            ("witness.example/w1", self.wvkey["w1"].split("+")[1], "2023-11-14T22:13:20Z",
             1700000000),
            ("witness.example/w2", self.wvkey["w2"].split("+")[1], "2023-11-14T22:15:00Z",
             1700000100)])
        # the printed note is what verify --checkpoint checks the witnesses of
        kept = self.write("shown.checkpoint", note)
        self.ctl("verify", "--checkpoint", kept, *self.witness_args("w1", "w2"), vault=v,
                 expect=0)

    # ------------------------------------------------------------ report

    def test_report_names_the_witnesses_of_the_cited_checkpoint(self):
        if not EVIDENTD or not os.access(EVIDENTD, os.X_OK):
            self.skipTest("evidentd is not built")
        sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
        import evident
        d = os.path.join(self.tmp, "daemon")
        os.makedirs(d)
        vault, sock, conf = (os.path.join(d, n) for n in ("vault", "s.sock", "evidentd.conf"))
        model = self.write("lin.json", json.dumps({"intercept": -1.0, "coef": [2.0, 0.5],
                                                   "link": "logit", "feature_names": ["a", "b"]}))
        with open(conf, "w") as f:
            f.write("[daemon]\n[trigger all]\nwhen = true\nmethods = linear\nburst = 100\n")
        with open(os.path.join(d, "evidentd.log"), "w") as log:
            proc = subprocess.Popen([EVIDENTD, "--vault", vault, "--socket", sock, "--config",
                                     conf], stderr=log)
            try:
                deadline = time.monotonic() + TIMEOUT
                while not os.path.exists(sock) and proc.poll() is None:
                    self.assertLess(time.monotonic(), deadline, "evidentd did not start")
                    time.sleep(0.02)
                manifest = {"model_id": "lin", "version": "1", "framework": "linear-json",
                            "output_space": "probability",
                            "decision": {"kind": "THRESHOLD", "threshold": 0.5},
                            "features": [{"name": "a", "min": -5, "max": 5},
                                         {"name": "b", "min": -5, "max": 5}]}
                with evident.Client(sock, client_name="t") as c:
                    c.register(manifest, model)
                    for i in range(3):
                        c.record_sync("lin", "1", [i - 1.0, 0.5], [0.5], "yes",
                                      request_id=f"r{i}")
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(TIMEOUT)
        self.assertEqual(proc.returncode, 0, self.read(os.path.join(d, "evidentd.log")))

        def audited():
            return [json.loads(line)["seq"] for line in
                    self.ctl("--json", "log", "--type", "audit", vault=vault,
                             expect=0).stdout.splitlines()]
        self.assertTrue(audited(), "no audit was written")
        iid = json.loads(self.ctl("--json", "log", "--type", "incident", vault=vault,
                                  expect=0).stdout.splitlines()[0])["seq"]
        cosign(vault, "--quorum", "1")
        rep = self.ctl_json("report", str(iid), vault=vault)
        cp = rep["checkpoint"]
        self.assertEqual((cp["witness_quorum"], cp["witnessed"], cp["cosignatures"]),
                         (1, False, []))
        self.assertIn("no checkpoint covering them holds the witness quorum (1 cosignature) yet",
                      rep["summary"][-1])
        cosign(vault, "--key", self.wkey["w1"], "--name", "witness.example/w1", "--time",
               "1700000000")
        rep = self.ctl_json("report", str(iid), vault=vault)
        cp = rep["checkpoint"]
        self.assertTrue(cp["witnessed"])
        self.assertEqual(cp["cosignatures"], [{
            "name": "witness.example/w1", "key_id": self.wvkey["w1"].split("+")[1],
            "timestamp": "2023-11-14T22:13:20Z", "timestamp_unix": 1700000000}])
        self.assertRegex(rep["summary"][-1], r"^Evidence: (\d+) of \1 cited vault entries are "
                                             r"proven included in the signed checkpoint of size "
                                             r"\d+, cosigned by 1 witness\.$")
        vkey = self.ctl("checkpoint", "--key", vault=vault, expect=0).stdout.strip()
        for p in rep["proofs"]:
            self.assertTrue(p["verified"])
            bundle = self.write(f"report-proof-{p['seq']}", p["bundle"])
            self.ctl("verify-proof", bundle, "--key", vkey, *self.witness_args("w1"), expect=0)
        for fmt in ("md", "html"):
            out = self.ctl("report", str(iid), "--format", fmt, vault=vault, expect=0).stdout
            self.assertIn("Witnesses", out)
            self.assertIn("witness.example/w1 (key ", out)
            self.assertIn(self.wvkey["w1"].split("+")[1], out)
            self.assertIn("2023-11-14T22:13:20Z", out)
            self.assertIn("Witness quorum", out)


def main():
    global BUILD_DIR, EVIDENTCTL, SAMPLE, TAMPER, COSIGN, EVIDENTD
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD_DIR = sys.argv.pop(1)
    EVIDENTCTL = os.path.join(BUILD_DIR, "tools", "evidentctl")
    SAMPLE = os.path.join(BUILD_DIR, "tools", "evident-sample")
    TAMPER = os.path.join(BUILD_DIR, "tests", "common", "vault-tamper")
    COSIGN = os.path.join(BUILD_DIR, "tests", "common", "vault-cosign")
    EVIDENTD = os.path.join(BUILD_DIR, "daemon", "evidentd")
    for exe in (EVIDENTCTL, SAMPLE, TAMPER, COSIGN):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_witness_cli.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()


if __name__ == "__main__":
    main()
