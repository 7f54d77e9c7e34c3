#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The disk-full loop: evidentd's vault on a small tmpfs (32 MB), 4 raw-protocol clients
pushing ~1.3 KB records (trigger rules, audit workers and verdicts on) until the disk is
full, round after round: another program (a filler file) takes the free space while the
clients write, the loop waits for VAULT_FULL, stops the daemon with SIGTERM while the disk
is full (every other round), restarts it on the full disk, then frees part of the space; one
round in three runs with `disk_reserve = 0`, so LMDB meets real short writes instead of the
daemon's own reserve check. Clients keep every record answered VAULT_FULL and send it again.
At the end (space returned, everything resent, SIGTERM) it checks (tests/crash/README.md):

  - no answer other than Ack or VAULT_FULL, ever (a full disk is never INTERNAL);
  - every SIGTERM, full or not, exits 0; with the default reserve every start on the full
    disk succeeds;
  - every acknowledged record is stored exactly once at its acknowledged seq;
  - the vault verifies and, after the clean stop, has no unsigned tail;
  - every stored record that fires a rule has exactly one incident; every OPEN incident is
    audited or recorded as skipped exactly once; no record has two PROCEED/REVIEW verdicts.

    /usr/bin/python3 tests/crash/disk_full_loop.py [--build DIR] [--rounds N] [--seed S]
                                                   [--workdir DIR]

Needs root to mount the tmpfs (otherwise it prints "skipped: ..." and exits 0). Not part of
`meson test`; about 2 minutes (24 rounds). Exit 1 when any check failed (each kind named, with
examples), else 0.
"""
import argparse
import collections
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib as cl  # noqa: E402
from crashlib import Violation  # noqa: E402

N_CLIENTS = 4
WINDOW = 16
SIZE_MB = 32
MEMO = {"memo%d" % k: "x" * 250 for k in range(4)}  # ~1 KB more per record, same every send
# Verdict deadlines of 1 s or more: this loop is about full disks; the kill loop covers short
# deadlines (before a070573 one expiring between a record's commit and its incident's met the
# use-after-free of tests/crash/README.md, and the daemon aborted).
MIN_DEADLINE_MS = 1000
BASE = "[daemon]\nworkers = 2\njob_queue = 1024\n"


class Client(threading.Thread):
    """Sends records for as long as the loop runs, across restarts; a record answered
    VAULT_FULL (or not answered before the daemon went away) is kept and sent again."""

    def __init__(self, name, loop):
        super().__init__(daemon=True)
        self.name = name
        self.loop = loop
        self.next_i = 0
        self.pending = collections.OrderedDict()  # request id -> i, not acknowledged
        self.acked = {}
        self.full = 0  # VAULT_FULL answers
        self.drain = False  # stop making new records; finish the pending ones
        self.stop = False
        self.verdicts = 0

    def run(self):
        while not self.stop:
            try:
                conn = cl.Conn(self.loop.d.sock, self.name, timeout=10)
            except (OSError, EOFError, Violation):
                time.sleep(0.05)
                continue
            try:
                self.session(conn)
            except (OSError, EOFError):
                pass  # a restart: what was not acknowledged is still pending
            finally:
                conn.close()
            time.sleep(0.02)

    def session(self, conn):
        outstanding = {}
        retry = collections.deque(self.pending)
        backoff = 0.0
        while not self.stop:
            frames = []
            while len(outstanding) < WINDOW:
                if retry:
                    rid = retry.popleft()
                    if rid in outstanding or rid not in self.pending:
                        continue
                    i = self.pending[rid]
                elif self.drain:
                    break
                else:
                    i = self.next_i
                    self.next_i += 1
                    rid = cl.request_id(self.name, i)
                    self.pending[rid] = i
                frames.append(cl.record_frame(self.name, i, MIN_DEADLINE_MS, MEMO))
                outstanding[rid] = True
            if not outstanding and not frames:
                if not self.pending:
                    time.sleep(0.05)  # drained: nothing to do
                    continue
                retry.extend(self.pending)
                continue
            if frames:
                conn.send_many(frames)
            f = conn.recv()
            kind = f.WhichOneof("body")
            if kind == "ack":
                rid = f.ack.request_id
                outstanding.pop(rid, None)
                if rid in self.acked:
                    if self.acked[rid] != f.ack.seq:
                        self.loop.problem("retry", "%s acknowledged at seq %d, then %d" % (
                            rid, self.acked[rid], f.ack.seq))
                    continue
                self.pending.pop(rid, None)
                self.acked[rid] = f.ack.seq
                with self.loop.lock:
                    self.loop.acks += 1
                backoff = 0.0
            elif kind == "error":
                rid = f.error.request_id
                outstanding.pop(rid, None)
                if f.error.code == cl.pb.Error.VAULT_FULL:
                    self.full += 1
                    with self.loop.lock:
                        self.loop.full_round += 1
                    retry.append(rid)
                    backoff = min(0.2, backoff + 0.02)
                    time.sleep(backoff)
                else:
                    self.loop.problem("not VAULT_FULL", "%s for %r: %s" % (
                        cl.pb.Error.Code.Name(f.error.code), rid, f.error.message))
                    retry.append(rid)  # (our clients would drop it; we keep checking)
            elif kind == "verdict":
                self.verdicts += 1
            else:
                self.loop.problem("protocol", "unexpected frame %s" % kind)


class Loop:
    def __init__(self, args, mnt):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = args.workdir
        self.mnt = mnt
        self.size_mb = SIZE_MB
        self.filler = os.path.join(mnt, "filler")
        cl.load_protos(self.work)
        self.d = cl.Daemon(args.build, self.work, os.path.join(mnt, "vault"), BASE + cl.TRIGGERS)
        self.problems = collections.OrderedDict()
        self.notes = collections.Counter()
        self.lock = threading.Lock()
        self.acks = 0
        self.full_round = 0
        self.clients = [Client("c%d" % k, self) for k in range(N_CLIENTS)]
        self.stats = collections.Counter()

    def problem(self, kind, msg):
        with self.lock:
            seen = self.problems.setdefault(kind, [])
            if msg not in seen:
                seen.append(msg)

    def free_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def grab(self, leave):
        """Another program takes the free space but `leave` bytes (the filler grows)."""
        chunk = b"\0" * (64 << 10)
        with open(self.filler, "ab") as f:
            while self.free_bytes() > leave + len(chunk):
                try:
                    f.write(chunk)
                    f.flush()
                except OSError:
                    break

    def release(self, nbytes):
        """Frees nbytes: from the filler, and what it lacks by growing the tmpfs."""
        size = os.path.getsize(self.filler) if os.path.exists(self.filler) else 0
        with open(self.filler, "ab") as f:
            f.truncate(max(0, size - nbytes))
        if size < nbytes:
            self.grow((nbytes - size + (1 << 20) - 1) >> 20)

    def grow(self, mb):
        self.size_mb += mb
        subprocess.run(["mount", "-o", "remount,size=%dm" % self.size_mb, self.mnt], check=True)

    def set_reserve(self, reserve):
        self.d.write_config(BASE + ("disk_reserve = 0\n" if reserve == 0 else "") + cl.TRIGGERS)

    def wait(self, cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.02)
        return False

    def term(self, what):
        rc = self.d.term()
        self.stats["sigterm"] += 1
        if rc != 0:
            self.problem("SIGTERM exit status", "%s: evidentd exited %d: %s" % (
                what, rc, self.d.log_tail(3).strip()))

    def start(self, what):
        """Starts the daemon. With less than the default reserve (1 MiB) free (disk_reserve = 0,
        or another program took the reserve too) a start may be refused, since it cannot write
        its START entry: noted, some space freed, tried again. With the reserve free it must
        start."""
        for attempt in range(20):
            free = self.free_bytes()
            try:
                self.d.start()
                return
            except Violation as e:
                if free >= 1 << 20:
                    self.problem("start on a full disk", "%s (%d bytes free): %s" % (
                        what, free, str(e)[-300:]))
                else:
                    self.notes["start refused with %s free: %s" % (
                        "under 1 MiB", self.d.log_tail(1).strip()[:120])] += 1
                self.release(256 << 10)
        raise Violation("evidentd does not start even after space was freed")

    def run(self):
        t0 = time.monotonic()
        self.d.start()
        c = cl.Conn(self.d.sock, "setup")
        f = cl.register(c)
        c.close()
        if not f.HasField("ack"):
            raise Violation("registration: %s" % f)
        for cli in self.clients:
            cli.start()
        reserve = None
        for r in range(1, self.args.rounds + 1):
            want = 0 if r % 3 == 0 else 1
            if want != reserve:
                # the reserve is read at start
                if reserve is not None:
                    self.term("round %d: SIGTERM to change disk_reserve" % r)
                    self.set_reserve(want)
                    self.start("round %d: start with the new disk_reserve" % r)
                reserve = want
            self.full_round = 0
            acks0 = self.acks
            # another program takes the room while the clients write
            # (0: it takes the daemon's reserve too; 1.5-3 MB: the daemon fills the rest)
            self.grab(self.rng.choice([0, 3 << 19, 2 << 20, 3 << 20]))
            if not self.wait(lambda: self.full_round >= 40, 60):
                self.problem("never full", "round %d: %d VAULT_FULL in 60 s (%d bytes free)" % (
                    r, self.full_round, self.free_bytes()))
            self.stats["vault_full_rounds"] += 1
            self.stats["round_acks_before_full"] += self.acks - acks0
            if r % 2 == 0:
                self.term("round %d: SIGTERM while full (disk_reserve %s)" % (
                    r, "0" if reserve == 0 else "1M"))
                self.stats["sigterm_full"] += 1
                self.start("round %d: start on the full disk" % r)
            # space returns: part of the filler, or more room on the filesystem
            if os.path.getsize(self.filler) < (2 << 20):
                self.grow(8)
            else:
                self.release(self.rng.randint(1, 6) << 20)
            acks1 = self.acks
            self.wait(lambda: self.acks - acks1 >= 500, 20)
            print("round %d (disk_reserve %s): %d VAULT_FULL, %d acks in all, vault %.1f MB, "
                  "tmpfs %d MB" % (r, "0" if reserve == 0 else "1M", self.full_round,
                                    self.acks, self.vault_mb(), self.size_mb), flush=True)
        # the end: room again, every client sends what it holds, then a clean stop
        if os.path.exists(self.filler):
            os.unlink(self.filler)
        self.grow(32)
        for cli in self.clients:
            cli.drain = True
        if not self.wait(lambda: all(not c.pending for c in self.clients), 120):
            self.problem("last run", "%d record(s) never acknowledged with room again" %
                         sum(len(c.pending) for c in self.clients))
        for cli in self.clients:
            cli.stop = True
        self.term("the final SIGTERM")
        for cli in self.clients:
            cli.join(timeout=30)
        self.check()
        return time.monotonic() - t0

    def vault_mb(self):
        try:
            return os.path.getsize(os.path.join(self.mnt, "vault", "data.mdb")) / 2 ** 20
        except OSError:
            return 0.0

    def check(self):
        rep = self.d.verify()
        self.stats["entries"] = rep["entries"]
        if rep["unsigned_entries"]:
            self.problem("unsigned after a clean stop", "%d entries after the last signed "
                         "checkpoint" % rep["unsigned_entries"])
        stored = collections.defaultdict(list)
        for line in self.d.ctl("export", "--format", "jsonl").stdout.splitlines():
            o = json.loads(line)
            stored[(o["client"], o["request_id"])].append(o["seq"])
        for key, seqs in stored.items():
            if len(seqs) > 1:
                self.problem("stored twice", "%s/%s at seqs %s" % (key[0], key[1], seqs))
        for c in self.clients:
            for rid, seq in c.acked.items():
                if stored.get((c.name, rid)) != [seq]:
                    self.problem("acknowledged record lost", "%s/%s (seq %d): %s" % (
                        c.name, rid, seq, stored.get((c.name, rid), "missing")))
        v = cl.Vault(self.d, self.problem)
        v.refresh()
        v.refresh_incidents()
        for seq, trig in v.missing_incidents():
            self.problem("incident missing", "record %d (%s) fired rule %s and has no "
                         "incident" % (seq, v.rid_of[seq], trig))
        v.refresh_payloads()
        named = collections.defaultdict(list)
        decided = collections.defaultdict(list)
        for s, m in sorted(v.payload.items()):
            if m is None:
                continue
            t = v.type_of[s]
            if t in ("audit", "notice") and m.HasField("incident_seq"):
                named[m.incident_seq].append(s)
            elif t == "verdict" and m.verdict.action != cl.pb.Verdict.PENDING:
                decided[m.verdict.request_id].append(s)
        for iid, seqs in named.items():
            if len(seqs) > 1:
                self.problem("audit twice", "incident %d: entries %s" % (iid, seqs))
        for rid, seqs in decided.items():
            if len(seqs) > 1:
                self.problem("verdict twice", "%s: PROCEED/REVIEW entries %s" % (rid, seqs))
        unaudited = sorted(i for i, (_, _, st) in v.incidents.items()
                           if st == "open" and i not in named)
        for i in unaudited:
            self.problem("audit missing", "OPEN incident %d never audited nor skipped" % i)
        self.stats["records"] = len(v.rec_seqs)
        self.stats["incidents"] = len(v.incidents)
        self.stats["audits"] = sum(1 for t in v.type_of.values() if t == "audit")
        self.stats["unaudited"] = len(unaudited)
        self.stats["verdict_entries"] = sum(1 for t in v.type_of.values() if t == "verdict")
        with open(self.d.log, errors="replace") as f:
            for line in f:
                if line.startswith(("<0>", "<1>", "<2>", "<3>")) or not line.startswith("<"):
                    # the same message with other numbers counts once
                    key = "".join("#" if ch.isdigit() else ch for ch in line.strip())[:160]
                    self.notes["log: " + key] += 1
                if "Input/output error" in line:
                    self.problem("I/O error", line.strip()[:200])

    def summary(self, elapsed, cmd):
        s = self.stats
        full = sum(c.full for c in self.clients)
        print("rounds = %d, acks = %d, VAULT_FULL answers = %d, other errors = %d, SIGTERM = %d "
              "(%d while full, all exit 0: %s), lost = %d, records = %d, incidents = %d, "
              "audits = %d, OPEN never audited = %d, verdict entries = %d, entries = %d, "
              "tmpfs grown to %d MB, elapsed = %.0f s" % (
                  self.args.rounds, self.acks, full,
                  len(self.problems.get("not VAULT_FULL", [])), s["sigterm"], s["sigterm_full"],
                  "no" if "SIGTERM exit status" in self.problems else "yes",
                  len(self.problems.get("acknowledged record lost", [])), s["records"],
                  s["incidents"], s["audits"], s["unaudited"], s["verdict_entries"],
                  s["entries"], self.size_mb, elapsed))
        for note, n in sorted(self.notes.items()):
            print("  %dx %s" % (n, note))
        for kind, msgs in self.problems.items():
            print("VIOLATION %s: %d, e.g. %s" % (kind, len(msgs), "; ".join(msgs[:3])))
        print("violations = %d" % sum(len(m) for m in self.problems.values()))
        print("command: " + cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD_DIR") or
                    os.path.join(cl.ROOT, "build"), help="meson build folder (default build/)")
    ap.add_argument("--rounds", type=int, default=24)
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    ap.add_argument("--workdir", default=None, help="an empty folder (default: a temporary "
                                                    "one, removed when every check passed)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: needs root to mount a tmpfs")
        return 0
    args.build = os.path.abspath(args.build)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    own = args.workdir is None
    if own:
        args.workdir = tempfile.mkdtemp(prefix="evident-disk-full-")
    else:
        os.makedirs(args.workdir, exist_ok=True)
        if os.listdir(args.workdir):
            sys.exit("disk_full_loop: %s is not empty" % args.workdir)
    mnt = os.path.join(args.workdir, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % SIZE_MB, "tmpfs",
                        mnt], capture_output=True, text=True)
    if r.returncode:
        print("skipped: cannot mount a tmpfs here: " + r.stderr.strip())
        if own:
            shutil.rmtree(args.workdir, ignore_errors=True)
        return 0
    cmd = "/usr/bin/python3 tests/crash/disk_full_loop.py --build %s --rounds %d --seed %d" % (
        shlex.quote(os.path.relpath(args.build, cl.ROOT)), args.rounds, args.seed)
    print("disk_full_loop: seed %d, work folder %s, vault on a %d MB tmpfs" % (
        args.seed, args.workdir, SIZE_MB), flush=True)
    loop = Loop(args, mnt)
    code = 1
    try:
        elapsed = loop.run()
        loop.summary(elapsed, cmd)
        code = 1 if loop.problems else 0
    except (Violation, KeyboardInterrupt) as e:
        print("STOPPED: %s" % (e if isinstance(e, Violation) else "interrupted"))
        for kind, msgs in loop.problems.items():
            print("VIOLATION %s: %d, e.g. %s" % (kind, len(msgs), "; ".join(msgs[:3])))
        print("command: " + cmd)
    finally:
        for c in loop.clients:
            c.stop = True
        if loop.d.running():
            loop.d.proc.kill()
            loop.d.proc.wait()
        if code == 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        else:
            print("(vault, log and config kept in %s, the vault on a tmpfs: umount %s when "
                  "done)" % (args.workdir, mnt))
    if code == 0 and own:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
