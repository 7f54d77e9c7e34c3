# SPDX-License-Identifier: Apache-2.0
"""evidentd asks witnesses (issue 13, items 4 and 6): the real daemon submits its checkpoints
to real evident-witness servers on local ports, stores their cosignatures beside the
checkpoints, keeps a tiles folder current, records a witness that is unreachable, answers
garbage or refuses (a forked history) as notice entries once per change of its state, and
never makes ingest wait. Cosignatures and keys are checked with Python's `cryptography`, not
with our code.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_witnessing.py [-v]
"""
import base64
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (BUILD, TIMEOUT, DaemonTest, record, wait_for)  # noqa: E402

VAULT_TAMPER = os.path.join(BUILD, "tests", "common", "vault-tamper")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey, Ed25519PublicKey)

WITNESS = os.path.join(BUILD, "tools", "witness", "evident-witness")
EMDASH = "\u2014"
ORIGIN = "evidence.test/witnessing"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vkey(name, kind, pub):
    """C2SP signed-note verifier key: NAME+hex(SHA-256(NAME || "\\n" || kind || pub)[:4])+
    base64(kind || pub)."""
    kid = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + pub).digest()[:4]
    return "%s+%s+%s" % (name, kid.hex(), base64.b64encode(bytes([kind]) + pub).decode())


def parse_vkey(text):
    name, kid, b64 = text.strip().split("+", 2)
    raw = base64.b64decode(b64)
    return name, bytes.fromhex(kid), raw[0], raw[1:]


def split_note(note):
    body, _, sigs = note.rpartition("\n\n")
    return body + "\n", [line for line in sigs.split("\n") if line]


def cosigners(note, witness_vkeys):
    """{witness name: timestamp} of the cosignatures in note that verify, checked with
    Python's Ed25519 over c2sp.org/tlog-cosignature/v1's message."""
    body, lines = split_note(note)
    found = {}
    for text in witness_vkeys:
        name, kid, kind, pub = parse_vkey(text)
        assert kind == 4
        key = Ed25519PublicKey.from_public_bytes(pub)
        for line in lines:
            dash, lname, b64 = line.split(" ")
            raw = base64.b64decode(b64)
            if dash != EMDASH or lname != name or raw[:4] != kid or len(raw) != 76:
                continue
            ts = int.from_bytes(raw[4:12], "big")
            msg = b"cosignature/v1\ntime %d\n" % ts + body.encode()
            key.verify(raw[12:], msg)  # raises on a bad signature
            found[name] = ts
    return found


class Witness:
    """A real evident-witness on a local port."""

    def __init__(self, tmp, name, trust_lines, port=None):
        self.name = name
        self.state = os.path.join(tmp, "witness-" + name)
        self.trust = os.path.join(tmp, "trust-" + name)
        with open(self.trust, "w") as f:
            f.write("# the logs this witness cosigns\n" + "".join(k + "\n" for k in trust_lines))
        self.port = port or free_port()
        self.log = os.path.join(tmp, "witness-%s.log" % name)
        self.proc = None
        r = subprocess.run([WITNESS, "--state", self.state, "--name", name, "--vkey"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        self.vkey = r.stdout.strip()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [WITNESS, "--listen", "127.0.0.1:%d" % self.port, "--state", self.state,
             "--name", self.name, "--trust", self.trust], stdout=self.logf, stderr=self.logf)
        wait_for(lambda: self._up() or self.proc.poll() is not None, what="witness port")
        assert self.proc.poll() is None, self.read_log()
        return self

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=TIMEOUT)
            self.logf.close()

    def read_log(self):
        with open(self.log) as f:
            return f.read()


class Garbage(http.server.BaseHTTPRequestHandler):
    """A broken witness: 200 with bytes that are no cosignature."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = EMDASH.encode() + b" not-a-witness AAAA\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class WitnessTest(DaemonTest):
    def setUp(self):
        super().setUp()
        if not os.path.exists(WITNESS):
            self.skipTest("evident-witness was not built (libmicrohttpd-dev missing)")
        self.witnesses = []
        # The log's key, made here (so the witnesses can trust it before the vault exists)
        # and written where evidentd reads it.
        sk = Ed25519PrivateKey.generate()
        self.key_path = os.path.join(self.tmp, "log.key")
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(sk.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
        pub = sk.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
        self.log_vkey = vkey(ORIGIN, 1, pub)
        self.tiles = os.path.join(self.tmp, "tiles")

    def tearDown(self):
        for w in self.witnesses:
            if w.proc and w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
                w.logf.close()
        super().tearDown()

    def witness(self, name, start=True, port=None):
        w = Witness(self.tmp, name, [self.log_vkey], port)
        self.witnesses.append(w)
        return w.start() if start else w

    def config(self, witnesses, quorum, extra="", urls=None, own_key=False):
        """own_key: the vault keeps its key in VAULT/signing.key (what the attacker of the
        fork test reads); else the key made in setUp."""
        key = "" if own_key else "signing_key = %s\n" % self.key_path
        text = ("[daemon]\norigin = %s\n%switness_quorum = %d\ntiles_dir = %s\n%s" % (
            ORIGIN, key, quorum, self.tiles, extra))
        for i, w in enumerate(witnesses):
            text += "[witness %s]\nurl = %s\nvkey = %s\ntimeout_ms = 2000\n" % (
                w.name, (urls or {}).get(w.name, w.url + "/"), w.vkey)
        return text

    def checkpoint_note(self):
        return self.d.ctl("checkpoint").stdout

    def send(self, c, start, n):
        for i in range(start, start + n):
            c.send(record(i))
        for i in range(start, start + n):
            f = c.recv()
            self.assertTrue(f.HasField("ack"), f)

    def wait_cosigned(self, names, size=None):
        """Until the latest checkpoint (of size, when given) carries cosignatures by names."""
        keys = [w.vkey for w in self.witnesses if w.name in names]

        def done():
            note = self.checkpoint_note()
            body, _ = split_note(note)
            if size is not None and int(body.split("\n")[1]) != size:
                return False
            return set(cosigners(note, keys)) >= set(names)
        wait_for(done, what="cosignatures by %s" % ", ".join(names))

    def notice_payloads(self):
        """The decoded payloads of the vault's notice entries."""
        return [json.loads(self.d.ctl("show", str(n["seq"]), "--json").stdout)["payload"]
                for n in self.d.notices()]

    def notice_kinds(self):
        return [p.get("kind") for p in self.notice_payloads()]


class Witnessing(WitnessTest):
    def test_quorum_of_two_cosigns_every_checkpoint_and_the_final_one(self):
        a, b = self.witness("w1.test"), self.witness("w2.test")
        self.start(config=self.config([a, b], 2))
        c = self.registered()
        t0 = time.monotonic()
        self.send(c, 0, 3000)
        ingest_s = time.monotonic() - t0
        self.wait_cosigned(["w1.test", "w2.test"])
        self.send(c, 3000, 500)
        self.d.stop()  # waits for the quorum on the final checkpoint
        note = self.checkpoint_note()
        body, lines = split_note(note)
        size = int(body.split("\n")[1])
        st = json.loads(self.d.ctl("status", "--json").stdout)
        self.assertEqual(size, st["entries"], "the final checkpoint covers every entry")
        got = cosigners(note, [a.vkey, b.vkey])
        self.assertEqual(set(got), {"w1.test", "w2.test"}, note)
        for ts in got.values():
            self.assertLess(abs(ts - time.time()), 600)
        # the log's own signature is there too (one line), and nothing else
        self.assertEqual(len(lines), 3, note)
        # no refusal, no unreachable witness was recorded
        kinds = self.notice_kinds()
        self.assertNotIn("witness_refused", kinds)
        self.assertNotIn("witness_unreachable", kinds)
        # the vault verifies; cosignatures are not entries
        self.d.verify()
        self.assertNotIn("cosign", json.dumps(st["entries_by_type"]))
        # the tiles folder holds the final checkpoint with its cosignatures
        with open(os.path.join(self.tiles, "checkpoint")) as f:
            self.assertEqual(f.read(), note)
        # each witness kept what it cosigned: the same size
        self.assertLess(ingest_s, 120)
        for w in (a, b):
            w.stop()

    def test_unreachable_then_back_is_recorded_once_each_and_ingest_never_waits(self):
        a = self.witness("w1.test", start=False)  # nothing listens on its port yet
        self.start(config=self.config([a], 1, extra="witness_stop_wait_ms = 300\n"))
        c = self.registered()
        for k in range(5):  # several checkpoints, several failed attempts
            self.send(c, k * 400, 400)
        wait_for(lambda: "witness_unreachable" in self.notice_kinds(),
                 what="the witness_unreachable notice")
        a.start()
        wait_for(lambda: "witness_ok" in self.notice_kinds(), timeout=60,
                 what="the witness_ok notice after the witness came up")
        self.send(c, 2000, 100)
        self.wait_cosigned(["w1.test"])
        kinds = self.notice_kinds()
        self.assertEqual(kinds.count("witness_unreachable"), 1, kinds)
        self.assertEqual(kinds.count("witness_ok"), 1, kinds)
        detail = [n for n in self.notice_payloads() if n.get("kind") == "witness_unreachable"]
        self.assertIn("w1.test", json.dumps(detail))
        a.stop()
        # a stop whose witness is gone waits witness_stop_wait_ms, no longer, and exits 0
        t0 = time.monotonic()
        self.d.stop()
        self.assertLess(time.monotonic() - t0, TIMEOUT)
        self.assertIn("stopping before the final checkpoint", self.d.read_log())

    def test_garbage_answers_are_not_cosignatures(self):
        port = free_port()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Garbage)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            fake = self.witness("w1.test", start=False)
            self.start(config=self.config([fake], 1, extra="witness_stop_wait_ms = 0\n",
                                          urls={"w1.test": "http://127.0.0.1:%d" % port}))
            c = self.registered()
            self.send(c, 0, 200)
            wait_for(lambda: "witness_unreachable" in self.notice_kinds(),
                     what="the notice of a witness answering garbage")
            self.send(c, 200, 200)  # ingest goes on
            note = self.checkpoint_note()
            self.assertEqual(cosigners(note, [fake.vkey]), {})
            self.assertEqual(len(split_note(note)[1]), 1, note)
            n = [x for x in self.notice_payloads() if x.get("kind") == "witness_unreachable"]
            self.assertIn("without a valid cosignature", json.dumps(n))
            self.d.stop()
        finally:
            srv.shutdown()

    def test_a_witness_that_hangs_times_out_and_ingest_goes_on(self):
        # accepts connections and reads nothing, answers nothing
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        held = []
        stop = threading.Event()

        def hold():
            lsock.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(lsock.accept()[0])
                except OSError:
                    pass
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        try:
            fake = self.witness("w1.test", start=False)
            url = "http://127.0.0.1:%d" % lsock.getsockname()[1]
            text = self.config([fake], 1, extra="witness_stop_wait_ms = 0\n",
                               urls={"w1.test": url}).replace("timeout_ms = 2000",
                                                              "timeout_ms = 300")
            self.start(config=text)
            c = self.registered()
            t0 = time.monotonic()
            self.send(c, 0, 300)
            wait_for(lambda: "witness_unreachable" in self.notice_kinds(),
                     what="the notice of a witness that never answers")
            self.send(c, 300, 300)  # acks keep coming while requests hang
            self.assertLess(time.monotonic() - t0, TIMEOUT)
            n = [x for x in self.notice_payloads() if x.get("kind") == "witness_unreachable"]
            self.assertRegex(json.dumps(n), "(?i)timeout|timed out")
            self.d.stop()
        finally:
            stop.set()
            t.join()
            for s in held:
                s.close()
            lsock.close()

    def test_witness_that_does_not_trust_the_log_is_a_refusal(self):
        other = Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        w = Witness(self.tmp, "w1.test", [vkey(ORIGIN, 1, other)])  # trusts another key
        self.witnesses.append(w)
        w.start()
        self.start(config=self.config([w], 1, extra="witness_stop_wait_ms = 0\n"))
        c = self.registered()
        self.send(c, 0, 100)
        wait_for(lambda: "witness_refused" in self.notice_kinds(),
                 what="the witness_refused notice")
        n = [x for x in self.notice_payloads() if x.get("kind") == "witness_refused"]
        self.assertIn("403", json.dumps(n))
        self.assertIn("witness w1.test refuses our checkpoints", self.d.read_log())
        self.d.stop()


class Fork(WitnessTest):
    """The threat of issue 13: root on the log's host rewrites history and signs it again
    with the vault's own key. Alone, `evidentctl verify` cannot tell; the witnesses can."""

    def verify_proof(self, path, keys, quorum):
        args = ["verify-proof", path, "--key", self.log_vkey]
        for k in keys:
            args += ["--witness-key", k]
        return self.d.ctl(*(args + ["--quorum", str(quorum)]), check=False)

    def test_a_rewrite_resigned_with_the_vaults_key_is_refused_and_its_proofs_fail(self):
        # the vault and its key first (the attacker will read VAULT/signing.key)
        self.start(config="[daemon]\norigin = %s\n" % ORIGIN)
        self.d.stop()
        self.log_vkey = json.loads(self.d.ctl("status", "--json").stdout)["key"]
        a, b = self.witness("w1.test"), self.witness("w2.test")
        keys = [a.vkey, b.vkey]
        self.start(config=self.config([a, b], 2, own_key=True))
        c = self.registered()
        self.send(c, 0, 1000)
        self.d.stop()  # the final checkpoint is witnessed by both
        honest = {}
        for seq in (10, 500):
            honest[seq] = os.path.join(self.tmp, "honest-%d.proof" % seq)
            with open(honest[seq], "w") as f:
                f.write(self.d.ctl("prove", str(seq)).stdout)
            self.assertEqual(self.verify_proof(honest[seq], keys, 2).returncode, 0)

        # root rewrites entry 500 and signs the forged tree with the vault's own key
        r = subprocess.run([VAULT_TAMPER, self.d.vault, "resign", "500"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.verify()  # the threat: on this host alone, everything checks out

        # evidentd runs on the forged vault: the witnesses refuse, and that is recorded
        self.start(config=self.config([a, b], 2, own_key=True,
                                      extra="witness_stop_wait_ms = 500\n"))
        c = self.registered(name="after")
        self.send(c, 2000, 100)
        wait_for(lambda: self.notice_kinds().count("witness_refused") == 2,
                 what="both witnesses' refusals recorded")
        self.assertIn("refuses our checkpoints", self.d.read_log())
        refusals = [p for p in self.notice_payloads() if p.get("kind") == "witness_refused"]
        for p in refusals:
            self.assertRegex(p["detail"], r"(422|409).*fork", p)
        self.d.stop()

        # no proof from the forked vault carries the quorum; the honest ones still do
        for seq in (10, 500, 1050):
            forged = os.path.join(self.tmp, "forged-%d.proof" % seq)
            r = self.d.ctl("prove", str(seq), check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("cosignatures", r.stderr)  # the warning: nothing witnessed
            with open(forged, "w") as f:
                f.write(r.stdout)
            self.assertEqual(self.verify_proof(forged, keys, 2).returncode, 1, seq)
            self.assertEqual(self.verify_proof(forged, keys[:1], 1).returncode, 1, seq)
        for seq, path in honest.items():
            self.assertEqual(self.verify_proof(path, keys, 2).returncode, 0, seq)
        # each witness kept the signed submission it refused, as evidence
        for w in (a, b):
            w.stop()
            self.assertIn("refus", w.read_log().lower())


if __name__ == "__main__":
    unittest.main()
