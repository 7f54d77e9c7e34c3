#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""evidentd's [metrics] endpoint with the real Prometheus server from Debian.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_metrics.py [-v]

The daemon serves GET /metrics on a temporary port; Prometheus (Debian's `prometheus`, on a
temporary port and storage folder) scrapes it every second, and the test asks Prometheus's HTTP
API for the series. `promtool check metrics` (Debian's strict parser and linter) checks the
text. Bad input: a port in use, bad addresses, scrapes during a shutdown, thousands of scrapes
while records stream in."""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import TIMEOUT, Daemon, DaemonTest, record, wait_for  # noqa: E402

WITNESS = os.path.join(os.path.dirname(os.path.dirname(__import__("test_daemon").EVIDENTD)),
                       "tools", "witness", "evident-witness")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def scrape(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read().decode()


def parse(text):
    """The exposition text as {series line name with labels: float}, checking the format's
    rules this test relies on (every sample after its # TYPE, histograms cumulative with
    +Inf == _count)."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        key, value = line.rsplit(" ", 1)
        base = key.split("{")[0]
        fam = base
        for suffix in ("_bucket", "_sum", "_count"):
            if base.endswith(suffix) and base[:-len(suffix)] in types:
                fam = base[:-len(suffix)]
        assert fam in types, "sample before its TYPE: " + line
        samples[key] = float(value)
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        buckets = [(k, v) for k, v in samples.items() if k.startswith(fam + "_bucket")]
        values = [v for _, v in buckets]
        assert values == sorted(values), fam + ": buckets not cumulative"
        inf = [v for k, v in buckets if 'le="+Inf"' in k]
        assert inf and inf[-1] == samples[fam + "_count"], fam + ": +Inf != _count"
    return samples


def metrics_config(listen):
    return "[daemon]\ncommit_window_us = 0\n[metrics]\nlisten = %s\n" % listen


class Prometheus:
    def __init__(self, tmp, target):
        self.port = free_port()
        self.dir = os.path.join(tmp, "prometheus")
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: evidentd\n"
                    "    static_configs:\n      - targets: ['%s']\n" % target)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=self.log)

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.load(r)
        except (OSError, urllib.error.URLError):
            return None
        if doc.get("status") != "success":
            return None
        return doc["data"]["result"]

    def value(self, q):
        res = self.query(q)
        if not res:
            return None
        return float(res[0]["value"][1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Metrics(DaemonTest):
    def start_metrics(self, listen=None):
        self.port = free_port()
        listen = listen or "127.0.0.1:%d" % self.port
        self.start(config=metrics_config(listen))
        self.url = "http://127.0.0.1:%d/metrics" % self.port
        return self.d

    def send_records(self, c, n, start=0):
        for i in range(start, start + n):
            c.send(record(i))
        for i in range(n):
            f = c.recv()
            self.assertTrue(f.HasField("ack"), f)

    @unittest.skipUnless(PROMETHEUS, "prometheus is not installed (apt: prometheus)")
    def test_prometheus_scrapes_the_daemon(self):
        self.start_metrics()
        c = self.registered()
        n = 700
        self.send_records(c, n)
        c.send(record(5))  # a retry: a duplicate, not a record
        self.assertTrue(c.recv().ack.duplicate)
        c.send(record(n + 1, version="9"))  # unknown model: a refusal
        self.assertEqual(c.recv().error.code, 3)
        prom = Prometheus(self.tmp, "127.0.0.1:%d" % self.port)
        try:
            # Prometheus sees exactly what was sent (polled until a deadline, no sleeps)
            got = {}

            def scraped():
                got["records"] = prom.value("evidentd_records_total")
                return got["records"] == n
            wait_for(scraped, timeout=90,
                     what="Prometheus to scrape evidentd_records_total = %d" % n)
            self.assertEqual(prom.value("evidentd_duplicates_total"), 1)
            self.assertEqual(prom.value('evidentd_refusals_total{code="unknown_model"}'), 1)
            self.assertEqual(prom.value('up{job="evidentd"}'), 1)
            self.assertEqual(prom.value('evidentd_build_info{version!=""}'), 1)
            self.assertEqual(prom.value("evidentd_ack_latency_seconds_count"), n + 1)
            # the ack latency's quantiles from the histogram's buckets
            p50 = prom.value("histogram_quantile(0.5, evidentd_ack_latency_seconds_bucket)")
            p99 = prom.value("histogram_quantile(0.99, evidentd_ack_latency_seconds_bucket)")
            self.assertTrue(p50 is not None and math.isfinite(p50) and p50 > 0, p50)
            self.assertTrue(math.isfinite(p99) and p50 <= p99 < 6.6, p99)
            commits = prom.value("evidentd_commit_batch_entries_count")
            entries = prom.value("evidentd_commit_batch_entries_sum")
            self.assertGreater(commits, 0)
            self.assertGreaterEqual(entries, n)  # the records, the model, the registration
            self.assertGreater(prom.value("evidentd_commit_duration_seconds_count"), 0)
            self.assertEqual(prom.value("evidentd_connections"), 1)
            wait_for(lambda: (prom.value("evidentd_vault_entries") or 0) >= n,
                     timeout=60, what="evidentd_vault_entries")
            self.assertGreater(prom.value("evidentd_vault_bytes"), 0)
            self.assertGreater(prom.value("evidentd_vault_map_bytes"), 0)
            self.assertGreater(prom.value("process_start_time_seconds"), 1.6e9)
            print("Prometheus: evidentd_records_total %d, ack latency p50 %.2f ms p99 %.2f ms "
                  "(from the buckets), %d commits of %d entries"
                  % (got["records"], p50 * 1e3, p99 * 1e3, commits, entries))
        finally:
            prom.stop()
        self.d.stop()

    @unittest.skipUnless(PROMTOOL, "promtool is not installed (apt: prometheus)")
    def test_promtool_accepts_the_text(self):
        self.start_metrics()
        c = self.registered()
        self.send_records(c, 50)
        status, headers, text = scrape(self.url)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        s = parse(text)
        self.assertEqual(s["evidentd_records_total"], 50)
        self.assertEqual(s["evidentd_ack_latency_seconds_count"], 50)
        # broken text is refused by the same checker (the check can fail)
        r = subprocess.run([PROMTOOL, "check", "metrics"],
                           input=text.replace("# TYPE evidentd_records_total counter\n",
                                              "# TYPE evidentd_records_total counter\n"
                                              "evidentd_records_total{a=b} 1\n"),
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.d.stop()

    def test_paths_methods_and_host_names(self):
        self.port = free_port()
        self.start(config=metrics_config("localhost:%d" % self.port))
        base = "http://127.0.0.1:%d" % self.port
        self.assertEqual(scrape(base + "/metrics")[0], 200)
        for path, method, code in (("/", "GET", 404), ("/metrics/x", "GET", 404),
                                   ("/metrics", "POST", 405), ("/metrics", "DELETE", 405)):
            req = urllib.request.Request(base + path, method=method,
                                         data=b"x" if method == "POST" else None)
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, code, (path, method))
            if code == 405:
                self.assertEqual(e.exception.headers["Allow"], "GET, HEAD")
        self.d.stop()

    def test_ipv6(self):
        try:
            port = free_port(socket.AF_INET6, "::1")
        except OSError as e:
            self.skipTest("no IPv6 loopback here: %s" % e)
        self.start(config=metrics_config("[::1]:%d" % port))
        status, _, text = scrape("http://[::1]:%d/metrics" % port)
        self.assertEqual(status, 200)
        self.assertIn("evidentd_records_total 0\n", text)
        self.d.stop()

    def test_port_in_use_and_bad_addresses(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            d = Daemon(self.tmp, config=metrics_config("127.0.0.1:%d" % port))
            with self.assertRaises(AssertionError):
                d.start()
            self.assertEqual(d.proc.wait(timeout=TIMEOUT), 1)
            d.logf.close()
            log = d.read_log()
            self.assertIn("[metrics] listen = 127.0.0.1:%d" % port, log)
            self.assertIn("the port is in use", log)
            self.assertIn(d.config, log)
            # nothing was recorded for the failed start
            st = json.loads(d.ctl("status", "--json").stdout)
            self.assertEqual(st["entries_by_type"].get("lifecycle", 0), 0, st)
        for bad, why in (("127.0.0.1", "has no port"), ("127.0.0.1:0", "not a number in 1..65535"),
                         ("127.0.0.1:70000", "not a number in 1..65535"),
                         ("::1:9100", "IPv6 address is written [ADDR]:PORT"),
                         ("[::1:9100", "IPv6 address is written [ADDR]:PORT"),
                         ("[127.0.0.1]:9100", "is not an IPv6 address"),
                         ("host name:9100", "is not a host name or an IPv4 address"),
                         (":9100", "has no address")):
            d = Daemon(self.tmp, config=metrics_config(bad))
            with self.assertRaises(AssertionError):
                d.start()
            self.assertEqual(d.proc.wait(timeout=TIMEOUT), 1, bad)
            d.logf.close()
            log = d.read_log().splitlines()[-1]
            self.assertIn("evidentd.conf:4:", log, bad)  # file:line of the key
            self.assertIn("listen", log, bad)
            self.assertIn(why, log, bad)
            os.unlink(d.log)
        # names are resolved when the server starts: one that does not is a start error
        for bad in ("999.1.1.1:9100", "no-such-host.invalid:9100"):
            d = Daemon(self.tmp, config=metrics_config(bad))
            with self.assertRaises(AssertionError):
                d.start()
            self.assertEqual(d.proc.wait(timeout=TIMEOUT), 1, bad)
            d.logf.close()
            log = d.read_log()
            self.assertIn("%s: [metrics] listen = %s: " % (d.config, bad), log)
            self.assertIn("does not resolve", log)
            os.unlink(d.log)

    def test_scrapes_during_shutdown(self):
        self.start_metrics()
        c = self.registered()
        self.send_records(c, 200)
        stop = threading.Event()
        results = {"ok": 0, "refused": 0, "bad": []}

        def hammer():
            while not stop.is_set():
                try:
                    status, _, text = scrape(self.url, timeout=10)
                    if status != 200 or not text.endswith("\n") or \
                            "evidentd_records_total 200\n" not in text:
                        results["bad"].append((status, text[-200:]))
                    results["ok"] += 1
                except (OSError, urllib.error.URLError):
                    results["refused"] += 1
                    if self.d.proc.poll() is not None:
                        return
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: results["ok"] >= 50, what="scrapes before the stop")
        self.d.proc.send_signal(signal.SIGTERM)
        rc = self.d.proc.wait(timeout=TIMEOUT)
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT)
        self.assertEqual(rc, 0, self.d.read_log())
        self.assertEqual(results["bad"], [])
        print("during shutdown: %d complete scrapes, %d refused after the server stopped"
              % (results["ok"], results["refused"]))
        self.d.verify()

    def test_scrape_flood_never_stalls_ingest(self):
        self.start_metrics()
        c = self.registered()
        n = 20000
        stop = threading.Event()
        counts = {"ok": 0, "failed": 0, "max_len": 0}
        lock = threading.Lock()

        def hammer():
            # raw HTTP/1.0: thousands of short connections, as a broken scraper would open
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                        data = b""
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    with lock:
                        if data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\n"):
                            counts["ok"] += 1
                            counts["max_len"] = max(counts["max_len"], len(data))
                        else:
                            counts["failed"] += 1
                except OSError:
                    with lock:
                        counts["failed"] += 1
        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            t0 = time.monotonic()
            sent = 0
            while sent < n:  # pipelined in windows of 500
                k = min(500, n - sent)
                self.send_records(c, k, start=sent)
                sent += k
            ingest_s = time.monotonic() - t0
            wait_for(lambda: counts["ok"] >= 2000, timeout=120, what="2,000 scrapes")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=TIMEOUT)
        _, _, text = scrape(self.url)
        self.assertEqual(parse(text)["evidentd_records_total"], n)
        # every response bounded: the exposition's size, far below the server's 4 MiB cap
        self.assertLess(counts["max_len"], 64 * 1024)
        print("%d records acknowledged in %.2f s while %d scrapes were answered (%d refused "
              "or cut by the connection limit), largest response %d bytes"
              % (n, ingest_s, counts["ok"], counts["failed"], counts["max_len"]))
        self.d.stop()


class WitnessMetrics(DaemonTest):
    @unittest.skipUnless(os.path.exists(WITNESS), "evident-witness is not built")
    def test_witness_metrics(self):
        self.start()
        self.d.stop()
        trust = os.path.join(self.tmp, "trust")
        with open(trust, "w") as f:
            f.write(self.d.ctl("checkpoint", "--key").stdout)
        port, mport = free_port(), free_port()
        log = open(os.path.join(self.tmp, "witness.log"), "w")
        args = [WITNESS, "--listen", "127.0.0.1:%d" % port, "--state",
                os.path.join(self.tmp, "w"), "--name", "w.example/w1", "--trust", trust]
        w = subprocess.Popen(args + ["--metrics", "127.0.0.1:%d" % mport], stdout=log,
                             stderr=log)
        try:
            url = "http://127.0.0.1:%d/metrics" % mport

            def up():
                try:
                    return scrape(url)[0] == 200
                except OSError:
                    return False
            wait_for(up, what="the witness's metrics")
            base = "http://127.0.0.1:%d/add-checkpoint" % port
            for method, data, code in (("POST", b"garbage", 400), ("GET", None, 405),
                                       ("POST", b"garbage", 400)):
                with self.assertRaises(urllib.error.HTTPError) as e:
                    urllib.request.urlopen(urllib.request.Request(base, data=data,
                                                                  method=method), timeout=10)
                self.assertEqual(e.exception.code, code)
            _, _, text = scrape(url)
            s = parse(text)
            self.assertEqual(s['evident_witness_requests_total{code="400"}'], 2)
            self.assertEqual(s['evident_witness_requests_total{code="405"}'], 1)
            self.assertEqual(s["evident_witness_cosignatures_total"], 0)
            self.assertEqual(s["evident_witness_commit_batch_requests_count"], 0)
            if PROMTOOL:
                r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
            # the metrics port in use: a clear error, exit 1
            with socket.socket() as busy:
                busy.bind(("127.0.0.1", 0))
                busy.listen(1)
                r = subprocess.run(args[:2] + ["127.0.0.1:%d" % free_port()] + args[3:] +
                                   ["--metrics", "127.0.0.1:%d" % busy.getsockname()[1]],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 1)
                self.assertIn("--metrics 127.0.0.1:%d: " % busy.getsockname()[1], r.stderr)
                self.assertIn("the port is in use", r.stderr)
        finally:
            w.terminate()
            w.wait(timeout=TIMEOUT)
            log.close()


if __name__ == "__main__":
    unittest.main()
