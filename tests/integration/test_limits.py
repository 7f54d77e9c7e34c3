# SPDX-License-Identifier: Apache-2.0
"""Connection limits and timeouts of evidentd (issue 11, item 6): idle and silent sockets,
connections per uid, partial frames inside max_queue, registrations that never upload.
The real daemon on a temporary socket and vault, driven by the raw protocol client of
test_daemon.py.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_limits.py [-v]
"""
import os
import resource
import selectors
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (MEM_SCALE, TIMEOUT, Conn, DaemonTest, manifest,  # noqa: E402
                         pb, record, register, _VarintBytes)

LINEAR = (b'{"intercept": 0.5, "coef": [1, 2, 3], "link": "logit", '
          b'"feature_names": ["f0", "f1", "f2"]}')


def raise_nofile(want):
    """Raises this process's descriptor limit (the daemon inherits it) to want if the hard
    limit allows; returns the soft limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def expect_error_then_eof(test, c, code, text, timeout):
    """The daemon sends Error{code} naming text, then closes; returns the seconds it took."""
    t0 = time.monotonic()
    c.s.settimeout(timeout)
    f = c.recv()
    test.assertTrue(f.HasField("error"), f)
    test.assertEqual(f.error.code, code, f)
    test.assertIn(text, f.error.message)
    test.assertTrue(c.closed_by_peer())
    return time.monotonic() - t0


def closed_without_data(s):
    """True when the daemon closed s (EOF or reset) after sending at most an Error."""
    s.settimeout(TIMEOUT)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return True


class IdleSockets:
    """A thread keeping n sockets connected that never say anything (not even Hello),
    opening a new one whenever the daemon closes one."""

    def __init__(self, path, n):
        self.path, self.n = path, n
        self.sel = selectors.DefaultSelector()  # epoll: more than FD_SETSIZE sockets
        self.opened = self.closed_by_daemon = 0
        self.stop = threading.Event()
        for _ in range(n):
            self._open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.opened += 1

    def _run(self):
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    if s.recv(4096):
                        continue  # an Error frame: EOF follows
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                self.sel.unregister(s)
                s.close()
                self.closed_by_daemon += 1
                if not self.stop.is_set():
                    try:
                        self._open()
                    except OSError:
                        pass

    def close(self):
        self.stop.set()
        self.thread.join(timeout=TIMEOUT)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


class Limits(DaemonTest):
    def served(self, name, deadline):
        """Connects, says Hello, registers and records, retrying refusals until deadline;
        returns the seconds from the first attempt to the Ack."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < deadline:
            try:
                c = Conn(self.d.sock, name=name)
                f = register(c, manifest(artifact=LINEAR), LINEAR)
                self.assertTrue(f.HasField("ack"), f)
                c.send(record(1, rid=name + "-1"))
                f = c.recv()
                self.assertTrue(f.HasField("ack"), f)
                c.close()
                return time.monotonic() - t0
            except (AssertionError, OSError, EOFError) as e:
                last = e
                time.sleep(0.2)
        self.fail("not served within %g s: %s" % (deadline, last))

    def test_real_client_is_served_among_1100_idle_sockets_with_the_defaults(self):
        raise_nofile(4096)
        self.start()
        idle = IdleSockets(self.d.sock, 1100)
        try:
            time.sleep(0.5)
            took = self.served("real", 30)
            print("real client served in %.3f s among 1,100 idle sockets (%d opened, %d "
                  "closed by the daemon)" % (took, idle.opened, idle.closed_by_daemon),
                  file=sys.stderr)
            self.assertLess(took, 30)
        finally:
            idle.close()
        self.d.stop()

    def test_silent_socket_is_closed_after_the_hello_timeout(self):
        self.start(config="[daemon]\nhello_timeout = 1\n")
        c = self.d.conn(hello=False)
        took = expect_error_then_eof(self, c, pb.Error.BAD_MESSAGE, "no Hello within 1 s",
                                     TIMEOUT)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5)
        # a Hello in time is served, and the connection outlives the hello timeout
        c = self.d.conn()
        time.sleep(2)
        c.send(record(1))
        self.assertEqual(c.recv().error.code, pb.Error.UNKNOWN_MODEL)
        # a frame larger than any Hello is refused before Hello, before it is buffered
        c = self.d.conn(hello=False)
        c.send_raw(_VarintBytes(1 << 20) + b"\x0a" * 100)
        expect_error_then_eof(self, c, pb.Error.TOO_LARGE, "before Hello", TIMEOUT)
        self.d.stop()

    def test_idle_connection_is_closed_busy_ones_are_not(self):
        self.start(config="[daemon]\nidle_timeout = 2\n")
        busy = self.registered("busy")
        quiet = self.d.conn("quiet")
        t0 = time.monotonic()
        for i in range(8):  # a record every 0.5 s for 4 s
            busy.send(record(i))
            self.assertTrue(busy.recv().HasField("ack"))
            time.sleep(0.5)
        took = expect_error_then_eof(self, quiet, pb.Error.OVERLOADED,
                                     "no frame for 2 s", TIMEOUT)
        self.assertGreaterEqual(time.monotonic() - t0 - 0.1, 2)
        self.assertLess(took, 5)
        busy.send(record(99))
        self.assertTrue(busy.recv().HasField("ack"))
        self.d.stop()
        self.assertIn("idle", self.d.read_log())

    def test_at_the_uid_cap_the_oldest_connection_without_hello_goes_first(self):
        self.start(config="[daemon]\nmax_connections_per_uid = 4\nhello_timeout = 60\n")
        silent = [self.d.conn(hello=False) for _ in range(4)]
        time.sleep(0.2)
        c1 = self.d.conn("c1")  # evicts silent[0], the oldest without Hello
        expect_error_then_eof(self, silent[0], pb.Error.OVERLOADED, "max_connections_per_uid",
                              TIMEOUT)
        others = [self.d.conn("c%d" % i) for i in (2, 3, 4)]  # evict silent[1..3] in order
        for s in silent[1:]:
            expect_error_then_eof(self, s, pb.Error.OVERLOADED, "without a Hello", TIMEOUT)
        # four connections that said Hello: the fifth is refused, the four keep working
        c5 = self.d.conn(hello=False)
        expect_error_then_eof(self, c5, pb.Error.OVERLOADED, "max_connections_per_uid 4",
                              TIMEOUT)
        for c in [c1] + others:
            c.send(record(1))
            self.assertEqual(c.recv().error.code, pb.Error.UNKNOWN_MODEL)
        self.d.stop()

    def test_at_max_connections_the_oldest_connection_without_hello_goes_first(self):
        self.start(config="[daemon]\nmax_connections = 3\nhello_timeout = 60\n")
        silent = [self.d.conn(hello=False) for _ in range(2)]
        hello = self.d.conn("first")
        time.sleep(0.2)
        c = self.d.conn("second")
        expect_error_then_eof(self, silent[0], pb.Error.OVERLOADED, "max_connections 3",
                              TIMEOUT)
        c2 = self.d.conn("third")
        expect_error_then_eof(self, silent[1], pb.Error.OVERLOADED, "max_connections 3",
                              TIMEOUT)
        late = self.d.conn(hello=False)
        expect_error_then_eof(self, late, pb.Error.OVERLOADED, "too many connections",
                              TIMEOUT)
        for x in (hello, c, c2):
            x.send(record(1))
            self.assertEqual(x.recv().error.code, pb.Error.UNKNOWN_MODEL)
        self.d.stop()

    def test_partial_frames_stay_within_max_queue(self):
        raise_nofile(4096)
        n, body = 1000, 1 << 20
        self.start(config="[daemon]\nmax_queue = 64M\nframe_timeout = 10\n"
                          "max_connections = 2000\nmax_connections_per_uid = 2000\n")
        good = self.registered("good")
        base = self.d.rss_kib()
        conns = [Conn(self.d.sock, name="partial%d" % i) for i in range(n)]
        t_flood = time.monotonic()
        header = _VarintBytes(body)
        sent = [0] * n
        for c in conns:
            c.s.setblocking(False)
        chunk = header + b"\x00" * (64 * 1024 - len(header))
        stalled_since = None
        while stalled_since is None or time.monotonic() - stalled_since < 1.0:
            progress = False
            for i, c in enumerate(conns):
                want = body + len(header) - 1 - sent[i]  # never the last byte
                if want <= 0:
                    continue
                part = chunk if sent[i] == 0 else b"\x00" * min(want, 64 * 1024)
                try:
                    k = c.s.send(part[:want])
                    sent[i] += k
                    progress = progress or k > 0
                except BlockingIOError:
                    pass
            if progress:
                stalled_since = None
            elif stalled_since is None:
                stalled_since = time.monotonic()
            else:
                time.sleep(0.01)
        rss = self.d.rss_kib()
        print("%d partial frames of 1 MiB (%.0f MiB sent, not all read): daemon RssAnon "
              "%d KiB (%d KiB before)" % (n, sum(sent) / 2**20, rss, base), file=sys.stderr)
        self.assertLess(rss - base, (64 + 32) * 1024 * MEM_SCALE,
                        "partial frames pinned %d KiB past max_queue 64M" % (rss - base))
        # the partial frames count toward max_queue: records are refused meanwhile
        if time.monotonic() - t_flood < 8:
            good.send(record(1, rid="during"))
            self.assertEqual(good.recv().error.code, pb.Error.OVERLOADED)
        # a frame that does not complete within frame_timeout closes its connection
        for c in conns[:3]:
            c.s.setblocking(True)
            expect_error_then_eof(self, c, pb.Error.BAD_FRAME, "incomplete frame", TIMEOUT)
        for c in conns:
            c.close()
        # their bytes leave max_queue with them (malloc may keep the pages: no RSS check)
        deadline = time.monotonic() + TIMEOUT
        while True:
            good.send(record(2, rid="after"))
            f = good.recv()
            if f.HasField("ack") or time.monotonic() > deadline:
                break
            self.assertEqual(f.error.code, pb.Error.OVERLOADED, f)
            time.sleep(0.1)
        self.assertTrue(f.HasField("ack"), f)
        self.d.stop()

    def test_a_registration_without_chunks_is_dropped_and_its_id_freed(self):
        self.start(config="[daemon]\nregistration_timeout = 2\n")
        a = self.d.conn("stalls")
        m = manifest(model_id="stall", artifact=LINEAR)
        a.send(pb.Frame(register_model=pb.RegisterModel(manifest=m)))
        self.assertTrue(a.recv().HasField("artifact_request"))
        b = self.d.conn("waits")
        b.send(pb.Frame(register_model=pb.RegisterModel(manifest=m)))
        f = b.recv()
        self.assertEqual(f.error.code, pb.Error.OVERLOADED, f)  # busy: being registered
        t0 = time.monotonic()
        f = a.recv()
        self.assertEqual(f.error.code, pb.Error.OVERLOADED, f)
        self.assertEqual(f.error.request_id, "stall@1")
        self.assertIn("registration_timeout", f.error.message)
        self.assertLess(time.monotonic() - t0, 5)
        # the same ID@VERSION registers again, on either connection
        f = register(b, m, LINEAR)
        self.assertTrue(f.HasField("ack"), f)
        self.assertFalse(f.ack.duplicate)
        f = register(a, m, LINEAR)
        self.assertTrue(f.HasField("ack") and f.ack.duplicate, f)
        self.d.stop()


if __name__ == "__main__":
    unittest.main()
