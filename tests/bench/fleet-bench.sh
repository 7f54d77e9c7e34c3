#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Fleet benchmark, the auditor's half: three evidentd hosts with [forward] to a local
# `nats-server -js`, and evident-auditor mirroring them, in one run:
#   1. backlog: the three hosts ingest RECORDS records each (evident-load, as fast as
#      possible) while the auditor is stopped; then the auditor starts and mirrors the
#      3 x RECORDS backlog alone: entries/s mirrored and verified, and the auditor's CPU time
#      per mirrored entry (utime + stime from /proc). Baseline in the same run: the hosts'
#      own combined ingest rate.
#   2. live: everything running, the hosts ingest as fast as possible: the combined ingest
#      rate and the rate the auditor mirrored at (until it caught up).
#   3. lag: for each total rate in RATES (records/s over the three hosts), DURATION seconds of
#      steady load on a fresh fleet; the mirror lag of every entry (from its commit at the
#      origin, the leaf's timestamp, to its commit in the mirror) as the auditor reports it
#      (lag_p99_ms in fleet-status.json); the highest rate whose p99 stays <= 2 s.
# The hosts, the NATS server and the auditor share this machine's cores: the figures are for
# all of them together, not for the auditor on a machine of its own.
#   tests/bench/fleet-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}/fleet
export RECORDS=${RECORDS:-50000} DURATION=${DURATION:-10}
export RATES=${RATES:-"3000 6000 12000 24000"}
rm -rf "$data"
mkdir -p "$data"
echo "# command: $0 $*   (RECORDS=$RECORDS DURATION=$DURATION RATES=\"$RATES\")"
echo "# $(nproc) cores, $(uname -r); data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"
echo "# the 3 evidentd hosts, nats-server and evident-auditor share these $(nproc) cores"
exec /usr/bin/python3 - "$build" "$data" "$(dirname "$0")/../integration" <<'EOF'
import atexit, json, os, signal, subprocess, sys, time
build, data, integ = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, integ)
from natsfixture import NatsServer  # noqa: E402

EVIDENTD = os.path.join(build, "daemon", "evidentd")
LOAD = os.path.join(build, "tools", "evident-load")
AUDITOR = os.path.join(build, "tools", "auditor", "evident-auditor")
CTL = os.path.join(build, "tools", "evidentctl")
RECORDS, DURATION = int(os.environ["RECORDS"]), int(os.environ["DURATION"])
RATES = [int(r) for r in os.environ["RATES"].split()]
NAME = "bench.test/auditor"


def wait_for(pred, timeout=600, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + what)


STARTED = []  # every process started, ended at exit whatever happens


@atexit.register
def end_all():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Fleet:
    def __init__(self, tmp):
        self.tmp = tmp
        os.makedirs(tmp)
        self.nats = NatsServer(tmp).start()
        STARTED.append(self.nats.proc)
        self.hosts, self.auditor = [], None
        for i in range(3):
            d = os.path.join(tmp, "host%d" % i)
            os.makedirs(d)
            conf = os.path.join(d, "evidentd.conf")
            with open(conf, "w") as f:
                f.write("[daemon]\norigin = host%d.bench.test/e\n\n[forward]\nnats_url = %s\n"
                        % (i, self.nats.url))
            sock = os.path.join(d, "ingest.sock")
            log = open(os.path.join(d, "evidentd.log"), "ab")
            p = subprocess.Popen([EVIDENTD, "--vault", os.path.join(d, "vault"), "--socket",
                                  sock, "--config", conf], stdout=log, stderr=log)
            STARTED.append(p)
            wait_for(lambda: os.path.exists(sock), 30, "evidentd's socket")
            self.hosts.append((p, sock, os.path.join(d, "vault")))
        self.trust = os.path.join(tmp, "trust")
        with open(self.trust, "w") as f:
            for _, _, v in self.hosts:
                f.write(subprocess.run([CTL, "--vault", v, "checkpoint", "--key"], check=True,
                                       capture_output=True, text=True).stdout)
        self.mirror = os.path.join(tmp, "mirror")

    def start_auditor(self):
        log = open(os.path.join(self.tmp, "auditor.log"), "ab")
        self.auditor = subprocess.Popen(
            [AUDITOR, "--nats", self.nats.url, "--mirror", self.mirror, "--trust", self.trust,
             "--state", os.path.join(self.tmp, "state"), "--name", NAME] + os.environ.get("AUDITOR_OPTS", "").split(),
            stdout=log, stderr=log)
        STARTED.append(self.auditor)

    def status(self):
        try:
            with open(os.path.join(self.mirror, "fleet-status.json")) as f:
                return json.load(f)["origins"]
        except (OSError, ValueError):
            return []

    def check_hosts(self):
        """A host that died (a bug) ends the benchmark with its last log line."""
        for h, _, v in self.hosts:
            if h.poll() is not None:
                with open(os.path.join(os.path.dirname(v), "evidentd.log")) as f:
                    last = f.read().splitlines()[-1:]
                raise SystemExit("evidentd %s died (exit %s): %s" % (v, h.returncode, last))

    def mirrored(self):
        self.check_hosts()
        return sum(o["mirrored"] for o in self.status())

    def entries(self):
        return sum(int(json.loads(subprocess.run(
            [CTL, "--vault", v, "--json", "status"], check=True, capture_output=True,
            text=True).stdout)["entries"]) for _, _, v in self.hosts)

    def load(self, args):
        procs = [subprocess.Popen([LOAD, "--socket", s, "--clients", "2", "--features", "10",
                                   "--json"] + args, stdout=subprocess.PIPE, text=True)
                 for _, s, _ in self.hosts]
        STARTED.extend(procs)
        # a host that dies (a bug) ends the benchmark with its last log line, never a hang
        while any(p.poll() is None for p in procs):
            self.check_hosts()
            time.sleep(0.1)
        return [json.loads(p.communicate()[0]) for p in procs]

    def stop(self):
        for p, _, _ in self.hosts:
            p.send_signal(signal.SIGTERM)
        for p, _, _ in self.hosts:
            p.wait()
        if self.auditor:
            self.auditor.send_signal(signal.SIGTERM)
            self.auditor.wait()
        self.nats.stop()


def rate_of(results):
    return sum(r["throughput_rps"] for r in results)


# 1. backlog, auditor alone
f = Fleet(os.path.join(data, "backlog"))
t0 = time.monotonic()
res = f.load(["--records", str(RECORDS)])
ingest = 3 * RECORDS / (time.monotonic() - t0)
total = f.entries()
# the forwarders have published the whole backlog: the auditor works alone
wait_for(lambda: f.nats.messages("EVIDENT") >= total, what="the backlog in JetStream")
f.start_auditor()
wait_for(lambda: f.status() != [], what="the auditor's status")
t0, c0 = time.monotonic(), cpu_s(f.auditor.pid)
wait_for(lambda: f.mirrored() >= total - 6, what="the backlog mirrored")  # not the stop entries
dt, dc = time.monotonic() - t0, cpu_s(f.auditor.pid) - c0
n = f.mirrored()
print("backlog: %d entries of 3 hosts mirrored and verified in %.1f s: %.0f entries/s; "
      "auditor CPU %.1f us per entry (baseline: the 3 hosts ingested %.0f records/s together)"
      % (n, dt, n / dt, dc / n * 1e6, ingest))
f.stop()

# 2. live
f = Fleet(os.path.join(data, "live"))
f.start_auditor()
wait_for(lambda: f.status() != [], what="the auditor's status")
t0, c0 = time.monotonic(), cpu_s(f.auditor.pid)
f.load(["--records", str(RECORDS)])
t_ingest = time.monotonic() - t0
total = f.entries()
wait_for(lambda: f.mirrored() >= total, what="the live load mirrored")
dt, dc = time.monotonic() - t0, cpu_s(f.auditor.pid) - c0
print("live: the 3 hosts ingested %.0f records/s together; the auditor mirrored %d entries at "
      "%.0f entries/s (caught up %.1f s after the load ended); CPU %.1f us per entry"
      % (3 * RECORDS / t_ingest, total, total / dt, dt - t_ingest, dc / total * 1e6))
f.stop()

# 3. lag at steady rates
best = None
for rate in RATES:
    f = Fleet(os.path.join(data, "rate%d" % rate))
    f.start_auditor()
    wait_for(lambda: f.status() != [], what="the auditor's status")
    f.load(["--rate", str(rate // 3), "--duration", str(DURATION)])
    total = f.entries()
    wait_for(lambda: f.mirrored() >= total, what="mirrored")
    p99 = max(o["lag_p99_ms"] for o in f.status() if o["trusted"])
    ok = p99 <= 2000
    print("lag at %d records/s in total for %d s: p99 %d ms over %d entries%s"
          % (rate, DURATION, p99, total, "" if ok else " (over 2 s)"))
    if ok:
        best = rate
    f.stop()
print("highest total rate with mirror lag p99 <= 2 s: %s" % (best or "none of %s" % RATES))
EOF
