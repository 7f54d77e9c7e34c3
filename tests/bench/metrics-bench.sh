#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ingest with [metrics] served and scraped every second beside ingest without [metrics], in the
# same run: evidentd under evident-load (4 clients, ~1 KiB records), alternating for ROUNDS
# rounds (ABBA: the order flips every round, so a drift of the machine's load favours neither);
# with metrics a scraper GETs /metrics once a second for the whole run (as Prometheus with
# scrape_interval 1s would). Prints the median of each, the ratio of the medians and the median
# of the ratios within a round (steadier on a shared machine), the daemon's CPU time per record
# in each (user + system, from /proc: less sensitive to other processes than throughput), and
# the scrapes made.
#   tests/bench/metrics-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}
records=${RECORDS:-500000}
rounds=${ROUNDS:-5}
port=${PORT:-19190}
mkdir -p "$data"
echo "# command: $0 $*   (RECORDS=$records ROUNDS=$rounds PORT=$port)"
printf '[daemon]\n' > "$data/metrics-off.conf"
printf '[daemon]\n[metrics]\nlisten = 127.0.0.1:%s\n' "$port" > "$data/metrics-on.conf"

# scrape sizes, one line each, over all runs (run() runs in a subshell: a file, not a variable)
: > "$data/metrics-scrapes"
run() { # $1: config file, $2: scrape or not; prints acked records/s and CPU us per record
    rm -rf "$data/mb"
    mkdir -p "$data/mb"
    "$build/daemon/evidentd" --vault "$data/mb/vault" --socket "$data/mb/s.sock" \
        --config "$1" --log-level warning &
    pid=$!
    i=0
    while [ ! -S "$data/mb/s.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    spid=""
    if [ "$2" = scrape ]; then
        # once a second until killed; each scrape's size is appended to a file
        (while :; do
            curl -sf "http://127.0.0.1:$port/metrics" | wc -c >> "$data/metrics-scrapes"
            sleep 1
        done) &
        spid=$!
    fi
    rps=$("$build/tools/evident-load" --socket "$data/mb/s.sock" --clients 4 \
        --records "$records" --json |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["throughput_rps"])')
    # the daemon's utime + stime (fields 14 and 15, clock ticks) per record, in us
    cpu=$(/usr/bin/python3 -c 'import os, sys; f = open("/proc/%s/stat" % sys.argv[1]).read().split(")")[1].split(); print((int(f[11]) + int(f[12])) * 1e6 / os.sysconf("SC_CLK_TCK") / int(sys.argv[2]))' "$pid" "$records")
    echo "$rps $cpu"
    if [ -n "$spid" ]; then
        kill $spid
        wait $spid 2>/dev/null || true
    fi
    kill -TERM $pid
    wait $pid || true
}

off="" on=""
r=0
while [ $r -lt "$rounds" ]; do
    if [ $((r % 2)) -eq 0 ]; then
        off="$off $(run "$data/metrics-off.conf" none)"
        on="$on $(run "$data/metrics-on.conf" scrape)"
    else
        on="$on $(run "$data/metrics-on.conf" scrape)"
        off="$off $(run "$data/metrics-off.conf" none)"
    fi
    r=$((r + 1))
done
/usr/bin/python3 - "$off" "$on" "$data/metrics-scrapes" <<'PY'
import statistics, sys
offc, onc = ([float(x) for x in a.split()] for a in sys.argv[1:3])
off, on = offc[0::2], onc[0::2]
cpu_off, cpu_on = statistics.median(offc[1::2]), statistics.median(onc[1::2])
a, b = statistics.median(off), statistics.median(on)
print("%-38s %12s" % ("", "acked rec/s (median)"))
print("%-38s %12.0f   rounds: %s" % ("no [metrics]", a, " ".join("%.0f" % x for x in off)))
print("%-38s %12.0f   rounds: %s" % ("[metrics], scraped every second", b,
                                      " ".join("%.0f" % x for x in on)))
print("scraped / none, medians: %.1f%%" % (100 * b / a))
print("scraped / none, median of per-round ratios: %.1f%%"
      % (100 * statistics.median([y / x for x, y in zip(off, on)])))
print("daemon CPU per record (median): %.2f us without, %.2f us scraped (%+.1f%%)"
      % (cpu_off, cpu_on, 100 * (cpu_on / cpu_off - 1)))
sizes = [int(x) for x in open(sys.argv[3]).read().split()]
print("scrapes during the runs: %d (%d answered, %d to %d bytes)"
      % (len(sizes), sum(1 for x in sizes if x), min(sizes or [0]), max(sizes or [0])))
PY
# What one scrape costs the daemon: its CPU time over 20,000 scrapes on one keep-alive
# connection, idle otherwise (the rounds above only see it as noise: one scrape a second).
rm -rf "$data/mb"
mkdir -p "$data/mb"
"$build/daemon/evidentd" --vault "$data/mb/vault" --socket "$data/mb/s.sock" \
    --config "$data/metrics-on.conf" --log-level warning &
pid=$!
i=0
while [ ! -S "$data/mb/s.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
/usr/bin/python3 - "$pid" "$port" <<'PY'
import http.client, os, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), 20000
def cpu():
    f = open("/proc/%d/stat" % pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c = http.client.HTTPConnection("127.0.0.1", port)
c0, t0 = cpu(), time.monotonic()
for _ in range(n):
    c.request("GET", "/metrics")
    body = c.getresponse().read()
c1, t1 = cpu(), time.monotonic()
print("one scrape: %.1f us of the daemon's CPU (%d scrapes of %d bytes in %.2f s), %.3f%% of "
      "a core at one scrape a second" % ((c1 - c0) * 1e6 / n, n, len(body), t1 - t0,
                                          (c1 - c0) / n * 100))
PY
kill -TERM $pid
wait $pid || true
rm -rf "$data/mb" "$data/metrics-scrapes"
