# SPDX-License-Identifier: Apache-2.0
"""Integration tests of evident-witness (c2sp.org/tlog-witness): the real server on free local
ports and temporary state folders, fed checkpoints of real vaults (evident-sample, evidentctl)
with consistency proofs from `evidentctl consistency`, each checked against a small RFC 6962
implementation here working from the vaults' leaf hashes (which alone is used where evidentctl
has no consistency verb); cosignatures checked with Python's `cryptography`, not with our
code.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_witness.py [-v]

Standard library and python3-cryptography only. No fixed sleeps: the tests wait for a port, a
closed connection or a process with a deadline.
"""
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    print("SKIP: python3-cryptography is not installed (tools/install-deps.sh test)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
WITNESS = os.path.join(BUILD, "tools", "witness", "evident-witness")
SAMPLE = os.path.join(BUILD, "tools", "evident-sample")
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
TIMEOUT = 30.0
NAME = "witness.example/w1"
EMDASH = "\u2014"


def wait_for(pred, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), p.returncode,
                                                      p.stderr.decode(errors="replace")))
    return p


# ------------------------------------------------------------------ RFC 6962 (RFC 9162 2.1)

def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def subproof(m, leaves, complete):
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency_proof(m, leaves):
    """The proof that the first m leaves are a prefix of leaves (0 < m <= len)."""
    return [] if m == len(leaves) else subproof(m, leaves, True)


# ------------------------------------------------------------------ logs (real vaults)

class Log:
    """A vault written by evident-sample: its origin, key and checkpoints as they grow."""

    def __init__(self, tmp, name, origin, seed=1, key_of=None):
        self.dir = os.path.join(tmp, name)
        self.origin = origin
        self.seed = seed
        self.checkpoints = {}  # size -> note (bytes)
        if key_of is not None:  # the same signing key as another log: a fork of it
            os.makedirs(self.dir)
            shutil.copy(os.path.join(key_of.dir, "signing.key"), self.dir)
            os.chmod(os.path.join(self.dir, "signing.key"), 0o600)
        self._leaves = None
        self._proofs = {}

    def grow(self, records):
        run(SAMPLE, "--vault", self.dir, "--records", str(records), "--seed", str(self.seed),
            "--origin", self.origin)
        self.seed += 1
        note = run(EVIDENTCTL, "--vault", self.dir, "checkpoint").stdout
        size = int(note.split(b"\n")[1])
        self.checkpoints[size] = note
        self._leaves = None
        return size

    def vkey(self):
        return run(EVIDENTCTL, "--vault", self.dir, "checkpoint", "--key").stdout.decode().strip()

    def leaves(self):
        if self._leaves is None:
            out = run(EVIDENTCTL, "--vault", self.dir, "--json", "log").stdout.decode()
            self._leaves = [bytes.fromhex(json.loads(l)["leaf_hash"])
                            for l in out.splitlines() if l.strip()]
            for size, note in self.checkpoints.items():
                root = base64.b64decode(note.split(b"\n")[2])
                assert mth(self._leaves[:size]) == root, "RFC 6962 helper disagrees with vault"
        return self._leaves

    def proof(self, old, new):
        """The consistency proof from old to new: evidentctl's, checked against ours."""
        if old == 0:
            return []
        if (old, new) not in self._proofs:
            ours = consistency_proof(old, self.leaves()[:new])
            p = run(EVIDENTCTL, "--vault", self.dir, "--json", "consistency", str(old),
                    str(new), check=False)
            if p.returncode == 2 and b"unknown verb" in p.stderr:
                theirs = ours  # an evidentctl without the verb
            elif p.returncode != 0:
                raise AssertionError("evidentctl consistency %d %d: %s" % (
                    old, new, p.stderr.decode(errors="replace")))
            else:
                theirs = [bytes.fromhex(h) for h in json.loads(p.stdout)["proof"]]
            assert theirs == ours, "evidentctl consistency and RFC 6962 disagree"
            self._proofs[(old, new)] = theirs
        return self._proofs[(old, new)]

    def body(self, old, size, proof=None):
        proof = self.proof(old, size) if proof is None else proof
        return request_body(old, proof, self.checkpoints[size])


def request_body(old, proof, note):
    lines = ["old %d\n" % old] + [base64.b64encode(h).decode() + "\n" for h in proof] + ["\n"]
    return "".join(lines).encode() + note


def note_text(note):
    """What a cosignature signs: the note up to and including the newline before the blank
    line that precedes the signatures."""
    i = note.rindex(b"\n\n")
    return note[:i + 1]


# ------------------------------------------------------------------ the server

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Witness:
    def __init__(self, tmp, name, trust_path, *extra):
        self.state = os.path.join(tmp, name)
        self.trust = trust_path
        self.extra = list(extra)
        self.log_path = os.path.join(tmp, name + ".log")
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [WITNESS, "--listen", "127.0.0.1:%d" % self.port, "--state", self.state,
             "--name", NAME, "--trust", self.trust] + self.extra,
            stdout=self.logf, stderr=self.logf, stdin=subprocess.DEVNULL)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("evident-witness exited %d:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what="evident-witness to listen")
        return self

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def post(self, body, conn=None, path="/add-checkpoint", method="POST", headers=None):
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            if conn is None:
                c.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(TIMEOUT)
            self.logf.close()
            return rc
        return None

    def kill9(self):
        self.proc.kill()
        self.proc.wait(TIMEOUT)
        self.logf.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def evidence(self):
        out = run(WITNESS, "--state", self.state, "--evidence").stdout.decode().splitlines()
        return [json.loads(l) for l in out[:-1]], json.loads(out[-1])

    def logs(self):
        out = run(WITNESS, "--state", self.state, "--logs").stdout.decode().splitlines()
        return {d["origin"]: d for d in map(json.loads, out)}


def parse_vkey(vkey):
    name, hexid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    return name, bytes.fromhex(hexid), raw[0], raw[1:]


def check_cosignature(test, body, note, vkey, now=None):
    """The 200 body is one cosignature line by the witness key over the note's text."""
    name, keyid, typ, pub = parse_vkey(vkey)
    text = body.decode()
    test.assertTrue(text.endswith("\n") and text.count("\n") == 1, text)
    dash, lname, b64 = text[:-1].split(" ")
    test.assertEqual(dash, EMDASH)
    test.assertEqual(lname, name)
    sig = base64.b64decode(b64, validate=True)
    test.assertEqual(len(sig), 4 + 8 + 64)
    test.assertEqual(sig[:4], keyid)
    ts = int.from_bytes(sig[4:12], "big")
    now = time.time() if now is None else now
    test.assertLessEqual(abs(ts - now), 60, "cosignature timestamp %d, now %d" % (ts, now))
    msg = b"cosignature/v1\ntime %d\n" % ts + note_text(note)
    Ed25519PublicKey.from_public_bytes(pub).verify(sig[12:], msg)  # raises when invalid
    return ts


# ------------------------------------------------------------------ tests

class WitnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for exe in (WITNESS, SAMPLE, EVIDENTCTL):
            if not os.path.exists(exe):
                raise unittest.SkipTest(exe + " is not built")
        cls.tmp = tempfile.mkdtemp(prefix="evident-witness-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        t = cls.tmp
        # Logs the shared witness trusts (one origin per test, so the tests stay independent).
        cls.a = Log(t, "a", "example.org/a")
        cls.stale = Log(t, "stale", "example.org/stale")
        cls.fork1 = Log(t, "fork1", "example.org/fork")
        cls.fork1.grow(5)
        # the same origin and key, another history of the same size
        cls.fork2 = Log(t, "fork2", "example.org/fork", seed=101, key_of=cls.fork1)
        cls.ctype = Log(t, "ctype", "example.org/ctype")
        cls.proofs = Log(t, "proofs", "example.org/proofs")
        cls.bound = Log(t, "bound", "example.org/bound")
        cls.bad = Log(t, "bad", "example.org/bad")
        cls.race = Log(t, "race", "example.org/race")
        cls.garbage = Log(t, "garbage", "example.org/garbage")
        # Not trusted: another key for a trusted origin, an origin nobody trusts.
        cls.impostor = Log(t, "impostor", "example.org/a", seed=7)
        cls.unknown = Log(t, "unknown", "example.org/unknown")
        for log, grows in ((cls.a, (5, 3, 4)), (cls.stale, (4, 2, 2)), (cls.fork2, (5,)),
                           (cls.ctype, (2,)), (cls.proofs, (6, 9)), (cls.bound, (3, 7)),
                           (cls.bad, (3,)), (cls.garbage, (4, 4)), (cls.impostor, (5,)),
                           (cls.unknown, (2,))):
            for n in grows:
                log.grow(n)
        for _ in range(14):
            cls.race.grow(1)
        cls.trust_path = os.path.join(t, "trust")
        with open(cls.trust_path, "w") as f:
            f.write("# logs this witness cosigns\n\n")
            for log in (cls.a, cls.stale, cls.fork1, cls.ctype, cls.proofs, cls.bound, cls.bad, cls.race,
                        cls.garbage):
                f.write("  %s\n" % log.vkey())
            f.write("\n# end\n")
        cls.w = Witness(t, "state", cls.trust_path).start()
        cls.addClassCleanup(cls.stop_clean)
        cls.vkey = run(WITNESS, "--state", cls.w.state, "--name", NAME,
                       "--vkey").stdout.decode().strip()

    @classmethod
    def stop_clean(cls):
        """SIGTERM, after everything the tests threw at it: exit 0 (and, in sanitizer builds,
        no report at exit)."""
        rc = cls.w.stop()
        if rc != 0:
            raise AssertionError("evident-witness exited %r at SIGTERM:\n%s" % (rc, cls.w.log()))

    def sizes(self, log):
        return sorted(log.checkpoints)

    # -- keys and help

    def test_vkey(self):
        name, keyid, typ, pub = parse_vkey(self.vkey)
        self.assertEqual(name, NAME)
        self.assertEqual(typ, 0x04)
        self.assertEqual(len(pub), 32)
        self.assertEqual(keyid, hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4])
        st = os.stat(os.path.join(self.w.state, "witness.key"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        # the same key on every call
        again = run(WITNESS, "--state", self.w.state, "--name", NAME, "--vkey").stdout
        self.assertEqual(again.decode().strip(), self.vkey)
        # a fresh folder gets a fresh key, created 0600
        d = os.path.join(self.tmp, "fresh")
        other = run(WITNESS, "--state", d, "--name", NAME, "--vkey").stdout.decode().strip()
        self.assertNotEqual(other, self.vkey)
        self.assertEqual(os.stat(os.path.join(d, "witness.key")).st_mode & 0o777, 0o600)

    def test_help_and_usage(self):
        out = run(WITNESS, "--help").stdout.decode()
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "EXIT STATUS",
                        "EXAMPLES"):
            self.assertIn("\n" + section + "\n", "\n" + out)
        for opt in ("--listen", "--state", "--name", "--trust", "--vkey", "--prefix"):
            self.assertIn(opt, out)
        p = run(WITNESS, "--state", self.tmp, "--listen", "127.0.0.1:1", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--name NAME is required", p.stderr)
        p = run(WITNESS, "--listen", "127.0.0.1:1", "--name", NAME, "--trust", "t", "--state",
                check=False)
        self.assertEqual((p.returncode, b"--state needs a value" in p.stderr), (2, True))
        p = run(WITNESS, "--listen", "127.0.0.1:99999", "--state", os.path.join(self.tmp, "u"),
                "--name", NAME, "--trust", self.trust_path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'port "99999": 0 to 65535 expected', p.stderr)

    def test_bad_trust_file_stops_the_start(self):
        path = os.path.join(self.tmp, "bad-trust")
        witness_key = self.vkey
        for text, where, what in (
                ("# ok\n\n%s\n" % witness_key, "bad-trust:3:%d" % (len(NAME) + 11),
                 b"cosignature key"),
                ("%s junk\n" % self.a.vkey(), "bad-trust:1:", b"text after the key"),
                ("%s\n%s\n" % (self.a.vkey(), self.a.vkey()), "bad-trust:2:1",
                 b"same key as on line 1"),
                ("example.org/a+0000000+AAAA\n", "bad-trust:1:", b"key id"),
                (self.a.vkey()[:-2] + "AA\n", "bad-trust:1:", b"does not match"),
                ("# nothing\n", None, b"no log key")):
            with open(path, "w") as f:
                f.write(text)
            p = run(WITNESS, "--listen", "127.0.0.1:0", "--state",
                    os.path.join(self.tmp, "bt"), "--name", NAME, "--trust", path, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            if where:
                self.assertIn(where.encode(), p.stderr)
            self.assertIn(what, p.stderr)

    # -- the protocol

    def test_first_checkpoint_then_consistent_ones(self):
        s1, s2, s3 = self.sizes(self.a)
        c = self.w.conn()
        status, ctype, body = self.w.post(self.a.body(0, s1), c)
        self.assertEqual(status, 200, body)
        ts1 = check_cosignature(self, body, self.a.checkpoints[s1], self.vkey)
        status, ctype, body = self.w.post(self.a.body(s1, s2), c)  # same connection
        self.assertEqual(status, 200, body)
        check_cosignature(self, body, self.a.checkpoints[s2], self.vkey)
        # the same checkpoint again: cosigned again
        status, _, body = self.w.post(self.a.body(s2, s2), c)
        self.assertEqual(status, 200, body)
        check_cosignature(self, body, self.a.checkpoints[s2], self.vkey)
        # a proof over two growths at once
        status, _, body = self.w.post(self.a.body(s2, s3), c)
        self.assertEqual(status, 200, body)
        ts3 = check_cosignature(self, body, self.a.checkpoints[s3], self.vkey)
        self.assertGreaterEqual(ts3, ts1)
        # the check above is not vacuous: another time or another checkpoint fails it
        pub = Ed25519PublicKey.from_public_bytes(parse_vkey(self.vkey)[3])
        sig = base64.b64decode(body.decode().split(" ")[2])
        for ts, note in ((ts3 + 1, self.a.checkpoints[s3]), (ts3, self.a.checkpoints[s2])):
            with self.assertRaises(InvalidSignature):
                pub.verify(sig[12:], b"cosignature/v1\ntime %d\n" % ts + note_text(note))
        c.close()
        state = self.w.logs()[self.a.origin]
        self.assertEqual(state["size"], s3)
        self.assertEqual(base64.b64decode(state["root_base64"]),
                         base64.b64decode(self.a.checkpoints[s3].split(b"\n")[2]))

    def test_stale_old_size_is_409_with_the_latest_size(self):
        s1, s2, s3 = self.sizes(self.stale)
        self.assertEqual(self.w.post(self.stale.body(0, s2))[0], 200)
        for old, size in ((0, s3), (s1, s3), (0, s2), (s1, s2), (s3, s3)):
            if old > size:
                continue
            status, ctype, body = self.w.post(self.stale.body(old, size))
            self.assertEqual(status, 409, (old, size, body))
            self.assertEqual(ctype, "text/x.tlog.size")
            self.assertEqual(body, b"%d\n" % s2)
        # a checkpoint smaller than the cosigned one is a rollback, kept as evidence
        status, ctype, body = self.w.post(self.stale.body(0, s1))
        self.assertEqual((status, body), (409, b"%d\n" % s2))
        records, _ = self.w.evidence()
        mine = [r for r in records if r["origin"] == self.stale.origin]
        self.assertEqual([r["kind"] for r in mine], ["rollback"])
        self.assertEqual(mine[0]["latest_size"], s2)
        self.assertEqual(mine[0]["body"].encode(), self.stale.body(0, s1))
        # the client catches up
        self.assertEqual(self.w.post(self.stale.body(s2, s3))[0], 200)

    def test_fork_at_the_same_size_is_409_and_evidence(self):
        (size,) = self.sizes(self.fork1)
        self.assertEqual(self.sizes(self.fork2), [size])
        self.assertNotEqual(self.fork1.checkpoints[size], self.fork2.checkpoints[size])
        self.assertEqual(self.w.post(self.fork1.body(0, size))[0], 200)
        status, ctype, body = self.w.post(self.fork2.body(size, size))
        self.assertEqual((status, ctype, body), (409, "text/x.tlog.size", b"%d\n" % size))
        # also with a stale old size: still a fork
        status, _, body = self.w.post(self.fork2.body(0, size))
        self.assertEqual((status, body), (409, b"%d\n" % size))
        records, counts = self.w.evidence()
        forks = [r for r in records if r["origin"] == self.fork1.origin]
        self.assertEqual([r["kind"] for r in forks], ["fork", "fork"])
        self.assertEqual(forks[0]["body"].encode(), self.fork2.body(size, size))
        self.assertEqual(forks[0]["cosigned_note"].encode(), self.fork1.checkpoints[size])
        self.assertGreaterEqual(counts["kept"]["fork"], 2)
        # the cosigned checkpoint is unchanged
        self.assertEqual(self.w.post(self.fork1.body(size, size))[0], 200)
        self.assertIn("<3>security event: refused 409", self.w.log())

    def test_bad_proof_is_422_and_evidence(self):
        s1, s2 = self.sizes(self.proofs)
        self.assertEqual(self.w.post(self.proofs.body(0, s1))[0], 200)
        good = self.proofs.proof(s1, s2)
        self.assertGreater(len(good), 1)
        for bad in (good[:-1], good + [good[0]], [good[1]] + good[1:],
                    [bytes(32)] * len(good),
                    [good[0][:5] + bytes([good[0][5] ^ 1]) + good[0][6:]] + good[1:]):
            body = self.proofs.body(s1, s2, proof=bad)
            status, ctype, text = self.w.post(body)
            self.assertEqual(status, 422, text)
        # an empty proof at equal sizes is fine; a non-empty one is not
        self.assertEqual(self.w.post(self.proofs.body(s1, s1))[0], 200)
        self.assertEqual(self.w.post(self.proofs.body(s1, s1, proof=[good[0]]))[0], 422)
        records, _ = self.w.evidence()
        mine = [r for r in records if r["origin"] == self.proofs.origin]
        self.assertEqual([r["kind"] for r in mine], ["bad-proof"] * 6)
        self.assertEqual(mine[0]["body"].encode(), self.proofs.body(s1, s2, proof=good[:-1]))
        self.assertEqual(mine[0]["latest_size"], s1)
        # the refusals changed nothing: the good proof is still accepted
        status, _, body = self.w.post(self.proofs.body(s1, s2))
        self.assertEqual(status, 200, body)
        self.assertIn("<3>security event: refused 422", self.w.log())

    def test_evidence_is_bounded(self):
        s1, s2 = self.sizes(self.bound)
        self.assertEqual(self.w.post(self.bound.body(0, s1))[0], 200)
        good = self.bound.proof(s1, s2)
        _, before = self.w.evidence()
        c = self.w.conn()
        n = 300
        for i in range(n):
            bad = list(good)
            j = i % len(bad)
            bad[j] = bad[j][:i % 32] + bytes([bad[j][i % 32] ^ (1 << (i // 32 % 8))]) + \
                bad[j][i % 32 + 1:]
            status, _, text = self.w.post(self.bound.body(s1, s2, proof=bad), c)
            self.assertEqual(status, 422, text)
        c.close()
        records, counts = self.w.evidence()
        self.assertEqual(counts["bound"], 256)
        self.assertEqual(counts["kept"]["bad-proof"], 256)
        self.assertEqual(counts["dropped"]["bad-proof"],
                         before["dropped"]["bad-proof"] + before["kept"]["bad-proof"] + n - 256)
        self.assertEqual(sum(r["kind"] == "bad-proof" for r in records), 256)
        # the newest are kept
        mine = [r for r in records if r["origin"] == self.bound.origin]
        self.assertEqual(len(mine), 256)
        self.assertEqual(max(r["seq"] for r in mine), max(r["seq"] for r in records
                                                          if r["kind"] == "bad-proof"))

    def test_unknown_origin_is_404(self):
        (size,) = self.sizes(self.unknown)
        status, _, body = self.w.post(self.unknown.body(0, size))
        self.assertEqual(status, 404, body)
        self.assertIn(b"example.org/unknown", body)

    def test_wrong_or_broken_signature_is_403(self):
        (size,) = self.sizes(self.impostor)
        # the trusted origin, signed by another key: its line is ignored, none is left
        status, _, body = self.w.post(self.impostor.body(0, size))
        self.assertEqual(status, 403, body)
        self.assertIn(b"no signature by a key trusted", body)
        # a trusted key's signature that does not verify
        (s1, *_) = self.sizes(self.bad)
        note = self.bad.checkpoints[s1]
        text, sigs = note.split(b"\n\n")
        dash, name, b64 = sigs.rstrip(b"\n").split(b" ")
        raw = bytearray(base64.b64decode(b64))
        raw[10] ^= 0x40
        broken = text + b"\n\n" + b" ".join([dash, name, base64.b64encode(bytes(raw))]) + b"\n"
        status, _, body = self.w.post(request_body(0, [], broken))
        self.assertEqual(status, 403, body)
        self.assertIn(b"does not verify", body)
        # the good one and an unknown signature line beside it: ignored
        extra = note + ("%s other.example/key %s\n" % (
            EMDASH, base64.b64encode(bytes(68)).decode())).encode()
        status, _, body = self.w.post(request_body(0, [], extra))
        self.assertEqual(status, 200, body)

    def test_malformed_bodies_are_400(self):
        s1, s2 = self.sizes(self.garbage)
        note = self.garbage.checkpoints[s2]
        proof = self.garbage.proof(s1, s2)
        b64 = [base64.b64encode(h).decode() for h in proof]
        cases = [
            (request_body(s2 + 1, [], note), b"line 1: old size %d is larger" % (s2 + 1)),
            (request_body(s1, proof + [proof[0]] * (64 - len(proof)), note),
             b"line 65: more than 63 consistency proof lines"),
            (request_body(0, proof, note), b"line 2: a consistency proof with old size 0"),
            (b"old 01\n\n" + note, b"line 1: old size \"01\": a leading zero"),
            (b"old -1\n\n" + note, b"not a decimal number"),
            (b"old 1 \n\n" + note, b"not a decimal number"),
            (b"old  1\n\n" + note, b"not a decimal number"),
            (b"old 99999999999999999999\n\n" + note, b"larger than 2^64 - 1"),
            (b"new 1\n\n" + note, b"line 1: \"new 1\": \"old N\""),
            (b"old 0\r\n\r\n" + note, b"carriage return"),
            (b"", b"empty body"),
            (b"old 0", b"line 1: no newline"),
            (b"old 0\n", b"line 2: the body ends before the blank line"),
            (b"old 0\n\n", b"line 3: no checkpoint"),
            (("old %d\n%s\n\n" % (s1, b64[0][:-1] + "!")).encode() + note,
             b"line 2: proof hash: character 44 is not the padding"),
            (("old %d\n%s\n\n" % (s1, "*" + b64[0][1:])).encode() + note,
             b"line 2: proof hash: character 1 is not base64"),
            (("old %d\n%s\n\n" % (s1, b64[0][:-2] + "=")).encode() + note,
             b"43 characters, 44 expected"),
            (("old %d\n%s\n%s\n\n" % (s1, b64[0], b64[1][:42] + "B=")).encode() + note,
             b"line 3: proof hash: not canonical base64"),
            (("old %d\n" % s1).encode() + note, b"blank line before the checkpoint missing"),
            (b"old 0\n\n" + note.replace(b"\n%d\n" % s2, b"\n0%d\n" % s2, 1),
             b"line 4: checkpoint tree size \"0%d\": a leading zero" % s2),
            (b"old 0\n\n" + note[:-1], b"does not end in a newline"),
            (b"old 0\n\n" + note.replace(b"\n\n", b"\n", 1),
             b"no blank line before its signature"),
            (b"old 0\n\n" + note.replace(b"\n", b"\x01\n", 1), b"control character 0x01"),
            (b"old 0\n\n" + note.replace(b"=\n", b"\n", 1), b"line 5: checkpoint root hash"),
            (b"old 0\n\n" + note.replace(EMDASH.encode(), b"-", 1),
             b"line 7: malformed signature line"),
        ]
        c = self.w.conn()
        for body, want in cases:
            status, ctype, text = self.w.post(body, c)
            self.assertEqual(status, 400, (body[:80], text))
            self.assertTrue(ctype.startswith("text/plain"), ctype)
            self.assertIn(want, text, body[:120])
        c.close()
        # any Content-Type is accepted
        (size,) = self.sizes(self.ctype)
        status, _, _ = self.w.post(self.ctype.body(0, size),
                                   headers={"Content-Type": "application/x-whatever"})
        self.assertEqual(status, 200)
        self.assertIn("<4>refused 400 from 127.0.0.1:", self.w.log())

    def test_oversized_body_is_413(self):
        status, _, body = self.w.post(b"old 0\n" + b"A" * (70 * 1024))
        self.assertEqual(status, 413, body)
        # exactly at the bound it is read (and refused for what it says)
        status, _, body = self.w.post(b"old 0\n" + b"A" * (64 * 1024 - 6))
        self.assertEqual(status, 400, body)
        # chunked, without a Content-Length: read to the end, then 413
        c = self.w.conn()
        c.putrequest("POST", "/add-checkpoint")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for _ in range(20):
            c.send(b"1000\r\n" + b"B" * 0x1000 + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        self.assertEqual(r.status, 413)
        c.close()

    def test_methods_and_paths(self):
        status, _, _ = self.w.post(None, method="GET")
        self.assertEqual(status, 405)
        c = self.w.conn()
        c.request("GET", "/add-checkpoint")
        r = c.getresponse()
        r.read()
        self.assertEqual((r.status, r.getheader("Allow")), (405, "POST"))
        c.close()
        for method in ("PUT", "HEAD", "DELETE"):
            self.assertEqual(self.w.post(b"x", method=method)[0], 405)
        for path in ("/", "/add-checkpoint/", "/witness/add-checkpoint", "/add-checkpointx"):
            self.assertEqual(self.w.post(b"old 0\n\n", path=path)[0], 404, path)

    def test_garbage_never_crashes(self):
        s1, s2 = self.sizes(self.garbage)
        rnd = random.Random(20261206)
        good = self.garbage.body(s1, s2)
        c = self.w.conn()
        seen = set()
        for i in range(600):
            if i % 3 == 0:
                body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(200)))
            else:
                b = bytearray(good)
                for _ in range(rnd.randrange(1, 4)):
                    op = rnd.randrange(4)
                    pos = rnd.randrange(len(b))
                    if op == 0:
                        b[pos] ^= 1 << rnd.randrange(8)
                    elif op == 1:
                        del b[pos:pos + rnd.randrange(1, 40)]
                    elif op == 2:
                        b[pos:pos] = bytes([rnd.choice(b"\n\r \x00=+/A0")])
                    else:
                        b = b[:pos]
                body = bytes(b)
            status, _, _ = self.w.post(body, c)
            seen.add(status)
            self.assertIn(status, (200, 400, 403, 404, 409, 422), body[:100])
        c.close()
        self.assertIn(400, seen)
        # bytes that are not HTTP at all, and connections dropped half-way
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", self.w.port), timeout=TIMEOUT)
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000)))
            if i % 2:
                data = b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + data[:500]
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR) if i % 4 == 1 else None
            except OSError:
                pass
            s.close()
        self.assertTrue(self.w.alive(), self.w.log())
        status, _, body = self.w.post(self.garbage.body(s2, s2))
        self.assertIn(status, (200, 409), body)  # served; 409 if a mutation moved it on

    def test_concurrent_sizes_never_roll_back(self):
        """The race of c2sp.org/tlog-witness: requests of several sizes from one old size,
        at once; exactly one is cosigned, and the latest size never goes back."""
        sizes = self.sizes(self.race)
        self.race.leaves()
        cur = sizes[0]
        self.assertEqual(self.w.post(self.race.body(0, cur))[0], 200)
        rounds = 0
        rnd = random.Random(7)
        while True:
            later = [s for s in sizes if s > cur]
            if not later:
                break
            picks = later[:6]
            # a rollback attempt and a re-submission of the current head join in
            jobs = [(cur, s) for s in picks] + [(0, sizes[0]), (cur, cur)]
            rnd.shuffle(jobs)
            bodies = [self.race.body(old, size) for old, size in jobs]
            conns = [self.w.conn() for _ in jobs]
            for c in conns:
                c.connect()
            barrier = threading.Barrier(len(jobs))
            results = [None] * len(jobs)

            def submit(i):
                barrier.wait()
                results[i] = self.w.post(bodies[i], conns[i])
            threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(jobs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(TIMEOUT)
            for c in conns:
                c.close()
            won = [jobs[i][1] for i, r in enumerate(results) if r[0] == 200 and
                   jobs[i][1] != cur]
            self.assertEqual(len(won), 1, list(zip(jobs, results)))
            winner = won[0]
            for (old, size), (status, ctype, body) in zip(jobs, results):
                if size == winner:
                    continue
                if size > cur:
                    # decided after the winner (before it, it would have won)
                    self.assertEqual((status, body), (409, b"%d\n" % winner), (old, size))
                elif (old, size) == (cur, cur) and status == 200:
                    pass  # the current head again, decided before the winner
                else:
                    # before the winner the latest size is cur, after it the winner's
                    self.assertEqual(status, 409, (old, size, body))
                    self.assertIn(body, (b"%d\n" % cur, b"%d\n" % winner), (old, size))
            # nothing rolled back: an old size of 0 is answered with the winner's size
            self.assertEqual(self.w.post(self.race.body(0, sizes[0]))[1:],
                             ("text/x.tlog.size", b"%d\n" % winner))
            self.assertEqual(self.w.logs()[self.race.origin]["size"], winner)
            cur = winner
            rounds += 1
        self.assertGreaterEqual(rounds, 3)

    def test_logs_carry_priorities(self):
        # after the other tests (alphabetical order puts this one late enough not to matter:
        # it makes its own refusal first)
        self.w.post(b"nonsense\n")
        lines = self.w.log().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>", line)
        self.assertTrue(any(l.startswith("<4>refused 400 from") and "nonsense" in l
                            for l in lines))


class RestartTest(unittest.TestCase):
    """kill -9 between requests: the state survives, a fork of what was cosigned is refused."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evident-witness-restart-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_kill9_and_restart_keeps_the_state(self):
        k1 = Log(self.tmp, "k1", "example.org/k")
        s1 = k1.grow(5)
        s2 = k1.grow(3)
        k2 = Log(self.tmp, "k2", "example.org/k", seed=55, key_of=k1)
        self.assertEqual((k2.grow(5), k2.grow(3)), (s1, s2))
        trust = os.path.join(self.tmp, "trust")
        with open(trust, "w") as f:
            f.write(k1.vkey() + "\n")
        w = Witness(self.tmp, "state", trust).start()
        self.addCleanup(lambda: w.alive() and w.kill9())
        self.assertEqual(w.post(k1.body(0, s1))[0], 200)
        self.assertEqual(w.post(k1.body(s1, s2, proof=[bytes(32)]))[0], 422)
        self.assertEqual(w.post(k1.body(s1, s2))[0], 200)
        w.kill9()
        w.start()
        # the fork of what was cosigned, with a right old size and with the fork's own proof
        self.assertEqual(w.post(k2.body(s2, s2))[:3:2], (409, b"%d\n" % s2))
        self.assertEqual(w.post(k2.body(s1, s2))[:3:2], (409, b"%d\n" % s2))
        # a rollback to the first checkpoint
        self.assertEqual(w.post(k1.body(0, s1))[:3:2], (409, b"%d\n" % s2))
        # what was cosigned is still what is cosigned
        status, _, body = w.post(k1.body(s2, s2))
        self.assertEqual(status, 200, body)
        records, counts = w.evidence()
        # by kind, then in order
        self.assertEqual([r["kind"] for r in records], ["rollback", "fork", "fork",
                                                        "bad-proof"])
        self.assertEqual(counts["kept"], {"fork": 2, "bad-proof": 1, "rollback": 1})
        self.assertEqual(w.stop(), 0)
        self.assertIn("stopped: ", w.log())


class LimitsTest(unittest.TestCase):
    """A slow or idle client cannot hang the witness: an idle connection is closed and the
    others are served meanwhile; connections past the per-address limit are refused."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evident-witness-limits-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.log = Log(self.tmp, "l", "example.org/l")
        self.size = self.log.grow(2)
        self.trust = os.path.join(self.tmp, "trust")
        with open(self.trust, "w") as f:
            f.write(self.log.vkey() + "\n")

    def test_idle_connections_are_closed(self):
        w = Witness(self.tmp, "state", self.trust, "--idle-timeout", "3", "--body-timeout", "1",
                    "--prefix", "/w1").start()
        self.addCleanup(w.stop)
        stalled = []
        for i in range(6):
            s = socket.create_connection(("127.0.0.1", w.port), timeout=TIMEOUT)
            # headers half sent, or a body that never comes
            s.sendall(b"POST /w1/add-checkpoint HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                      b"POST /w1/add-checkpoint HTTP/1.1\r\nContent-Length: 500\r\n\r\nold")
            stalled.append(s)
        # served meanwhile, under the prefix only
        status, _, body = w.post(self.log.body(0, self.size), path="/w1/add-checkpoint")
        self.assertEqual(status, 200, body)
        self.assertEqual(w.post(self.log.body(0, self.size))[0], 404)
        deadline = time.monotonic() + TIMEOUT
        for s in stalled:
            s.settimeout(max(deadline - time.monotonic(), 0.1))
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("an idle connection was not closed within %d s" % TIMEOUT)
            s.close()
        self.assertTrue(w.alive())
        self.assertEqual(w.post(self.log.body(self.size, self.size),
                                path="/w1/add-checkpoint")[0], 200)
        self.assertIn("refused 404 from", w.log())
        self.assertEqual(w.stop(), 0)

    def test_connections_per_address_are_limited(self):
        w = Witness(self.tmp, "state", self.trust, "--max-connections-per-ip", "4").start()
        self.addCleanup(w.stop)
        self.assertEqual(w.post(self.log.body(0, self.size))[0], 200)
        body = self.log.body(self.size, self.size)
        served, refused = [], 0
        for _ in range(8):
            c = w.conn()
            try:
                status, _, _ = w.post(body, conn=c)  # kept alive after it
                self.assertEqual(status, 200)
                served.append(c)
            except (ConnectionError, http.client.HTTPException):
                refused += 1
                c.close()
        # at most the limit at once (one fewer while the closed ones of the readiness check
        # and the first request are still being cleaned up)
        self.assertLessEqual(len(served), 4)
        self.assertGreaterEqual(len(served), 2)
        self.assertEqual(refused, 8 - len(served))
        for c in served:
            c.close()

        def served_again():
            try:
                return w.post(body)[0] == 200
            except (ConnectionError, http.client.HTTPException):
                return False
        wait_for(served_again, what="a connection to be accepted after the others closed")
        self.assertEqual(w.stop(), 0)


class SystemdTest(unittest.TestCase):
    """Started as evident-witness.socket and Type=notify start it: the listening socket as
    fd 3 (systemd-socket-activate, no --listen), READY=1 once serving, STOPPING=1 and exit 0
    on SIGTERM."""

    def test_socket_activation_and_notify(self):
        tool = shutil.which("systemd-socket-activate")
        if not tool:
            self.skipTest("systemd-socket-activate is not installed")
        tmp = tempfile.mkdtemp(prefix="evident-witness-systemd-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        log = Log(tmp, "l", "example.org/l")
        size = log.grow(2)
        trust = os.path.join(tmp, "trust")
        with open(trust, "w") as f:
            f.write(log.vkey() + "\n")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(os.path.join(tmp, "notify"))
        port = free_port()
        logf = open(os.path.join(tmp, "witness.log"), "wb")
        self.addCleanup(logf.close)
        # it binds at once and execs the witness, in its own pid, on the first connection
        proc = subprocess.Popen(
            [tool, "-l", "127.0.0.1:%d" % port, "-E", "NOTIFY_SOCKET=" + notify.getsockname(),
             WITNESS, "--state", os.path.join(tmp, "state"), "--name", NAME, "--trust", trust],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what="systemd-socket-activate to listen")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        c.request("POST", "/add-checkpoint", body=log.body(0, size))
        r = c.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()
        c.close()

        def messages(until):
            got = []
            deadline = time.monotonic() + TIMEOUT
            while until not in got:
                notify.settimeout(max(deadline - time.monotonic(), 0.01))
                try:
                    got += notify.recv(4096).decode().split("\n")
                except socket.timeout:
                    self.fail("no %s on NOTIFY_SOCKET (got %r)" % (until, got))
            return got
        messages("READY=1")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(TIMEOUT), 0)
        messages("STOPPING=1")
        with open(os.path.join(tmp, "witness.log")) as f:
            text = f.read()
        self.assertIn("serving POST http://127.0.0.1:%d/add-checkpoint" % port, text)


if __name__ == "__main__":
    unittest.main()
