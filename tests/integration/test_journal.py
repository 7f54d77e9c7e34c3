#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""evidentd's log under systemd: journald's native protocol with structured fields.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_journal.py [-v]

When systemd runs evidentd, its stderr is the journal and JOURNAL_STREAM names it; the daemon
then sends each line as a native journal message with PRIORITY, SYSLOG_IDENTIFIER, MESSAGE
and, for an event about an entry, EVIDENT_SEQ, EVIDENT_INCIDENT and EVIDENT_MODEL.

- With a real journald: as root, the test starts systemd-journald for a journal namespace of
  its own (systemd-journald NAMESPACE, which needs no systemd as PID 1), points the daemon at
  that namespace's socket (EVIDENT_JOURNAL_SOCKET) and finds the incident's lines with
  `journalctl --namespace=NAMESPACE EVIDENT_INCIDENT=SEQ`. `journalctl -u evidentd` itself
  needs the daemon to run as a unit of a systemd that is PID 1 (journald takes the unit from
  the sender's cgroup); the test prints why it is not run when it is not.
- Always: a fake journal socket receives the datagrams and the test checks every field; a
  stderr that is not JOURNAL_STREAM's keeps the "<N>" lines; a missing socket falls back to
  stderr and loses no line."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (ART, EVIDENTD, TIMEOUT, DaemonTest, manifest, record,  # noqa: E402
                         register, wait_for)

JOURNALD = "/lib/systemd/systemd-journald"
CONFIG = ("[daemon]\nworkers = 1\n[trigger big]\nwhen = feature.f0 >= 90\nburst = 100\n"
          "methods = linear\n")


class Journald:
    """Datagrams sent to a socket, as {field: value} dicts (native protocol)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            fields = {}
            for line in data.decode().split("\n"):
                if line:
                    k, v = line.split("=", 1)
                    assert k not in fields, "field sent twice: " + k
                    fields[k] = v
            with self.lock:
                self.messages.append(fields)

    def find(self, **want):
        with self.lock:
            return [m for m in self.messages if all(m.get(k) == v for k, v in want.items())]

    def close(self):
        self.sock.close()


def journal_env(stderr_path, socket_path):
    st = os.stat(stderr_path)
    env = dict(os.environ)
    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    env["EVIDENT_JOURNAL_SOCKET"] = socket_path
    return env


class JournalTest(DaemonTest):
    def run_daemon(self, env, records=100):
        """evidentd with stderr in a file and env; records 0..records-1 (f0 = i % 100: the
        trigger fires on 90..99). Returns the stderr text."""
        log = os.path.join(self.tmp, "stderr.log")
        conf = os.path.join(self.tmp, "evidentd.conf")
        with open(conf, "w") as f:
            f.write(CONFIG)
        sock = os.path.join(self.tmp, "ingest.sock")
        with open(log, "w") as logf:
            env = env(log) if callable(env) else env
            proc = subprocess.Popen([EVIDENTD, "--vault", os.path.join(self.tmp, "vault"),
                                     "--socket", sock, "--config", conf],
                                    stdout=logf, stderr=logf, env=env)
            try:
                wait_for(lambda: os.path.exists(sock) or proc.poll() is not None,
                         what="daemon socket")
                from test_daemon import Conn
                c = Conn(sock, "journal")
                f = register(c, manifest(artifact=ART), ART)
                self.assertTrue(f.HasField("ack"), f)
                for i in range(records):
                    c.send(record(i))
                for i in range(records):
                    self.assertTrue(c.recv().HasField("ack"))
                c.close()
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=TIMEOUT), 0)
        with open(log) as f:
            return f.read()

    def check_incident_lines(self, find):
        """The 10 incidents (records 90..99 fire), each with its fields."""
        lines = find()
        self.assertEqual(len(lines), 10, lines)
        for m in lines:
            self.assertEqual(m["PRIORITY"], "5")
            self.assertEqual(m["SYSLOG_IDENTIFIER"], "evidentd")
            self.assertEqual(m["EVIDENT_MODEL"], "credit@1")
            self.assertIn("incident %s: trigger big fired on record %s of credit@1 (open)"
                          % (m["EVIDENT_INCIDENT"], m["EVIDENT_SEQ"]), m["MESSAGE"])
            self.assertGreater(int(m["EVIDENT_INCIDENT"]), int(m["EVIDENT_SEQ"]))
        return lines

    def test_fake_journal_gets_structured_fields(self):
        j = Journald(os.path.join(self.tmp, "journal.sock"))
        try:
            stderr = self.run_daemon(lambda log: journal_env(log, j.path))
            wait_for(lambda: j.find(MESSAGE="stopped: 100 records, 0 duplicates, 0 refused, "
                                            "1 connections"), what="the last line")
        finally:
            j.close()
        self.assertEqual(stderr, "")  # every line went to the journal
        incidents = self.check_incident_lines(lambda: [
            m for m in j.messages if m["MESSAGE"].startswith("incident ") and "fired" in
            m["MESSAGE"]])
        # the audit's end, about the same incident
        first = incidents[0]["EVIDENT_INCIDENT"]
        audited = j.find(EVIDENT_INCIDENT=first)
        self.assertTrue(any(": audit " in m["MESSAGE"] for m in audited), audited)
        # lines about no entry carry no entry field
        start = [m for m in j.messages if "listening on" in m["MESSAGE"]]
        self.assertEqual(len(start), 1)
        self.assertEqual(start[0]["PRIORITY"], "5")
        self.assertNotIn("EVIDENT_SEQ", start[0])

    def test_stderr_when_not_the_journal(self):
        j = Journald(os.path.join(self.tmp, "journal.sock"))
        try:
            env = dict(os.environ, JOURNAL_STREAM="1:1", EVIDENT_JOURNAL_SOCKET=j.path)
            stderr = self.run_daemon(env, records=95)
        finally:
            j.close()
        self.assertEqual(j.messages, [])
        self.assertIn("<5>incident ", stderr)
        self.assertIn("<5>stopped: 95 records", stderr)

    def test_missing_socket_falls_back_to_stderr(self):
        stderr = self.run_daemon(lambda log: journal_env(log, os.path.join(self.tmp, "none")),
                                 records=95)
        self.assertEqual(stderr.count("trigger big fired"), 5)
        self.assertIn("<5>stopped: 95 records", stderr)

    def test_real_journald_namespace(self):
        if os.geteuid() != 0:
            self.skipTest("not root: systemd-journald cannot be started for a namespace of "
                          "the test's own; the fake-journal test covers the protocol")
        if not os.access(JOURNALD, os.X_OK) or not shutil.which("journalctl"):
            self.skipTest("systemd-journald or journalctl is not installed (apt: systemd)")
        ns = "evidenttest%d" % os.getpid()
        run = "/run/systemd/journal.%s" % ns
        with open("/etc/machine-id") as f:
            mid = f.read().strip()
        stores = ["/var/log/journal/%s.%s" % (mid, ns), "/run/log/journal/%s.%s" % (mid, ns)]
        jd = subprocess.Popen([JOURNALD, ns], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.exists(run + "/socket") or jd.poll() is not None,
                     what="systemd-journald's socket")
            if jd.poll() is not None:
                self.skipTest("systemd-journald %s exited at once (%d): no journal here"
                              % (ns, jd.returncode))
            self.run_daemon(lambda log: journal_env(log, run + "/socket"))

            def query(*args):
                r = subprocess.run(["journalctl", "--namespace=" + ns, "-o", "json",
                                    "--no-pager"] + list(args), capture_output=True,
                                   text=True, timeout=60)
                return [json.loads(x) for x in r.stdout.splitlines()]
            wait_for(lambda: query("SYSLOG_IDENTIFIER=evidentd", "--grep", "stopped:"),
                     what="journald to store the last line")
            self.check_incident_lines(lambda: query("SYSLOG_IDENTIFIER=evidentd",
                                                    "EVIDENT_MODEL=credit@1", "PRIORITY=5"))
            one = query("SYSLOG_IDENTIFIER=evidentd", "PRIORITY=5", "--grep", "fired")[0]
            found = query("EVIDENT_INCIDENT=" + one["EVIDENT_INCIDENT"])
            self.assertTrue(any("fired" in m["MESSAGE"] for m in found), found)
            self.assertTrue(any(": audit " in m["MESSAGE"] for m in found), found)
            with open("/proc/1/comm") as f:
                pid1 = f.read().strip()
            print("journalctl --namespace=%s EVIDENT_INCIDENT=%s: %d lines; `journalctl -u "
                  "evidentd` not tested: %s" % (
                      ns, one["EVIDENT_INCIDENT"], len(found),
                      "PID 1 is %s, not systemd, so the daemon runs in no unit" % pid1
                      if pid1 != "systemd" else "the test does not install a unit"))
        finally:
            jd.terminate()
            jd.wait(timeout=TIMEOUT)
            for d in stores + [run]:
                shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
