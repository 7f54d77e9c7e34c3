#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Forwarding benchmark (evidentd's [forward], daemon/forward.c) against a local
# `nats-server -js` with a file store, in one run:
#   1. durable ingest throughput (evident-load, 4 clients, as fast as possible) of one evidentd
#      without and with [forward], three times each, interleaved (medians, and the ratio);
#      with [forward], how far behind JetStream was when the load ended and how long the stop
#      waited for the last acknowledgements;
#   2. backlog: a vault of BACKLOG records written by evident-sample (no daemon), then evidentd
#      started on it with [forward]: the time until JetStream acknowledged every entry (the
#      position evidentctl status reads), and the rate.
# nats-server shares this machine's cores with evidentd and the load generator: the figures
# are for all of them together.
#   tests/bench/forward-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}/forward
records=${RECORDS:-200000}
backlog=${BACKLOG:-1000000}
rm -rf "$data"
mkdir -p "$data"

echo "# command: $0 $*   (RECORDS=$records BACKLOG=$backlog)"
echo "# $(nproc) cores, $(uname -r); data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"
echo "# nats-server $(nats-server --version 2>/dev/null | awk '{print $NF}') (-js, file store) shares these $(nproc) cores with evidentd and evident-load"

pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

port_free() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    i=0
    while ! /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 500 ] || { echo "port $1 never opened" >&2; exit 1; }
        sleep 0.02
    done
}
wait_sock() {
    i=0
    while [ ! -S "$1" ]; do
        i=$((i + 1)); [ $i -lt 1000 ] || { echo "socket $1 never appeared" >&2; exit 1; }
        sleep 0.01
    done
}

port=$(port_free)
printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s" }\n' "$port" "$data/nats" \
    > "$data/nats.conf"
nats-server -c "$data/nats.conf" 2>"$data/nats.log" &
pids="$pids $!"
wait_port "$port"

# run NAME FORWARD(0|1) LOAD-ARGS...: a fresh vault, evident-load, a clean stop; prints the
# load's JSON on one line and leaves the daemon's log in $data/NAME.log
run() {
    name=$1; with=$2; shift 2
    conf="$data/$name.conf"
    printf '[daemon]\n' > "$conf"
    if [ "$with" = 1 ]; then
        printf '[forward]\nnats_url = nats://127.0.0.1:%s\nstream = BENCH_%s\nsubject_prefix = %s\n' "$port" \
            "$name" "$name" >> "$conf"
    fi
    rm -rf "$data/$name.vault"
    "$build/daemon/evidentd" --vault "$data/$name.vault" --socket "$data/$name.sock" \
        --config "$conf" --log-level info 2>"$data/$name.log" &
    dp=$!
    wait_sock "$data/$name.sock"
    "$build/tools/evident-load" --socket "$data/$name.sock" --json "$@"
    if [ "$with" = 1 ]; then
        "$build/tools/evidentctl" --vault "$data/$name.vault" status --json \
            > "$data/$name.status.json"
    fi
    t0=$(date +%s.%N)
    kill -TERM $dp; wait $dp
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$data/$name.stop"
}
rps() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["throughput_rps"])'; }

printf '\n%-30s %12s %12s %12s\n' "4 clients, $records records" "without" "with" "with/without"
a1=$(run a1 0 --clients 4 --records "$records" | rps)
b1=$(run b1 1 --clients 4 --records "$records" | rps)
a2=$(run a2 0 --clients 4 --records "$records" | rps)
b2=$(run b2 1 --clients 4 --records "$records" | rps)
a3=$(run a3 0 --clients 4 --records "$records" | rps)
b3=$(run b3 1 --clients 4 --records "$records" | rps)
/usr/bin/python3 - "$data" "$a1" "$a2" "$a3" "$b1" "$b2" "$b3" <<'EOF'
import json, statistics, sys
d = sys.argv[1]
a = [float(x) for x in sys.argv[2:5]]
b = [float(x) for x in sys.argv[5:8]]
ma, mb = statistics.median(a), statistics.median(b)
print("%-30s %12.0f %12.0f %11.1f%%" % ("acked records/s (median of 3)", ma, mb, 100 * mb / ma))
print("%-30s %12s %12s" % ("  rounds", " ".join("%.0f" % x for x in a),
                             " ".join("%.0f" % x for x in b)))
for run in ("b1", "b2", "b3"):
    st = json.load(open("%s/%s.status.json" % (d, run)))
    t0, t1 = (float(x) for x in open("%s/%s.stop" % (d, run)).read().split())
    print("  %s: at the end of the load JetStream was %d entries (%.2f s) behind; the stop "
          "took %.2f s" % (run, st["forward_lag_entries"], st["forward_lag_seconds"], t1 - t0))
EOF

echo
echo "# backlog: $backlog records written by evident-sample, then evidentd with [forward]"
"$build/tools/evident-sample" --vault "$data/backlog.vault" --records "$backlog" >/dev/null
printf '[daemon]\n[forward]\nnats_url = nats://127.0.0.1:%s\nstream = BENCH_BACKLOG\nsubject_prefix = backlog\n' "$port" \
    > "$data/backlog.conf"
/usr/bin/python3 - "$build" "$data" <<'EOF'
import json, os, resource, signal, subprocess, sys, time
build, data = sys.argv[1:3]
ctl = [os.path.join(build, "tools", "evidentctl"), "--vault", data + "/backlog.vault"]
size = json.loads(subprocess.run(ctl + ["status", "--json"], capture_output=True,
                                 text=True, check=True).stdout)["entries"]
t0 = time.monotonic()
p = subprocess.Popen([os.path.join(build, "daemon", "evidentd"), "--vault",
                      data + "/backlog.vault", "--socket", data + "/backlog.sock", "--config",
                      data + "/backlog.conf", "--log-level", "info"],
                     stderr=open(data + "/backlog.log", "w"))
while True:
    st = json.loads(subprocess.run(ctl + ["status", "--json"], capture_output=True, text=True,
                                   check=True).stdout)
    if st["forwarded_entries"] is not None and st["forward_lag_entries"] == 0:
        break
    if time.monotonic() - t0 > 600:
        sys.exit("backlog not drained in 600 s")
    time.sleep(0.05)
dt = time.monotonic() - t0
with open("/proc/%d/stat" % p.pid) as f:
    fields = f.read().rsplit(")", 1)[1].split()
cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
p.send_signal(signal.SIGTERM)
p.wait()
print("  %d entries acknowledged by JetStream %.1f s after evidentd started: %.0f entries/s; "
      "evidentd used %.1f s of CPU (%.1f us an entry)" % (st["entries"], dt, st["entries"] / dt,
                                                         cpu, cpu * 1e6 / st["entries"]))
EOF
grep -h "forward: .* messages published" "$data/backlog.log" | sed 's/^<[0-9]>/  /'
