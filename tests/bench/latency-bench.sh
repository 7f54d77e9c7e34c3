#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ack latency at low load and 4-client throughput: evidentd beside ack-baseline (one thread:
# receive, decode, append with the vault library, synced commit, Ack; ack_baseline.c), driven
# by the same evident-load commands, alternating in every round on the same filesystem, each
# server on its own vault. Prints every round, then the medians and the median of the
# within-round ratios (the machine may be shared: a ratio taken inside one round is the
# steadier figure).
#   tests/bench/latency-bench.sh [BUILD_DIR] [DATA_DIR]
# ROUNDS (15), LAT_RECORDS (500: records sent one at a time, --clients 1 --pipeline 1),
# TPUT_RECORDS (20000: --clients 4), OTHER (a second evidentd binary, e.g. an older build,
# measured in the same rounds as a third server). DATA_DIR must be on the disk being measured
# (default: BUILD_DIR/bench-data).
set -eu
build=${1:-build}
data=${2:-$build/bench-data}
rounds=${ROUNDS:-15}
lat_records=${LAT_RECORDS:-500}
tput_records=${TPUT_RECORDS:-20000}
other=${OTHER:-}
dir="$data/latency"
load="$build/tools/evident-load"
rm -rf "$dir"
mkdir -p "$dir"

echo "# command: $0 $*   (ROUNDS=$rounds LAT_RECORDS=$lat_records TPUT_RECORDS=$tput_records${other:+ OTHER=$other})"
echo "# $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); data in $dir ($(df -T "$dir" | awk 'NR==2 {print $2}'))"
echo "# latency: $load --socket S --clients 1 --pipeline 1 --records $lat_records --json"
echo "# throughput: $load --socket S --clients 4 --records $tput_records --json"

pids=
trap 'for p in $pids; do kill -TERM $p 2>/dev/null; wait $p 2>/dev/null || true; done' EXIT

start() { # name: starts that server on a new vault in $dir/name
    mkdir -p "$dir/$1"
    sock="$dir/$1/s.sock"
    case $1 in
    baseline) "$build/tests/bench/ack-baseline" --vault "$dir/$1/vault" --socket "$sock" & ;;
    evidentd) "$build/daemon/evidentd" --vault "$dir/$1/vault" --socket "$sock" \
        --log-level warning & ;;
    other) "$other" --vault "$dir/$1/vault" --socket "$sock" --log-level warning & ;;
    esac
    pids="$pids $!"
    i=0
    while [ ! -S "$sock" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
}

field() { # json file, python expression on o
    /usr/bin/python3 -c "import json, sys; o = json.load(open(sys.argv[1])); print($2)" "$1"
}

servers="baseline evidentd"
[ -z "$other" ] || servers="$servers other"
# every server runs for the whole benchmark, idle while another is measured: short rounds
# that alternate between them meet the same moments of a shared machine
for s in $servers; do start "$s"; done
printf '\n%-6s %-9s %10s %10s %14s\n' round server "p50 us" "p99 us" "4-client rec/s"
: > "$dir/rows"
r=1
while [ "$r" -le "$rounds" ]; do
    # alternate the order: a server that always ran first would always meet the same load
    if [ $((r % 2)) -eq 1 ]; then order=$servers; else order=$(echo "$servers" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for s in $order; do
        sock="$dir/$s/s.sock"
        "$load" --socket "$sock" --clients 1 --pipeline 1 --records "$lat_records" --json \
            > "$dir/lat.json"
        "$load" --socket "$sock" --clients 4 --records "$tput_records" --json > "$dir/tput.json"
        p50=$(field "$dir/lat.json" 'o["ack_latency_us"]["p50"]')
        p99=$(field "$dir/lat.json" 'o["ack_latency_us"]["p99"]')
        rps=$(field "$dir/tput.json" 'o["throughput_rps"]')
        echo "$r $s $p50 $p99 $rps" >> "$dir/rows"
        printf '%-6s %-9s %10.1f %10.1f %14.0f\n' "$r" "$s" "$p50" "$p99" "$rps"
    done
    r=$((r + 1))
done

/usr/bin/python3 - "$dir/rows" <<'EOF'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, s, p50, p99, rps in rows:
    by.setdefault(s, {})[r] = (float(p50), float(p99), float(rps))
base = by["baseline"]
print("\nmedians of %d rounds:" % len(base))
print("%-9s %10s %10s %14s %18s %18s" % ("server", "p50 us", "p99 us", "4-client rec/s",
                                         "p50 / baseline", "rec/s / baseline"))
for s, m in by.items():
    rr = [r for r in m if r in base]
    lat = st.median(m[r][0] / base[r][0] for r in rr)
    tput = st.median(m[r][2] / base[r][2] for r in rr)
    print("%-9s %10.1f %10.1f %14.0f %17.2fx %17.2fx" % (
        s, st.median(v[0] for v in m.values()), st.median(v[1] for v in m.values()),
        st.median(v[2] for v in m.values()), lat, tput))
print("(ratios: the median of the within-round ratios)")
EOF
