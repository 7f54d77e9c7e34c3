# SPDX-License-Identifier: Apache-2.0
"""Integration tests of the fleet's auditor: a real `nats-server -js` on a free local port and
a temporary store, the real evident-auditor, real vaults (evident-sample) published as
evidentd's forwarder publishes them (tests/common/fleet-pub: FleetEntry and FleetCheckpoint
with their Nats-Msg-Id), and evidentctl reading the mirrors and `fleet status`.

  - three origins mirrored exactly once, leaf by leaf and root by root, through a kill -9 of
    the NATS server in the middle of the stream and a kill -9 of the auditor, with replays;
    `evidentctl verify` passes on every mirror; each mirror's checkpoint carries the auditor's
    cosignature, and the same line was published back on the cosig subject;
  - a host restarting from an empty vault under the same origin and key is a fork: kept as
    evidence, not merged, and its mirror stops; an origin not in the trust file, or removed
    from it (SIGHUP), is refused; garbage, truncated and replayed messages are recorded and
    skipped; `fleet status` exits 1 naming the alerts; `--clear` moves the forked mirror aside;
  - entries arriving out of order are held and land once the missing ones come; missing ones
    that stay missing are a gap alert, which closes when they arrive.
  - --metrics: a scrape `promtool check metrics` accepts, whose counts are what was published
    (entries mirrored, malformed and untrusted messages); its port in use fails the start.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_fleet.py [-v]

Standard library only. No fixed sleeps: every wait polls a condition with a deadline.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsfixture import NATS_SERVER, NatsServer  # noqa: E402
from test_daemon import (ART, EVIDENTD, Daemon, manifest, record, register,  # noqa: E402
                         wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
AUDITOR = os.path.join(BUILD, "tools", "auditor", "evident-auditor")
FLEET_PUB = os.path.join(BUILD, "tests", "common", "fleet-pub")
SAMPLE = os.path.join(BUILD, "tools", "evident-sample")
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
TIMEOUT = 30.0
NAME = "auditor.test/a1"
EMDASH = "\u2014"


def run(*args, check=True, stdin=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, timeout=120, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, args)), p.returncode,
                                                    p.stderr.decode(errors="replace")))
    return p


def token(origin):
    """The subject token of an origin (fleet/FLEET.md): bytes outside [A-Za-z0-9_-] as =XX."""
    ok = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(chr(b) if b in ok else "=%02X" % b for b in origin.encode())


class Auditor:
    def __init__(self, tmp, nats, trust, extra=()):
        self.tmp, self.nats, self.trust, self.extra = tmp, nats, trust, list(extra)
        self.mirror = os.path.join(tmp, "mirror")
        self.state = os.path.join(tmp, "state")
        self.logpath = os.path.join(tmp, "auditor.log")
        self.proc = None
        self.starts = 0
        self.start()

    def start(self):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [AUDITOR, "--nats", self.nats.url, "--mirror", self.mirror, "--trust", self.trust,
             "--state", self.state, "--name", NAME, "--batch", "256",
             # what a killed auditor or server had in flight comes back after AckWait
             "--ack-wait", "3s"] + self.extra,
            stdout=self.log, stderr=self.log)
        # bound to its consumer, or waiting for the stream the first publisher creates
        wait_for(lambda: self.text().count("consuming") + self.text().count("retrying") >
                 self.starts or self.proc.poll() is not None, what="the auditor's consumer")
        self.starts += 1
        assert self.proc.poll() is None, self.text()

    def __del__(self):  # a test that failed before its tearDown knew the auditor
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=TIMEOUT)
            assert rc == 0, "auditor exit %d: %s" % (rc, self.text())
        self.log.close()

    def status(self):
        p = run(EVIDENTCTL, "fleet", "status", "--mirror", self.mirror, "--json", check=False)
        assert p.returncode in (0, 1), p.stderr
        return {r["origin"]: r for r in map(json.loads, p.stdout.decode().splitlines())}

    def mirror_of(self, origin):
        return os.path.join(self.mirror, token(origin))


def make_vault(tmp, name, origin, records, seed=1, key_from=None, extra=()):
    path = os.path.join(tmp, name)
    if key_from:  # the same origin and signing key, an empty vault: a rewritten history
        os.makedirs(path)
        shutil.copy(os.path.join(key_from, "signing.key"), os.path.join(path, "signing.key"))
    run(SAMPLE, "--vault", path, "--records", records, "--origin", origin, "--seed", seed,
        *extra)
    return path


def vkey(vault):
    return run(EVIDENTCTL, "--vault", vault, "checkpoint", "--key").stdout.decode().strip()


def leaves(vault):
    p = run(EVIDENTCTL, "--vault", vault, "log", "--json")
    return [json.loads(line)["leaf_hash"] for line in p.stdout.decode().splitlines()]


def size_of(vault):
    return len(leaves(vault))


def root_of(vault):
    return json.loads(run(EVIDENTCTL, "--vault", vault, "--json", "status").stdout)["root"]


class FleetTest(unittest.TestCase):
    def setUp(self):
        for prog in (AUDITOR, FLEET_PUB, SAMPLE, EVIDENTCTL):
            if not os.access(prog, os.X_OK):
                self.skipTest("%s is not built" % prog)
        if not os.access(NATS_SERVER, os.X_OK):
            self.skipTest("nats-server is not installed (tools/install-deps.sh test)")
        self.tmp = tempfile.mkdtemp(prefix="fleet-")
        self.nats = NatsServer(self.tmp).start()
        self.auditor = None

    def tearDown(self):
        if self.auditor:
            self.auditor.stop()
        self.nats.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def trust(self, *vaults):
        path = os.path.join(self.tmp, "trust")
        with open(path, "w") as f:
            f.write("# the fleet\n" + "".join(vkey(v) + "\n" for v in vaults))
        return path

    def pub(self, *args, stdin=None, check=True):
        return run(FLEET_PUB, "--nats", self.nats.url, *args, stdin=stdin, check=check)

    def wait_mirrored(self, origin, size):
        def done():
            r = self.auditor.status().get(origin)
            return r and r["entries"] == size and r["checkpoint_size"] == size and \
                r["cosigned_size"] == size
        try:
            wait_for(done, what="%s mirrored up to %d" % (origin, size))
        except AssertionError:
            raise AssertionError("%s not mirrored up to %d: %s\n%s" % (
                origin, size, self.auditor.status().get(origin), self.auditor.text()[-3000:]))

    def test_three_origins_exactly_once_through_kills(self):
        origins = ["host%d.fleet.test/%d" % (i, i) for i in range(3)]
        # host 2 has an open incident (on record 100, with its audit)
        vaults = [make_vault(self.tmp, "v%d" % i, o, 400, seed=i + 1,
                             extra=("--incident", 100) if i == 2 else ())
                  for i, o in enumerate(origins)]
        self.auditor = Auditor(self.tmp, self.nats, self.trust(*vaults))
        self.pub("vault", vaults[0])
        self.pub("vault", vaults[1], 0, 200)
        # NATS dies in the middle of the stream and comes back on the same store
        self.nats.kill()
        self.nats.start()
        # JetStream acknowledges before its fsync: what a SIGKILL takes from it is sent again
        # (the forwarders resend from their vaults; here, everything published so far).
        # JetStream's duplicate window or the auditor drops the repeats.
        self.pub("vault", vaults[0])
        self.pub("vault", vaults[1])
        # the auditor dies between fetches and resumes from its durable consumer
        self.auditor.kill9()
        self.pub("vault", vaults[2], 0, 300)
        self.auditor.start()
        self.pub("vault", vaults[2], 250)
        # replays outside JetStream's duplicate window: counted, not mirrored twice
        tok = token(origins[0])
        self.pub("replay", "evident.%s.entry" % tok)
        self.pub("replay", "evident.%s.checkpoint" % tok)
        for o, v in zip(origins, vaults):
            self.wait_mirrored(o, size_of(v))
        status = self.auditor.status()
        wait_for(lambda: self.auditor.status()[origins[0]]["duplicates"] >= 2,
                 what="the replays counted as duplicates")
        for o, v in zip(origins, vaults):
            m = self.auditor.mirror_of(o)
            self.assertEqual(leaves(m), leaves(v), o)  # every entry once, same leaf hashes
            self.assertEqual(root_of(m), root_of(v), o)
            run(EVIDENTCTL, "--vault", m, "verify")
            self.assertEqual(status[o]["alerts"], [], o)
            self.assertTrue(status[o]["trusted"])
            # the auditor's cosignature is in the mirror and was published back
            note = run(EVIDENTCTL, "--vault", m, "checkpoint").stdout.decode()
            lines = [ln for ln in note.splitlines() if ln.startswith(EMDASH + " " + NAME + " ")]
            self.assertEqual(len(lines), 1, note)
            cosig = self.pub("get", "evident.%s.cosig.%s" % (token(o), token(NAME))).stdout
            self.assertIn(lines[0].encode(), cosig)
        # nothing open: fleet status exits 0
        self.assertEqual(run(EVIDENTCTL, "fleet", "status", "--mirror", self.auditor.mirror,
                             check=False).returncode, 0)
        # the open incidents across the fleet: host 2's, with its origin
        p = run(EVIDENTCTL, "fleet", "incidents", "--mirror", self.auditor.mirror, "--json")
        inc = [json.loads(line) for line in p.stdout.decode().splitlines()]
        self.assertEqual([(i["origin"], i["record_seq"], i["status"]) for i in inc],
                         [(origins[2], 100, "open")])
        p = run(EVIDENTCTL, "fleet", "incidents", "--mirror", self.auditor.mirror)
        self.assertIn(origins[2].encode(), p.stdout)
        self.assertIn(b"1 open incident(s) in 3 mirror(s)", p.stdout)
        # a second auditor (its own name, key, state and mirrors) gets every message too
        other = os.path.join(self.tmp, "second")
        os.makedirs(other)
        second = Auditor(other, self.nats, os.path.join(self.tmp, "trust"),
                         ["--name", "auditor.test/a2"])
        try:
            for o, v in zip(origins, vaults):
                wait_for(lambda: (second.status().get(o) or {}).get("cosigned_size") ==
                         size_of(v), what="the second auditor's mirror of " + o)
                self.assertEqual(leaves(second.mirror_of(o)), leaves(v))
        finally:
            second.stop()

    def test_fork_untrusted_and_garbage_are_alerts(self):
        a = make_vault(self.tmp, "a", "a.fleet.test/x", 100)
        c = make_vault(self.tmp, "c", "c.fleet.test/z", 50)
        untrusted = make_vault(self.tmp, "b", "b.fleet.test/y", 20)
        self.auditor = Auditor(self.tmp, self.nats, self.trust(a, c))
        self.pub("vault", a)
        self.pub("vault", c)
        self.wait_mirrored("a.fleet.test/x", size_of(a))
        self.wait_mirrored("c.fleet.test/z", size_of(c))
        before = leaves(self.auditor.mirror_of("a.fleet.test/x"))
        tok = token("a.fleet.test/x")
        # a replay (skipped), a truncated message, garbage, a subject of no origin
        self.pub("replay", "evident.%s.entry" % tok)
        self.pub("replay", "evident.%s.entry" % tok, 20)
        self.pub("raw", "evident.%s.entry" % tok, stdin=b"\xff\xfe not protobuf")
        self.pub("raw", "evident.%s.checkpoint" % tok, stdin=b"")
        self.pub("raw", "evident.bad=zz.entry", stdin=b"x")
        self.pub("raw", "evident.nothing", stdin=b"x")
        # a host restarted from an empty vault under the same origin and key
        rewritten = make_vault(self.tmp, "a2", "a.fleet.test/x", 30, seed=9, key_from=a)
        self.pub("vault", rewritten)
        # an origin nobody trusts
        self.pub("vault", untrusted)

        def alerts():
            return {o: r["alerts"] for o, r in self.auditor.status().items()}
        wait_for(lambda: any(s.startswith("fork") for s in alerts().get("a.fleet.test/x", []))
                 and alerts().get("b.fleet.test/y") and alerts().get(None),
                 what="the fork, unknown-origin and no-origin alerts")
        st = self.auditor.status()
        ra = st["a.fleet.test/x"]
        self.assertTrue(ra["stopped"])
        text = " | ".join(ra["alerts"])
        self.assertIn("fork: 1", text)
        self.assertIn("entry 0 contradicts the mirror", text)  # found by its first entry
        wait_for(lambda: "malformed: 3" in " | ".join(alerts()["a.fleet.test/x"]),
                 what="three malformed messages of a.fleet.test/x")
        self.assertGreaterEqual(ra["duplicates"], 1)
        self.assertEqual(leaves(self.auditor.mirror_of("a.fleet.test/x")), before)  # not merged
        run(EVIDENTCTL, "--vault", self.auditor.mirror_of("a.fleet.test/x"), "verify")
        self.assertFalse(st["b.fleet.test/y"]["trusted"])
        self.assertIsNone(st["b.fleet.test/y"]["path"])
        self.assertFalse(os.path.exists(self.auditor.mirror_of("b.fleet.test/y")))
        self.assertTrue(any("unknown-origin" in s for s in st["b.fleet.test/y"]["alerts"]))
        self.assertTrue(any("names no origin" in s for s in st[None]["alerts"]))
        # c removed from the trust file and SIGHUP: its new entries are refused
        self.trust(a)
        self.auditor.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in self.auditor.text(), what="the trust file reloaded")
        c_before = size_of(self.auditor.mirror_of("c.fleet.test/z"))
        run(SAMPLE, "--vault", c, "--records", 10, "--origin", "c.fleet.test/z")
        self.pub("vault", c, c_before)
        wait_for(lambda: any("unknown-origin" in s for s in alerts()["c.fleet.test/z"]),
                 what="c.fleet.test/z refused")
        self.assertEqual(size_of(self.auditor.mirror_of("c.fleet.test/z")), c_before)
        # fleet status exits 1 and names the alerts; the evidence is in the state
        p = run(EVIDENTCTL, "fleet", "status", "--mirror", self.auditor.mirror, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"fork", p.stdout)
        self.assertIn(b"malformed", p.stdout)
        p = run(AUDITOR, "--state", self.auditor.state, "--alerts")
        kinds = [json.loads(line) for line in p.stdout.decode().splitlines()]
        forks = [k for k in kinds if k["kind"] == "fork"]
        self.assertEqual(len(forks), 1)
        self.assertTrue(forks[0]["evidence_base64"])  # the contradicting entry's bytes
        # the operator clears the fork: the mirror is moved aside, the alerts closed
        self.auditor.stop()
        self.assertEqual(run(AUDITOR, "--state", self.auditor.state, "--mirror",
                             self.auditor.mirror, "--clear", "a.fleet.test/x",
                             check=False).returncode, 0)
        self.assertFalse(os.path.exists(self.auditor.mirror_of("a.fleet.test/x")))
        self.assertTrue([d for d in os.listdir(self.auditor.mirror)
                         if d.startswith(tok + ".fork-")])
        self.auditor.start()
        try:
            wait_for(lambda: not self.auditor.status().get("a.fleet.test/x", {"alerts": [1]})
                     ["alerts"], timeout=10, what="a.fleet.test/x without alerts after --clear")
        except AssertionError:
            raise AssertionError("%s\n%s" % (self.auditor.status(), self.auditor.text()))

    def test_a_fork_in_the_same_fetch_keeps_what_came_first(self):
        # the origin's log and a rewritten history are both in the stream before the
        # auditor reads: the log (first in the stream) is mirrored whole, its checkpoint
        # cosigned, and the rewrite is the fork
        v = make_vault(self.tmp, "f", "f.fleet.test/w", 200)
        rewritten = make_vault(self.tmp, "f2", "f.fleet.test/w", 20, seed=4, key_from=v)
        self.pub("vault", v)
        self.pub("vault", rewritten)
        self.auditor = Auditor(self.tmp, self.nats, self.trust(v))
        wait_for(lambda: self.auditor.status()["f.fleet.test/w"]["stopped"], what="the fork")
        self.wait_mirrored("f.fleet.test/w", size_of(v))
        self.assertEqual(leaves(self.auditor.mirror_of("f.fleet.test/w")), leaves(v))
        self.assertTrue(any(a.startswith("fork") for a in
                            self.auditor.status()["f.fleet.test/w"]["alerts"]))

    def test_out_of_order_entries_are_held_and_gaps_reported(self):
        v = make_vault(self.tmp, "g", "g.fleet.test/q", 300)
        n = size_of(v)
        self.auditor = Auditor(self.tmp, self.nats, self.trust(v), ["--gap-after", "1s"])
        self.pub("vault", v, 0, 100)
        self.pub("vault", v, 150)  # 100..149 missing: held, then a gap
        wait_for(lambda: any(s.startswith("gap") for s in
                             self.auditor.status()["g.fleet.test/q"]["alerts"]),
                 what="the gap alert")
        self.assertEqual(self.auditor.status()["g.fleet.test/q"]["entries"], 100)
        self.pub("vault", v, 100, 150)
        self.wait_mirrored("g.fleet.test/q", n)
        wait_for(lambda: self.auditor.status()["g.fleet.test/q"]["alerts"] == [],
                 what="the gap closed")
        self.assertEqual(leaves(self.auditor.mirror_of("g.fleet.test/q")), leaves(v))
        run(EVIDENTCTL, "--vault", self.auditor.mirror_of("g.fleet.test/q"), "verify")

    def test_metrics(self):
        """--metrics: one scrape that promtool accepts, whose values are what was published;
        the metrics port in use fails the start with a clear error."""
        from test_metrics import PROMTOOL, free_port, parse, scrape
        v = make_vault(self.tmp, "m", "m.fleet.test/m", 120)
        untrusted = make_vault(self.tmp, "u", "u.fleet.test/u", 5)
        n = size_of(v)
        mport = free_port()
        url = "http://127.0.0.1:%d/metrics" % mport
        self.auditor = Auditor(self.tmp, self.nats, self.trust(v),
                               ["--metrics", "127.0.0.1:%d" % mport])
        self.pub("vault", v)
        self.pub("raw", "evident.%s.entry" % token("m.fleet.test/m"), stdin=b"garbage")
        self.pub("raw", "evident.nothing", stdin=b"x")
        self.pub("vault", untrusted)
        self.wait_mirrored("m.fleet.test/m", n)

        def series():
            return parse(scrape(url)[2])
        origin = 'evident_auditor_entries_mirrored_total{origin="m.fleet.test/m"}'
        # the counters follow the status file (written within a second of a change)
        wait_for(lambda: series().get(origin) == n and
                 series().get('evident_auditor_alerts_open{kind="unknown-origin"}', 0) > 0,
                 what="the metrics of what was published")
        text = scrape(url)[2]
        s = parse(text)
        self.assertEqual(s[origin], n)
        self.assertEqual(s['evident_auditor_messages_total{outcome="mirrored"}'], n)
        self.assertEqual(s["evident_auditor_mirror_lag_seconds_count"], n)
        self.assertGreaterEqual(s['evident_auditor_messages_received_total{kind="entry"}'],
                                n + 1 + size_of(untrusted))
        self.assertGreaterEqual(s['evident_auditor_messages_received_total{kind="other"}'], 1)
        self.assertGreaterEqual(s['evident_auditor_messages_total{outcome="refused"}'],
                                size_of(untrusted))
        self.assertEqual(s['evident_auditor_alerts_open{kind="malformed"}'], 2)
        self.assertEqual(s['evident_auditor_alerts_open{kind="fork"}'], 0)
        self.assertEqual(s['evident_auditor_messages_held{kind="entry"}'], 0)
        self.assertGreaterEqual(s["evident_auditor_checkpoints_verified_total"], 1)
        self.assertEqual(s["evident_auditor_checkpoints_cosigned_total"],
                         s["evident_auditor_checkpoints_verified_total"])
        self.assertGreaterEqual(s["evident_auditor_fetch_messages_sum"], n)
        self.assertGreaterEqual(s["evident_auditor_mirror_commit_seconds_count"], 1)
        self.assertIn("evident_auditor_build_info{version=", text)
        self.assertIn("process_resident_memory_bytes", text)
        if PROMTOOL:
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        # the metrics port in use (this auditor's): a clear error, exit 1, before anything
        other = os.path.join(self.tmp, "second")
        os.makedirs(other)
        p = run(AUDITOR, "--nats", self.nats.url, "--mirror", os.path.join(other, "mirror"),
                "--trust", os.path.join(self.tmp, "trust"), "--state",
                os.path.join(other, "state"), "--name", "auditor.test/a2", "--metrics",
                "127.0.0.1:%d" % mport, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"--metrics 127.0.0.1:%d: " % mport, p.stderr)
        self.assertIn(b"the port is in use", p.stderr)


class Host:
    """An evidentd with [forward] to the test's NATS server, its records acknowledged so far,
    and a [witness] section for the auditor's cosignatures coming back through JetStream."""

    def __init__(self, tmp, i, nats_url, auditor_vkey):
        self.i = i
        self.origin = "host%d.fleet.test/evidentd" % i
        self.dir = os.path.join(tmp, "host%d" % i)
        os.makedirs(self.dir)
        self.config = ("[daemon]\norigin = %s\n\n[forward]\nnats_url = %s\n\n"
                       "[witness %s]\nnats = yes\nvkey = %s\n" % (self.origin, nats_url, NAME,
                                                               auditor_vkey))
        self.d = Daemon(self.dir, config=self.config)
        self.acked = set()
        self.n = 0

    def start(self):
        self.d.start()
        c = self.d.conn("load")
        f = register(c, manifest(n=3, artifact=ART), ART)
        assert f.HasField("ack"), f
        return c

    def load(self, c, count, batch=100):
        """Sends count records in pipelined batches; keeps the request ids acknowledged."""
        for start in range(0, count, batch):
            rids = ["h%d-r%d" % (self.i, self.n + k) for k in range(min(batch, count - start))]
            for k, rid in enumerate(rids):
                c.send(record(self.n + k, rid=rid))
            for rid in rids:
                f = c.recv()
                assert f.HasField("ack"), f
                self.acked.add(rid)
            self.n += len(rids)


class FleetOfEvidentd(unittest.TestCase):
    """Three evidentd hosts forwarding under load, a NATS server and a host killed -9."""

    def setUp(self):
        for prog in (AUDITOR, EVIDENTD, EVIDENTCTL):
            if not os.access(prog, os.X_OK):
                self.skipTest("%s is not built" % prog)
        if not os.access(NATS_SERVER, os.X_OK):
            self.skipTest("nats-server is not installed (tools/install-deps.sh test)")
        self.tmp = tempfile.mkdtemp(prefix="fleet-hosts-")
        self.nats = NatsServer(self.tmp).start()
        self.auditor = None
        self.hosts = []

    def tearDown(self):
        for h in self.hosts:
            if h.d.proc and h.d.proc.poll() is None:
                h.d.proc.kill()
                h.d.proc.wait()
        if self.auditor:
            self.auditor.stop()
        self.nats.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def load_all(self, conns, count):
        threads = [threading.Thread(target=h.load, args=(c, count))
                   for h, c in zip(self.hosts, conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def test_acknowledged_records_reach_the_mirrors_exactly_once(self):
        state = os.path.join(self.tmp, "state")
        vk = run(AUDITOR, "--state", state, "--name", NAME, "--vkey").stdout.decode().strip()
        self.hosts = [Host(self.tmp, i, self.nats.url, vk) for i in range(3)]
        conns = [h.start() for h in self.hosts]
        trust = os.path.join(self.tmp, "trust")
        with open(trust, "w") as f:
            f.write("".join(vkey(h.d.vault) + "\n" for h in self.hosts))
        self.auditor = Auditor(self.tmp, self.nats, trust)
        self.load_all(conns, 1500)
        # the NATS server dies while the hosts forward; ingest goes on meanwhile
        self.nats.kill()
        self.load_all(conns, 500)
        self.nats.start()
        # a host dies mid-stream and comes back on its vault
        victim = self.hosts[1]
        victim.d.kill()
        conns[1] = victim.start()
        self.load_all(conns, 1000)
        # idle hosts: the auditor's cosignature of each one's latest checkpoint comes back
        # through JetStream and is stored beside it ([witness NAME] nats = yes)
        for h in self.hosts:
            wait_for(lambda: json.loads(run(EVIDENTCTL, "--vault", h.d.vault, "--json",
                                            "status").stdout)["checkpoint_cosignatures"] >= 1,
                     what="the auditor's cosignature stored by %s" % h.origin)
        for h in self.hosts:
            h.d.stop()  # a clean stop waits for JetStream's acks up to the final checkpoint
        for h in self.hosts:
            n = size_of(h.d.vault)
            self.wait_mirrored(h.origin, n)
            m = self.auditor.mirror_of(h.origin)
            self.assertEqual(leaves(m), leaves(h.d.vault), h.origin)
            self.assertEqual(root_of(m), root_of(h.d.vault), h.origin)
            rep = json.loads(run(EVIDENTCTL, "--vault", m, "verify", "--json").stdout)
            self.assertTrue(rep["ok"], rep)
            # the model's artifact came in chunks and was assembled under its hash
            self.assertGreaterEqual(rep["blobs"], 1, h.origin)
            seen = {}
            out = run(EVIDENTCTL, "--vault", m, "export", "--format", "jsonl").stdout.decode()
            for line in out.splitlines():
                o = json.loads(line)
                seen.setdefault(o["request_id"], []).append(o["seq"])
            for rid in h.acked:
                self.assertEqual(len(seen.get(rid, [])), 1, "%s: %s" % (h.origin, rid))
        st = self.auditor.status()
        for h in self.hosts:
            self.assertEqual(st[h.origin]["alerts"], [], h.origin)
        # a host that restarts from an empty vault under the same origin and key: a fork,
        # kept as evidence and not merged
        fork = self.hosts[2]
        before = leaves(self.auditor.mirror_of(fork.origin))
        key = os.path.join(self.tmp, "fork.key")
        shutil.copy(os.path.join(fork.d.vault, "signing.key"), key)
        shutil.rmtree(fork.d.vault)
        os.makedirs(fork.d.vault)
        shutil.copy(key, os.path.join(fork.d.vault, "signing.key"))
        c = fork.start()
        fork.load(c, 200)
        fork.d.stop()
        wait_for(lambda: any(a.startswith("fork") for a in
                             self.auditor.status()[fork.origin]["alerts"]),
                 what="the fork of %s" % fork.origin)
        self.assertTrue(self.auditor.status()[fork.origin]["stopped"])
        self.assertEqual(leaves(self.auditor.mirror_of(fork.origin)), before)
        p = run(EVIDENTCTL, "fleet", "status", "--mirror", self.auditor.mirror, check=False)
        self.assertEqual(p.returncode, 1)

    wait_mirrored = FleetTest.wait_mirrored


if __name__ == "__main__":
    unittest.main()
