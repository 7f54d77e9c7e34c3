#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The kill loop: evidentd SIGKILLed at random moments under 4 pipelining clients, with
trigger rules, audit workers and verdict deadlines on, N times (default 1,000); after each
kill and restart the promises are checked (tests/crash/README.md says which and why):

  - right after each kill the vault verifies (every checkpoint, signatures against the key
    kept from the first start, and against the checkpoint file kept from the previous kill)
    and the unsigned tail the kill left is bounded; each start signs everything up to its
    START entry before it listens;
  - every acknowledged (client, request id) is stored exactly once, at the acknowledged
    seq; no record is stored twice; a resent record gets its original seq;
  - after each restart, every stored record that fires a rule has exactly one incident for
    that rule (the start recovers what a kill lost), and no incident is unexplained;
  - verdicts: at most one per record and connection on the wire, only for records sent with
    a deadline; in the vault at most one PROCEED/REVIEW per record (a resend gets a
    PENDING), never more verdict entries than deliveries, each naming the record's seq and
    an incident of that record, no PROCEED/REVIEW decided after its deadline;
  - a last run stopped with SIGTERM (exit 0): every record acknowledged, every verdict
    received recorded, every OPEN incident audited or recorded as skipped exactly once.

    /usr/bin/python3 tests/crash/kill_loop.py [--build DIR] [--kills N] [--seed S]
                                              [--workdir DIR] [--min-deadline-ms MS]

Not part of `meson test`: 1,000 kills take about 45 minutes on a 2-core machine. A
broken promise is recorded and the loop goes on (a failed verify or a daemon that cannot
start ends it); the summary names every kind of violation with examples; exit status 1 when
there was any, else 0.
"""
import argparse
import bisect
import collections
import json
import os
import random
import shlex
import shutil
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib as cl  # noqa: E402
from crashlib import Violation  # noqa: E402

N_CLIENTS = 4
WINDOW = 4  # records in flight per client
PAUSE = (0.005, 0.05)  # seconds between windows (keeps the vault small enough to verify often)
FULL_EVERY = 25  # a full export, incident list and payload check every this many kills
SAMPLE = 200  # older acknowledged records re-checked after every kill
FINAL_NEW = 200  # records per client in the last, cleanly stopped run
# Bound on the unsigned tail a kill may leave. The daemon signs after a commit once the
# tail's first entry is checkpoint_max_unsigned_ms (100 ms) old or the tail holds
# checkpoint_max_unsigned (10,000) entries, and by itself when idle at that age; so the age
# at a kill is 100 ms plus the commit in progress and one signature (each an fsync), plus
# scheduling delays of a loaded 2-core machine (4 clients, 2 audit workers and evidentctl
# share it). 2 s is 20 times the setting and still far below what a daemon that stopped
# signing would show (the 60 s checkpoint_interval). Entries: one commit over the count
# bound (max_batch 4,096).
MAX_TAIL_AGE_S = 2.0
MAX_TAIL_ENTRIES = 10000 + 4096
CONFIG = "[daemon]\nworkers = 2\njob_queue = 1024\n" + cl.TRIGGERS


class Client:
    """One client's state across daemon runs: what it sent and what it was told."""

    def __init__(self, name, loop):
        self.name = name
        self.loop = loop
        self.next_i = 0
        self.pending = {}  # request id -> i: sent, never acknowledged (maybe stored)
        self.acked = {}  # request id -> acknowledged seq
        self.new_acks = []  # request ids acknowledged since the last check
        self.sends = collections.Counter()  # request id -> frames written with a deadline
        self.received = collections.defaultdict(list)  # request id -> [(run, Verdict)]
        self.retry_checks = 0
        self.duplicate_acks = 0  # acks of resent records the vault already held

    def problem(self, kind, msg):
        self.loop.problem(kind, "client %s: %s" % (self.name, msg))

    def run(self, sock, run_no, rng, stop, min_deadline, final=False):
        """Sends until the daemon dies (or, when final, until everything is answered)."""
        try:
            conn = cl.Conn(sock, self.name)
        except (OSError, EOFError):
            return  # killed before we connected
        except Violation as e:
            self.problem("protocol", str(e))
            return
        queue = collections.deque()
        if self.acked and not final:
            # a true retry of an acknowledged record must get its original seq
            for rid in rng.sample(list(self.acked), min(2, len(self.acked))):
                queue.append(rid)
                self.retry_checks += 1
        queue.extend(self.pending)  # resend what was never acknowledged
        outstanding = collections.deque()
        want_verdict, got_verdict = set(), set()
        new_left = FINAL_NEW if final else -1
        try:
            while final or not stop.is_set():
                frames = []
                while len(outstanding) < WINDOW:
                    if queue:
                        rid = queue.popleft()
                        i = cl.parse_request_id(rid)[1]
                    elif new_left == 0:
                        break
                    else:
                        i = self.next_i
                        self.next_i += 1
                        new_left -= 1
                        rid = cl.request_id(self.name, i)
                        self.pending[rid] = i
                    f = cl.record_frame(self.name, i, min_deadline)
                    frames.append(f)
                    outstanding.append(rid)
                    if f.record.verdict_deadline_ms:
                        want_verdict.add(rid)
                        self.sends[rid] += 1
                if not outstanding:
                    break
                conn.send_many(frames)
                while outstanding:
                    self.handle(conn.recv(), outstanding, want_verdict, got_verdict, run_no)
                time.sleep(rng.uniform(*PAUSE))
            if final:
                end = time.monotonic() + 60
                conn.s.settimeout(60)
                while want_verdict - got_verdict and time.monotonic() < end:
                    self.handle(conn.recv(), outstanding, want_verdict, got_verdict, run_no)
        except (EOFError, OSError) as e:
            if final:
                self.problem("last run", "the connection failed: %s (%d unacknowledged)" % (
                    e, len(outstanding)))
        finally:
            conn.close()
        if final and want_verdict - got_verdict:
            self.problem("last run", "%d record(s) sent with a deadline got no Verdict, e.g. "
                         "%s" % (len(want_verdict - got_verdict),
                                 sorted(want_verdict - got_verdict)[0]))

    def handle(self, f, outstanding, want_verdict, got_verdict, run_no):
        kind = f.WhichOneof("body")
        if kind == "ack":
            a = f.ack
            if not outstanding:
                self.problem("protocol", "an Ack for %s with nothing outstanding" %
                             a.request_id)
                return
            rid = outstanding.popleft()
            if a.request_id != rid:
                self.problem("protocol", "Ack for %s, expected %s (acks come in order)" % (
                    a.request_id, rid))
                return
            if rid in self.acked:
                if not a.duplicate or a.seq != self.acked[rid]:
                    self.problem("retry", "a retry of %s (acknowledged at seq %d) was answered "
                                 "seq %d duplicate=%s" % (rid, self.acked[rid], a.seq,
                                                          a.duplicate))
                return
            self.pending.pop(rid, None)
            self.acked[rid] = a.seq
            self.new_acks.append(rid)
            if a.duplicate:
                self.duplicate_acks += 1
            if cl.fires(self.name, cl.parse_request_id(rid)[1]):
                self.loop.fired.set()
        elif kind == "verdict":
            v = f.verdict
            rid = v.request_id
            if rid not in want_verdict:
                self.problem("verdict on the wire", "a Verdict for %s, not sent with a deadline "
                             "on this connection" % rid)
            elif rid in got_verdict:
                self.problem("verdict on the wire", "a second Verdict for %s on one "
                             "connection" % rid)
            got_verdict.add(rid)
            self.received[rid].append((run_no, v))
            if v.HasField("seq") and rid in self.acked and self.acked[rid] != v.seq:
                self.problem("verdict on the wire", "the Verdict for %s names seq %d, its Ack "
                             "%d" % (rid, v.seq, self.acked[rid]))
        elif kind == "error":
            self.problem("protocol", "Error %s for %r: %s" % (
                cl.pb.Error.Code.Name(f.error.code), f.error.request_id, f.error.message))
        else:
            self.problem("protocol", "unexpected frame %s" % kind)


class Loop:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = args.workdir
        self.vault_dir = os.path.join(self.work, "vault")
        cl.load_protos(self.work)
        self.d = cl.Daemon(args.build, self.work, self.vault_dir, CONFIG)
        self.problems = collections.OrderedDict()  # kind -> [messages], in order found
        self.lock = threading.Lock()
        self.v = cl.Vault(self.d, self.problem)
        self.fired = threading.Event()
        self.clients = [Client("c%d" % k, self) for k in range(N_CLIENTS)]
        self.stats = collections.Counter()
        self.tails = []  # (entries, age at the kill, kill, mode, first type, idle, threads)
        self.worst_reported_age = 0.0
        self.modes = collections.Counter()
        self.mode = None
        self.key_file = os.path.join(self.work, "vault.pub")
        self.kept_checkpoint = None
        self.t_verify = 0.0
        self.log_read = 0

    def problem(self, kind, msg):
        with self.lock:
            seen = self.problems.setdefault(kind, [])
            if msg not in seen:
                seen.append(msg)

    # -------------------------------------------------------------- the run

    def run(self):
        t0 = time.monotonic()
        self.d.start()
        c = cl.Conn(self.d.sock, "setup")
        f = cl.register(c)
        c.close()
        if not f.HasField("ack"):
            raise Violation("registration: %s" % f)
        with open(self.key_file, "w") as f:
            f.write(self.d.ctl("checkpoint", "--key").stdout)
        self.after_restart(0)
        k, next_report = 0, 50
        while k < self.args.kills:
            k += 1
            self.kill_under_load(k)
            if k < self.args.kills and self.rng.random() < 0.05:
                # killed again while starting: recovering incidents, re-queuing audits,
                # signing, before it listens
                k += 1
                self.mode = "startup"
                self.modes["startup"] += 1
                self.d.spawn()
                time.sleep(self.rng.uniform(0, 0.06))
                self.after_kill(k, self.d.kill())
            self.d.start()
            self.after_restart(k)
            if k >= next_report or k >= self.args.kills:
                next_report += 50
                self.progress(k, t0)
        self.final_run()
        return time.monotonic() - t0

    def progress(self, k, t0):
        acks = sum(len(c.acked) for c in self.clients)
        worst = max(self.tails, key=lambda t: t[1]) if self.tails else (0, 0.0)
        print("kill %d/%d: %d acks, %d entries, %d incidents, worst tail %d entries / %.3f "
              "s, %d kind(s) of violation, %.0f s" % (
                  k, self.args.kills, acks, self.v.size, len(self.v.incidents),
                  max(t[0] for t in self.tails) if self.tails else 0, worst[1],
                  len(self.problems), time.monotonic() - t0), flush=True)

    def kill_under_load(self, k):
        """Clients send; SIGKILL at a random moment; the vault is checked."""
        r = self.rng.random()
        self.mode = ("audit" if r < 0.2 else "short" if r < 0.35 else "long" if r < 0.45
                     else "uniform")
        self.modes[self.mode] += 1
        stop = threading.Event()
        self.fired.clear()
        threads = [threading.Thread(target=c.run, args=(
            self.d.sock, k, random.Random(self.rng.random()), stop, self.args.min_deadline_ms))
            for c in self.clients]
        for t in threads:
            t.start()
        if self.mode == "short":
            time.sleep(self.rng.uniform(0, 0.03))  # clients connecting and resending
        elif self.mode == "audit":
            # just after a firing record's ack: its incident is being written or its audit
            # is running
            self.fired.wait(2.0)
            time.sleep(self.rng.uniform(0, 0.02))
        elif self.mode == "long":
            time.sleep(self.rng.uniform(1.0, 2.5))
        else:
            time.sleep(self.rng.uniform(0.03, 1.0))
        if not self.d.running():
            self.mode = "died"  # its tail says nothing about signing: not counted
            self.stats["died"] += 1
            self.problem("daemon died", "evidentd ended by itself before kill %d (status %d): "
                         "%s" % (k, self.d.proc.returncode, self.d.log_tail(3).strip()))
        killed = self.d.kill()
        stop.set()
        for t in threads:
            t.join(timeout=60)
            if t.is_alive():
                raise Violation("a client thread did not finish after kill %d" % k)
        self.after_kill(k, killed)

    # -------------------------------------------------------------- checks

    def after_kill(self, k, killed):
        """The vault verifies; the tail the kill left is bounded."""
        t_kill, threads = killed
        t = time.monotonic()
        args = ["verify", "--json", "--key", self.key_file]
        if self.kept_checkpoint:
            args += ["--checkpoint", self.kept_checkpoint]
        r = self.d.ctl(*args, check=False)
        self.t_verify += time.monotonic() - t
        try:
            rep = json.loads(r.stdout)
        except ValueError:
            rep = {}
        if r.returncode != 0 or not rep.get("ok"):
            raise Violation("kill %d: evidentctl verify failed (exit %d): %s %s" % (
                k, r.returncode, r.stdout.strip(), r.stderr.strip()))
        kept = os.path.join(self.work, "checkpoint.kept")
        shutil.copyfile(os.path.join(self.vault_dir, "checkpoint"), kept)
        self.kept_checkpoint = kept
        n = rep["unsigned_entries"]
        self.worst_reported_age = max(self.worst_reported_age,
                                      rep["unsigned_age_seconds"] or 0.0)
        age, first = 0.0, None
        if n:
            first = self.d.ctl_json_lines("log", "--from", str(rep["signed_size"]),
                                          "--limit", "1")[0]
            # the tail's age when the kill came, counted from when this process started
            # (entries a previous crash left unsigned wait for its START signature)
            age = (t_kill - max(first["timestamp_ns"], self.d.spawned_ns)) / 1e9
        st = json.loads(self.d.ctl("--json", "status").stdout)
        idle = (t_kill - st["last_timestamp_ns"]) / 1e9  # since the last commit began
        if self.mode == "died":
            return
        self.tails.append((n, age, k, self.mode, first and first["type"], idle, threads))
        if n > MAX_TAIL_ENTRIES or age > MAX_TAIL_AGE_S:
            self.problem("unsigned tail", "kill %d (%s) left %d unsigned entries, the first "
                         "%.3f s old at the kill (bound: %d entries, %.1f s); the last commit "
                         "began %.3f s before the kill; threads: %s" % (
                             k, self.mode, n, age, MAX_TAIL_ENTRIES, MAX_TAIL_AGE_S, idle,
                             threads))

    def after_restart(self, k):
        starts_before = len(self.v.starts)
        self.v.refresh()
        if len(self.v.starts) == starts_before:  # (a run killed while starting adds one)
            raise Violation("restart %d: no START entry" % k)
        st = json.loads(self.d.ctl("--json", "status").stdout)
        start_seq = self.v.starts[-1]
        # signed at start: the checkpoint covers every entry up to this run's START
        if st["checkpoint_size"] <= start_seq:
            self.problem("not signed at start", "restart %d: the latest checkpoint covers %d "
                         "entries, the START entry is %d" % (k, st["checkpoint_size"],
                                                             start_seq))
        if st["unsigned_entries"]:
            self.stats["restarts_with_tail"] += 1  # audits re-queued at start, after START
        self.v.refresh_incidents()
        missing = self.v.missing_incidents()
        for seq, trig in missing:
            self.problem("incident missing", "after restart %d: record %d (%s) fired rule %s "
                         "and has no incident" % (k, seq, self.v.rid_of[seq], trig))
        self.check_acked(full=(k % FULL_EVERY == 0))
        if k % FULL_EVERY == 0:
            self.full_check()
        self.scan_log()

    def scan_log(self):
        """Daemon log lines at priority err or worse, and anything a crash prints."""
        with open(self.d.log, "rb") as f:
            f.seek(self.log_read)
            text = f.read().decode(errors="replace")
            self.log_read = f.tell()
        for line in text.splitlines():
            if line[:3] in ("<0>", "<1>", "<2>", "<3>") or not line.startswith("<"):
                self.stats["log_errors"] += 1
                self.problem("daemon log", line.strip()[:300])

    def check_acked(self, full):
        """Every acknowledged record is stored once with the acknowledged seq: those of the
        last run and a sample of the older ones, or all of them."""
        for c in self.clients:
            if full:
                rids = list(c.acked)
            else:
                rids = c.new_acks
                if c.acked:
                    rids = rids + self.rng.sample(list(c.acked), min(SAMPLE // N_CLIENTS,
                                                                    len(c.acked)))
            for rid in rids:
                got = self.v.rec_seqs.get(rid)
                if got != [c.acked[rid]]:
                    self.problem("acknowledged record lost", "%s (acknowledged at seq %d) is "
                                 "%s" % (rid, c.acked[rid],
                                         "missing" if not got else "at seqs %s" % got))
            c.new_acks = []

    def full_check(self, final=False):
        """The whole vault against what the clients were told, independently of the
        incremental reads: evidentctl export and incidents, and the payloads (mdb_dump)."""
        stored = collections.defaultdict(list)
        for line in self.d.ctl("export", "--format", "jsonl").stdout.splitlines():
            o = json.loads(line)
            stored[(o["client"], o["request_id"])].append(o["seq"])
        dups = [(key, seqs) for key, seqs in stored.items() if len(seqs) != 1]
        lost = [(c.name, rid, seq) for c in self.clients for rid, seq in c.acked.items()
                if stored.get((c.name, rid)) != [seq]]
        self.stats["lost"], self.stats["duplicates"] = len(lost), len(dups)
        for key, seqs in dups:
            self.problem("stored twice", "record %s/%s at seqs %s" % (key[0], key[1], seqs))
        for name, rid, seq in lost:
            self.problem("acknowledged record lost", "%s/%s (acknowledged at seq %d) is %s" % (
                name, rid, seq, stored.get((name, rid), "missing")))
        if len(stored) != len(self.v.rec_seqs) or any(
                self.v.rec_seqs.get(key[1]) != seqs or
                cl.parse_request_id(key[1])[0] != key[0] for key, seqs in stored.items()):
            raise Violation("evidentctl export and evidentctl log disagree on the records")
        rows = self.d.ctl_json_lines("incidents")
        if {r["id"]: (r["record_seq"], r["trigger"], r["status"]) for r in rows} != \
                self.v.incidents:
            raise Violation("evidentctl incidents disagrees with the incidents read so far")
        self.v.refresh_payloads()
        self.check_verdicts(final)
        self.check_audits(final)

    def check_verdicts(self, final):
        per_record = collections.defaultdict(list)
        for s, m in sorted(self.v.payload.items()):
            if m is None:
                continue
            if self.v.type_of[s] != "verdict":
                continue
            rid = m.verdict.request_id
            per_record[rid].append((s, m))
            if self.v.rec_seqs.get(rid) != [m.record_seq]:
                self.problem("verdict entry", "entry %d names record %d for %s, stored at %s" %
                             (s, m.record_seq, rid, self.v.rec_seqs.get(rid)))
            if m.verdict.HasField("seq") and m.verdict.seq != m.record_seq:
                self.problem("verdict entry", "entry %d: Verdict.seq %d, record_seq %d" % (
                    s, m.verdict.seq, m.record_seq))
            if cl.parse_request_id(rid)[0] != m.client_name:
                self.problem("verdict entry", "entry %d: client %s for %s" % (
                    s, m.client_name, rid))
            if m.incident_seq and self.v.incidents.get(m.incident_seq, (None,))[0] != \
                    m.record_seq:
                self.problem("verdict names another record's incident",
                             "entry %d (%s %s, record %d) names incident %d, which is record "
                             "%s's" % (s, rid, cl.pb.Verdict.Action.Name(m.verdict.action),
                                       m.record_seq, m.incident_seq,
                                       self.v.incidents.get(m.incident_seq, (None,))[0]))
            late = m.decided_unix_ns - m.deadline_unix_ns
            if m.verdict.action != cl.pb.Verdict.PENDING and late > 0:
                self.problem("late verdict", "entry %d: %s decided %.3f ms after its "
                             "deadline" % (s, cl.pb.Verdict.Action.Name(m.verdict.action),
                                           late / 1e6))
            if m.verdict.action == cl.pb.Verdict.PENDING:
                self.stats["worst_pending_late_ns"] = max(self.stats["worst_pending_late_ns"],
                                                          late)
        sends = collections.Counter()
        for c in self.clients:
            sends.update(c.sends)
        for rid, entries in per_record.items():
            # PROCEED and REVIEW are decided once, for the delivery that stored the record;
            # every other delivery of it (a resend) gets a PENDING, recorded too
            decided = [s for s, m in entries if m.verdict.action != cl.pb.Verdict.PENDING]
            if len(decided) > 1:
                self.problem("verdict twice", "record %s has %d PROCEED/REVIEW entries: %s" % (
                    rid, len(decided), decided))
            if len(entries) > sends[rid]:
                self.problem("verdict twice", "record %s has %d verdict entries, sent %d "
                             "times with its deadline" % (rid, len(entries), sends[rid]))
        self.stats["verdict_entries"] = sum(len(e) for e in per_record.values())
        # verdicts the clients received that are not in the vault: a kill between sending a
        # verdict and committing its entry (counted; none may be missing after a clean stop)
        recorded = collections.Counter()
        for rid, entries in per_record.items():
            for _, m in entries:
                recorded[(rid, m.verdict.action, tuple(m.verdict.reasons), m.incident_seq)] += 1
        got, last_run = collections.Counter(), collections.Counter()
        for c in self.clients:
            for rid, vs in c.received.items():
                for run_no, v in vs:
                    key = (rid, v.action, tuple(v.reasons), v.incident_id)
                    got[key] += 1
                    if run_no == "final":
                        last_run[key] += 1
        self.stats["verdicts_received"] = sum(got.values())
        self.stats["verdicts_unrecorded"] = sum(max(0, n - recorded[key])
                                               for key, n in got.items())
        if final:
            for key, n in last_run.items():
                if recorded[key] < n:
                    self.problem("verdict unrecorded", "a verdict received in the last run "
                                 "(stopped cleanly) is not in the vault: %s" % (key,))

    def check_audits(self, final):
        named = collections.defaultdict(list)
        for s, m in sorted(self.v.payload.items()):
            if m is None:
                continue
            if self.v.type_of[s] in ("audit", "notice") and m.HasField("incident_seq"):
                named[m.incident_seq].append(s)
        for iid, seqs in named.items():
            if iid not in self.v.incidents:
                self.problem("audit", "entries %s name incident %d, which does not exist" % (
                    seqs, iid))
            elif len(seqs) > 1:
                self.problem("audit twice", "incident %d is audited (or skipped) %d times: "
                             "entries %s" % (iid, len(seqs), seqs))
            elif self.v.incidents[iid][2] != "open":
                self.problem("audit", "rate-limited incident %d was audited" % iid)
        self.stats["audits"] = sum(1 for s in self.v.payload if self.v.type_of[s] == "audit")
        self.stats["skipped"] = sum(1 for s in self.v.payload
                                    if self.v.type_of[s] == "notice")
        if not final:
            return
        unaudited = sorted(i for i, (_, _, st) in self.v.incidents.items()
                           if st == "open" and i not in named)
        self.stats["unaudited"] = len(unaudited)
        # An incident's audit is queued again by the next start when the run that wrote it
        # was killed; when that next run is killed too before the audit ends, no later start
        # looks back that far (README: defects). The last run stops cleanly, so an incident
        # of that run, or of the run before it, must have its audit.
        starts = self.v.starts
        for i in unaudited:
            if bisect.bisect(starts, i) < len(starts) - 1:
                self.problem("audit lost after two kills", "OPEN incident %d never audited "
                             "nor skipped (its run and the next one were killed)" % i)
            else:
                self.problem("audit missing", "OPEN incident %d never audited nor skipped, "
                             "although the run after its own stopped cleanly" % i)

    def final_run(self):
        """The last run: every client resends what is pending and sends FINAL_NEW more, gets
        every ack and verdict; then SIGTERM (exit 0) and the full check."""
        threads = [threading.Thread(target=c.run, args=(
            self.d.sock, "final", random.Random(self.rng.random()), threading.Event(),
            self.args.min_deadline_ms, True)) for c in self.clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        for c in self.clients:
            if c.pending:
                self.problem("last run", "client %s: %d record(s) never acknowledged" % (
                    c.name, len(c.pending)))
        if not self.d.running():
            self.problem("daemon died", "evidentd ended by itself in the last run (status "
                         "%d): %s" % (self.d.proc.returncode, self.d.log_tail(3).strip()))
        else:
            rc = self.d.term()
            if rc != 0:
                self.problem("last run", "evidentd exited %d after SIGTERM: %s" % (
                    rc, self.d.log_tail(3).strip()))
        self.d.verify()
        self.v.refresh()
        self.v.refresh_incidents()
        for seq, trig in self.v.missing_incidents():
            self.problem("incident missing", "after the clean stop: record %d (%s) fired rule "
                         "%s and has no incident" % (seq, self.v.rid_of[seq], trig))
        self.check_acked(full=True)
        self.full_check(final=True)
        self.scan_log()

    # -------------------------------------------------------------- report

    def summary(self, elapsed, cmd):
        s = self.stats
        acks = sum(len(c.acked) for c in self.clients)
        opened = sum(1 for x in self.v.incidents.values() if x[2] == "open")
        with open(self.d.log, errors="replace") as f:
            log = f.read()
        ages = sorted(t[1] for t in self.tails)
        p99 = ages[int(0.99 * (len(ages) - 1))] if ages else 0.0
        worst_n = max(self.tails, key=lambda t: t[0]) if self.tails else (0, 0, None)
        worst_age = max(self.tails, key=lambda t: t[1]) if self.tails else (0, 0, None)
        lines = [
            "kills = %d (%s)" % (self.args.kills, ", ".join(
                "%s %d" % kv for kv in sorted(self.modes.items()))),
            "acks = %d (%d resends the vault already held, %d retries of acknowledged "
            "records), lost = %d, duplicates = %d" % (
                acks, sum(c.duplicate_acks for c in self.clients),
                sum(c.retry_checks for c in self.clients), s["lost"], s["duplicates"]),
            "incidents = %d (%d open; %d start(s) recovered incidents a kill lost), audits = "
            "%d, skipped = %d, OPEN never audited = %d" % (
                len(self.v.incidents), opened, log.count("were recovered from their records"),
                s["audits"], s["skipped"], s["unaudited"]),
            "verdicts = %d received, %d entries (%d received but unrecorded at a kill), "
            "latest PENDING %.1f ms after its deadline" % (
                s["verdicts_received"], s["verdict_entries"], s["verdicts_unrecorded"],
                s["worst_pending_late_ns"] / 1e6),
            "worst unsigned tail = %d entries (kill %s), %.3f s at the kill (kill %s; p99 "
            "%.3f s; verify itself reported up to %.3f s); %d restart(s) with audit entries "
            "after START not yet signed" % (
                worst_n[0], worst_n[2], worst_age[1], worst_age[2], p99,
                self.worst_reported_age, s["restarts_with_tail"]),
            "entries = %d, elapsed = %.0f s (verify after each kill: %.0f s), daemon died by "
            "itself = %d, daemon log errors = %d" % (
                self.v.size, elapsed, self.t_verify, s["died"], s["log_errors"]),
        ]
        print("\n".join(lines))
        for n, age, k, mode, first, idle, threads in sorted(self.tails,
                                                             key=lambda t: -t[1])[:3]:
            print("  tail at kill %d (%s): %d entries from a %s entry, %.3f s old; the last "
                  "commit began %.3f s before the kill; threads %s" % (
                      k, mode, n, first, age, idle, threads))
        for kind, msgs in self.problems.items():
            print("VIOLATION %s: %d, e.g. %s" % (kind, len(msgs), "; ".join(msgs[:3])))
        print("violations = %d" % sum(len(m) for m in self.problems.values()))
        print("command: " + cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD_DIR") or
                    os.path.join(cl.ROOT, "build"), help="meson build folder (default build/)")
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    ap.add_argument("--workdir", default=None,
                    help="an empty folder for the vault, socket and log (default: a temporary "
                         "folder, removed when every check passed)")
    ap.add_argument("--min-deadline-ms", type=int, default=0,
                    help="raise every verdict deadline to at least this (default 0: deadlines "
                         "from 2 ms to 10 s)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    own = args.workdir is None
    if own:
        args.workdir = tempfile.mkdtemp(prefix="evident-kill-loop-")
    else:
        os.makedirs(args.workdir, exist_ok=True)
        if os.listdir(args.workdir):
            sys.exit("kill_loop: %s is not empty" % args.workdir)
    cmd = "/usr/bin/python3 tests/crash/kill_loop.py --build %s --kills %d --seed %d%s" % (
        shlex.quote(os.path.relpath(args.build, cl.ROOT)), args.kills, args.seed,
        " --min-deadline-ms %d" % args.min_deadline_ms if args.min_deadline_ms else "")
    print("kill_loop: seed %d, work folder %s" % (args.seed, args.workdir), flush=True)
    loop = Loop(args)
    try:
        elapsed = loop.run()
    except (Violation, KeyboardInterrupt) as e:
        if loop.d.running():
            loop.d.proc.kill()
            loop.d.proc.wait()
        print("STOPPED: %s" % (e if isinstance(e, Violation) else "interrupted"))
        for kind, msgs in loop.problems.items():
            print("VIOLATION %s: %d, e.g. %s" % (kind, len(msgs), "; ".join(msgs[:3])))
        print("(vault, log and config kept in %s)" % args.workdir)
        print("command: " + cmd)
        return 1
    loop.summary(elapsed, cmd)
    if loop.problems:
        print("(vault, log and config kept in %s)" % args.workdir)
        return 1
    if own:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
