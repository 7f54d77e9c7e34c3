#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Minimal reproductions of the defects the crash loops found (tests/crash/README.md,
"Defects found"), each a few seconds against a fresh daemon:

  uaf          a verdict deadline that passes between a record's commit and its incident's
  audits       an audit re-queued after a kill and interrupted by a second kill
  map-order    a retry whose map entries (labels) arrive in another order
  full-entries incidents and audits the daemon writes while the disk is full (needs root)
  full-start   a start on a full disk after a stop that could not write its STOP (needs root)

    /usr/bin/python3 tests/crash/repro.py [--build DIR] [NAME...]

Prints PRESENT or absent for each; exit 1 when any defect is present.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib as cl  # noqa: E402
from crashlib import Violation  # noqa: E402

TRIGGER_ALL = "[trigger all]\nwhen = true\nmethods = %s\nrate_limit = 1000/s\nburst = 1000\n"


def audited(d):
    """Incident seqs named by audit or notice entries."""
    raw = cl.dump_payloads(d.vault, {e["seq"] for e in d.ctl_json_lines("log")
                                     if e["type"] in ("audit", "notice")})
    out = set()
    for s, p in raw.items():
        for m in (cl.epb.AuditEntry(), cl.epb.NoticeEntry()):
            try:
                m.ParseFromString(p)
            except Exception:
                continue
            if m.HasField("incident_seq"):
                out.add(m.incident_seq)
                break
    return out


def uaf(build, tmp):
    """session.c incident_done() hands workers_submit() a verdict wait that its deadline
    timer already answered and freed (use after free: abort, or a verdict naming another
    record's incident)."""
    # each commit waits 20 ms for company: a record is durable ~20 ms after it is read and
    # its incident ~20 ms later; a 30 ms deadline fires (2 ms early) in between
    d = cl.Daemon(build, tmp, os.path.join(tmp, "vault"),
                  "[daemon]\ncommit_window_us = 20000\n" + TRIGGER_ALL % "linear")
    d.start()
    c = cl.Conn(d.sock, "t")
    cl.register(c)
    wrong = 0
    try:
        for i in range(20):
            f = cl.record_frame("t", i)
            f.record.verdict_deadline_ms = 30
            c.send(f)
            for _ in range(2):
                g = c.recv()
                if g.HasField("verdict") and g.verdict.incident_id and \
                        g.verdict.incident_id < g.verdict.seq:
                    wrong += 1  # an incident written before its own record
    except (OSError, EOFError):
        pass
    time.sleep(0.3)
    died = not d.running()
    status = d.proc.wait() if died else d.term()
    if died or wrong:
        return "PRESENT: evidentd %s; %d verdict(s) naming another record's incident" % (
            "died (status %d)" % status if died else "survived", wrong)
    return "absent"


def audits(build, tmp):
    """workers_recovery_range() looks only after the last START: audits the previous start
    re-queued and a second kill interrupted are never queued again."""
    d = cl.Daemon(build, tmp, os.path.join(tmp, "vault"),
                  "[daemon]\nworkers = 1\n" + TRIGGER_ALL % "linear, counterfactual, adversarial")
    d.start()
    c = cl.Conn(d.sock, "t")
    cl.register(c)
    for i in range(6):
        c.send(cl.record_frame("t", i))
    for i in range(6):
        while not c.recv().HasField("ack"):
            pass
    time.sleep(0.2)  # the incidents are written; one audit runs, the others wait
    d.kill()
    d.start()  # ... they are queued again (marked recovered)
    time.sleep(0.05)
    d.kill()  # while the re-queued audits run
    d.start()
    d.term()
    inc = {r["id"] for r in d.ctl_json_lines("incidents") if r["status"] == "open"}
    missing = sorted(inc - audited(d))
    if missing:
        return "PRESENT: OPEN incidents %s never audited after a clean stop" % missing
    return "absent"


def map_order(build, tmp):
    """retry.c sent_part() compares a retry with the stored record packed again, but map
    entries stay in wire order: the same labels in another order are CONFLICT."""
    d = cl.Daemon(build, tmp, os.path.join(tmp, "vault"), "[daemon]\n")
    d.start()
    c = cl.Conn(d.sock, "t")
    cl.register(c)
    base = cl.record_frame("t", 1).record
    base.labels.clear()
    head = base.SerializeToString()
    a = cl.pb.Record(labels={"a": "1"}).SerializeToString()
    b = cl.pb.Record(labels={"b": "2"}).SerializeToString()
    num = cl.pb.Frame.DESCRIPTOR.fields_by_name["record"].number

    def frame(body):
        f = bytes([num << 3 | 2]) + cl.varint(len(body)) + body
        return cl.varint(len(f)) + f

    c.s.sendall(frame(head + a + b))
    first = c.recv()
    c.s.sendall(frame(head + b + a))  # the same record: its two labels in the other order
    again = c.recv()
    d.term()
    if again.HasField("error"):
        return "PRESENT: the retry got %s: %s (first: seq %d)" % (
            cl.pb.Error.Code.Name(again.error.code), again.error.message, first.ack.seq)
    return "absent"


def mount_small(tmp, mb):
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % mb, "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode:
        return None
    return mnt


def fill(d, first):
    """Records (~1.3 KB) until 20 are refused VAULT_FULL; returns the acknowledged ones."""
    c = cl.Conn(d.sock, "t")
    memo = {"memo%d" % k: "x" * 250 for k in range(4)}
    acked, full, i = [], 0, first
    while full < 20:
        c.send(cl.record_frame("t", i, 0, memo))
        while True:
            f = c.recv()
            if not f.HasField("verdict"):
                break
        if f.HasField("ack"):
            acked.append(i)
        else:
            full += 1
        i += 1
    c.close()
    return acked


def full_entries(build, tmp):
    """Incident, audit and verdict entries the daemon writes itself are dropped when the disk
    is full ("recording ... failed: No space left on device"); after a stop that wrote its
    STOP entry nothing recovers them."""
    if os.geteuid() != 0:
        return "skipped: needs root to mount a tmpfs"
    mnt = mount_small(tmp, 16)
    if not mnt:
        return "skipped: cannot mount a tmpfs"
    try:
        d = cl.Daemon(build, tmp, os.path.join(mnt, "vault"),
                      "[daemon]\n" + TRIGGER_ALL % "linear, flip")
        d.start()
        c = cl.Conn(d.sock, "setup")
        cl.register(c)
        c.close()
        fill(d, 0)
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)  # room again
        time.sleep(0.5)
        d.term()  # with room: the STOP entry is written
        rec = [e["seq"] for e in d.ctl_json_lines("log", "--type", "record")]
        inc = d.ctl_json_lines("incidents")
        missing_inc = len(rec) - len(inc)
        opened = {r["id"] for r in inc if r["status"] == "open"}
        missing_aud = len(opened - audited(d))
        if missing_inc or missing_aud:
            return ("PRESENT: %d record(s) fired, %d incident(s) stored; %d OPEN incident(s) "
                    "never audited" % (len(rec), len(inc), missing_aud))
        return "absent"
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def full_start(build, tmp):
    """A stop on a full disk writes no STOP entry; the next start recovers the incidents the
    full disk lost, cannot write them either, and exits 1 ("recovering incidents after a
    crash: No space left on device") although the default reserve is free."""
    if os.geteuid() != 0:
        return "skipped: needs root to mount a tmpfs"
    mnt = mount_small(tmp, 16)
    if not mnt:
        return "skipped: cannot mount a tmpfs"
    try:
        d = cl.Daemon(build, tmp, os.path.join(mnt, "vault"),
                      "[daemon]\ndisk_reserve = 0\n" + TRIGGER_ALL % "linear")
        d.start()
        c = cl.Conn(d.sock, "setup")
        cl.register(c)
        c.close()
        fill(d, 0)
        rc = d.term()  # full: no room for the STOP entry
        # the default reserve back, and 1.5 MiB free: START fits
        d.write_config("[daemon]\n" + TRIGGER_ALL % "linear")
        st = os.statvfs(mnt)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        subprocess.run(["mount", "-o", "remount,size=%dk" % ((used + (3 << 19)) // 1024),
                        mnt], check=True)
        try:
            d.start()
            d.term()
            return "absent (stop exit %d)" % rc
        except Violation:
            return "PRESENT: with %d bytes free the start fails: %s" % (
                os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize, d.log_tail(1).strip())
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


CASES = {"uaf": uaf, "audits": audits, "map-order": map_order, "full-entries": full_entries,
         "full-start": full_start}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD_DIR") or
                    os.path.join(cl.ROOT, "build"))
    ap.add_argument("names", nargs="*", help="default: all of %s" % ", ".join(CASES))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    present = 0
    top = tempfile.mkdtemp(prefix="evident-repro-")
    cl.load_protos(top)
    for name in args.names or list(CASES):
        tmp = os.path.join(top, name)
        os.mkdir(tmp)
        try:
            res = CASES[name](build, tmp)
        except (Violation, OSError, EOFError) as e:
            res = "ERROR: %s" % e
        present += res.startswith("PRESENT")
        print("%-13s %s" % (name, res), flush=True)
    shutil.rmtree(top, ignore_errors=True)
    return 1 if present else 0


if __name__ == "__main__":
    sys.exit(main())
