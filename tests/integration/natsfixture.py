# SPDX-License-Identifier: Apache-2.0
"""A real `nats-server -js` (Debian's nats-server) for integration tests: a free local port,
a temporary JetStream store, its monitoring endpoint for counts. Standard library only.

    from natsfixture import NatsServer
    ns = NatsServer(tmpdir, max_payload=None, max_file_store=None, user=None, password=None)
    ns.start()                  # waits until it answers on its monitoring port
    ns.url                      # "nats://127.0.0.1:PORT"
    ns.stream("EVIDENT")        # the stream's state from /jsz (dict) or None
    ns.messages("EVIDENT")      # messages stored in it (0 when absent)
    ns.kill()                   # SIGKILL (the store stays); ns.start() again on the same port
    ns.stop()                   # SIGTERM and wait
    ns.read_log()

Ports and the store are the instance's for its life, so a restart serves the same stream.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    def __init__(self, tmp, max_payload=None, max_file_store=None, user=None, password=None):
        self.dir = os.path.join(tmp, "nats-%d" % free_port())
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.log = os.path.join(self.dir, "nats.log")
        self.conf = os.path.join(self.dir, "nats.conf")
        js = ["store_dir: %s" % json.dumps(os.path.join(self.dir, "store"))]
        if max_file_store:
            js.append("max_file_store: %d" % max_file_store)
        lines = ["listen: 127.0.0.1:%d" % self.port, "http: 127.0.0.1:%d" % self.http_port,
                 "jetstream { %s }" % "\n".join(js)]
        if max_payload:
            lines.append("max_payload: %d" % max_payload)
        if user:
            lines.append("authorization { user: %s, password: %s }"
                         % (json.dumps(user), json.dumps(password)))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, timeout=20.0):
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nats-server exited: " + self.read_log())
            try:
                if self._get("/healthz?js-enabled-only=true").get("status") == "ok":
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("nats-server did not answer: " + self.read_log())

    def _get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                    timeout=5) as r:
            return json.loads(r.read())

    def stream(self, name):
        """The stream's detail from /jsz (config and state), or None."""
        d = self._get("/jsz?streams=true&config=true")
        for acc in d.get("account_details", []):
            for s in acc.get("stream_detail", []):
                if s["name"] == name:
                    return s
        return None

    def messages(self, name):
        s = self.stream(name)
        return s["state"]["messages"] if s else 0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.logf.close()

    def stop(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()
