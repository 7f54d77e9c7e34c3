#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Integration tests of evidentctl (read-only CLI) on vaults written by evident-sample: every
# verb, exit statuses 0/1/2/3, JSON fields, proofs, openssl interoperability of checkpoint
# signatures, tail -f, and that no read verb ever changes a vault's data file.
#
# Standard library only. Build folder from $BUILD_DIR or the first argument:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_cli.py [-v]
import base64
import csv
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
EVIDENTCTL = None
SAMPLE = None
TAMPER = None
TIMEOUT = 120

RECORDS = 1200  # more than one batch of 1000
ENTRIES = RECORDS + 3  # lifecycle, artifact, model
VERBS = ["status", "verify", "log", "tail", "show", "export", "checkpoint", "prove",
         "verify-proof", "consistency", "backtest", "incidents", "incident", "models",
         "lineage", "subject", "holds"]
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def vault_state(vault):
    """What a reader must never change: every file of the vault, lock.mdb included (no daemon
    runs on these vaults, so evidentctl reads without LMDB's lock file), and which files exist
    (a reader creates none)."""
    files = {}
    for name in sorted(os.listdir(vault)):
        path = os.path.join(vault, name)
        if not os.path.isfile(path):
            files[name] = "dir"
        elif os.access(path, os.R_OK):
            files[name] = sha256_file(path)
        else:
            st = os.stat(path)
            files[name] = (st.st_size, st.st_mtime_ns)
    return files


def tamper(vault, *args):
    p = subprocess.run([TAMPER, vault, *args], capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"vault-tamper {' '.join(args)} failed: {p.stderr}")


def sample(vault, *args):
    p = subprocess.run([SAMPLE, "--vault", vault, *args], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"evident-sample failed: {p.stderr}")
    return p.stdout


class LineReader:
    """Lines of a child's stdout with a timeout (select on the raw pipe, own buffer)."""

    def __init__(self, proc):
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError("no line from the child in time")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("the child closed its output")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def run_ctl(vault, *args, expect=None, stdin=None):
    """Runs evidentctl --vault VAULT ARGS, checks that the vault's data did not change and,
    when expect is given, the exit status. Returns the CompletedProcess."""
    before = vault_state(vault) if os.path.isdir(vault) else None
    p = subprocess.run([EVIDENTCTL, "--vault", vault, *args], capture_output=True, text=True,
                       timeout=TIMEOUT, input=stdin)
    if before is not None and vault_state(vault) != before:
        raise AssertionError(f"evidentctl {' '.join(args)} modified the vault {vault}")
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"evidentctl {' '.join(args)}: exit {p.returncode}, expected "
                             f"{expect}\nstdout: {p.stdout[:2000]}\nstderr: {p.stderr}")
    return p


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evidentctl-test-")
        # class cleanups run even when setUpClass fails half-way
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.vault = os.path.join(cls.tmp, "a")
        cls.other = os.path.join(cls.tmp, "b")
        sample(cls.vault, "--records", str(RECORDS), "--seed", "5")
        sample(cls.other, "--records", "5", "--seed", "9")

        def key_file(name, vault, form):
            path = os.path.join(cls.tmp, name)
            with open(path, "w") as f:
                f.write(run_ctl(vault, "checkpoint", form, expect=0).stdout)
            return path

        cls.vkey = key_file("a.vkey", cls.vault, "--key")
        cls.pem = key_file("a.pem", cls.vault, "--pem")
        cls.other_vkey = key_file("b.vkey", cls.other, "--key")
        cls.other_pem = key_file("b.pem", cls.other, "--pem")

    # ------------------------------------------------------------ helpers

    def write(self, name, text, mode="w"):
        path = os.path.join(self.tmp, name)
        with open(path, mode) as f:
            f.write(text)
        return path

    def ctl(self, *args, vault=None, expect=None, stdin=None):
        """evidentctl on a vault (default: the shared one); see run_ctl."""
        return run_ctl(vault or self.vault, *args, expect=expect, stdin=stdin)

    def ctl_out(self, *args, vault=None):
        return self.ctl(*args, vault=vault, expect=0).stdout

    def ctl_json(self, *args, vault=None):
        return json.loads(self.ctl_out("--json", *args, vault=vault))

    def ctl_lines(self, *args, vault=None):
        out = self.ctl_out("--json", *args, vault=vault)
        return [json.loads(line) for line in out.splitlines()]

    def copy_vault(self, name):
        dst = os.path.join(self.tmp, name)
        shutil.copytree(self.vault, dst)
        return dst

    def assert_one_line_error(self, p, *fragments):
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("evidentctl: "), p.stderr)
        for frag in fragments:
            self.assertIn(frag, lines[0])

    # ------------------------------------------------------------ help and usage

    def test_help_every_verb(self):
        out = self.ctl_out("--help")
        for verb in VERBS:
            self.assertRegex(out, rf"\n\s+{re.escape(verb)}\s")
        for verb in VERBS:
            for form in ([verb, "--help"], [verb, "-h"], ["--help", verb]):
                out = self.ctl_out(*form)
                for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                                "EXAMPLES"):
                    self.assertRegex(out, rf"(?m)^{section}$", f"{form}: {section}")
                self.assertIn(f"evidentctl {verb} - ", out)
        self.assertRegex(self.ctl_out("--version"), r"^evidentctl \d+\.\d+")

    def test_usage_errors(self):
        cases = [
            (["nosuchverb"], "unknown verb 'nosuchverb'"),
            ([], "no verb"),
            (["models", "extra"], "'extra'"),
            (["lineage"], "ID[@VER]"),
            (["incident", "x"], "ID"),
            (["backtest", "--when", "1 +"], "--when: column 4"),
            (["log", "--bogus"], "--bogus"),
            (["log", "--limit", "x"], "--limit"),
            (["log", "--since", "yesterday"], "--since"),
            (["log", "--until", "2026-02-30T00:00:00Z"], "--until"),
            (["log", "--type", "nonsense"], "--type"),
            (["log", "--model", "@1"], "--model"),
            (["log", "--json=yes"], "--json"),
            (["log", "--vault"], "--vault"),
            (["tail", "-n", "-3"], "-n"),
            (["show"], "SEQ"),
            (["show", "abc"], "SEQ"),
            (["show", "1", "2"], "'2'"),
            (["show", str(ENTRIES)], f"no entry {ENTRIES} (the vault has {ENTRIES} entries)"),
            (["verify", "--threads", "0"], "--threads"),
            (["export"], "--format"),
            (["export", "--format", "xml"], "--format"),
            (["prove", str(10**9)], "no entry"),
            (["verify-proof", "x"], "--key"),
            (["status", "extra"], "'extra'"),
        ]
        for args, frag in cases:
            with self.subTest(args=args):
                p = self.ctl(*args, expect=2)
                self.assert_one_line_error(p, frag)

    # ------------------------------------------------------------ unreadable vaults

    def test_unreadable_vaults(self):
        missing = os.path.join(self.tmp, "missing")
        p = self.ctl("status", vault=missing, expect=3)
        self.assert_one_line_error(p, missing, "no vault here")
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty, exist_ok=True)
        p = self.ctl("log", vault=empty, expect=3)
        self.assert_one_line_error(p, empty, "data.mdb missing")
        garbage = os.path.join(self.tmp, "garbage")
        os.makedirs(garbage, exist_ok=True)
        self.write("garbage/data.mdb", os.urandom(65536), "wb")
        p = self.ctl("verify", vault=garbage, expect=3)
        self.assert_one_line_error(p, garbage, "not an evidentd vault")
        afile = self.write("plainfile", "x")
        p = self.ctl("show", "0", vault=afile, expect=3)
        self.assert_one_line_error(p, afile)
        self.assertFalse(os.path.exists(os.path.join(missing)), "a reader created the folder")

    @unittest.skipIf(os.geteuid() == 0, "root reads everything")
    def test_permission_denied(self):
        v = self.copy_vault("noperm")
        os.chmod(os.path.join(v, "data.mdb"), 0)
        try:
            p = self.ctl("status", vault=v, expect=3)
            self.assert_one_line_error(p, v, "permission denied")
        finally:
            os.chmod(os.path.join(v, "data.mdb"), 0o640)

    # ------------------------------------------------------------ status

    def test_status(self):
        st = self.ctl_json("status")
        self.assertEqual(st["entries"], ENTRIES)
        self.assertEqual(st["models"], 1)
        self.assertEqual(st["entries_by_type"],
                         {"record": RECORDS, "model": 1, "artifact": 1, "lifecycle": 1})
        self.assertEqual(st["checkpoint_size"], ENTRIES)
        self.assertEqual(st["unsigned_entries"], 0)
        self.assertEqual(st["blob_count"], 1)
        self.assertGreater(st["blob_bytes"], 0)
        self.assertGreater(st["file_bytes"], 0)
        self.assertGreaterEqual(st["map_bytes"], st["file_bytes"])
        self.assertRegex(st["root"], HEX64)
        self.assertRegex(st["last_timestamp"], RFC3339_MS)
        self.assertTrue(st["key"].startswith(st["origin"] + "+"))
        with open(self.vkey) as f:
            self.assertEqual(f.read().strip(), st["key"])
        text = self.ctl_out("status")
        self.assertIn(f"entries:               {ENTRIES}", text)
        self.assertIn(st["root"], text)
        self.assertIn("models registered:     1", text)

    # ------------------------------------------------------------ verify

    def test_verify_ok(self):
        out = self.ctl_out("verify")
        self.assertRegex(out, rf"^OK: {ENTRIES} entries, root [0-9a-f]{{64}}, 1 checkpoints "
                              r"checked, 0 pruned payloads, 1 blobs, [\d.]+ MB hashed in "
                              r"[\d.]+ s \(\d+ entries/s\)\n"
                              r"unsigned tail: none \(the last signed checkpoint covers every "
                              r"entry\)\n$")
        rep = self.ctl_json("verify", "--threads", "2")
        self.assertTrue(rep["ok"])
        self.assertEqual(rep["entries"], ENTRIES)
        self.assertEqual(rep["root"], self.ctl_json("status")["root"])
        self.assertIsNone(rep["problem"])
        for key in ("bad_seq", "detail", "checkpoints", "pruned", "blobs", "payload_bytes",
                    "seconds"):
            self.assertIn(key, rep)
        self.assertEqual(rep["signed_size"], ENTRIES)
        self.assertEqual(rep["unsigned_entries"], 0)
        self.assertIsNone(rep["unsigned_age_seconds"])
        self.assertEqual(rep["dedup_keys"], RECORDS + 1)  # the records and the model
        cp = os.path.join(self.vault, "checkpoint")
        rep = self.ctl_json("verify", "--checkpoint", cp, "--checkpoint", cp, "--key", self.pem,
                            "--skip-blobs")
        self.assertTrue(rep["ok"])
        self.assertEqual(rep["checkpoints"], 3)
        self.assertEqual(rep["blobs"], 0)
        self.ctl("verify", "--key", self.vkey, expect=0)

    def test_verify_wrong_key_or_files(self):
        p = self.ctl("verify", "--key", self.other_vkey, expect=1)
        self.assertIn("FAILED", p.stdout)
        p = self.ctl("verify", "--checkpoint", os.path.join(self.other, "checkpoint"), expect=1)
        self.assertIn("checkpoint", p.stdout)
        p = self.ctl("verify", "--checkpoint", os.path.join(self.tmp, "nope"), expect=3)
        self.assert_one_line_error(p, "nope")
        bad_key = self.write("bad.key", "not a key\n")
        p = self.ctl("verify", "--key", bad_key, expect=3)
        self.assert_one_line_error(p, bad_key, "malformed key")

    def test_verify_detects_tampering(self):
        v = self.copy_vault("tampered")
        path = os.path.join(v, "data.mdb")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        # Record.request_id (field 3, 9 bytes) inside the payload. LMDB pages are copied on
        # write, so stale copies may exist too: change every one.
        needle = b"\x1a\x09req-0-700"
        self.assertGreater(data.count(needle), 0)
        data = data.replace(needle, b"\x1a\x09req-0-600")
        with open(path, "wb") as f:
            f.write(data)
        p = self.ctl("verify", vault=v, expect=1)
        self.assertRegex(p.stdout, r"^FAILED at entry \d+: payload does not match its leaf: ")
        rep = json.loads(self.ctl("verify", "--json", vault=v, expect=1).stdout)
        self.assertFalse(rep["ok"])
        self.assertEqual(rep["problem"], "payload does not match its leaf")
        self.assertEqual(rep["bad_seq"], 3 + 700)

    def test_verify_requires_a_signature_and_bounds_the_tail(self):
        # a vault that was never signed proves nothing, with or without --key
        v = os.path.join(self.tmp, "never-signed")
        sample(v, "--records", "50", "--no-checkpoint")
        pub = self.write("never-signed.vkey", self.ctl_out("checkpoint", "--key", vault=v))
        for args in ((), ("--key", pub)):
            p = self.ctl("verify", *args, vault=v, expect=1)
            self.assertRegex(p.stdout, r"^FAILED: no signed checkpoint covers the entries: 53 "
                                       r"entries and no checkpoint signed by ")
        # the attacker without the key rewrites entry 150 and everything after it, and
        # deletes the checkpoints that would betray it
        rw = self.copy_vault("rewritten")
        tamper(rw, "rewrite", "150")
        p = self.ctl("verify", "--key", self.vkey, vault=rw, expect=1)
        self.assertIn("no signed checkpoint covers the entries", p.stdout)
        # an unsigned tail is reported, and --max-unsigned makes it a failure
        tail = self.copy_vault("tail")
        sample(tail, "--records", "4", "--no-checkpoint")
        rep = self.ctl_json("verify", vault=tail)
        self.assertTrue(rep["ok"])
        self.assertEqual(rep["signed_size"], ENTRIES)
        self.assertEqual(rep["unsigned_entries"], 5)
        self.assertGreaterEqual(rep["unsigned_age_seconds"], 0)
        self.assertIn("unsigned tail: 5 entries after the last signed checkpoint",
                      self.ctl_out("verify", vault=tail))
        self.ctl("verify", "--max-unsigned", "5", vault=tail, expect=0)
        self.ctl("verify", "--max-unsigned", "1d", vault=tail, expect=0)
        p = self.ctl("verify", "--max-unsigned", "4", vault=tail, expect=1)
        self.assertEqual(p.stdout, "FAILED: unsigned tail: 5 entries after the last signed "
                                   "checkpoint, over the 4 allowed by --max-unsigned\n")
        rep = json.loads(self.ctl("verify", "--json", "--max-unsigned", "0ms", vault=tail,
                                  expect=1).stdout)
        self.assertFalse(rep["ok"])
        self.assertEqual(rep["problem"], "unsigned tail over --max-unsigned")
        self.assertEqual(rep["bad_seq"], ENTRIES)
        for bad in ("", "x", "5x", "-1", "10us"):
            p = self.ctl("verify", "--max-unsigned", bad, vault=tail, expect=2)
            self.assertIn("--max-unsigned", p.stderr)
        self.ctl("verify", "--max-unsigned", "0", expect=0)  # fully signed

    def test_verify_rebuilds_the_dedup_index(self):
        # a forged key would make the daemon answer a real record "duplicate" and drop it
        v = self.copy_vault("dedup-forged")
        tamper(v, "dedup-put", "sample", "not-sent-yet", "5")
        p = self.ctl("verify", vault=v, expect=1)
        self.assertEqual(p.stdout, 'FAILED at entry 5: dedup index disagrees with the entries: '
                                   'dedup key (client "sample", request "not-sent-yet") names '
                                   'entry 5, which carries another key: a new record under '
                                   'this key would be answered "duplicate" and not stored\n')
        # a deleted key would let a retry be stored twice
        v = self.copy_vault("dedup-deleted")
        tamper(v, "dedup-del", "sample", "req-0-7")
        p = self.ctl("verify", vault=v, expect=1)
        self.assertIn("FAILED at entry 10: dedup index disagrees with the entries: entry 10: "
                      'its dedup key (client "sample", request "req-0-7") is missing', p.stdout)

    def test_verify_detects_truncation(self):
        longer = self.copy_vault("longer")
        sample(longer, "--records", "4")
        cp = self.write("longer.checkpoint", self.ctl_out("checkpoint", vault=longer))
        p = self.ctl("verify", "--checkpoint", cp, expect=1)
        self.assertIn(f"FAILED at entry {ENTRIES}: vault truncated", p.stdout)
        self.ctl("verify", "--checkpoint", cp, vault=longer, expect=0)

    # ------------------------------------------------------------ log

    def test_backtest_counts_what_the_rule_catches(self):
        # the same rule evaluated independently in Python over the exported records
        records = self.ctl_lines("export", "--format", "jsonl")
        def caught(o):
            late = o["features"].get("late_payments_12m")
            return (late is not None and late >= 2 and o["context"].get("amount", 0) > 5000
                    and o["labels"].get("desk") in ("private", "sme"))
        want = [o["seq"] for o in records if caught(o)]
        self.assertGreater(len(want), 0)
        rows = self.ctl_lines("backtest", "--when",
                              'feature.late_payments_12m >= 2 && context.amount > 5000 && '
                              'label.desk in ["private", "sme"]', "--show", "1000000")
        self.assertEqual(sum(r["records"] for r in rows), len(records))
        self.assertEqual(sum(r["caught"] for r in rows), len(want))
        self.assertEqual(sorted(s for r in rows for s in r["first_seqs"]), want)
        out = self.ctl_out("backtest", "--when", "score > 2")
        self.assertRegex(out, r"(?m)^all\s+%d\s+0\s+0\.00%%$" % len(records))
        p = self.ctl("backtest", "--when", 'feature.age > "x"', expect=2)
        self.assert_one_line_error(p, "--when: column 15", "needs a number, not a string")
        self.ctl("backtest", expect=2)

    def test_models_and_lineage(self):
        models = self.ctl_lines("models")
        self.assertEqual([(m["model_id"], m["version"]) for m in models],
                         [("credit-risk", "1.0.0")])
        m = models[0]
        self.assertEqual(m["lineage_missing"], [])
        self.assertRegex(m["artifact_sha256"], HEX64)
        shown = self.ctl_json("show", str(m["seq"]))
        self.assertEqual(shown["type"], "model")
        chain = self.ctl_json("lineage", "credit-risk")
        self.assertEqual(chain[0]["version"], "1.0.0")
        self.assertEqual(chain[0]["code_commit"], m["code_commit"])
        out = self.ctl_out("lineage", "credit-risk@1.0.0")
        self.assertIn("not registered in this vault", out)  # its parent 0.9.0
        p = self.ctl("lineage", "nope", expect=2)
        self.assert_one_line_error(p, "no model nope")

    def test_log_json(self):
        rows = self.ctl_lines("log")
        self.assertEqual([r["seq"] for r in rows], list(range(ENTRIES)))
        for r in rows:
            for key in ("type", "timestamp", "timestamp_ns", "leaf_hash", "payload_sha256",
                        "payload_len", "pruned"):
                self.assertIn(key, r)
            self.assertRegex(r["timestamp"], RFC3339_MS)
            self.assertRegex(r["leaf_hash"], HEX64)
        self.assertEqual([r["type"] for r in rows[:4]],
                         ["lifecycle", "artifact", "model", "record"])
        self.assertEqual(rows[0]["event"], "START")
        self.assertEqual(rows[2]["framework"], "linear-json")
        rec = rows[3]
        self.assertEqual((rec["model_id"], rec["model_version"], rec["request_id"]),
                         ("credit-risk", "1.0.0", "req-0-0"))
        self.assertIn(rec["decision"], ("approve", "decline"))
        self.assertEqual(len(rec["scores"]), 1)
        times = [r["timestamp_ns"] for r in rows]
        self.assertEqual(times, sorted(times))

    def test_log_filters(self):
        self.assertEqual(len(self.ctl_lines("log", "--limit", "5")), 5)
        self.assertEqual([r["seq"] for r in self.ctl_lines("log", "--from", "1000", "--limit", "3")],
                         [1000, 1001, 1002])
        self.assertEqual([r["seq"] for r in self.ctl_lines("log", "--type", "model")], [2])
        self.assertEqual(len(self.ctl_lines("log", "--model", "credit-risk")), RECORDS + 1)
        self.assertEqual(len(self.ctl_lines("log", "--model", "credit-risk@1.0.0",
                                            "--type", "record")), RECORDS)
        self.assertEqual(self.ctl_lines("log", "--model", "credit-risk@2.0.0"), [])
        self.assertEqual(self.ctl_lines("log", "--model", "other"), [])
        self.assertEqual(len(self.ctl_lines("log", "--since", "-1d")), ENTRIES)
        future = "@%d" % (time.time() + 86400)
        self.assertEqual(self.ctl_lines("log", "--since", future), [])
        self.assertEqual(self.ctl_lines("log", "--until", "2000-01-01T00:00:00+01:00"), [])
        rows = self.ctl_lines("log")
        mid = rows[600]["timestamp_ns"]
        since = self.ctl_lines("log", "--since", "@%d" % (mid // 10**9))
        self.assertTrue(all(r["timestamp_ns"] >= mid // 10**9 * 10**9 for r in since))
        self.assertEqual(since[-1]["seq"], ENTRIES - 1)

    def test_log_text(self):
        lines = self.ctl_out("log", "--limit", "4").splitlines()
        self.assertEqual(len(lines), 4)
        pat = re.compile(r"^(\d+)  (\S+)  (\w+)\s+ (.*)$")
        parsed = [pat.match(line) for line in lines]
        self.assertTrue(all(parsed), lines)
        self.assertEqual([m.group(3) for m in parsed], ["lifecycle", "artifact", "model", "record"])
        for m in parsed:
            self.assertRegex(m.group(2), RFC3339_MS)
        self.assertEqual(parsed[0].group(4), "start")
        self.assertEqual(parsed[2].group(4), "credit-risk@1.0.0 linear-json")
        self.assertRegex(parsed[3].group(4), r"^credit-risk@1\.0\.0 req-0-0 (approve|decline) 0\.\d+$")

    # ------------------------------------------------------------ show

    def test_show_record(self):
        e = self.ctl_json("show", "3")
        log = self.ctl_lines("log", "--from", "3", "--limit", "1")[0]
        for key in ("seq", "type", "timestamp", "timestamp_ns", "leaf_hash", "payload_sha256",
                    "payload_len"):
            self.assertEqual(e[key], log[key])
        self.assertEqual(e["prev_hash"], self.ctl_lines("log", "--from", "2", "--limit", "1")[0]["leaf_hash"])
        self.assertFalse(e["pruned"])
        pl = e["payload"]
        names = ["income", "age", "debt_ratio", "credit_history_months", "open_accounts",
                 "late_payments_12m"]
        self.assertEqual(list(pl["features"]), names)
        self.assertEqual(len(pl["feature_values"]), 6)
        for name, value in zip(names, pl["feature_values"]):
            self.assertEqual(pl["features"][name], value)
        self.assertEqual(pl["request_id"], "req-0-0")
        self.assertEqual(pl["client"], "sample")
        self.assertIn("amount", pl["context"])
        self.assertIn("desk", pl["labels"])
        self.assertTrue(pl["model_registered"])
        text = self.ctl_out("show", "3")
        self.assertIn("features (training range from the manifest", text)
        self.assertRegex(text, r"\n  income\s+[\d.]+\s+\[12000 \.\. 240000\]")
        self.assertIn(e["leaf_hash"], text)

    def test_show_missing_and_out_of_range_features(self):
        rows = self.ctl_lines("export", "--format", "jsonl")
        missing = next(r for r in rows if r["features"]["credit_history_months"] is None)
        e = self.ctl_json("show", str(missing["seq"]))
        self.assertIsNone(e["payload"]["features"]["credit_history_months"])
        self.assertIsNone(e["payload"]["feature_values"][3])
        text = self.ctl_out("show", str(missing["seq"]))
        self.assertRegex(text, r"credit_history_months\s+missing")
        outside = next(r for r in rows if r["features"]["debt_ratio"] > 1.5)
        e = self.ctl_json("show", str(outside["seq"]))
        self.assertIn("debt_ratio", e["payload"]["out_of_range"])
        self.assertRegex(self.ctl_out("show", str(outside["seq"])), r"\n! debt_ratio ")

    def test_show_other_types(self):
        m = self.ctl_json("show", "2")["payload"]
        self.assertEqual(m["manifest"]["model_id"], "credit-risk")
        self.assertEqual(len(m["manifest"]["features"]), 6)
        self.assertEqual(m["manifest"]["lineage"]["hyperparameters"]["solver"], "lbfgs")
        self.assertEqual(m["manifest"]["decision"]["kind"], "THRESHOLD")
        text = self.ctl_out("show", "2")
        self.assertIn("lineage", text)
        self.assertIn("training_data_uri", text)
        a = self.ctl_json("show", "1")["payload"]
        self.assertRegex(a["sha256"], HEX64)
        self.assertEqual(self.ctl_json("show", "0")["payload"]["event"], "START")

    # ------------------------------------------------------------ export

    def test_export_jsonl(self):
        rows = self.ctl_lines("export", "--format", "jsonl")
        self.assertEqual(len(rows), RECORDS)
        keys = ["seq", "timestamp", "model_id", "model_version", "request_id", "client",
                "features", "scores", "decision", "context", "labels", "trace_id", "leaf_hash"]
        self.assertEqual(list(rows[0]), keys)
        self.assertEqual(len({r["request_id"] for r in rows}), RECORDS)
        self.assertEqual(len(self.ctl_lines("export", "--format", "jsonl", "--since", "-1h")),
                         RECORDS)
        self.assertEqual(self.ctl_lines("export", "--format", "jsonl", "--model", "x"), [])

    def test_export_csv(self):
        out = self.ctl_out("export", "--format", "csv")
        rows = list(csv.reader(io.StringIO(out, newline="")))
        header, body = rows[0], rows[1:]
        self.assertEqual(header[:7], ["seq", "timestamp", "model_id", "model_version",
                                      "request_id", "decision", "score_0"])
        self.assertEqual(header[7:], ["income", "age", "debt_ratio", "credit_history_months",
                                      "open_accounts", "late_payments_12m", "context.amount",
                                      "label.desk"])
        self.assertEqual(len(body), RECORDS)
        self.assertTrue(all(len(r) == len(header) for r in body))
        self.assertTrue(any(r[header.index("credit_history_months")] == "" for r in body))
        jl = self.ctl_lines("export", "--format", "jsonl")
        self.assertEqual(float(body[0][header.index("income")]), jl[0]["features"]["income"])
        dst = os.path.join(self.tmp, "out", "records.csv")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        p = self.ctl("export", "--format", "csv", "--model", "credit-risk@1.0.0", "-o", dst,
                     expect=0)
        self.assertIn(f"exported {RECORDS} records", p.stdout)
        with open(dst, newline="") as f:
            raw = f.read()
        self.assertTrue(raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", ""),
                        "CSV lines must end in CRLF")
        self.assertEqual(raw.replace("\r\n", "\n"), out)
        self.assertEqual(os.listdir(os.path.dirname(dst)), ["records.csv"])
        p = self.ctl("export", "--format", "csv", "-o", os.path.join(self.tmp, "no", "dir.csv"),
                     expect=3)
        self.assert_one_line_error(p, "dir.csv")

    def test_export_several_models(self):
        v = os.path.join(self.tmp, "two-models")
        sample(v, "--records", "3")
        sample(v, "--records", "2", "--model-version", "2.0.0")
        self.assertEqual(self.ctl_json("status", vault=v)["models"], 2)
        for args in ([], ["--model", "credit-risk"]):
            p = self.ctl("export", "--format", "csv", *args, vault=v, expect=2)
            self.assert_one_line_error(p, "csv export needs --model")
        out = self.ctl_out("export", "--format", "csv", "--model", "credit-risk@2.0.0", vault=v)
        rows = list(csv.reader(io.StringIO(out)))
        self.assertIn("employment_years", rows[0])
        self.assertEqual(len(rows), 3)
        self.assertEqual({r[3] for r in rows[1:]}, {"2.0.0"})
        rows = self.ctl_lines("export", "--format", "jsonl", vault=v)
        self.assertEqual([len(r["features"]) for r in rows], [6, 6, 6, 7, 7])
        self.assertEqual(len(self.ctl_lines("log", "--model", "credit-risk@1.0.0", vault=v)), 4)
        self.assertEqual(len(self.ctl_lines("log", "--model", "credit-risk", vault=v)), 7)

    def test_pruned_payload(self):
        v = os.path.join(self.tmp, "pruned")
        out = sample(v, "--records", "5", "--prune", "4")
        self.assertIn("prune of entry 4", out)
        rows = self.ctl_lines("log", vault=v)
        self.assertTrue(rows[4]["pruned"])
        self.assertEqual(rows[4]["payload_problem"], "payload pruned")
        self.assertEqual((rows[8]["type"], rows[8]["target_seq"], rows[8]["reason"]),
                         ("prune", 4, "sample retention policy"))
        text = self.ctl_out("log", vault=v).splitlines()
        self.assertTrue(text[4].endswith("record     (payload pruned, %d bytes)"
                                         % rows[4]["payload_len"]), text[4])
        self.assertTrue(text[8].endswith("pruned 4: sample retention policy"), text[8])
        shown = self.ctl_json("show", "4", vault=v)
        self.assertTrue(shown["pruned"])
        self.assertEqual(shown["payload"], {"problem": "payload pruned"})
        # the prune entry that says so; a reason not starting with retention or erasure
        self.assertEqual((shown["prune"]["seq"], shown["prune"]["cause"], shown["prune"]["reason"]),
                         (8, "other", "sample retention policy"))
        self.assertEqual(len(bytes.fromhex(shown["leaf_bytes"])), 91)
        self.assertNotIn("payload_bytes", shown)
        self.assertNotIn("payload_nonce", shown)
        self.assertIn("(payload pruned)", self.ctl_out("show", "4", vault=v))
        self.assertEqual(self.ctl_json("show", "8", vault=v)["payload"]["payload_sha256"],
                         shown["payload_sha256"])
        self.assertEqual([r["seq"] for r in self.ctl_lines("export", "--format", "jsonl",
                                                           vault=v)], [3, 5, 6, 7])
        self.assertEqual(self.ctl_json("verify", vault=v)["pruned"], 1)
        # the leaf stays: the pruned entry can still be proven
        pr = self.ctl_json("prove", "4", vault=v)
        bundle = self.write("pruned.proof", pr["bundle"])
        key = self.write("pruned.vkey", self.ctl_out("checkpoint", "--key", vault=v))
        self.assertIn("OK: entry 4 (record,", self.ctl_out("verify-proof", bundle, "--key", key))

    def test_default_vault_from_environment(self):
        for var in ("EVIDENT_VAULT", "STATE_DIRECTORY"):
            env = {k: val for k, val in os.environ.items()
                   if k not in ("EVIDENT_VAULT", "STATE_DIRECTORY")}
            env[var] = self.vault
            p = subprocess.run([EVIDENTCTL, "status", "--json"], capture_output=True, text=True,
                               env=env, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["entries"], ENTRIES)
        env["EVIDENT_VAULT"] = os.path.join(self.tmp, "missing")
        p = subprocess.run([EVIDENTCTL, "status"], capture_output=True, text=True, env=env,
                           timeout=TIMEOUT)
        self.assertEqual(p.returncode, 3)
        self.assertIn("missing", p.stderr)

    # ------------------------------------------------------------ checkpoint

    def test_checkpoint(self):
        note = self.ctl_out("checkpoint")
        with open(os.path.join(self.vault, "checkpoint")) as f:
            self.assertEqual(note, f.read())
        cp = self.ctl_json("checkpoint")
        st = self.ctl_json("status")
        self.assertEqual(cp["size"], ENTRIES)
        self.assertEqual(cp["root"], st["root"])
        self.assertEqual(base64.b64decode(cp["root_base64"]).hex(), cp["root"])
        self.assertEqual(cp["note"], note)
        self.assertEqual(cp["origin"], st["origin"])
        self.assertEqual(cp["key"], st["key"])
        self.assertEqual(cp["unsigned_entries"], 0)
        self.assertEqual(note.splitlines()[:3], [cp["origin"], str(cp["size"]), cp["root_base64"]])
        with open(self.pem) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PUBLIC KEY-----\n"))

    def test_checkpoint_none_yet(self):
        v = os.path.join(self.tmp, "unsigned")
        sample(v, "--records", "2", "--no-checkpoint")
        p = self.ctl("checkpoint", vault=v, expect=1)
        self.assert_one_line_error(p, "no signed checkpoint")
        self.ctl("prove", "0", vault=v, expect=1)
        self.ctl("checkpoint", "--key", vault=v, expect=0)
        self.assertIsNone(self.ctl_json("status", vault=v)["checkpoint_size"])

    # ------------------------------------------------------------ prove / verify-proof

    def prove(self, seq, *args, vault=None):
        pr = self.ctl_json("prove", str(seq), *args, vault=vault)
        return pr, self.write(f"proof-{seq}-{len(args)}.txt", pr["bundle"])

    def test_prove_and_verify(self):
        pr, bundle = self.prove(10)
        self.assertEqual((pr["seq"], pr["index"], pr["tree_size"]), (10, 10, ENTRIES))
        self.assertTrue(all(HEX64.match(h) for h in pr["proof"]))
        self.assertGreater(len(pr["proof"]), 0)
        self.assertEqual(len(base64.b64decode(pr["leaf"])), 91)
        self.assertEqual(hashlib.sha256(b"\0" + base64.b64decode(pr["leaf"])).hexdigest(),
                         pr["leaf_hash"])
        self.assertEqual(pr["leaf_hash"], self.ctl_json("show", "10")["leaf_hash"])
        self.assertEqual(pr["root"], self.ctl_json("checkpoint")["root"])
        self.assertTrue(pr["bundle"].endswith(pr["checkpoint"]))
        self.assertEqual(self.ctl_out("prove", "10"), pr["bundle"])
        for key in (self.vkey, self.pem):
            out = self.ctl_out("verify-proof", bundle, "--key", key)
            self.assertRegex(out, r"^OK: entry 10 \(record, \d{4}-\S+Z, payload SHA-256 "
                                  rf"[0-9a-f]{{64}}, \d+ bytes\) is included in the log \S+ of "
                                  rf"size {ENTRIES} with root {pr['root']}\n$")
        v = self.ctl_json("verify-proof", bundle, "--key", self.vkey)
        self.assertTrue(v["ok"])
        self.assertEqual(v["seq"], 10)
        self.assertEqual(v["payload_sha256"], self.ctl_json("show", "10")["payload_sha256"])
        # no vault needed
        p = self.ctl("verify-proof", bundle, "--key", self.vkey,
                     vault=os.path.join(self.tmp, "missing"), expect=0)
        self.assertIn("OK", p.stdout)
        # standard input
        self.assertIn("OK", self.ctl("verify-proof", "-", "--key", self.vkey, stdin=pr["bundle"],
                                     expect=0).stdout)
        # -o
        dst = os.path.join(self.tmp, "p0.proof")
        self.ctl("prove", "0", "-o", dst, expect=0)
        self.ctl("verify-proof", dst, "--key", self.vkey, expect=0)

    def test_verify_proof_failures(self):
        pr, bundle = self.prove(7)
        for key in (self.other_vkey, self.other_pem):
            p = self.ctl("verify-proof", bundle, "--key", key, expect=1)
            self.assertEqual(p.stdout, "FAILED: the checkpoint is not signed by this key\n")
        lines = pr["bundle"].split("\n")
        self.assertTrue(lines[3] and lines[3][0] != "=")
        flipped = lines[:]
        c = flipped[3][5]
        flipped[3] = flipped[3][:5] + ("B" if c != "B" else "C") + flipped[3][6:]
        p = self.ctl("verify-proof", self.write("flipped.proof", "\n".join(flipped)),
                     "--key", self.vkey, expect=1)
        self.assertIn("FAILED: the proof does not lead to the signed root", p.stdout)
        rep = json.loads(self.ctl("verify-proof", os.path.join(self.tmp, "flipped.proof"),
                                  "--key", self.vkey, "--json", expect=1).stdout)
        self.assertFalse(rep["ok"])
        # another entry's leaf under this proof
        other = self.prove(8)[0]
        swapped = pr["bundle"].replace(pr["leaf"], other["leaf"])
        self.ctl("verify-proof", self.write("swapped.proof", swapped), "--key", self.vkey,
                 expect=1)
        # a changed signature
        sig = pr["bundle"].rstrip("\n").rsplit(" ", 1)
        raw = bytearray(base64.b64decode(sig[1]))
        raw[10] ^= 1
        badsig = sig[0] + " " + base64.b64encode(bytes(raw)).decode() + "\n"
        p = self.ctl("verify-proof", self.write("badsig.proof", badsig), "--key", self.vkey,
                     expect=1)
        self.assertIn("signature is invalid", p.stdout)
        # malformed bundle: one line error naming file and line
        garbage = self.write("garbage.proof", "c2sp.org/tlog-proof@v1\nhello\n")
        p = self.ctl("verify-proof", garbage, "--key", self.vkey, expect=1)
        self.assert_one_line_error(p, garbage, "line 2")
        # unreadable bundle, unreadable or malformed key
        p = self.ctl("verify-proof", os.path.join(self.tmp, "nope"), "--key", self.vkey, expect=3)
        self.assert_one_line_error(p, "nope")
        p = self.ctl("verify-proof", bundle, "--key", os.path.join(self.tmp, "nokey"), expect=3)
        self.assert_one_line_error(p, "nokey")
        bad = self.write("bad.vkey", "example.com+00000000+AAAA\n")
        p = self.ctl("verify-proof", bundle, "--key", bad, expect=3)
        self.assert_one_line_error(p, "malformed key")

    def test_prove_against_older_checkpoint(self):
        v = self.copy_vault("grown")
        old = self.write("old.checkpoint", self.ctl_out("checkpoint", vault=v))
        sample(v, "--records", "3", "--no-checkpoint")
        new_entry = ENTRIES + 1
        p = self.ctl("prove", str(new_entry), vault=v, expect=1)
        self.assert_one_line_error(p, f"entry {new_entry} is not covered by checkpoint of size "
                                      f"{ENTRIES} yet")
        pr, bundle = self.prove(5, "--checkpoint", old, vault=v)
        self.assertEqual(pr["tree_size"], ENTRIES)
        self.ctl("verify-proof", bundle, "--key", self.vkey, expect=0)
        # a checkpoint of another vault, a truncated vault
        p = self.ctl("prove", "1", "--checkpoint", os.path.join(self.other, "checkpoint"),
                     vault=v, expect=1)
        self.assert_one_line_error(p, "not signed by this vault's key")
        sample(v, "--records", "1")
        newer = self.write("newer.checkpoint", self.ctl_out("checkpoint", vault=v))
        p = self.ctl("prove", "1", "--checkpoint", newer, expect=1)
        self.assert_one_line_error(p, "covers")
        notnote = self.write("notnote.checkpoint", "hello\n")
        self.ctl("prove", "1", "--checkpoint", notnote, expect=3)

    # ------------------------------------------------------------ tail

    def test_tail(self):
        rows = self.ctl_lines("tail")
        self.assertEqual([r["seq"] for r in rows], list(range(ENTRIES - 10, ENTRIES)))
        self.assertEqual(len(self.ctl_out("tail", "-n", "3").splitlines()), 3)
        self.assertEqual(self.ctl_out("tail", "-n", "0"), "")
        self.assertEqual(len(self.ctl_lines("tail", "-n", "100000")), ENTRIES)

    def test_tail_follow(self):
        v = self.copy_vault("followed")
        before = self.ctl_json("status", vault=v)["entries"]
        proc = subprocess.Popen([EVIDENTCTL, "--vault", v, "tail", "-n", "1", "-f", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = LineReader(proc)
        try:
            self.assertEqual(json.loads(lines.next(10))["seq"], before - 1)
            sample(v, "--records", "2", "--no-checkpoint")
            seen = [json.loads(lines.next(10)) for _ in range(3)]
            self.assertEqual([r["seq"] for r in seen], [before, before + 1, before + 2])
            self.assertEqual(seen[0]["type"], "lifecycle")
            self.assertEqual(seen[1]["request_id"], f"req-{before}-0")
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(10), 0)
            self.assertEqual(proc.stderr.read(), b"")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    # ------------------------------------------------------------ evident-sample

    def test_sample_rerun(self):
        v = self.copy_vault("rerun")
        out = sample(v, "--records", "5", "--seed", "5")
        self.assertIn("already registered", out)
        st = self.ctl_json("status", vault=v)
        self.assertEqual(st["entries"], ENTRIES + 6)  # lifecycle + 5 records
        self.assertEqual(st["models"], 1)
        self.assertEqual(st["entries_by_type"]["model"], 1)
        self.assertEqual(st["checkpoint_size"], ENTRIES + 6)
        ids = [r["request_id"] for r in self.ctl_lines("export", "--format", "jsonl", vault=v)]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertIn(f"req-{ENTRIES}-4", ids)
        self.ctl("verify", vault=v, expect=0)

    # ------------------------------------------------------------ interoperability

    @unittest.skipUnless(shutil.which("openssl"), "needs openssl")
    def test_checkpoint_signature_with_openssl(self):
        note = self.ctl_out("checkpoint")
        body, sigs = note.split("\n\n", 1)
        body += "\n"
        line = sigs.splitlines()[0]
        self.assertTrue(line.startswith("\u2014 "))
        name, sig64 = line[2:].split(" ")
        self.assertEqual(name, self.ctl_json("checkpoint")["origin"])
        sig = base64.b64decode(sig64)
        self.assertEqual(len(sig), 68)
        body_path = self.write("cp.body", body)
        sig_path = self.write("cp.sig", sig[4:], "wb")
        indep = os.path.join(self.tmp, "indep.pem")
        subprocess.run(["openssl", "pkey", "-in", os.path.join(self.vault, "signing.key"),
                        "-pubout", "-out", indep], check=True, capture_output=True)
        with open(indep) as f, open(self.pem) as g:
            self.assertEqual(f.read(), g.read())
        for pem in (self.pem, indep):
            p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem,
                                "-rawin", "-in", body_path, "-sigfile", sig_path],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("Signature Verified Successfully", p.stdout)
        tampered = self.write("cp.body.bad", body.replace("\n", "\n ", 1))
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", self.pem,
                            "-rawin", "-in", tampered, "-sigfile", sig_path],
                           capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", self.other_pem,
                            "-rawin", "-in", body_path, "-sigfile", sig_path],
                           capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)


def main():
    global BUILD_DIR, EVIDENTCTL, SAMPLE, TAMPER
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD_DIR = sys.argv.pop(1)
    EVIDENTCTL = os.path.join(BUILD_DIR, "tools", "evidentctl")
    SAMPLE = os.path.join(BUILD_DIR, "tools", "evident-sample")
    TAMPER = os.path.join(BUILD_DIR, "tests", "common", "vault-tamper")
    for exe in (EVIDENTCTL, SAMPLE, TAMPER):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_cli.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()


if __name__ == "__main__":
    main()
