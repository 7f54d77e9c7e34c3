# SPDX-License-Identifier: Apache-2.0
"""evidentd's forwarder (issue 16, part 1): the real daemon with [forward] publishes every
committed entry, the blobs its artifact entries name and its checkpoints to a real
`nats-server -js` (natsfixture.py) on a free local port; the stream is read back with
tests/common/fleet-dump (the fleet library's decoders) and compared with the daemon's acks
and the vault.

  - every acknowledged record arrives once with its leaf hash, blobs before the entry naming
    them, checkpoints, the final checkpoint after SIGTERM (the drain);
  - kill -9 of evidentd: the stored position survives, the next start resumes from it, nothing
    is missing and JetStream's duplicate window drops what was sent twice;
  - kill -9 of the NATS server mid-stream and a restart; a server down at start: ingest acks
    all along, the lag shows in `evidentctl status`, everything arrives once NATS is back;
  - bad input, each one error line while ingest goes on: wrong credentials, a stream with
    conflicting settings, a full stream (max_bytes), an entry over the server's max_payload.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_forward.py [-v]

No fixed sleeps: every wait polls a condition with a deadline.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsfixture import NatsServer  # noqa: E402
from test_daemon import (BUILD, TIMEOUT, Daemon, DaemonTest, pb, record,  # noqa: E402
                         wait_for)

FLEET_DUMP = os.path.join(BUILD, "tests", "common", "fleet-dump")
FLEET_PUB = os.path.join(BUILD, "tests", "common", "fleet-pub")
EMDASH = "\u2014"


def token(origin):
    """The subject token of an origin (fleet/FLEET.md), written here without our code."""
    ok = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return "".join(chr(b) if b in ok else "=%02X" % b for b in origin.encode())


def pb_field(num, value):
    """One protobuf field (strings, bytes: length-delimited; ints: varint), by hand."""
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


class Cosigner:
    """An auditor's tlog-cosignature/v1 key, with Python's own Ed25519."""
    def __init__(self, name):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        pub = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.kid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
        self.vkey = "%s+%s+%s" % (name, self.kid.hex(),
                                  base64.b64encode(b"\x04" + pub).decode())

    def line(self, body, ts=None):
        ts = ts or int(time.time())
        sig = self.key.sign(b"cosignature/v1\ntime %d\n" % ts + body.encode())
        return "%s %s %s\n" % (EMDASH, self.name, base64.b64encode(
            self.kid + ts.to_bytes(8, "big") + sig).decode())


def forward_conf(url, extra=""):
    return "[daemon]\n[forward]\nnats_url = %s\n%s" % (url, extra)


class Forward(DaemonTest):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        if os.environ.get("FORWARD_SHOW_LOG") and self.d:
            sys.stderr.write(self.d.read_log())
        super().tearDown()
        for s in self.servers:
            s.kill() if s.running() else None

    def nats(self, **kw):
        ns = NatsServer(self.tmp, **kw)
        self.servers.append(ns)
        return ns

    def dump(self, ns, *args):
        r = subprocess.run([FLEET_DUMP, "--nats", ns.url] + list(args) + ["evident.>"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def status(self):
        return json.loads(self.d.ctl("status", "--json").stdout)

    def wait_forwarded(self, what="every entry acknowledged by JetStream", timeout=120):
        def done():
            st = self.status()
            return st["forwarded_entries"] is not None and st["forward_lag_entries"] == 0
        wait_for(done, timeout=timeout, what=what)

    def send(self, c, start, n):
        """Sends records start..start+n-1 and returns {seq: leaf hash hex} of their acks."""
        for i in range(start, start + n):
            c.send(record(i))
        acks = {}
        for _ in range(n):
            f = c.recv()
            self.assertTrue(f.HasField("ack"), f)
            acks[f.ack.seq] = f.ack.leaf_hash.hex()
        return acks

    def check_stream(self, ns, acks, size):
        """Every entry 0..size-1 exactly once, records with the acked leaf hash; blobs before
        the entry naming them; checkpoints only of sizes the entries before them cover."""
        msgs = self.dump(ns)
        entries = {}
        seen_blobs = set()
        sent = 0
        for m in msgs:
            self.assertNotEqual(m["kind"], "bad", m)
            if m["kind"] == "entry":
                self.assertNotIn(m["seq"], entries, "entry %d twice in the stream" % m["seq"])
                entries[m["seq"]] = m
                sent = max(sent, m["seq"] + 1)
                if m["blobs"]:
                    self.assertTrue(seen_blobs, "an entry naming a blob came before it")
            elif m["kind"] == "blob":
                seen_blobs.add(m["hash"])
            elif m["kind"] == "checkpoint":
                self.assertLessEqual(m["size"], sent, "a checkpoint before its entries")
        self.assertEqual(sorted(entries), list(range(size)))
        for seq, h in acks.items():
            self.assertEqual(entries[seq]["leaf_hash"], h, "entry %d" % seq)
            self.assertTrue(entries[seq]["payload"])
        return msgs

    def test_every_record_once_and_the_final_checkpoint_after_sigterm(self):
        ns = self.nats().start()
        self.start(config=forward_conf(ns.url, "max_pending = 64\n"))
        c = self.registered()
        acks = self.send(c, 0, 3000)
        self.wait_forwarded()
        st = self.status()
        self.assertEqual(st["forward_lag_seconds"], 0.0)
        self.d.stop()
        log = self.d.read_log()
        self.assertIn("created JetStream stream EVIDENT", log)
        self.assertIn("JetStream acknowledged all", log)
        size = self.status()["entries"]
        msgs = self.check_stream(ns, acks, size)
        # the final checkpoint (after the stop entry) is in the stream
        self.assertEqual(max(m["size"] for m in msgs if m["kind"] == "checkpoint"), size)
        self.assertTrue(any(m["kind"] == "blob" for m in msgs))  # the model's artifact
        self.assertEqual(self.status()["forwarded_entries"], size)
        stream = ns.stream("EVIDENT")
        self.assertEqual(stream["config"]["storage"], "file")
        self.assertEqual(stream["config"]["discard"], "new")

    def test_kill_9_resumes_from_the_stored_position(self):
        ns = self.nats().start()
        self.start(config=forward_conf(ns.url))
        c = self.registered()
        acks = self.send(c, 0, 4000)
        self.wait_forwarded()
        self.d.kill()
        pos = self.status()["forwarded_entries"]
        self.assertGreater(pos, 4000)
        before = ns.messages("EVIDENT")
        self.d = Daemon(self.tmp, config=forward_conf(ns.url)).start()
        self.assertIn("from entry %d of" % pos, self.d.read_log())
        c = self.d.conn("test")
        acks.update(self.send(c, 4000, 1000))
        self.d.stop()
        size = self.status()["entries"]
        self.check_stream(ns, acks, size)
        # nothing resent beyond the position: the stream grew by what the second run wrote
        # (its entries and checkpoints), and every entry is there once
        self.assertGreater(ns.messages("EVIDENT"), before)

    def test_nats_killed_mid_stream_and_down_at_start(self):
        ns = self.nats()
        # down at start: evidentd starts, records and acknowledges
        self.start(config=forward_conf(ns.url))
        c = self.registered()
        acks = self.send(c, 0, 500)
        wait_for(lambda: "cannot connect to NATS" in self.d.read_log(), what="the error line")
        st = self.status()
        self.assertEqual(st["forwarded_entries"], 0)
        self.assertGreater(st["forward_lag_entries"], 500)
        ns.start()
        self.wait_forwarded()
        # killed while records flow, restarted: acks never stop
        errors = []

        def load():
            try:
                acks.update(self.send(self.d.conn("test"), 500, 6000))
            except Exception as e:  # reported below
                errors.append(e)
        t = threading.Thread(target=load)
        t.start()
        wait_for(lambda: self.status()["forwarded_entries"] > 2000, what="forwarding")
        ns.kill()
        acks.update(self.send(c, 10000, 500))  # acknowledged with NATS down
        ns.start()
        t.join(timeout=120)
        self.assertFalse(errors, errors)
        self.wait_forwarded(timeout=60)
        self.d.stop()
        log = self.d.read_log()
        self.assertIn("connection to NATS lost", log)
        self.check_stream(ns, acks, self.status()["entries"])

    def test_wrong_credentials(self):
        ns = self.nats(user="evidentd", password="right").start()
        self.start(config=forward_conf(ns.url, "user = evidentd\npassword = wrong\n"))
        c = self.registered()
        self.send(c, 0, 200)
        wait_for(lambda: "check creds_file, user/password" in self.d.read_log(),
                 what="the error line")
        self.assertEqual(self.status()["forwarded_entries"], 0)
        self.d.stop()
        self.assertEqual(ns.messages("EVIDENT"), 0)

    def test_conflicting_stream(self):
        ns = self.nats().start()
        # a stream named EVIDENT over other subjects (made by a forwarder with another prefix)
        self.start(config=forward_conf(ns.url, "subject_prefix = other\n"))
        self.wait_forwarded()
        self.d.stop()
        self.d = Daemon(os.path.join(self.tmp), config=forward_conf(ns.url))
        self.d.vault = os.path.join(self.tmp, "vault2")
        self.d.start()
        c = self.registered()
        self.send(c, 0, 200)
        wait_for(lambda: "has conflicting settings" in self.d.read_log(), what="the error line")
        self.assertIn("do not cover the forwarded ones", self.d.read_log())
        self.d.stop()

    def test_full_stream_and_oversized_entries(self):
        ns = self.nats(max_payload=8192).start()
        self.start(config=forward_conf(ns.url, "max_bytes = 1M\nstop_wait_ms = 1000\n"))
        c = self.registered()
        # one record over the server's max_payload: forwarded without its payload
        big = record(0)
        for k in range(40):
            big.record.labels["l%d" % k] = "x" * 250
        c.send(big)
        f = c.recv()
        self.assertTrue(f.HasField("ack"), f)
        wait_for(lambda: "over the NATS server's max_payload" in self.d.read_log(),
                 what="the oversized line")
        self.wait_forwarded()
        entries = [m for m in self.dump(ns) if m["kind"] == "entry"]
        self.assertFalse([m for m in entries if m["seq"] == f.ack.seq][0]["payload"])
        # fill the stream: JetStream refuses, ingest goes on, the lag shows
        self.send(c, 1, 3000)
        wait_for(lambda: "JetStream refused it" in self.d.read_log(), what="the refusal line")
        st = self.status()
        self.assertGreater(st["forward_lag_entries"], 0)
        self.send(c, 3001, 100)  # still acknowledged
        self.d.stop()
        log = self.d.read_log()
        self.assertIn("not acknowledged by JetStream", log)
        self.assertIn("over the NATS server's max_payload (8192): not forwarded", log)

    def test_cosignatures_come_back_through_nats(self):
        ns = self.nats().start()
        aud, other = Cosigner("auditor.test"), Cosigner("auditor.test")
        self.start(config=forward_conf(ns.url) +
                   "[witness aud]\nnats = yes\nvkey = %s\n" % aud.vkey)
        c = self.registered()
        self.send(c, 0, 100)
        self.wait_forwarded()
        cp = json.loads(self.d.ctl("checkpoint", "--json").stdout)
        body = cp["note"].split("\n\n")[0] + "\n"
        subject = "evident.%s.cosig.%s" % (token(cp["origin"]), token(aud.name))

        def publish(line, size, name=aud.name):
            msg = (pb_field(1, cp["origin"]) + pb_field(2, size) + pb_field(3, name) +
                   pb_field(4, line))
            r = subprocess.run([FLEET_PUB, "--nats", ns.url, "raw", subject,
                                "%s/s/%s/%d/%d" % (cp["origin"], name, size, time.time_ns())],
                               input=msg, capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        # a line by another key under the auditor's name, an unknown auditor, garbage: each
        # an error line, nothing stored
        publish(other.line(body), cp["size"])
        publish(Cosigner("stranger").line(body), cp["size"], name="stranger")
        wait_for(lambda: "no [witness] section with nats = yes has a vkey named \"stranger\""
                 in self.d.read_log(), what="the unknown auditor's line")
        wait_for(lambda: "refused: witness aud: a line without a valid cosignature"
                 in self.d.read_log(), what="the bad signature's line")
        self.assertIsNone(self.status()["witnessed_size"])
        # the auditor's cosignature: stored, counted toward the quorum
        publish(aud.line(body), cp["size"])
        wait_for(lambda: self.status()["witnessed_size"] == cp["size"], what="witnessed")
        self.d.stop()
        # the refusal and the recovery are notice entries, as for an HTTP witness
        kinds = [json.loads(self.d.ctl("show", str(n["seq"]), "--json").stdout)["payload"]
                 .get("kind") for n in self.d.notices()]
        self.assertIn("witness_refused", kinds)
        self.assertIn("witness_ok", kinds)


if __name__ == "__main__":
    unittest.main()
