# SPDX-License-Identifier: Apache-2.0
"""From finding to constraint, on the evidentctl side: the guard an audit suggests (it parses,
catches the audited record and is reproduced by replay; the report's backtest of it), the
backtest as the gate (`backtest` counts equal to an independent count over `evidentctl export
--format jsonl`, the incidents and reviews it would have caught, `--guard NAME --config FILE`,
a rule naming a feature a model lacks), and `guards` listing the deployments of two config
versions with how often each fired. evidentd runs the linear model of test_incidents.py.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_guard_backtest.py
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_incidents import (CTL, LINEAR, TIMEOUT, Daemon, audit_doc, evident,  # noqa: E402
                            linear_manifest, linear_record, wait_for)

TRIGGERS = ("[daemon]\nworkers = 1\njob_queue = 256\n"
            "[trigger yes]\nmodel = lin\nwhen = decision == \"yes\" && context.i < 60\n"
            "methods = linear, counterfactual, flip\nburst = 1000\n"
            "[trigger region]\nmodel = lin\nwhen = decision == \"yes\" && context.i == 62\n"
            "methods = linear, flip, adversarial\nburst = 1000\n")
# the guards of the two config versions: g1 changes its rule, g2 is new in the second
GUARD_1 = ("[guard a-high]\nmodel = lin\nwhen = feature.a > 1.5\naction = review\n"
           "reason = a above 1.5 (INC-1)\n")
GUARD_1B = ("[guard a-high]\nmodel = lin\nwhen = feature.a > 2\naction = review\n"
            "reason = a above 2 (INC-1, tightened)\n")
GUARD_2 = ("[guard yes-low-b]\nmodel = lin@1\nwhen = decision == \"yes\" && feature.b < 0\n"
           "action = hold\nreason = yes with a negative b (INC-2)\n")
CONFIG_1 = TRIGGERS + GUARD_1
CONFIG_2 = TRIGGERS + GUARD_1B + GUARD_2


def decision(i):
    return "yes" if linear_record(i)[1] >= 0.5 else "no"


class GuardBacktest(unittest.TestCase):
    """One vault: 270 records over a reload and a restart, incidents, reviews."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evident-guard-")
        cls.model = os.path.join(cls.tmp, "lin.json")
        with open(cls.model, "w") as f:
            json.dump(LINEAR, f)
        d = cls.d = Daemon(cls.tmp, CONFIG_1)
        d.start()
        cls.stream(0, 150)
        # a human judges some incidents: overturned, upheld, overturned then upheld
        incidents = [json.loads(x) for x in d.ctl("--json", "incidents").stdout.splitlines()]
        cls.reviewed = {}
        with evident.Client(d.sock, client_name="officer") as c:
            for k, inc in enumerate(incidents[:6]):
                outcomes = [["overturned"], ["upheld"], ["overturned", "upheld"]][k % 3]
                for n, outcome in enumerate(outcomes):
                    c.review(inc["id"], "risk@bank", outcome, request_id="rv-%d-%d" % (k, n),
                             timeout=TIMEOUT)
                cls.reviewed[inc["id"]] = outcomes[-1]
        with open(d.conf, "w") as f:
            f.write(CONFIG_2)
        d.proc.send_signal(signal.SIGHUP)
        def reloaded():
            with open(d.log.name) as f:
                return f.read().count("configuration reloaded") == 1
        wait_for(reloaded, "reload")
        cls.stream(150, 250)
        assert d.stop() == 0
        d.start()  # the same config again: the guards in force stay one deployment
        cls.stream(250, 270)
        assert d.stop() == 0
        cls.records = [json.loads(x) for x in
                       d.ctl("export", "--format", "jsonl").stdout.splitlines()]
        cls.configs = [json.loads(x)["seq"] for x in
                       d.ctl("--json", "log", "--type", "config").stdout.splitlines()]

    @classmethod
    def stream(cls, a, b):
        with evident.Client(cls.d.sock, client_name="t") as c:
            c.register(linear_manifest(), cls.model)
            for i in range(a, b):
                x, p = linear_record(i)
                c.record("lin", "1", x, [p], decision(i), request_id="r%d" % i,
                         context={"i": float(i)})
            assert c.flush(TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctl(self, *args, expect=0):
        r = subprocess.run([CTL, "--vault", self.d.vault] + list(args), capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, expect, (args, r.stdout[-2000:], r.stderr))
        return r

    def lines(self, *args, expect=0):
        return [json.loads(x) for x in self.ctl("--json", *args, expect=expect)
                .stdout.splitlines()]

    # ------------------------------------------------------------ the independent count

    def judged(self, to=None, reviews_to=None):
        """The incidents (entries before `to`) by seq: their record and the outcome of their
        latest review among the review entries before `reviews_to`."""
        incidents = {i["id"]: {"record_seq": i["record_seq"], "outcome": None}
                     for i in self.lines("incidents") if to is None or i["id"] < to}
        for e in self.d.entries("review"):
            rv = e["payload"]["review"]
            iid = int(rv.get("incident_id", 0))
            if iid in incidents and (reviews_to is None or e["seq"] < reviews_to):
                incidents[iid]["outcome"] = rv["outcome"]
        return incidents

    def count(self, caught, to=None, reviews_to=None):
        """What backtest reports for one model version, computed here from the export."""
        recs = [r for r in self.records if to is None or r["seq"] < to]
        incidents = self.judged(to, reviews_to)
        fired = {i["record_seq"] for i in incidents.values()}
        hit = {r["seq"] for r in recs if caught(r)}
        return {
            "records": len(recs), "caught": len(hit),
            "routine": sum(1 for r in recs if r["seq"] not in fired),
            "routine_held": len(hit - fired),
            "incidents": len(incidents),
            "incidents_caught": sum(1 for i in incidents.values() if i["record_seq"] in hit),
            "overturned": sum(1 for i in incidents.values() if i["outcome"] == "overturned"),
            "overturned_caught": sum(1 for i in incidents.values()
                                     if i["outcome"] == "overturned" and i["record_seq"] in hit),
        }

    def assert_counts(self, row, want):
        self.assertEqual({k: row[k] for k in want}, want)
        self.assertAlmostEqual(row["routine_share"],
                               want["routine_held"] / want["routine"] if want["routine"] else 0)
        self.assertAlmostEqual(row["share"], want["caught"] / want["records"])

    # ------------------------------------------------------------ backtest

    def test_backtest_counts_equal_an_independent_count(self):
        def caught(r):
            return r["decision"] == "yes" and r["features"]["a"] > 1
        (row,) = self.lines("backtest", "--when", 'decision == "yes" && feature.a > 1',
                            "--show", "100000", "--incidents")
        self.assertEqual((row["model_id"], row["model_version"]), ("lin", "1"))
        want = self.count(caught)
        self.assertGreater(want["incidents_caught"], 0)
        self.assertGreater(want["overturned"], 0)
        self.assertLess(want["incidents_caught"], want["incidents"])
        self.assertGreater(want["routine_held"], 0)
        self.assert_counts(row, want)
        self.assertEqual(row["first_seqs"], sorted(r["seq"] for r in self.records if caught(r)))
        self.assertTrue(row["bound"])
        # --incidents: each incident, whether its record is caught, its reviews' outcomes
        judged = self.judged()
        hit = {r["seq"] for r in self.records if caught(r)}
        self.assertEqual(sorted(i["seq"] for i in row["incident_list"]), sorted(judged))
        for i in row["incident_list"]:
            self.assertEqual(i["caught"], judged[i["seq"]]["record_seq"] in hit, i)
            self.assertEqual(i["status"], "reviewed" if i["reviews"] else "open")
            self.assertEqual(i["reviews"][-1]["outcome"] if i["reviews"] else None,
                             judged[i["seq"]]["outcome"])
            self.assertIn(i["trigger"], ("yes", "region"))
        self.assertEqual(row["record_reviews"], [])
        text = self.ctl("backtest", "--when", 'decision == "yes" && feature.a > 1',
                        "--incidents").stdout
        self.assertRegex(text, r"incident \d+ +record \d+ +caught +trigger yes, reviewed: "
                               r"review \d+ overturned by risk@bank")
        self.assertRegex(text, r"incident \d+ +record \d+ +missed +trigger yes")
        # the old keys keep their meaning with --model and --since
        (row,) = self.lines("backtest", "--when", "feature.a > 1", "--model", "lin@1")
        self.assertEqual(row["caught"], sum(1 for r in self.records if r["features"]["a"] > 1))
        self.assertEqual(self.lines("backtest", "--when", "true", "--model", "other"), [])

    def test_a_rule_naming_a_feature_the_model_lacks_exits_1(self):
        r = self.ctl("--json", "backtest", "--when", "feature.a > 1 && feature.zz < 3",
                     expect=1)
        (row,) = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual((row["bound"], row["unknown_features"], row["caught"]),
                         (False, ["zz"], 0))
        self.assertIn("--when: column 18: feature.zz is not a feature of lin@1 (its features: "
                      "a, b, c)", r.stderr)
        self.ctl("backtest", "--when", "feature.a >", expect=2)

    def test_backtest_of_a_guard_in_a_config_file(self):
        conf = os.path.join(self.tmp, "next.conf")
        with open(conf, "w") as f:
            f.write(CONFIG_2)
        (row,) = self.lines("backtest", "--guard", "yes-low-b", "--config", conf, "--incidents")
        want = self.count(lambda r: r["decision"] == "yes" and r["features"]["b"] < 0)
        self.assert_counts(row, want)
        self.assertEqual(len(row["incident_list"]), want["incidents"])
        (same,) = self.lines("backtest", "--when", 'decision == "yes" && feature.b < 0',
                             "--model", "lin@1", "--incidents")
        self.assertEqual(row, same)
        text = self.ctl("backtest", "--guard", "a-high", "--config", conf).stdout
        self.assertIn("when feature.a > 2\n", text)
        # refused as evidentd refuses it, at file:line:column
        with open(conf, "w") as f:
            f.write(TRIGGERS + GUARD_1.replace("feature.a > 1.5", "feature.a > 1.5 || "
                                               "feature.zz > 0"))
        r = self.ctl("backtest", "--guard", "a-high", "--config", conf, expect=1)
        line = (TRIGGERS + GUARD_1).splitlines().index("when = feature.a > 1.5") + 1
        self.assertIn("%s:%d:27: when: feature.zz is not a feature of lin@1 (its features: "
                      "a, b, c)" % (conf, line), r.stderr)
        with open(conf, "w") as f:
            f.write(TRIGGERS + GUARD_1.replace("action = review", "action = reveiw"))
        r = self.ctl("backtest", "--guard", "a-high", "--config", conf, expect=1)
        self.assertIn("%s:%d:10: action: expected review" % (conf, line + 1), r.stderr)
        with open(conf, "w") as f:
            f.write(CONFIG_2)
        r = self.ctl("backtest", "--guard", "nope", "--config", conf, expect=2)
        self.assertIn("no [guard nope] section", r.stderr)
        self.ctl("backtest", "--guard", "a-high", expect=2)
        self.ctl("backtest", "--guard", "a-high", "--config", conf, "--model", "lin", expect=2)
        self.ctl("backtest", "--guard", "a-high", "--config", conf, "--when", "true", expect=2)
        self.ctl("backtest", "--guard", "a-high", "--config", conf + ".none", expect=3)

    # ------------------------------------------------------------ the suggested guard

    def test_the_suggested_guard_parses_catches_the_record_and_replays(self):
        docs = {audit_doc(e)["incident_id"]: audit_doc(e) for e in self.d.entries("audit")}
        audits = {audit_doc(e)["incident_id"]: e["seq"] for e in self.d.entries("audit")}
        self.assertGreater(len(docs), 5)
        sources = set()
        for iid, doc in sorted(docs.items()):
            g = doc["results"]["suggested_guard"]
            sources.add(g["source"])
            self.assertEqual((g["name"], g["model"], g["action"]),
                             ("incident-%d" % iid, "lin@1", "review"))
            self.assertIn("incident %d" % iid, g["reason"])
            self.assertTrue(g["when"].startswith('decision == "yes" && feature.'), g["when"])
            self.assertIsNone(g["backtest"])
            # it parses for the model's features and catches the audited record
            (row,) = self.lines("backtest", "--when", g["when"], "--model", "lin@1",
                                "--show", "100000")
            self.assertIn(doc["record_seq"], row["first_seqs"])
            # replay recomputes it with the rest of the results
            r = json.loads(self.ctl("--json", "replay", str(iid)).stdout)
            self.assertTrue(r["identical"])
        self.assertEqual(sources, {"counterfactual", "adversarial"})
        # the report: the rule as a ready section, its backtest on the vault at the time of
        # the audit (records and incidents before the audit entry, reviews so far)
        iid = min(i for i in docs if i in self.reviewed and self.reviewed[i] == "overturned")
        rep = json.loads(self.ctl("report", str(iid), "--json").stdout)
        g = rep["suggested_guard"]
        self.assertEqual(g["when"], docs[iid]["results"]["suggested_guard"]["when"])
        self.assertTrue(g["recorded"])
        self.assertEqual(g["section"], "[guard incident-%d]\nmodel = lin@1\nwhen = %s\n"
                         "action = review\nreason = %s\n" % (iid, g["when"], g["reason"]))
        bt = g["backtest"]
        self.assertEqual(bt["as_of_seq"], audits[iid])
        src = docs[iid]["results"]["suggested_guard"]
        ops = {">": float.__gt__, "<": float.__lt__}
        name, op, value = src["when"].split(" && ")[1].split(" ")
        feature = name[len("feature."):]

        def caught(r):
            return r["decision"] == "yes" and ops[op](float(r["features"][feature]),
                                                      float(value))
        want = self.count(caught, to=audits[iid])
        self.assertEqual({k: bt[k] for k in want}, want)
        self.assertGreaterEqual(bt["overturned_caught"], 1)
        self.assertTrue(bt["catches_audited_record"])
        self.assertTrue(any(s.startswith("Suggested guard (section 13, [guard incident-%d])"
                                         % iid) for s in rep["summary"]), rep["summary"])
        md = self.ctl("report", str(iid), "--format", "md").stdout
        self.assertIn("## 13. Suggested guard", md)
        self.assertIn("```text\n" + g["section"] + "```\n", md)
        html = self.ctl("report", str(iid)).stdout
        self.assertIn("<section id=\"guard\"", html)
        # the section is a config evidentd accepts: backtest --guard reads it
        conf = os.path.join(self.tmp, "suggested.conf")
        with open(conf, "w") as f:
            f.write(g["section"])
        (row,) = self.lines("backtest", "--guard", g["name"], "--config", conf, "--show",
                            "100000")
        self.assertIn(docs[iid]["record_seq"], row["first_seqs"])
        self.assertEqual(row["caught"], self.count(caught)["caught"])

    # ------------------------------------------------------------ guards

    def test_guards_lists_the_deployments_of_two_config_versions(self):
        self.assertEqual(len(self.configs), 3)  # start, reload, restart
        c1, c2, c3 = self.configs
        deps = self.lines("guards")
        got = [(d["name"], d["when"], d["config_seq"], d["until_seq"], d["in_force"])
               for d in deps]
        self.assertEqual(got, [
            ("a-high", "feature.a > 1.5", c1, c2, False),
            ("a-high", "feature.a > 2", c2, None, True),     # across the restart (c3)
            ("yes-low-b", 'decision == "yes" && feature.b < 0', c2, None, True),
        ])
        self.assertEqual((deps[2]["model"], deps[2]["action"], deps[2]["reason"]),
                         ("lin@1", "hold", "yes with a negative b (INC-2)"))
        self.assertEqual(deps[0]["config_sha256"], deps[0]["config_sha256"].lower())
        self.assertEqual(len(deps[0]["config_sha256"]), 64)
        rules = [lambda r: r["features"]["a"] > 1.5, lambda r: r["features"]["a"] > 2,
                 lambda r: r["decision"] == "yes" and r["features"]["b"] < 0]
        for d, rule in zip(deps, rules):
            end = d["until_seq"] if d["until_seq"] is not None else 1 << 62
            window = [r for r in self.records if d["config_seq"] <= r["seq"] < end]
            self.assertEqual(d["records"], len(window))
            self.assertEqual(d["caught"], sum(1 for r in window if rule(r)), d)
            self.assertGreater(d["caught"], 0)
            # evidentd's verdicts naming the guard are those records: one each, the
            # stricter action when both guards catch a record
            self.assertEqual(d["verdicts"], d["caught"], d)
            self.assertEqual(sum(d["verdict_actions"].values()), d["verdicts"])
        self.assertEqual(deps[2]["verdict_actions"], {"HOLD": deps[2]["caught"]})
        both = sum(1 for r in self.records if r["seq"] >= c2 and rules[1](r) and rules[2](r))
        self.assertGreater(both, 0)
        self.assertEqual(deps[1]["verdict_actions"],
                         {"REVIEW": deps[1]["caught"] - both, "HOLD": both})
        text = self.ctl("guards").stdout
        self.assertIn("guard a-high  model lin  action review\n", text)
        self.assertIn("until entry %d" % c2, text)
        self.assertIn("still in force", text)
        self.assertIn("fired     %d verdicts name it (REVIEW %d, HOLD %d); evaluated again: it "
                      "catches %d of the 120 records" % (deps[1]["verdicts"],
                                                          deps[1]["caught"] - both, both,
                                                          deps[1]["caught"]), text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
