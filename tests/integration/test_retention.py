# SPDX-License-Identifier: Apache-2.0
"""Retention, legal holds and erasure in evidentd, with every proof intact: the real daemon on a
temporary socket and vault (test_daemon.py's helpers), driven by the raw protocol, checked
with evidentctl and, for the commitments, with hashlib alone.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_retention.py [-v]

Retention's clock is moved with EVIDENTD_TEST_NOW_OFFSET_S (read once at start; see
proto/PROTOCOL.md, "Retention"), so that 400 days pass in no time. EVIDENT_RETENTION_KILLS=N
sets the number of SIGKILLs of each crash loop (default 4).
"""
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon as td  # noqa: E402
from test_daemon import (ART, TIMEOUT, Conn, Daemon, manifest, pb, record,  # noqa: E402
                         register, wait_for)

DAY = 86400
KILLS = int(os.environ.get("EVIDENT_RETENTION_KILLS", "4"))


class RDaemon(Daemon):
    """A Daemon whose retention clock runs `offset_s` ahead (None: the wall clock)."""

    offset_s = None
    log_mark = 0

    def _start(self):
        old = os.environ.get("EVIDENTD_TEST_NOW_OFFSET_S")
        if self.offset_s is None:
            os.environ.pop("EVIDENTD_TEST_NOW_OFFSET_S", None)
        else:
            os.environ["EVIDENTD_TEST_NOW_OFFSET_S"] = str(int(self.offset_s))
        try:
            return super().start()
        finally:
            if old is None:
                os.environ.pop("EVIDENTD_TEST_NOW_OFFSET_S", None)
            else:
                os.environ["EVIDENTD_TEST_NOW_OFFSET_S"] = old

    def show(self, seq):
        return json.loads(self.ctl("show", str(seq), "--json").stdout)

    def entries(self, typ=None):
        """seq -> the log's JSON line (pruned ones included)."""
        args = ["log", "--json"] + (["--type", typ] if typ else [])
        out = self.ctl(*args).stdout
        return {o["seq"]: o for o in map(json.loads, out.splitlines())}

    def pruned(self):
        return {s for s, o in self.entries().items() if o.get("pruned")}

    def prune_entries(self):
        """target seq -> reason, from the prune entries."""
        return {o["target_seq"]: o["reason"] for o in self.entries("prune").values()}

    def start(self):
        self.log_mark = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        return self._start()

    def count(self, typ):
        """Entries of a type, from evidentctl status (cheap enough to poll)."""
        st = json.loads(self.ctl("status", "--json").stdout)
        return st["entries_by_type"].get(typ, 0)

    def cycles_done(self):
        """Retention cycles finished since the last start (logged at debug level)."""
        with open(self.log) as f:
            f.seek(self.log_mark)
            return len(re.findall(r"retention cycle \d+ done", f.read()))


def subject_record(i, subject=None, model_id="credit", deadline=0, rid=None, marker=None,
                   pad=0):
    """record(i) about `subject`, with a label holding marker, and pad more bytes of labels."""
    f = record(i, model_id=model_id, rid=rid)
    if subject is not None:
        f.record.subject = subject
    if deadline:
        f.record.verdict_deadline_ms = deadline
    if marker:
        f.record.labels["note"] = marker
    for k in range(0, pad, 250):
        f.record.labels["pad%d" % k] = "%d-" % i + "p" * 240
    return f


def reply(c):
    """The next Ack or Error (verdicts are skipped)."""
    while True:
        f = c.recv()
        if f.HasField("ack") or f.HasField("error"):
            return f


def send_all(c, frames):
    """Pipelines frames; returns request_id -> Ack (verdicts are skipped)."""
    for f in frames:
        c.send(f)
    acks = {}
    while len(acks) < len(frames):
        f = c.recv()
        if f.HasField("verdict"):
            continue
        assert f.HasField("ack"), f
        acks[f.ack.request_id] = f.ack
    return acks


def admin(c, **kw):
    """Sends one Hold, Release or Erase and returns its answer (Ack or Error)."""
    kind, msg = kw.popitem()
    c.send(pb.Frame(**{kind: msg}))
    return reply(c)


def hold(c, rid, hold_id, seq=None, incident=None):
    h = pb.Hold(request_id=rid, hold_id=hold_id, reason="litigation Doe v. Bank, 24-1138",
                holder="legal@bank.example")
    if seq is not None:
        h.seq = seq
    if incident is not None:
        h.incident_id = incident
    return admin(c, hold=h)


def release(c, rid, hold_id):
    return admin(c, release=pb.Release(request_id=rid, hold_id=hold_id, reason="settled",
                                       holder="legal@bank.example"))


def erase(c, rid, subject):
    return admin(c, erase=pb.Erase(request_id=rid, subject=subject,
                                   reason="GDPR Art. 17 request of 2026-11-30",
                                   requested_by="dpo@bank.example"))


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.tmpdir = tempfile.TemporaryDirectory(prefix="evident-retention-")
        self.tmp = self.tmpdir.name
        self.d = None

    def tearDown(self):
        if self.d and self.d.proc and self.d.proc.poll() is None:
            self.d.proc.kill()
            self.d.proc.wait()
            self.d.logf.close()
        self.tmpdir.cleanup()

    def start(self, config="[daemon]\n", offset_s=None, debug=True):
        self.d = RDaemon(self.tmp, config=config,
                         extra=["--log-level", "debug"] if debug else [])
        self.d.offset_s = offset_s
        return self.d.start()

    def restart(self, offset_s=None, config=None):
        self.d.stop()
        if config is not None:
            with open(self.d.config, "w") as f:
                f.write(config)
        self.d.offset_s = offset_s
        return self.d.start()

    def registered(self, name="test", models=("credit",)):
        c = self.d.conn(name)
        for m in models:
            f = register(c, manifest(model_id=m, artifact=ART), ART)
            self.assertTrue(f.HasField("ack"), f)
        return c

    def key(self):
        path = os.path.join(self.tmp, "log.vkey")
        with open(path, "w") as f:
            f.write(self.d.ctl("checkpoint", "--key").stdout)
        return path

    def prove(self, seq, name):
        path = os.path.join(self.tmp, name)
        self.d.ctl("prove", str(seq), "-o", path)
        return path

    def verify_proof(self, path):
        r = self.d.ctl("verify-proof", path, "--key", self.key(), check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def notices(self, kind):
        out = []
        for seq in self.d.entries("notice"):
            p = self.d.show(seq).get("payload") or {}
            if p.get("kind") == kind:
                out.append(p)
        return out


# ---------------------------------------------------------------------------------- erasure

class Erasure(RetentionTest):
    TRIGGER = "[daemon]\n[trigger big]\nwhen = feature.f0 > 90\n"

    def test_erasure_prunes_exactly_the_subjects_unheld_payloads(self):
        self.start(self.TRIGGER)
        c = self.registered()
        # alice: records 0, 4, ..., 96, some with a verdict deadline; 92 and 96 fire the
        # trigger (incident, audit, verdict); bob: 1, 5, ...; the rest have no subject
        frames = []
        for i in range(100):
            subject = "alice" if i % 4 == 0 else "bob" if i % 4 == 1 else None
            frames.append(subject_record(i, subject, deadline=3000 if i >= 88 else 0,
                                         marker="ALICE-SECRET-%d" % i if subject == "alice"
                                         else None))
        acks = send_all(c, frames)
        seq = {int(rid[1:]): a.seq for rid, a in acks.items()}
        incidents = {}
        wait_for(lambda: len(self.d.entries("audit")) == 9, what="9 audits")
        for s, o in self.d.entries("incident").items():
            incidents[self.d.show(s)["payload"]["record_seq"]] = s
        self.assertEqual(len(incidents), 9)
        # the incident on record 92 is reviewed (closed); the one on 96 stays open
        c.send(pb.Frame(review=pb.Review(incident_id=incidents[seq[92]], reviewer="risk",
                                         outcome="upheld", request_id="rev-92")))
        self.assertTrue(reply(c).HasField("ack"))
        # an explicit hold on alice's record 8
        a = hold(c, "h1", "case-1138", seq=seq[8])
        self.assertTrue(a.HasField("ack"), a)
        self.assertIn('hold "case-1138" in force', a.ack.detail)
        wait_for(lambda: self.d.verify()["unsigned_entries"] == 0, what="a checkpoint")
        # what anyone can take before the erasure: a proof, and the entry's bytes
        before_proof = self.prove(seq[4], "before.proof")
        before = self.d.show(seq[4])
        self.assertEqual(before["leaf_version"], 2)
        # the subject's entries: alice's records and the incidents, audits and verdicts
        # about them (they inherit the record's subject)
        alice = json.loads(self.d.ctl("subject", "alice", "--json").stdout)
        alice_seqs = {e["seq"] for e in alice["entries"]}
        alice_records = {seq[i] for i in range(0, 100, 4)}
        self.assertEqual({e["seq"] for e in alice["entries"] if e["type"] == "record"},
                         alice_records)
        about = {}
        for typ in ("incident", "audit", "verdict"):
            for s in self.d.entries(typ):
                about[s] = self.d.show(s)["payload"].get("record_seq")
        derived = {s for s, r in about.items() if r in alice_records}
        self.assertEqual(alice_seqs - alice_records, derived)
        self.assertTrue(any(self.d.show(s)["type"] == "audit" for s in derived))
        # held: the record under case-1138, and everything about record 96 (open incident)
        held = {seq[8]} | {s for s, r in about.items() if r == seq[96]} | {seq[96]}
        expect_pruned = alice_seqs - held
        pruned_before = self.d.pruned()

        a = erase(c, "e1", "alice")
        self.assertTrue(a.HasField("ack"), a)
        self.assertEqual(a.ack.entries, len(alice_seqs))
        self.assertEqual(a.ack.pruned, len(expect_pruned))
        self.assertEqual(a.ack.held, len(held))
        self.assertEqual(a.ack.already_pruned, 0)
        self.assertIn("case-1138", a.ack.detail)
        self.assertIn("open incident %d" % incidents[seq[96]], a.ack.detail)
        erasure_seq = a.ack.seq
        # exactly the subject's unheld payloads are gone, nothing else
        self.assertEqual(self.d.pruned() - pruned_before, expect_pruned)
        reasons = self.d.prune_entries()
        self.assertEqual(set(reasons), expect_pruned)
        self.assertTrue(all(r.startswith('erasure: request "e1"') for r in reasons.values()))
        # every prune and the erasure entry are durable before the Ack: the prunes precede it
        self.assertTrue(all(s < erasure_seq for s in self.d.entries("prune")))
        e = self.d.show(erasure_seq)["payload"]
        self.assertEqual(sorted(e["held_seqs"]), sorted(held))
        # a retry of the Erase is answered with the same entry and counts
        a2 = erase(c, "e1", "alice")
        self.assertTrue(a2.ack.duplicate)
        self.assertEqual((a2.ack.seq, a2.ack.pruned, a2.ack.held),
                         (erasure_seq, a.ack.pruned, a.ack.held))
        # the same request id with another subject is a conflict
        a3 = erase(c, "e1", "bob")
        self.assertEqual(a3.error.code, pb.Error.CONFLICT, a3)
        # the erased records are no audit's background any more: a new incident's audit
        # samples the recent records without them
        audits = set(self.d.entries("audit"))
        send_all(c, [subject_record(97, rid="after-erasure")])
        wait_for(lambda: len(self.d.entries("audit")) == len(audits) + 1, what="a new audit")
        new = (set(self.d.entries("audit")) - audits).pop()
        doc = json.loads(self.d.show(new)["payload"]["document"])
        background = set(doc["params"]["background"]["seqs"])
        self.assertGreater(len(background), 50)
        self.assertFalse(background & expect_pruned, "an erased record in a new background")
        self.assertIn(seq[8], background)  # held, not erased: still sampled
        self.d.stop()
        rep = self.d.verify()
        self.assertEqual(rep["pruned"], len(expect_pruned))
        # proofs taken before and after the erasure verify with nothing but the log key
        self.verify_proof(before_proof)
        self.verify_proof(self.prove(seq[4], "after.proof"))
        self.verify_proof(self.prove(erasure_seq, "erasure.proof"))
        # the pruned entry's leaf no longer confirms a guessed payload
        after = self.d.show(seq[4])
        self.assertTrue(after["pruned"])
        self.assertNotIn("payload_bytes", after)
        self.assertNotIn("payload_nonce", after)
        self.assertEqual(after["leaf_bytes"], before["leaf_bytes"])
        leaf = bytes.fromhex(after["leaf_bytes"])
        commitment = leaf[27:59]
        true_payload = bytes.fromhex(before["payload_bytes"])
        true_nonce = bytes.fromhex(before["payload_nonce"])
        # (the commitment was to nonce || payload: with the nonce it matched)
        self.assertEqual(hashlib.sha256(true_nonce + true_payload).digest(), commitment)
        # an attacker's candidates: the true payload and neighbours, hashed without a nonce
        # and with guessed nonces; none matches
        candidates = [true_payload] + [true_payload.replace(b"ALICE-SECRET-4",
                                                            b"ALICE-SECRET-%d" % k)
                                       for k in range(100) if k != 4]
        for p in candidates:
            self.assertNotEqual(hashlib.sha256(p).digest(), commitment)
            for guess in (bytes(16), b"\xff" * 16, os.urandom(16)):
                self.assertNotEqual(hashlib.sha256(guess + p).digest(), commitment)
        # bob and the entries without a subject kept their payloads
        for i in range(100):
            if i % 4 != 0:
                self.assertFalse(self.d.show(seq[i])["pruned"], i)
        # the erased record's request id may be sent again: its dedup key went with it
        self.d.start()
        c = self.d.conn("test")
        again = send_all(c, [subject_record(4, "alice")])["r4"]
        self.assertFalse(again.duplicate)
        self.assertNotEqual(again.seq, seq[4])
        held_again = send_all(c, [subject_record(8, "alice", marker="ALICE-SECRET-8")])["r8"]
        self.assertTrue(held_again.duplicate)  # kept under the hold: still a retry
        self.assertEqual(held_again.seq, seq[8])
        self.d.stop()
        self.d.verify()

    def test_unknown_subject_and_everything_held(self):
        self.start()
        c = self.registered()
        acks = send_all(c, [subject_record(i, "carol") for i in range(3)])
        for k, rid in enumerate(sorted(acks)):
            self.assertTrue(hold(c, "h%d" % k, "case-%d" % k, seq=acks[rid].seq)
                            .HasField("ack"))
        a = erase(c, "e-unknown", "nobody-we-know")
        self.assertTrue(a.HasField("ack"), a)
        self.assertEqual((a.ack.entries, a.ack.pruned, a.ack.held), (0, 0, 0))
        self.assertIn("0 entries of the subject, 0 payloads pruned", a.ack.detail)
        a = erase(c, "e-carol", "carol")
        self.assertTrue(a.HasField("ack"), a)
        self.assertEqual((a.ack.entries, a.ack.pruned, a.ack.held), (3, 0, 3))
        self.assertIn("case-0, case-1, case-2", a.ack.detail)
        self.d.stop()
        self.d.verify()
        self.assertEqual(self.d.pruned(), set())
        erasures = [self.d.show(s)["payload"] for s in self.d.entries("erasure")]
        self.assertEqual(len(erasures), 2)  # both recorded
        self.assertEqual(sorted(erasures[1]["blocking_holds"]), ["case-0", "case-1", "case-2"])

    def test_bad_subjects_are_refused_naming_the_field(self):
        self.start()
        c = self.registered()
        for bad, why in (("a\nb", "record.subject: control character 0x0a at offset 1"),
                         ("x" * 129, "record.subject is 129 bytes, over 128"),
                         ("", "record.subject is required (1-128 bytes)")):
            c.send(subject_record(1, bad))
            f = c.recv()
            self.assertEqual(f.error.code, pb.Error.BAD_MESSAGE, f)
            self.assertEqual(f.error.message, why)
            self.assertEqual(f.error.request_id, "r1")
        c.send(pb.Frame(erase=pb.Erase(request_id="e", subject="s\x01", reason="r",
                                       requested_by="dpo")))
        f = c.recv()
        self.assertEqual(f.error.code, pb.Error.BAD_MESSAGE, f)
        self.assertIn("erase.subject: control character 0x01", f.error.message)
        self.assertTrue(send_all(c, [subject_record(2, "ok-\u00e9")])["r2"].seq > 0)


# ---------------------------------------------------------------------------- legal holds

class Holds(RetentionTest):
    def test_non_admin_peer_gets_unauthorized(self):
        other = os.getuid() + 4242
        self.start("[daemon]\nadmin_uids = %d\n" % other)
        c = self.registered()
        seq = send_all(c, [subject_record(1, "dave")])["r1"].seq
        for f, rid in ((pb.Frame(hold=pb.Hold(request_id="h", hold_id="x", seq=seq,
                                              reason="r", holder="me")), "h"),
                       (pb.Frame(release=pb.Release(request_id="rl", hold_id="x", reason="r",
                                                    holder="me")), "rl"),
                       (pb.Frame(erase=pb.Erase(request_id="e", subject="dave", reason="r",
                                                requested_by="me")), "e")):
            c.send(f)
            r = c.recv()
            self.assertTrue(r.HasField("error"), r)
            self.assertEqual(r.error.code, pb.Error.UNAUTHORIZED)
            self.assertEqual(r.error.request_id, rid)
            self.assertIn("uid %d is not in admin_uids" % os.getuid(), r.error.message)
        # the connection stays open for records
        self.assertGreater(send_all(c, [subject_record(2, "dave")])["r2"].seq, seq)
        self.d.stop()
        self.assertEqual(self.d.pruned(), set())
        self.assertEqual(self.d.entries("hold"), {})
        self.assertEqual(self.d.entries("erasure"), {})
        refused = self.notices("admin_refused")
        self.assertEqual(len(refused), 3, refused)
        self.assertTrue(all("UNAUTHORIZED" in n["detail"] for n in refused))
        self.d.verify()

    def test_hold_errors_releases_and_holds_across_a_restart(self):
        self.start("[daemon]\n[trigger big]\nwhen = feature.f0 > 90\n")
        c = self.registered()
        acks = send_all(c, [subject_record(i, "erin") for i in (1, 2, 95)])
        r1, r2, r95 = acks["r1"].seq, acks["r2"].seq, acks["r95"].seq
        wait_for(lambda: len(self.d.entries("audit")) == 1, what="the incident's audit")
        inc = next(iter(self.d.entries("incident")))
        size = self.d.verify()["entries"]
        a = hold(c, "h-missing", "case-x", seq=10**6)
        self.assertEqual(a.error.code, pb.Error.BAD_MESSAGE, a)
        self.assertIn("hold: no entry 1000000 (the vault holds", a.error.message)
        self.assertEqual(a.error.request_id, "h-missing")
        a = hold(c, "h-notinc", "case-x", incident=r1)
        self.assertEqual(a.error.code, pb.Error.BAD_MESSAGE, a)
        self.assertIn("hold: entry %d is not an incident (it is a record entry)" % r1,
                      a.error.message)
        a = hold(c, "h-both", "case-x", seq=r1, incident=inc)
        self.assertEqual(a.error.code, pb.Error.BAD_MESSAGE, a)
        self.assertIn("exactly one of seq", a.error.message)
        a = hold(c, "h1", "case-1", seq=r1)
        self.assertTrue(a.HasField("ack"), a)
        self.assertGreaterEqual(a.ack.seq, size)
        again = hold(c, "h1", "case-1", seq=r1)  # a retry
        self.assertTrue(again.ack.duplicate)
        self.assertEqual(again.ack.seq, a.ack.seq)
        a = hold(c, "h1b", "case-1", seq=r2)  # the id is taken
        self.assertEqual(a.error.code, pb.Error.CONFLICT, a)
        a = hold(c, "h2", "case-2", incident=inc)
        self.assertTrue(a.HasField("ack"), a)
        self.assertIn("entries %d, %d" % (r95, inc), a.ack.detail)
        a = release(c, "rl-x", "case-unknown")
        self.assertEqual(a.error.code, pb.Error.BAD_MESSAGE, a)
        self.assertIn('release: no hold "case-unknown" is in force', a.error.message)
        # the incident is reviewed: only the explicit hold keeps its record now
        c.send(pb.Frame(review=pb.Review(incident_id=inc, reviewer="risk", outcome="upheld")))
        self.assertTrue(c.recv().HasField("ack"))
        # the holds survive a restart (rebuilt from the vault)
        self.restart()
        c = self.d.conn("test")
        a = erase(c, "e1", "erin")
        # r2 only; r1 (case-1), and r95, its incident and its audit (case-2)
        self.assertEqual((a.ack.entries, a.ack.pruned, a.ack.held), (5, 1, 4))
        self.assertEqual(self.d.pruned(), {r2})
        self.assertTrue(release(c, "rl-1", "case-1").HasField("ack"))
        self.assertTrue(release(c, "rl-2", "case-2").HasField("ack"))
        again = release(c, "rl-2", "case-2")  # a retry is not an unknown hold
        self.assertTrue(again.ack.duplicate, again)
        a = erase(c, "e2", "erin")
        self.assertEqual((a.ack.pruned, a.ack.already_pruned, a.ack.held), (4, 1, 0))
        self.d.stop()
        self.d.verify()
        refused = self.notices("admin_refused")
        self.assertEqual(len(refused), 5, refused)  # missing, not an incident, both, taken, release
        self.assertTrue(any("hold: no entry 1000000" in n["detail"] for n in refused))


# -------------------------------------------------------------------------------- retention

class Retention(RetentionTest):
    CONFIG = ("[daemon]\n[trigger big]\nwhen = feature.f0 > 95\n"
              "[retention]\nrecord = 400d\naudit = 5y\nincident = 5y\nverdict = 400d\n"
              "batch = 7\ninterval = 1s\n[retention keep]\nrecord = forever\n")

    def test_retention_prunes_exactly_the_expired_and_never_a_held_one(self):
        self.start(self.CONFIG)
        c = self.registered(models=("credit", "keep"))
        frames = [subject_record(i, model_id="keep" if i % 10 == 0 else "credit",
                                 deadline=2000 if i % 7 == 0 else 0)
                  for i in range(100)]
        acks = send_all(c, frames)
        seq = {int(rid[1:]): a.seq for rid, a in acks.items()}
        # f0 > 95: records 96 to 99 open incidents (audited), which hold them
        wait_for(lambda: len(self.d.entries("audit")) == 4, what="4 audits")
        wait_for(lambda: len(self.d.entries("verdict")) == len(range(0, 100, 7)),
                 what="a verdict for each record that asked for one")
        # the verdicts expire too, but not the one about record 98 (its incident is open)
        verdicts = {s for s in self.d.entries("verdict")
                    if self.d.show(s)["payload"]["record_seq"] != seq[98]}
        self.assertEqual(len(verdicts), len(range(0, 100, 7)) - 1)
        a = hold(c, "h1", "case-1", seq=seq[5])
        self.assertTrue(a.HasField("ack"), a)
        # a year later nothing is old enough
        self.restart(offset_s=365 * DAY)
        wait_for(lambda: self.d.cycles_done() >= 2, what="two retention cycles")
        self.assertEqual(self.d.pruned(), set())
        # 401 days later: the records of credit, not held, and the verdicts, are gone
        self.restart(offset_s=401 * DAY)
        expect = ({seq[i] for i in range(100) if i % 10 != 0 and i != 5 and i < 96}
                  | verdicts)
        wait_for(lambda: self.d.pruned() == expect, what="exactly the expired payloads")
        wait_for(lambda: self.d.cycles_done() >= 2, what="a second cycle")
        self.assertEqual(self.d.pruned(), expect)
        reasons = self.d.prune_entries()
        self.assertEqual(reasons[seq[1]],
                         "retention: record older than 400d (config [retention])")
        self.assertEqual(reasons[min(verdicts)],
                         "retention: verdict older than 400d (config [retention])")
        # releasing the hold and reviewing an incident let their entries go at the next cycle
        c = self.d.conn("test")
        self.assertTrue(release(c, "rl1", "case-1").HasField("ack"))
        inc99 = next(s for s in self.d.entries("incident")
                     if self.d.show(s)["payload"]["record_seq"] == seq[99])
        c.send(pb.Frame(review=pb.Review(incident_id=inc99, reviewer="risk", outcome="ok")))
        self.assertTrue(reply(c).HasField("ack"))
        wait_for(lambda: self.d.pruned() == expect | {seq[5], seq[99]},
                 what="the released and the reviewed records pruned")
        self.d.stop()
        rep = self.d.verify()
        self.assertEqual(rep["pruned"], len(expect) + 2)
        # audits (5y), incidents, the keep model's records and the model entries stay
        for s in list(self.d.entries("audit")) + list(self.d.entries("incident")):
            self.assertFalse(self.d.show(s)["pruned"])
        for i in range(0, 100, 10):
            self.assertFalse(self.d.show(seq[i])["pruned"])
        notes = self.notices("test_clock")
        self.assertEqual(len(notes), 2)  # each start with the test clock says so

    def test_retention_cuts_at_the_right_time(self):
        """Two groups written seconds apart; the clock is set so that the cutoff falls
        between them: exactly the older group goes."""
        self.start("[retention]\nrecord = 400d\ninterval = 1h\n")
        c = self.registered()
        old = send_all(c, [subject_record(i) for i in range(20)])
        gap = 6.0
        time.sleep(gap)  # the two groups must be apart in time: that is what is tested
        new = send_all(c, [subject_record(i) for i in range(20, 40)])
        t_old = max(self.d.show(a.seq)["timestamp_ns"] for a in old.values()) / 1e9
        t_new = min(self.d.show(a.seq)["timestamp_ns"] for a in new.values()) / 1e9
        self.assertGreater(t_new - t_old, gap - 0.5)
        cutoff = (t_old + t_new) / 2
        self.d.stop()
        # retention's now - 400d == cutoff (give or take the start's second)
        self.d.offset_s = round(cutoff + 400 * DAY - time.time())
        self.d.start()
        wait_for(lambda: self.d.cycles_done() >= 1, what="a retention cycle")
        self.assertEqual(self.d.pruned(), {a.seq for a in old.values()})
        self.d.stop()
        self.d.verify()


# ------------------------------------------------------------------------------- crashes

class CrashSafety(RetentionTest):
    def acked_are_present(self, acked):
        """Every acknowledged entry is there with the leaf hash its Ack named."""
        log = self.d.entries()
        for s, leaf in acked.items():
            self.assertIn(s, log, "acknowledged entry %d lost" % s)
            self.assertEqual(log[s]["leaf_hash"], leaf.hex())

    def test_kill9_during_retention_batches(self):
        rng = random.Random(7)
        # small batches (one transaction and one fsync each) so that the pruning lasts
        conf = "[daemon]\n[retention]\nrecord = 400d\nbatch = 5\ninterval = 1s\n"
        self.start(conf, debug=False)
        c = self.registered()
        acked = {}
        n = 20000
        for base in range(0, n, 1000):
            acks = send_all(c, [subject_record(i) for i in range(base, base + 1000)])
            acked.update({a.seq: a.leaf_hash for a in acks.values()})
        old = set(acked)
        stop = threading.Event()
        midway = 0  # kills that found the pruning begun and not finished
        for k in range(KILLS):
            # retention's now - 400d is the start: every record written before it is
            # expired, none written after it (by the writer below) in this cycle
            expired = len(self.d.entries("record"))
            self.restart(offset_s=400 * DAY)
            pruned_at_start = len(self.d.pruned())

            def writer():  # records keep arriving while retention prunes
                try:
                    w = self.d.conn("live")
                    i = 100000 + k * 100000
                    while not stop.is_set():
                        a = send_all(w, [subject_record(j, rid="k%d-%d" % (k, j))
                                         for j in range(i, i + 20)])
                        acked.update({x.seq: x.leaf_hash for x in a.values()})
                        i += 20
                except (EOFError, OSError):
                    pass

            stop.clear()
            t = threading.Thread(target=writer)
            t.start()
            # kill in the middle of the pruning: once it has begun, at a random moment
            before = self.d.count("prune")
            wait_for(lambda: self.d.count("prune") > before, what="the pruning to begin")
            time.sleep(rng.uniform(0.0, 0.5))
            self.d.kill()
            stop.set()
            t.join(timeout=TIMEOUT)
            rep = self.d.verify()  # no payload gone without its prune entry, or the reverse
            self.acked_are_present(acked)
            midway += pruned_at_start < rep["pruned"] < expired
        sys.stderr.write("retention kill loop: %d of %d kills in the middle of the pruning\n"
                         % (midway, KILLS))
        self.assertGreater(midway, 0, "no kill landed while the pruning was under way")
        # after the restarts the retention simply continues to the end
        expired = {s for s, o in self.d.entries("record").items()}
        self.restart(offset_s=400 * DAY)
        wait_for(lambda: expired <= self.d.pruned(), timeout=120, what="every expired payload")
        self.assertTrue(old <= expired)
        self.d.stop()
        self.d.verify()
        self.acked_are_present(acked)

    def test_kill9_during_an_erasure_then_the_retry_finishes_it(self):
        # an erasure prunes in batches of [retention] batch: one prune each, so that it lasts
        self.start("[retention]\nbatch = 1\n", debug=False)
        c = self.registered()
        acked = {}
        subjects = {}
        for base in range(0, 8000, 1000):
            acks = send_all(c, [subject_record(i, "frank" if i % 2 else "gina")
                                for i in range(base, base + 1000)])
            for rid, a in acks.items():
                acked[a.seq] = a.leaf_hash
                subjects[a.seq] = "frank" if int(rid[1:]) % 2 else "gina"
        frank = {s for s, who in subjects.items() if who == "frank"}
        midway = 0  # kills that found the erasure begun and not finished
        for k in range(KILLS):
            c = self.d.conn("dpo")
            c.send(pb.Frame(erase=pb.Erase(request_id="e-frank", subject="frank",
                                           reason="GDPR Art. 17 request of 2026-11-30",
                                           requested_by="dpo@bank.example")))
            before = self.d.count("prune")
            wait_for(lambda: self.d.count("prune") > before, what="the erasure to begin")
            time.sleep(random.Random(k).uniform(0.0, 0.3))
            self.d.kill()
            rep = self.d.verify()
            self.acked_are_present(acked)
            gone = self.d.pruned()
            self.assertTrue(gone <= frank, "only frank's payloads are pruned")
            self.assertEqual(rep["pruned"], len(gone))
            midway += 0 < len(gone) < len(frank)
            self.d.offset_s = None
            self.d.start()
            if self.d.entries("erasure"):
                break  # the erasure finished before the kill
        sys.stderr.write("erasure kill loop: %d of %d kills in the middle of the erasure\n"
                         % (midway, KILLS))
        self.assertGreater(midway, 0, "no kill landed while the erasure was under way")
        # the client retries the Erase it got no Ack for: it finishes (or is a duplicate);
        # one prune a batch is slow, under a sanitizer most of all
        c = self.d.conn("dpo")
        c.s.settimeout(300)
        a = erase(c, "e-frank", "frank")
        self.assertTrue(a.HasField("ack"), a)
        self.assertEqual(a.ack.entries, len(frank))
        self.assertEqual(a.ack.pruned + a.ack.already_pruned, len(frank))
        self.assertEqual(self.d.pruned(), frank)
        self.d.stop()
        self.d.verify()
        self.acked_are_present(acked)
        self.assertEqual(len(self.d.entries("erasure")), 1)


# ------------------------------------------------------------------------ soak and compact

class Soak(RetentionTest):
    def test_vault_size_stays_bounded_under_retention(self):
        """A short soak (the long one is tests/bench/retention-bench.sh): records expire
        after 2 s; once retention runs, the file grows only by what each entry keeps for
        ever (leaf, tree nodes, indexes, its prune entry), far less than a payload."""
        self.start("[retention]\nrecord = 2s\nallow_short = yes\ninterval = 1s\n",
                   debug=False)
        c = self.registered()
        data = os.path.join(self.d.vault, "data.mdb")

        def burst(base, n=500):  # records of about 2.2 KB each
            frames = [subject_record(i, rid="s%d" % i, pad=2000) for i in range(base, base + n)]
            return send_all(c, frames)

        # Counted in records, not seconds, so that a slow machine measures the same thing:
        # a warm-up whose first cycles free pages for reuse, then three measured windows,
        # each followed by retention catching up (everything but the last bursts pruned).
        # How soon LMDB reuses freed pages depends on how far retention lags and on
        # readers, so a loaded machine can show a window that still grew; the steady
        # state is the least a window grew.
        base = 0
        for _ in range(8):
            burst(base)
            base += 500
        wait_for(lambda: len(self.d.pruned()) >= base - 1500, timeout=120,
                 what="retention catching up")
        growth = []
        for _ in range(3):
            size1, n1 = os.path.getsize(data), base
            for _ in range(6):
                burst(base)
                base += 500
            wait_for(lambda: len(self.d.pruned()) >= base - 1500, timeout=120,
                     what="retention catching up")
            growth.append((os.path.getsize(data) - size1) / (base - n1))
        per_entry = min(growth)
        size2, n2 = os.path.getsize(data), base
        sys.stderr.write("soak: %d records, data.mdb %d bytes; growth per record in three "
                         "windows after the first cycles: %s (payload ~2100)\n" % (
                             n2, size2, ", ".join("%.0f" % g for g in growth)))
        # Without retention each record costs about 2,300 bytes of file; with it the payload's
        # pages are reused and what stays is the permanent part (about 600 bytes on a quiet
        # machine). How soon LMDB can reuse a freed page depends on how far retention lags
        # and on readers, so the bound is well above that and well below a whole record
        # (1,190 was measured here with the machine loaded by parallel builds).
        self.assertLess(per_entry, 1500, "the vault keeps growing by the payloads")
        self.d.stop()
        self.d.verify()


class Compact(RetentionTest):
    def test_compact_removes_erased_bytes_and_keeps_every_proof(self):
        self.start()
        c = self.registered()
        marker = "ERASE-ME-%08x" % random.getrandbits(32)
        acks = send_all(c, [subject_record(i, "hank", marker=marker) for i in range(50)])
        keep = send_all(c, [subject_record(i) for i in range(50, 60)])
        self.assertTrue(erase(c, "e1", "hank").HasField("ack"))
        wait_for(lambda: self.d.verify()["unsigned_entries"] == 0, what="a checkpoint")
        proof = self.prove(acks["r7"].seq, "hank.proof")
        # refused while the daemon writes to the vault
        r = subprocess.run([td.EVIDENTD, "--compact", "--vault", self.d.vault],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("an evidentd is writing to it", r.stderr)
        self.d.stop()
        root = self.d.verify()["root"]
        r = subprocess.run([td.EVIDENTD, "--compact", "--vault", self.d.vault],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.search(r"data.mdb: (\d+) bytes .* before, (\d+) bytes .* after", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertLessEqual(int(m.group(2)), int(m.group(1)))
        with open(os.path.join(self.d.vault, "data.mdb"), "rb") as f:
            self.assertNotIn(marker.encode(), f.read())
        self.assertEqual(self.d.verify()["root"], root)
        self.verify_proof(proof)
        self.verify_proof(self.prove(keep["r55"].seq, "keep.proof"))
        self.d.start()  # and the daemon runs on the compacted vault
        self.assertTrue(send_all(self.d.conn("test"), [subject_record(99)]))
        self.d.stop()
        self.d.verify()


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]):
        td.BUILD = os.path.abspath(sys.argv.pop(1))
        td.EVIDENTD = os.path.join(td.BUILD, "daemon", "evidentd")
        td.EVIDENTCTL = os.path.join(td.BUILD, "tools", "evidentctl")
    unittest.main()
