#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Integration tests of evidentctl on retention, legal holds and erasure (issue 14), on vaults
# written by evident-sample (no daemon): a vault mixing leaf versions 1 and 2 verifies; show's
# leaf, payload and nonce bytes checked with hashlib alone (the commitment of each version,
# identical payloads under different v2 commitments, a pruned v2 leaf that no longer confirms
# its payload); subject listings before and after prunes and an erasure; export --subject;
# holds and releases; the admin entries decoded by log and show; replay naming the pruned
# seqs an audit used; the report's retention and holds; and that no verb changes the vault.
#
# Standard library only. Build folder from $BUILD_DIR or the first argument:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_subjects_cli.py [-v]
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
EVIDENTCTL = None
SAMPLE = None
TIMEOUT = 120

# The shared vault: run 1 writes version-1 leaves, run 2 the default (version 2).
V1_RECORDS = 40  # seqs 3..42; every 5th about alice: 3, 8, ..., 38
V2_FIRST = 44  # run 2's lifecycle entry is 43
V2_RECORDS = 100  # seqs 44..143; every 9th about alice: 44, 53, ..., 143
INCIDENT_RECORD = 100  # run 2 opens incident 144 on it; its audit is 145
INCIDENT, AUDIT = 144, 145
ENTRIES = 146
ALICE = ([3 + 5 * i for i in range(8)] + [V2_FIRST + 9 * i for i in range(12)])
HEX = re.compile(r"^[0-9a-f]*$")


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def vault_state(vault):
    """Every file of the vault and its hash: what a reader must never change."""
    return {name: sha256_file(os.path.join(vault, name)) for name in sorted(os.listdir(vault))
            if os.path.isfile(os.path.join(vault, name))}


def sample(vault, *args):
    p = subprocess.run([SAMPLE, "--vault", vault, *args], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"evident-sample {' '.join(args)} failed: {p.stderr}")
    return p.stdout


def run_ctl(vault, *args, expect=None):
    before = vault_state(vault) if os.path.isdir(vault) else None
    p = subprocess.run([EVIDENTCTL, "--vault", vault, *args], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if before is not None and vault_state(vault) != before:
        raise AssertionError(f"evidentctl {' '.join(args)} modified the vault {vault}")
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"evidentctl {' '.join(args)}: exit {p.returncode}, expected "
                             f"{expect}\nstdout: {p.stdout[:2000]}\nstderr: {p.stderr}")
    return p


class SubjectsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evidentctl-subjects-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.vault = os.path.join(cls.tmp, "mixed")
        sample(cls.vault, "--records", str(V1_RECORDS), "--seed", "3", "--leaf-version", "1",
               "--subject", "alice", "--subject-every", "5", "--no-checkpoint")
        sample(cls.vault, "--records", str(V2_RECORDS), "--seed", "4", "--subject", "alice",
               "--subject-every", "9", "--incident", str(INCIDENT_RECORD))

    # ------------------------------------------------------------ helpers

    def ctl(self, *args, vault=None, expect=None):
        return run_ctl(vault or self.vault, *args, expect=expect)

    def ctl_out(self, *args, vault=None):
        return self.ctl(*args, vault=vault, expect=0).stdout

    def ctl_json(self, *args, vault=None):
        return json.loads(self.ctl_out("--json", *args, vault=vault))

    def ctl_lines(self, *args, vault=None):
        return [json.loads(line) for line in self.ctl_out("--json", *args,
                                                          vault=vault).splitlines()]

    def copy_vault(self, name):
        dst = os.path.join(self.tmp, name)
        shutil.copytree(self.vault, dst)
        return dst

    def background(self, vault=None):
        doc = json.loads(self.ctl_json("show", str(AUDIT), vault=vault)["payload"]["document"])
        self.assertEqual(doc["status"], "complete")
        self.assertEqual(doc["params"]["background"]["source"], "recent_records")
        return doc["params"]["background"]["seqs"]

    def check_bytes(self, e):
        """The leaf and (while present) the payload of show --json, checked with hashlib only:
        returns the payload bytes or None."""
        leaf = bytes.fromhex(e["leaf_bytes"])
        self.assertEqual(len(leaf), 91)
        self.assertEqual(hashlib.sha256(b"\0" + leaf).hexdigest(), e["leaf_hash"])
        self.assertEqual(leaf[0], e["leaf_version"])
        self.assertEqual(int.from_bytes(leaf[1:9], "big"), e["seq"])
        self.assertEqual(int.from_bytes(leaf[11:19], "big"), e["timestamp_ns"])
        self.assertEqual(int.from_bytes(leaf[19:27], "big"), e["payload_len"])
        self.assertEqual(leaf[27:59].hex(), e["payload_sha256"])
        self.assertEqual(leaf[59:91].hex(), e["prev_hash"])
        if e["pruned"]:
            self.assertNotIn("payload_bytes", e)
            self.assertNotIn("payload_nonce", e)
            return None
        payload = bytes.fromhex(e["payload_bytes"])
        self.assertEqual(len(payload), e["payload_len"])
        if e["leaf_version"] == 1:
            self.assertNotIn("payload_nonce", e)
            self.assertEqual(e["commitment"], "SHA-256(payload)")
            self.assertEqual(hashlib.sha256(payload).hexdigest(), e["payload_sha256"])
        else:
            nonce = bytes.fromhex(e["payload_nonce"])
            self.assertEqual(len(nonce), 16)
            self.assertEqual(e["commitment"], "SHA-256(nonce || payload)")
            self.assertEqual(hashlib.sha256(nonce + payload).hexdigest(), e["payload_sha256"])
            self.assertNotEqual(hashlib.sha256(payload).hexdigest(), e["payload_sha256"])
        return payload

    # ------------------------------------------------------------ verify and show

    def test_mixed_vault_verifies(self):
        rep = self.ctl_json("verify")
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["entries"], ENTRIES)
        versions = [self.ctl_json("show", str(s))["leaf_version"] for s in (0, 42, 43, 143)]
        self.assertEqual(versions, [1, 1, 2, 2])
        out = self.ctl_out("verify")
        self.assertTrue(out.startswith(f"OK: {ENTRIES} entries, "), out)
        # a mixed vault with payloads of both versions pruned verifies too
        v = self.copy_vault("mixed-pruned")
        sample(v, "--records", "0", "--prune", "5", "--prune", "60")
        rep = self.ctl_json("verify", vault=v)
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["pruned"], 2)

    def test_verify_detects_a_changed_nonce(self):
        v = self.copy_vault("nonce-flipped")
        e = self.ctl_json("show", "60", vault=v)
        nonce = bytes.fromhex(e["payload_nonce"])
        path = os.path.join(v, "data.mdb")
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data.count(nonce), 1)
        with open(path, "wb") as f:
            f.write(data.replace(nonce, bytes([nonce[0] ^ 1]) + nonce[1:]))
        p = self.ctl("verify", vault=v, expect=1)
        self.assertRegex(p.stdout, r"^FAILED at entry 60: ")
        self.assertEqual(json.loads(self.ctl("--json", "verify", vault=v).stdout)["bad_seq"], 60)

    def test_show_bytes_checked_with_hashlib(self):
        for seq in (1, 3, 42, 43, 60, INCIDENT, AUDIT):
            with self.subTest(seq=seq):
                self.assertIsNotNone(self.check_bytes(self.ctl_json("show", str(seq))))
        text = self.ctl_out("show", "60")
        e = self.ctl_json("show", "60")
        self.assertIn("payload commitment       SHA-256(nonce || payload) = "
                      + e["payload_sha256"], text)
        self.assertIn("payload nonce            " + e["payload_nonce"], text)
        self.assertIn("payload commitment       SHA-256(payload) = ", self.ctl_out("show", "3"))
        self.assertNotIn("payload nonce", self.ctl_out("show", "3"))

    def test_identical_payloads_get_different_commitments_in_v2(self):
        # An artifact entry's payload is the same bytes in every sample vault (model, version,
        # kind, blob hash, size): version 1 commits to it identically everywhere, version 2
        # with a fresh nonce each time.
        shown = {}
        for name, args in (("v2-a", []), ("v2-b", []), ("v1-a", ["--leaf-version", "1"]),
                           ("v1-b", ["--leaf-version", "1"])):
            v = os.path.join(self.tmp, "same-" + name)
            sample(v, "--records", "1", *args)
            shown[name] = self.ctl_json("show", "1", vault=v)
            self.check_bytes(shown[name])
        payloads = {e["payload_bytes"] for e in shown.values()}
        self.assertEqual(len(payloads), 1)
        self.assertNotEqual(shown["v2-a"]["payload_nonce"], shown["v2-b"]["payload_nonce"])
        self.assertNotEqual(shown["v2-a"]["payload_sha256"], shown["v2-b"]["payload_sha256"])
        self.assertEqual(shown["v1-a"]["payload_sha256"], shown["v1-b"]["payload_sha256"])

    def test_a_pruned_v2_leaf_no_longer_confirms_its_payload(self):
        v = self.copy_vault("guess")
        v1 = self.check_bytes(self.ctl_json("show", "8", vault=v))
        v2 = self.check_bytes(self.ctl_json("show", "62", vault=v))
        sample(v, "--records", "0", "--prune", "8", "--prune", "62",
               "--prune-reason", "retention: records are kept 400 days")
        for seq, guess, confirms in ((8, v1, True), (62, v2, False)):
            e = self.ctl_json("show", str(seq), vault=v)
            self.check_bytes(e)
            self.assertTrue(e["pruned"])
            self.assertEqual(e["prune"]["cause"], "retention")
            self.assertEqual(e["prune"]["reason"], "retention: records are kept 400 days")
            # someone who guesses the whole payload right can confirm it against a v1 leaf,
            # never against a v2 leaf whose nonce went with the payload
            self.assertEqual(hashlib.sha256(guess).hexdigest() == e["payload_sha256"], confirms)
        text = self.ctl_out("show", "62", vault=v)
        self.assertRegex(text, r"pruned\s+retention at \S+Z by prune entry \d+: retention: "
                               r"records are kept 400 days")
        self.assertIn("(payload pruned)", text)

    # ------------------------------------------------------------ subject

    def test_subject_lists_every_entry(self):
        s = self.ctl_json("subject", "alice")
        self.assertEqual(s["subject"], "alice")
        self.assertEqual([e["seq"] for e in s["entries"]], ALICE)
        self.assertEqual((s["count"], s["present"], s["pruned"], s["held"]), (len(ALICE),
                                                                              len(ALICE), 0, 0))
        for e in s["entries"]:
            self.assertEqual((e["type"], e["payload_state"], e["holds"]), ("record", "present", []))
            self.assertEqual(e["model_id"], "credit-risk")
            self.assertIsNone(e["open_incident"])
            self.assertNotIn("prune", e)
        self.assertEqual(s["erasures"], [])
        # each is the subject's record, as show says
        for seq in (3, 53):
            self.assertEqual(self.ctl_json("show", str(seq))["payload"]["subject"], "alice")
        self.assertNotIn("subject", self.ctl_json("show", "4")["payload"])
        self.assertEqual(self.ctl_lines("log", "--from", "3", "--limit", "1")[0]["subject"],
                         "alice")
        text = self.ctl_out("subject", "alice")
        self.assertIn(f"subject alice: {len(ALICE)} entries, {len(ALICE)} with their payload, "
                      "0 pruned, 0 kept by a legal hold or an open incident\n", text)
        self.assertRegex(text, r"\n3\s+\S+Z record\s+credit-risk@1\.0\.0\s+present\n")

    def test_unknown_and_bad_subjects(self):
        # an access request about someone the vault knows nothing of has an empty answer
        p = self.ctl("subject", "bob", expect=0)
        self.assertEqual(p.stdout, "subject bob: no entries (the vault holds nothing about this "
                                   "subject)\n")
        s = self.ctl_json("subject", "bob")
        self.assertEqual((s["count"], s["entries"], s["erasures"]), (0, [], []))
        self.assertEqual(self.ctl_out("export", "--subject", "bob", "--format", "jsonl"), "")
        for bad in ("", "x" * 129):
            for args in (["subject", bad], ["export", "--subject", bad, "--json"]):
                p = self.ctl(*args, expect=2)
                self.assertIn("a data subject id is 1 to 128 bytes", p.stderr)
        self.ctl("subject", "x" * 128, expect=0)
        self.ctl("subject", expect=2)
        p = self.ctl("export", "--tiles", os.path.join(self.tmp, "t"), "--subject", "alice",
                     expect=2)
        self.assertIn("--subject", p.stderr)

    def test_subject_after_prune_and_erasure(self):
        v = self.copy_vault("erased")
        # retention takes one of alice's records, a hold keeps another, then she asks to be
        # erased: the rest go
        out = sample(v, "--records", "0", "--prune", "13", "--prune-reason",
                     "retention: records are kept 400 days", "--hold", "53", "--hold-id",
                     "case-26-0001", "--erase", "alice")
        self.assertIn(f"erasure of subject alice: {len(ALICE) - 2} pruned, 1 already pruned, "
                      "1 held", out)
        s = self.ctl_json("subject", "alice", vault=v)
        by_seq = {e["seq"]: e for e in s["entries"]}
        self.assertEqual(sorted(by_seq), ALICE)
        held = {53}
        self.assertEqual(by_seq[13]["prune"]["cause"], "retention")
        self.assertEqual(by_seq[53]["payload_state"], "present")
        self.assertEqual(by_seq[53]["holds"], ["case-26-0001"])
        for seq in ALICE:
            e = by_seq[seq]
            if seq in held:
                continue
            self.assertEqual(e["payload_state"], "pruned", seq)
            self.assertNotIn("model_id", e)
            if seq != 13:
                self.assertEqual(e["prune"]["cause"], "erasure", seq)
                self.assertEqual(e["prune"]["reason"],
                                 "erasure: sample request for subject alice")
            # the prune entry is the one log shows for it
            pr = self.ctl_json("show", str(e["prune"]["seq"]), vault=v)
            self.assertEqual((pr["type"], pr["payload"]["target_seq"]), ("prune", seq))
        self.assertEqual(s["pruned"], len(ALICE) - len(held))
        self.assertEqual(s["held"], len(held))
        (er,) = s["erasures"]
        self.assertEqual((er["requested_by"], er["erased"], er["already_pruned"]),
                         ("dpo@example.com", len(ALICE) - len(held) - 1, 1))
        self.assertEqual(er["held_seqs"], sorted(held))
        self.assertIn("case-26-0001", er["blocking_holds"])
        text = self.ctl_out("subject", "alice", vault=v)
        self.assertRegex(text, r"\n13\s+\S+Z record\s+-\s+pruned \(retention\) at \S+Z by "
                               r"prune entry \d+\n")
        self.assertRegex(text, r"\n53\s+\S+Z record\s+credit-risk@1\.0\.0\s+present; held by "
                               r"case-26-0001\n")
        self.assertIn("erasure requests:\n  entry ", text)
        self.assertTrue(self.ctl_json("verify", vault=v)["ok"])

    def test_open_incident_keeps_its_record(self):
        # an incident on one of alice's records: it and its audit are about alice too
        v = self.copy_vault("alice-incident")
        sample(v, "--records", "0", "--incident", "53")
        s = self.ctl_json("subject", "alice", vault=v)
        about = [e for e in s["entries"] if e["type"] != "record"]
        self.assertEqual([e["type"] for e in about], ["incident", "audit"])
        incident = about[0]["seq"]
        self.assertEqual([e["seq"] for e in s["entries"] if e["open_incident"] == incident],
                         [53] + [e["seq"] for e in about])
        self.assertEqual(s["held"], 3)
        self.assertRegex(self.ctl_out("subject", "alice", vault=v),
                         rf"\n53\s+\S+Z record\s+credit-risk@1\.0\.0\s+present; held by open "
                         rf"incident {incident}\n")
        e = self.ctl_json("show", str(INCIDENT_RECORD))
        self.assertEqual(e["open_incident"], INCIDENT)
        self.assertIn(f"kept while incident {INCIDENT} is open", self.ctl_out(
            "show", str(INCIDENT_RECORD)))
        self.assertIsNone(self.ctl_json("show", "99")["open_incident"])

    # ------------------------------------------------------------ export --subject

    def test_export_subject(self):
        rows = self.ctl_lines("export", "--subject", "alice")
        self.assertEqual([r["seq"] for r in rows], ALICE)
        every = {r["seq"]: r for r in self.ctl_lines("export", "--format", "jsonl")}
        for r in rows:
            self.assertEqual(r["subject"], "alice")
            self.assertEqual(r, every[r["seq"]])
            self.assertEqual(r["features"], self.ctl_json("show", str(r["seq"]))["payload"]
                             ["features"])
        self.assertEqual(sum(1 for r in every.values() if r.get("subject") == "alice"),
                         len(ALICE))
        csv = self.ctl_out("export", "--subject", "alice", "--format", "csv").splitlines()
        self.assertEqual(len(csv), 1 + len(ALICE))
        self.assertEqual([r["seq"] for r in self.ctl_lines("export", "--subject", "alice",
                                                           "--until", "2000-01-01")], [])
        # after erasure only the payloads still there are exported
        v = self.copy_vault("export-erased")
        sample(v, "--records", "0", "--hold", "53", "--erase", "alice")
        self.assertEqual([r["seq"] for r in self.ctl_lines("export", "--subject", "alice",
                                                           vault=v)], [53])
        dst = os.path.join(self.tmp, "alice.jsonl")
        out = self.ctl_out("export", "--subject", "alice", "--format", "jsonl", "-o", dst,
                           vault=v)
        self.assertEqual(out, f"exported 1 records to {dst}\n")

    # ------------------------------------------------------------ holds

    def test_holds_and_releases(self):
        v = self.copy_vault("holds")
        self.assertEqual(self.ctl_lines("holds", vault=v), [])
        self.assertEqual(self.ctl_out("holds", vault=v).splitlines()[-1], "0 active hold(s)")
        sample(v, "--records", "0", "--hold", "7", "--hold-id", "case-1", "--hold", "9",
               "--hold-incident", str(INCIDENT), "--release", "hold-9")
        holds = self.ctl_lines("holds", vault=v)
        self.assertEqual([h["hold_id"] for h in holds], ["case-1", f"incident-{INCIDENT}"])
        case1, inc = holds
        self.assertEqual((case1["active"], case1["target_seq"], case1["seqs"]), (True, 7, [7]))
        self.assertEqual((case1["holder"], case1["released"]), ("legal@example.com", None))
        self.assertIn("litigation", case1["reason"])
        self.assertEqual(inc["incident_id"], INCIDENT)
        self.assertEqual(inc["seqs"], [INCIDENT_RECORD, INCIDENT, AUDIT])
        every = self.ctl_lines("holds", "--all", vault=v)
        self.assertEqual([h["hold_id"] for h in every], ["case-1", "hold-9", f"incident-{INCIDENT}"])
        released = every[1]
        self.assertFalse(released["active"])
        self.assertEqual(released["released"]["holder"], "legal@example.com")
        self.assertEqual(released["released"]["reason"], "sample release: case closed")
        self.assertGreater(released["released"]["seq"], released["seq"])
        text = self.ctl_out("holds", vault=v)
        self.assertRegex(text, r"\ncase-1\s+\S+Z\s+\d+\s+legal@example\.com\s+1 entry \(7\)\s+"
                               r"sample hold")
        self.assertIn(f"incident {INCIDENT}: 3 entries ({INCIDENT_RECORD}, {INCIDENT}, {AUDIT})",
                      text)
        self.assertTrue(text.endswith("\n2 active hold(s)\n"), text)
        text = self.ctl_out("holds", "--all", vault=v)
        self.assertRegex(text, r"\n\s+released at \S+Z \(entry \d+\) by legal@example\.com: "
                               r"sample release: case closed\n")
        self.assertTrue(text.endswith("\n3 hold(s), 2 active, 1 released\n"), text)
        # show names the hold keeping an entry, and not a released one
        self.assertEqual(self.ctl_json("show", "7", vault=v)["holds"], ["case-1"])
        self.assertEqual(self.ctl_json("show", "9", vault=v)["holds"], [])
        # a release ends only the latest hold of its id: placed again, it is active again
        sample(v, "--records", "0", "--hold", "9")
        self.assertIn("hold-9", [h["hold_id"] for h in self.ctl_lines("holds", vault=v)])
        self.assertTrue(self.ctl_json("verify", vault=v)["ok"])

    def test_log_and_show_decode_admin_entries(self):
        v = self.copy_vault("admin")
        sample(v, "--records", "0", "--hold", "53", "--hold-id", "case-7", "--release",
               "case-7", "--erase", "alice")
        rows = {r["type"]: r for r in self.ctl_lines("log", "--from", str(ENTRIES), vault=v)}
        hold, rel, er = rows["hold"], rows["release"], rows["erasure"]
        self.assertEqual((hold["hold_id"], hold["holder"], hold["seqs"]),
                         ("case-7", "legal@example.com", [53]))
        self.assertFalse(hold["pruned"])
        self.assertEqual((rel["hold_id"], rel["reason"]), ("case-7", "sample release: case closed"))
        # the hold was released before the erasure: nothing of alice's is kept
        self.assertEqual((er["subject"], er["erased"], er["held_seqs"], er["blocking_holds"]),
                         ("alice", len(ALICE), [], []))
        self.assertFalse(er["pruned"])
        text = self.ctl_out("log", "--type", "hold", vault=v)
        self.assertRegex(text, r"^\d+  \S+Z  hold       case-7 on entry 53 \(1 entry\) by "
                               r"legal@example\.com: sample hold: ")
        text = self.ctl_out("log", "--type", "erasure", vault=v)
        self.assertRegex(text, r"erasure    alice: \d+ pruned, 0 already pruned, \d+ held by "
                               r"dpo@example\.com\n$")
        self.assertRegex(self.ctl_out("tail", "-n", "1", vault=v), r"erasure    alice: ")
        shown = self.ctl_json("show", str(hold["seq"]), vault=v)["payload"]
        self.assertEqual(shown["hold"]["hold_id"], "case-7")
        self.assertEqual(shown["hold"]["seq"], 53)
        self.assertEqual(shown["seqs"], [53])
        shown = self.ctl_json("show", str(er["seq"]), vault=v)["payload"]
        self.assertEqual(shown["erase"]["subject"], "alice")
        self.assertEqual(shown["erase"]["requested_by"], "dpo@example.com")
        self.assertEqual(shown["pruned"], len(ALICE))
        text = self.ctl_out("show", str(rel["seq"]), vault=v)
        self.assertRegex(text, r"\nrelease\n  request_id\s+\S+\n  hold_id\s+case-7\n")

    # ------------------------------------------------------------ replay and report

    def test_replay_names_the_pruned_inputs(self):
        self.assertIn("bit-identical", self.ctl_out("replay", str(INCIDENT)))
        bg = self.background()
        self.assertIn(INCIDENT_RECORD - 1, bg)
        v = self.copy_vault("replay-pruned")
        gone = [bg[0], bg[-1]]
        sample(v, "--records", "0", "--prune", str(gone[0]), "--prune", str(gone[1]),
               "--prune-reason", "retention: records are kept 400 days")
        p = self.ctl("replay", str(INCIDENT), vault=v, expect=1)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, f"evidentctl: incident {INCIDENT}: audit entry {AUDIT} "
                                   f"cannot be replayed bit for bit: the payloads of 2 of its "
                                   f"inputs were pruned: {gone[0]} (background, retention), "
                                   f"{gone[1]} (background, retention)\n")
        # the record too, by erasure this time
        sample(v, "--records", "0", "--prune", str(INCIDENT_RECORD), "--prune-reason",
               "erasure: request 17")
        r = json.loads(self.ctl("--json", "replay", str(INCIDENT), vault=v, expect=1).stdout)
        self.assertEqual((r["incident_id"], r["audit_seq"], r["replayable"], r["identical"]),
                         (INCIDENT, AUDIT, False, False))
        self.assertEqual([(m["seq"], m["what"], m["prune"]["cause"]) for m in r["missing"]],
                         [(INCIDENT_RECORD, "record", "erasure"),
                          (gone[0], "background", "retention"),
                          (gone[1], "background", "retention")])
        for m in r["missing"]:
            pr = self.ctl_json("show", str(m["prune"]["seq"]), vault=v)
            self.assertEqual(pr["payload"]["target_seq"], m["seq"])
        # a replay that works says so in JSON too
        r = self.ctl_json("replay", str(INCIDENT))
        self.assertEqual((r["replayable"], r["identical"]), (True, True))

    def test_report_states_retention_and_holds(self):
        doc = self.ctl_json("report", str(INCIDENT))
        rt = doc["retention"]
        self.assertEqual([(e["seq"], e["what"], e["payload"], e["holds"]) for e in rt["entries"]],
                         [(2, "model", "present", []), (INCIDENT_RECORD, "record", "present", []),
                          (INCIDENT, "incident", "present", []), (AUDIT, "audit", "present", [])])
        self.assertEqual((rt["holds"], rt["open_incident_keeps"], rt["replay_missing"]),
                         ([], True, []))
        self.assertFalse(any(s.startswith("Retention") or s.startswith("Legal hold")
                             for s in doc["summary"]))
        md = self.ctl_out("report", str(INCIDENT), "--format", "md")
        self.assertIn("### Retention and legal holds", md)
        self.assertIn(f"| {INCIDENT_RECORD} | record | **present** | none |", md)
        self.assertIn("The incident is open (no human review yet)", md)

        v = self.copy_vault("report-held")
        bg = self.background()
        sample(v, "--records", "0", "--hold-incident", str(INCIDENT), "--hold-id", "case-9",
               "--prune", str(INCIDENT_RECORD), "--prune", str(bg[3]), "--prune-reason",
               "erasure: request 17")
        doc = self.ctl_json("report", str(INCIDENT), vault=v)
        rt = doc["retention"]
        rec = next(e for e in rt["entries"] if e["what"] == "record")
        self.assertEqual((rec["payload"], rec["cause"], rec["reason"], rec["holds"]),
                         ("pruned", "erasure", "erasure: request 17", ["case-9"]))
        self.assertEqual(self.ctl_json("show", str(rec["prune_seq"]), vault=v)["payload"]
                         ["target_seq"], INCIDENT_RECORD)
        self.assertEqual([e["holds"] for e in rt["entries"] if e["what"] != "model"],
                         [["case-9"]] * 3)
        (hold,) = rt["holds"]
        self.assertEqual((hold["hold_id"], hold["incident_id"], hold["holder"], hold["covers"]),
                         ("case-9", INCIDENT, "legal@example.com",
                          [INCIDENT_RECORD, INCIDENT, AUDIT]))
        self.assertEqual([(m["seq"], m["what"]) for m in rt["replay_missing"]],
                         [(INCIDENT_RECORD, "record"), (bg[3], "background")])
        # the record's values are gone, the report still stands on the audit and the proofs
        self.assertTrue(doc["record"]["pruned"])
        self.assertTrue(all(f["value"] is None for f in doc["record"]["features"]))
        self.assertTrue(all(p["verified"] for p in doc["proofs"]))
        summary = " ".join(doc["summary"])
        self.assertIn(f"(record {INCIDENT_RECORD}, whose payload has since been pruned)", summary)
        self.assertIn(f"Retention: the payload of the cited record {INCIDENT_RECORD} (erasure) "
                      "was pruned; its leaf and every proof remain.", summary)
        self.assertIn("Legal hold case-9 keeps cited entries from being pruned.", summary)
        self.assertIn("The audit can no longer be replayed bit for bit", summary)
        md = self.ctl_out("report", str(INCIDENT), "--format", "md", vault=v)
        self.assertIn("> **Record pruned.**", md)
        self.assertRegex(md, rf"\| {INCIDENT_RECORD} \| record \| \*\*pruned\*\* \(erasure\) at "
                             r"\S+Z by prune entry \d+: erasure: request 17 \| case-9 \|")
        self.assertRegex(md, r"- Hold \*\*case-9\*\* placed \S+Z \(entry \d+\) by "
                             rf"legal@example\.com on incident {INCIDENT}, covering entries "
                             rf"{INCIDENT_RECORD}, {INCIDENT}, {AUDIT}: sample hold")
        self.assertIn("> **Not reproducible bit for bit.**", md)
        html = self.ctl_out("report", str(INCIDENT), vault=v)
        self.assertIn("<h3>Retention and legal holds</h3>", html)
        self.assertIn("<span class=\"pill warn\">pruned</span> (erasure)", html)
        self.assertIn("Record pruned.", html)

    def test_a_pruned_audit_is_not_called_unrecorded(self):
        v = self.copy_vault("audit-pruned")
        sample(v, "--records", "0", "--prune", str(AUDIT), "--prune-reason",
               "retention: audits are kept 5 years")
        doc = self.ctl_json("report", str(INCIDENT), vault=v)
        self.assertIsNone(doc["audit"])
        self.assertEqual(doc["pruned_audits_after"], 1)
        self.assertIn("No readable audit entry names this incident: 1 audit entry written "
                      "after it was pruned since, and its audit may have been among them.",
                      doc["summary"])
        md = self.ctl_out("report", str(INCIDENT), "--format", "md", vault=v)
        self.assertIn("> **No readable audit.**", md)
        self.assertNotIn("No audit recorded", md)
        p = self.ctl("replay", str(INCIDENT), vault=v, expect=1)
        self.assertEqual(p.stderr, f"evidentctl: incident {INCIDENT} has no readable audit "
                                   "entry: 1 audit entry written after it was pruned since "
                                   "(its audit may have been among them), so there is "
                                   "nothing to replay\n")
        self.assertIn("audit: none readable (1 audit entry written after the incident was "
                      "pruned since", self.ctl_out("incident", str(INCIDENT), vault=v))
        # without the prune an audit is found as before
        self.assertNotIn("pruned_audits_after", self.ctl_json("report", str(INCIDENT)))

    def test_help(self):
        out = self.ctl_out("--help")
        for verb in ("subject", "holds"):
            self.assertRegex(out, rf"\n\s+{verb}\s")
            text = self.ctl_out(verb, "--help")
            for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                            "EXAMPLES"):
                self.assertRegex(text, rf"(?m)^{section}$")
        self.assertIn("--subject ID", self.ctl_out("export", "--help"))
        self.assertIn("payload_nonce", self.ctl_out("show", "--help"))


def main():
    global BUILD_DIR, EVIDENTCTL, SAMPLE
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD_DIR = sys.argv.pop(1)
    EVIDENTCTL = os.path.join(BUILD_DIR, "tools", "evidentctl")
    SAMPLE = os.path.join(BUILD_DIR, "tools", "evident-sample")
    for exe in (EVIDENTCTL, SAMPLE):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_subjects_cli.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()


if __name__ == "__main__":
    main()
