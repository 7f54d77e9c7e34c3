#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""usage: chromium_check.py FILE.html SCREENSHOT.png

Renders FILE.html in headless Chromium (Debian's `chromium`, /usr/bin/chromium) and writes a
1280 px wide screenshot of the whole page to SCREENSHOT.png. Exits 0 when the screenshot was
written and the page reported no error: no uncaught exception, no console.error/assert, no
error-level browser log entry (blocked or failed resources, CSP violations), no failed
resource load and no request leaving the machine (any URL that is not file:, data:, about: or
blob:). Exits 1 and prints the offending messages otherwise, 77 (skip) without Chromium.

The browser is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), not by
parsing its stderr: with --screenshot and --enable-logging=stderr Chromium logs console
messages without their level and does not log failed file:// loads at all, and its stderr is
full of harmless noise on a headless server (no D-Bus, no GPU, no sandbox), so stderr is only
shown when the browser itself fails. Everything finishes within 85 s (a hung page fails); the
browser runs in its own process group with a temporary profile and is killed if it does not
close in time.
"""

import base64
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
DEADLINE_S = 80  # for the page; closing the browser takes at most CLOSE_S more
CLOSE_S = 5
WIDTH, HEIGHT = 1280, 4000  # the window; the screenshot covers the whole page width x height
MAX_HEIGHT = 16384  # Chromium's largest texture side
SETTLE_S = 0.5  # after the load event, for late messages
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
# Chromium's stderr on a headless server without D-Bus, GPU or sandbox; none of it is about
# the page. Left out when the browser's stderr is shown after a failure.
NOISE = ("dbus/", "bluez", "idle_linux", "vaapi", "sandbox_linux", "pref_notifier",
         "sqlite_persistent", "gaia_auth", "unexpected operator", "bytes written to file")
EXIT_SKIP = 77


class CheckError(Exception):
    pass


class Browser:
    """One headless Chromium spoken to over --remote-debugging-pipe (fds 3 and 4 in the
    child; messages are JSON terminated by NUL)."""

    def __init__(self, profile, stderr, deadline):
        self.deadline = deadline
        self.events = []
        self.next_id = 0
        self.buf = b""
        child_in, self.to_child = os.pipe()
        self.from_child, child_out = os.pipe()

        def fds_3_and_4():
            # move both ends above any fd of ours first, so the dup2s cannot clobber them
            a = fcntl.fcntl(child_in, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(child_out, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--remote-debugging-pipe", "--user-data-dir=" + profile,
            "--window-size=%d,%d" % (WIDTH, HEIGHT), "--hide-scrollbars",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--mute-audio",
            "--enable-logging=stderr", "--v=0", "about:blank",
        ]
        env = dict(os.environ, HOME=profile)  # keeps ~/.config, ~/.cache and crash dumps out
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stderr,
                                     stderr=stderr, env=env, pass_fds=(3, 4),
                                     preexec_fn=fds_3_and_4, start_new_session=True)
        os.close(child_in)
        os.close(child_out)

    def _remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckError("Chromium did not finish within %d s" % DEADLINE_S)
        return left

    def _recv(self):
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.from_child], [], [], self._remaining())
            if not ready:
                continue
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise CheckError("Chromium closed the DevTools pipe (it exited with %s)"
                                 % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            _, ready, _ = select.select([], [self.to_child], [], self._remaining())
            if ready:
                data = data[os.write(self.to_child, data):]
        while True:
            m = self._recv()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise CheckError("%s: %s" % (method, m["error"].get("message")))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, seen=0):
        """Waits for an event named method; events[seen:] are searched first."""
        while True:
            for m in self.events[seen:]:
                if m["method"] == method:
                    return m
            seen = len(self.events)
            m = self._recv()
            if "method" in m:
                self.events.append(m)

    def drain(self, seconds):
        end = min(time.monotonic() + seconds, self.deadline)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.from_child], [], [], left)
            if ready and b"\0" not in self.buf:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    return
                self.buf += chunk
            while b"\0" in self.buf:
                msg, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(msg)
                if "method" in m:
                    self.events.append(m)

    def close(self):
        try:
            if self.proc.poll() is None and time.monotonic() < self.deadline:
                self.deadline = min(self.deadline, time.monotonic() + CLOSE_S)
                try:
                    self.call("Browser.close")
                except (CheckError, OSError):
                    pass
                self.proc.wait(timeout=CLOSE_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            for fd in (self.to_child, self.from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass


def remote_object(o):
    if "value" in o:
        return str(o["value"])
    return o.get("description") or o.get("unserializableValue") or o.get("type", "?")


def where(url, line):
    if not url:
        return ""
    return " (%s%s)" % (url, ":%d" % (line + 1) if isinstance(line, int) else "")


def problems(events, session):
    """The page's errors, from the DevTools events of its session, as lines."""
    bad, urls = [], {}
    for e in events:
        if e.get("sessionId") != session:
            continue
        p = e.get("params", {})
        m = e["method"]
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = remote_object(d["exception"]) if "exception" in d else d.get("text")
            bad.append("uncaught exception: %s%s" % (text, where(d.get("url"),
                                                                 d.get("lineNumber"))))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(remote_object(a) for a in p.get("args", []))
            bad.append("console.%s: %s" % (p["type"], text))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            en = p["entry"]
            bad.append("browser %s error: %s%s" % (en.get("source", "?"), en.get("text"),
                                                   where(en.get("url"), en.get("lineNumber"))))
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            urls[p.get("requestId")] = url
            if not url.startswith(LOCAL_SCHEMES):
                bad.append("network request: %s" % url)
        elif m == "Network.loadingFailed":
            reason = p.get("blockedReason") or p.get("errorText") or "failed"
            bad.append("failed to load %s: %s" % (urls.get(p.get("requestId"), "?"), reason))
        elif m == "Network.responseReceived":
            r = p.get("response", {})
            if r.get("status", 200) >= 400:
                bad.append("failed to load %s: HTTP %s" % (r.get("url"), r.get("status")))
    # one resource can fail in the log and in the network events: report each line once
    return list(dict.fromkeys(bad))


def render(html_path, png_path, profile, stderr):
    b = Browser(profile, stderr, time.monotonic() + DEADLINE_S)
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.call(domain + ".enable", session=s)
        b.call("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT,
                                                      "deviceScaleFactor": 1, "mobile": False},
               session=s)
        seen = len(b.events)
        nav = b.call("Page.navigate", {"url": "file://" + os.path.abspath(html_path)}, session=s)
        if nav.get("errorText"):
            raise CheckError("cannot open %s: %s" % (html_path, nav["errorText"]))
        b.wait_event("Page.loadEventFired", seen)
        b.drain(SETTLE_S)
        size = b.call("Page.getLayoutMetrics", session=s).get("cssContentSize", {})
        height = int(min(max(size.get("height", HEIGHT), 1), MAX_HEIGHT))
        shot = b.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}}, session=s)
        b.drain(0.1)
        with open(png_path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return problems(b.events, s), height
    finally:
        b.close()


def png_ok(path):
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return False
    return len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    html_path, png_path = argv[1], argv[2]
    if not os.access(CHROMIUM, os.X_OK):
        print("SKIP: %s is not installed (Debian package chromium)" % CHROMIUM)
        return EXIT_SKIP
    if not os.path.isfile(html_path):
        print("%s: no such file" % html_path, file=sys.stderr)
        return 2
    try:
        os.unlink(png_path)
    except FileNotFoundError:
        pass
    with tempfile.TemporaryDirectory(prefix="chromium-check-") as profile, \
            tempfile.TemporaryFile() as stderr:
        try:
            bad, height = render(html_path, png_path, profile, stderr)
        except (CheckError, OSError, ValueError, KeyError) as e:
            stderr.seek(0)
            lines = stderr.read().decode(errors="replace").splitlines()
            tail = [x for x in lines if not any(n in x for n in NOISE)][-20:]
            print("FAIL: %s" % e)
            print("\n".join("  chromium: " + line for line in tail)
                  or "  (Chromium's stderr holds only the usual headless noise)")
            return 1
    if not png_ok(png_path):
        bad.append("no PNG screenshot was written to %s" % png_path)
    if bad:
        print("FAIL: %s: %d problem%s" % (html_path, len(bad), "" if len(bad) == 1 else "s"))
        print("\n".join("  " + line for line in bad))
        return 1
    print("ok: %s rendered without errors; screenshot %s (%dx%d)"
          % (html_path, png_path, WIDTH, height))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
