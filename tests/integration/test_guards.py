# SPDX-License-Identifier: Apache-2.0
"""Guards ([guard NAME] sections) through the real daemon, with the raw protocol client of
test_daemon.py: a caught record's Verdict follows its Ack, names the guard and its reason, and
is recorded; records not caught are unaffected; a guard and a trigger on one record give one
verdict, the stricter; a bad guard at reload is rejected at file:line:column and the old guards
keep working; a guard naming a feature its model lacks is refused at load with the model's
features, reported at registration for a version without it; a Review names a guarded record.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_guards.py [-v]
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_daemon import (ART, EVIDENTD, DaemonTest, pb, record, register,  # noqa: E402
                         manifest, wait_for)

HOLD_VOL = ("[guard vol]\n"
            "model = credit\n"
            "when = feature.f0 >= 90\n"
            "action = hold\n"
            "reason = f0 at 90 or above: the desk's sell limit (INC-7)\n")
REVIEW_DENY = ("[guard low-deny]\n"
               "when = decision == \"deny\" && feature.f0 < 5\n"
               "action = review\n"
               "reason = a deny this low is unusual\n")


def f0(i):
    return i % 100  # record(i)'s first feature


def art(names):
    """A linear-json artifact over the given feature names (padded like ART)."""
    return (json.dumps({"intercept": 0.5, "coef": [1] * len(names), "link": "logit",
                        "feature_names": names}).encode() + b" " * 1000)


def named_manifest(model_id, version, names, artifact):
    m = manifest(model_id=model_id, version=version, n=0, artifact=artifact)
    for n in names:
        m.features.add(name=n, min=0, max=100)
    return m


def rec(i, deadline_ms=0, **kw):
    f = record(i, **kw)
    if deadline_ms:
        f.record.verdict_deadline_ms = deadline_ms
    return f


class Guards(DaemonTest):
    def entries(self, kind):
        out = self.d.ctl("--json", "log", "--type", kind).stdout
        return [json.loads(self.d.ctl("--json", "show", str(json.loads(line)["seq"])).stdout)
                for line in out.splitlines()]

    def replies(self, c, n_acks):
        """Frames until n_acks Acks arrived (and the Verdict that may follow the last)."""
        frames, acks = [], 0
        while acks < n_acks:
            f = c.recv()
            frames.append(f)
            acks += f.HasField("ack")
        return frames

    def lifecycle(self):
        return [json.loads(x)["event"] for x in
                self.d.ctl("log", "--type", "lifecycle", "--json").stdout.splitlines()]

    def reload(self, config, what):
        with open(self.d.config, "w") as f:
            f.write(config)
        before = self.d.read_log().count(what)
        self.d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.d.read_log().count(what) > before, what=what)

    def test_a_guard_verdict_follows_its_ack_names_the_guard_and_is_recorded(self):
        self.start(config="[daemon]\n" + HOLD_VOL + REVIEW_DENY)
        c = self.registered()
        n = 300
        sent = time.monotonic()
        for i in range(n):
            # every third record asks for a verdict (10 s), the others do not
            c.send(rec(i, deadline_ms=10000 if i % 3 == 0 else 0))
        want = sum(1 for i in range(n) if f0(i) >= 90 or (i % 2 and f0(i) < 5) or i % 3 == 0)
        frames = []
        while sum(f.HasField("ack") for f in frames) < n or \
                sum(f.HasField("verdict") for f in frames) < want:
            frames.append(c.recv())
        acks, verdicts = {}, {}
        for k, f in enumerate(frames):
            if f.HasField("ack"):
                acks[f.ack.request_id] = f.ack.seq
            else:
                self.assertTrue(f.HasField("verdict"), f)
                v = f.verdict
                self.assertNotIn(v.request_id, verdicts, "two verdicts")
                verdicts[v.request_id] = v
                # the Ack of the same record is the frame just before
                self.assertEqual(frames[k - 1].ack.request_id, v.request_id)
                self.assertEqual(v.seq, frames[k - 1].ack.seq)
        self.assertLess(time.monotonic() - sent, 10, "guard verdicts came late")
        self.assertEqual(len(acks), n)
        for i in range(n):
            rid = "r%d" % i
            held = f0(i) >= 90
            reviewed = i % 2 == 1 and f0(i) < 5  # record(i): deny for odd i
            if held:
                v = verdicts[rid]
                self.assertEqual(v.action, pb.Verdict.HOLD)
                self.assertEqual(list(v.guards), ["vol"])
                self.assertEqual(list(v.reasons),
                                 ["guard vol: f0 at 90 or above: the desk's sell limit (INC-7)"])
                self.assertFalse(v.HasField("incident_id"))
            elif reviewed:
                v = verdicts[rid]
                self.assertEqual(v.action, pb.Verdict.REVIEW)
                self.assertEqual(list(v.guards), ["low-deny"])
                self.assertEqual(list(v.reasons), ["guard low-deny: a deny this low is unusual"])
            elif i % 3 == 0:
                # not caught, a verdict asked for: PROCEED as before guards existed
                v = verdicts[rid]
                self.assertEqual(v.action, pb.Verdict.PROCEED)
                self.assertEqual(list(v.guards), [])
                self.assertEqual(list(v.reasons), ["no trigger rule fired"])
            else:
                self.assertNotIn(rid, verdicts)  # not caught, none asked for: no verdict
        n_caught = sum(1 for i in range(n) if f0(i) >= 90 or (i % 2 and f0(i) < 5))
        self.assertEqual(sum(1 for v in verdicts.values() if v.guards), n_caught)
        self.d.stop()
        self.d.verify()
        # recorded like every verdict, naming the guards; no incident, no audit
        ents = self.entries("verdict")
        self.assertEqual(len(ents), len(verdicts))
        by_rid = {}
        for e in ents:
            p = e["payload"]
            by_rid[p["verdict"]["request_id"]] = p
            self.assertTrue(p["delivered"])
            self.assertEqual(int(p["record_seq"]), acks[p["verdict"]["request_id"]])
        for rid, v in verdicts.items():
            p = by_rid[rid]
            self.assertEqual(p["verdict"]["action"], pb.Verdict.Action.Name(v.action))
            self.assertEqual(p["verdict"].get("guards", []), list(v.guards))
            i = int(rid[1:])
            if i % 3 == 0:
                self.assertLess(int(p["decided_unix_ns"]), int(p["deadline_unix_ns"]))
            else:
                self.assertNotIn("deadline_unix_ns", p)
        self.assertEqual(self.entries("incident"), [])
        self.assertEqual(self.entries("audit"), [])
        self.assertIn("guards: %d records caught" % n_caught, self.d.read_log())

    def test_a_guard_and_a_trigger_on_one_record_give_one_verdict_the_stricter(self):
        # trigger t fires for f0 >= 50 (audited); guard rev catches f0 >= 80 (REVIEW), guard
        # stop f0 >= 95 (HOLD): each record gets exactly one verdict
        self.start(config="[daemon]\nworkers = 2\n"
                          "[trigger t]\nwhen = feature.f0 >= 50\nrate_limit = 1000/s\n"
                          "burst = 1000\n"
                          "[guard rev]\nwhen = feature.f0 >= 80\naction = review\n"
                          "reason = large f0\n"
                          "[guard stop]\nwhen = feature.f0 >= 95\naction = hold\n"
                          "reason = f0 at the limit\n")
        c = self.registered()
        n = 200
        for i in range(n):
            c.send(rec(i, deadline_ms=20000))
        got, acks = {}, {}
        while len(got) < n or len(acks) < n:
            f = c.recv()
            if f.HasField("ack"):
                acks[f.ack.request_id] = f.ack.seq
            else:
                v = f.verdict
                self.assertNotIn(v.request_id, got, "a second verdict for one record")
                got[v.request_id] = v
        for i in range(n):
            v = got["r%d" % i]
            if f0(i) >= 95:
                self.assertEqual(v.action, pb.Verdict.HOLD)
                self.assertEqual(list(v.guards), ["rev", "stop"])
                self.assertEqual(list(v.reasons), ["guard rev: large f0",
                                                   "guard stop: f0 at the limit"])
            elif f0(i) >= 80:
                self.assertEqual(v.action, pb.Verdict.REVIEW)
                self.assertEqual(list(v.guards), ["rev"])
            elif f0(i) >= 50:
                # the trigger's audit answers, naming its incident
                self.assertIn(v.action, (pb.Verdict.PROCEED, pb.Verdict.REVIEW))
                self.assertTrue(v.HasField("incident_id"))
                self.assertEqual(list(v.guards), [])
            else:
                self.assertEqual(v.action, pb.Verdict.PROCEED)
        # the trigger's incidents are still opened and audited for the guarded records; the
        # audits' verdicts go to the vault only (the record had its one verdict)
        self.d.stop()
        n_inc = self.count("incident")
        self.assertEqual(n_inc, sum(1 for i in range(n) if f0(i) >= 50))
        self.assertEqual(self.count("audit"), n_inc)
        per_record = {}
        for e in self.entries("verdict"):
            per_record.setdefault(int(e["payload"]["record_seq"]), []).append(e)
        self.assertEqual(sorted(per_record), sorted(acks.values()))
        self.assertTrue(all(len(v) == 1 for v in per_record.values()), "one verdict a record")

    def test_a_bad_guard_at_reload_is_rejected_and_the_old_guards_keep_working(self):
        self.start(config="[daemon]\n" + HOLD_VOL)
        c = self.registered()
        c.send(rec(95))
        a, v = c.recv(), c.recv()
        self.assertEqual((a.ack.request_id, v.verdict.action), ("r95", pb.Verdict.HOLD))
        # an action typo: file:line:column of the value
        self.reload("[daemon]\n[guard vol]\nmodel = credit\nwhen = feature.f0 >= 50\n"
                    "action = hodl\nreason = r\n", "reload rejected")
        self.assertIn(self.d.config + ":5:10: action: expected review", self.d.read_log())
        # a feature credit@1 does not have: at its column inside the expression, with the
        # model's features
        self.reload("[daemon]\n[guard vol]\nmodel = credit\nwhen = feature.f0 >= 50 || "
                    "feature.f9 > 1\naction = hold\nreason = r\n", "reload rejected")
        self.assertIn(self.d.config + ":4:28: when: feature.f9 is not a feature of credit@1 "
                      "(its features: f0, f1, f2)", self.d.read_log())
        # the old guard is still the one in force: f0 = 95 held, f0 = 60 not
        c.send(rec(195))
        c.send(rec(160))
        fr = self.replies(c, 2)
        if fr[-1].ack.request_id == "r195":
            fr.append(c.recv())
        vs = {f.verdict.request_id: f.verdict for f in fr if f.HasField("verdict")}
        self.assertEqual(list(vs), ["r195"])
        self.assertEqual(list(vs["r195"].guards), ["vol"])
        # a good reload replaces it
        self.reload("[daemon]\n[guard low]\nwhen = feature.f0 < 10\naction = review\n"
                    "reason = small\n", "configuration reloaded")
        c.send(rec(296))
        c.send(rec(303))
        fr = self.replies(c, 2)
        fr.append(c.recv())
        vs = {f.verdict.request_id: f.verdict for f in fr if f.HasField("verdict")}
        self.assertEqual(list(vs), ["r303"])
        self.assertEqual((vs["r303"].action, list(vs["r303"].guards)),
                         (pb.Verdict.REVIEW, ["low"]))
        self.d.stop()
        self.assertEqual(self.lifecycle(),
                         ["START", "RELOAD_REJECTED", "RELOAD_REJECTED", "RELOAD", "STOP"])
        # the reload's config entry records which constraint was deployed when
        conf = [json.loads(self.d.ctl("--json", "show", str(json.loads(x)["seq"])).stdout)
                for x in self.d.ctl("log", "--type", "config", "--json").stdout.splitlines()]
        self.assertEqual(len(conf), 2)
        self.assertIn("[guard vol]", conf[0]["payload"]["text"])
        self.assertIn("[guard low]", conf[1]["payload"]["text"])
        rejected = [json.loads(self.d.ctl("--json", "show", str(json.loads(x)["seq"])).stdout)
                    for x in self.d.ctl("log", "--type", "lifecycle", "--json").stdout
                    .splitlines()][1:3]
        self.assertIn("action: expected review", rejected[0]["payload"]["detail"])
        self.assertIn("feature.f9 is not a feature of credit@1",
                      rejected[1]["payload"]["detail"])

    def test_an_unknown_feature_refuses_the_start_with_the_models_features(self):
        self.start()
        self.registered()
        self.d.stop()
        conf = os.path.join(self.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\n\n[guard g]\nmodel = credit\nwhen =  feature.vol > 10.25\n"
                    "action = hold\nreason = r\n")
        r = subprocess.run([EVIDENTD, "--vault", self.d.vault, "--socket", self.d.sock,
                            "--config", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(conf + ":5:9: when: feature.vol is not a feature of credit@1 (its "
                      "features: f0, f1, f2)", r.stderr)
        # for every model: refused only when no registered version has the feature
        with open(conf, "w") as f:
            f.write("[guard g]\nwhen = feature.nowhere > 1\naction = hold\nreason = r\n")
        r = subprocess.run([EVIDENTD, "--vault", self.d.vault, "--socket", self.d.sock,
                            "--config", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(conf + ":2:8: when: feature.nowhere is not a feature of credit@1",
                      r.stderr)

    def test_a_guard_binds_when_its_model_registers_and_a_version_without_the_feature_is_reported(
            self):
        # neither model is registered at start: both guards are accepted
        self.start(config="[daemon]\n"
                          "[guard later-f2]\nmodel = later\nwhen = feature.f2 > 50\n"
                          "action = hold\nreason = f2 high\n"
                          "[guard vol]\nwhen = feature.vol > 10.25\naction = review\n"
                          "reason = volatile\n")
        c = self.d.conn()
        a3 = art(["f0", "f1", "f2"])
        self.assertTrue(register(c, named_manifest("later", "1", ["f0", "f1", "f2"], a3),
                                 a3).HasField("ack"))
        a2 = art(["f0", "vol"])
        self.assertTrue(register(c, named_manifest("later", "2", ["f0", "vol"], a2),
                                 a2).HasField("ack"))

        def send(rid, version, x):
            c.send(pb.Frame(record=pb.Record(model_id="later", model_version=version,
                                             request_id=rid, features=x, scores=[0.5])))
            f = c.recv()
            self.assertEqual(f.ack.request_id, rid, f)
            if version == "1" and x[2] > 50 or version == "2" and x[1] > 10.25:
                return c.recv().verdict
            return None

        v = send("a", "1", [1.0, 2.0, 60.0])
        self.assertEqual((v.action, list(v.guards)), (pb.Verdict.HOLD, ["later-f2"]))
        v = send("b", "2", [1.0, 11.0])
        self.assertEqual((v.action, list(v.guards)), (pb.Verdict.REVIEW, ["vol"]))
        self.assertIsNone(send("c", "1", [1.0, 2.0, 3.0]))
        # later@2 has no f2: later-f2 is not in force for it, never silently true or false
        c.send(pb.Frame(record=pb.Record(model_id="later", model_version="2", request_id="d",
                                         features=[1.0, 2.0], scores=[0.5],
                                         verdict_deadline_ms=5000)))
        self.assertEqual(c.recv().ack.request_id, "d")
        v = c.recv().verdict
        self.assertEqual((v.request_id, v.action), ("d", pb.Verdict.PROCEED))
        self.d.stop()
        notes = [e["payload"] for e in self.entries("notice")]
        unbound = [n for n in notes if n["kind"] == "guard_unbound"]
        self.assertEqual(len(unbound), 2, notes)
        # later@1 has no vol (guard vol, every model) and later@2 no f2 (guard later-f2)
        self.assertIn("guard vol is not in force for this model version: " + self.d.config +
                      ":8:8: when: feature.vol is not a feature of later@1 (its features: f0, "
                      "f1, f2)", unbound[0]["detail"])
        self.assertIn("guard later-f2 is not in force for this model version: " +
                      self.d.config + ":4:8: when: feature.f2 is not a feature of later@2 "
                      "(its features: f0, vol)", unbound[1]["detail"])
        log = self.d.read_log()
        self.assertIn("feature.f2 is not a feature of later@2", log)
        # at the next start the versions a guard cannot bind to are reported again, after the
        # config entry; later@2 is the newest version of later: later-f2 is now refused
        r = subprocess.run([EVIDENTD, "--vault", self.d.vault, "--socket", self.d.sock,
                            "--config", self.d.config], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("feature.f2 is not a feature of later@2 (its features: f0, vol)",
                      r.stderr)

    def test_a_review_names_a_guarded_record_and_a_retry_gets_the_verdict_again(self):
        self.start(config="[daemon]\n" + HOLD_VOL)
        c = self.registered()
        c.send(rec(91))
        a, v = c.recv().ack, c.recv().verdict
        self.assertEqual((v.action, v.seq), (pb.Verdict.HOLD, a.seq))
        # a retry (a lost Ack): the duplicate Ack and the guard's verdict again
        c.send(rec(91))
        a2, v2 = c.recv().ack, c.recv().verdict
        self.assertTrue(a2.duplicate)
        self.assertEqual((a2.seq, v2.seq, v2.action, list(v2.guards)),
                         (a.seq, a.seq, pb.Verdict.HOLD, ["vol"]))
        # the risk officer releases it, naming the record
        c.send(pb.Frame(review=pb.Review(record_seq=a.seq, reviewer="risk-officer-7",
                                         outcome="released", note="feed was stale")))
        ra = c.recv()
        self.assertTrue(ra.HasField("ack"), ra)
        self.assertEqual(ra.ack.request_id, "review-seq-%d" % a.seq)
        c.send(pb.Frame(review=pb.Review(record_seq=a.seq, reviewer="risk-officer-7",
                                         outcome="released", note="feed was stale")))
        self.assertTrue(c.recv().ack.duplicate)
        # bad reviews: both names, neither, not a record, no such entry
        for r, want in ((pb.Review(record_seq=a.seq, incident_id=3, reviewer="x",
                                   outcome="confirmed"), "one of incident_id and record_seq"),
                        (pb.Review(reviewer="x", outcome="confirmed"), "one of incident_id"),
                        (pb.Review(record_seq=0, reviewer="x", outcome="confirmed",
                                   request_id="q1"), "entry 0 is not a record"),
                        (pb.Review(record_seq=10**9, reviewer="x", outcome="confirmed",
                                   request_id="q2"), "no entry 1000000000")):
            c.send(pb.Frame(review=r))
            e = c.recv()
            self.assertEqual(e.error.code, pb.Error.BAD_MESSAGE, e)
            self.assertIn(want, e.error.message)
        self.d.stop()
        self.d.verify()
        reviews = [e["payload"] for e in self.entries("review")]
        self.assertEqual(len(reviews), 1)
        self.assertEqual((int(reviews[0]["review"]["record_seq"]), reviews[0]["review"]["outcome"]),
                         (a.seq, "released"))
        self.assertEqual(self.count("verdict"), 2)  # the first delivery and the retry's

    def test_a_guard_with_audit_opens_an_incident_and_its_verdict_is_still_the_guards(self):
        self.start(config="[daemon]\n" + HOLD_VOL + "audit = yes\n")
        c = self.registered()
        c.send(rec(99, deadline_ms=20000))
        a, v = c.recv().ack, c.recv().verdict
        self.assertEqual((v.action, v.seq), (pb.Verdict.HOLD, a.seq))
        c.send(rec(10))
        self.assertEqual(c.recv().ack.request_id, "r10")
        self.d.stop()  # a drain waits for the audit
        inc = self.entries("incident")
        self.assertEqual(len(inc), 1)
        p = inc[0]["payload"]
        self.assertEqual((p["trigger"], p["guard"], int(p["record_seq"]), p["when"]),
                         ("vol", True, a.seq, "feature.f0 >= 90"))
        self.assertEqual(self.count("audit"), 1)
        self.assertEqual(self.count("verdict"), 1)

    def test_guard_incidents_survive_a_crash(self):
        self.start(config="[daemon]\nworkers = 0\n" + HOLD_VOL + "audit = yes\n")
        c = self.registered()
        for i in range(1000):
            c.send(rec(i))
        acks = {}
        while len(acks) < 1000:
            f = c.recv()
            if f.HasField("ack"):
                acks[f.ack.request_id] = f.ack.seq
        self.d.kill()
        self.d.start()
        self.d.stop()
        got = sorted(e["record_seq"] for e in self.incidents())
        self.assertEqual(got, sorted(acks["r%d" % i] for i in range(1000) if f0(i) >= 90))


if __name__ == "__main__":
    unittest.main()
