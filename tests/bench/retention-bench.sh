#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Retention benchmark (evidentd's [retention], daemon/retention.c), in one run:
#   1. pruning RECORDS expired records (~1 KiB each, evident-load's): the time of the
#      retention cycle that prunes them (the daemon logs it), with nothing else running;
#   2. durable ingest throughput (evident-load, 4 clients, as fast as possible, LOAD_SECONDS)
#      while a cycle prunes RECORDS expired records, beside the same load right after the cycle
#      in the same daemon on the same vault (a vault retention has pruned: its freed pages are
#      reused); ROUNDS rounds, each on a fresh vault; the median ratio (target >= 80%);
#   3. a soak: SOAK_RATE records/s for SOAK_SECONDS with `record = 1m` (allow_short): the
#      size of data.mdb and the entries every 15 s, and the bytes per entry the file grows by
#      once retention runs (only what each entry keeps for ever: its leaf, tree nodes, index
#      keys and its prune entry) beside the bytes per entry before the first prune.
# Retention's clock is moved with EVIDENTD_TEST_NOW_OFFSET_S = 400 days (proto/PROTOCOL.md,
# "Retention"), so a start prunes what was written before it and nothing written after.
#   tests/bench/retention-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}/retention
records=${RECORDS:-1000000}
load_s=${LOAD_SECONDS:-10}
rounds=${ROUNDS:-3}
parts=${PARTS:-123} # which of the three parts to run
soak_s=${SOAK_SECONDS:-300}
soak_rate=${SOAK_RATE:-5000}
rm -rf "$data"
mkdir -p "$data"
sock="$data/ingest.sock"
log="$data/daemon.log"

echo "# command: $0 $*   (RECORDS=$records LOAD_SECONDS=$load_s ROUNDS=$rounds" \
    "SOAK_SECONDS=$soak_s SOAK_RATE=$soak_rate)"
echo "# $(nproc) cores, $(uname -r); data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"

pid=""
stop() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap stop EXIT
# start CONFIG OFFSET_S: evidentd on the bench vault; the log from this start on in $log.cur
start() {
    printf '%s\n' "$1" > "$data/evidentd.conf"
    rm -f "$sock"
    : > "$log"
    EVIDENTD_TEST_NOW_OFFSET_S=$2 "$build/daemon/evidentd" --config "$data/evidentd.conf" \
        --vault "$data/vault" --socket "$sock" --log-level info 2>>"$log" &
    pid=$!
    i=0
    while [ ! -S "$sock" ]; do
        i=$((i + 1)); [ $i -lt 3000 ] || { echo "no socket" >&2; exit 1; }
        sleep 0.01
    done
}
load() { # load ARGS...: evident-load's acknowledged records/s (4096 in flight per client)
    "$build/tools/evident-load" --socket "$sock" --pipeline 4096 --json "$@" |
        /usr/bin/python3 -c \
            'import json, sys; print("%.0f" % json.load(sys.stdin)["throughput_rps"])'
}
cycle_done() { # waits for the first retention cycle that pruned something; prints its line
    i=0
    while ! grep -q "retention cycle [0-9]* done in .* payloads pruned" "$log"; do
        i=$((i + 1)); [ $i -lt 60000 ] || { echo "no retention cycle" >&2; exit 1; }
        sleep 0.05
    done
    grep -m1 "retention cycle [0-9]* done in .* payloads pruned" "$log" | sed 's/^<[0-9]>//'
}
day=86400
keep="[retention]
record = 400d
batch = 1000
interval = 1d"

alone=""
case $parts in *1*)
echo
echo "# 1. $records expired records pruned by one retention cycle, nothing else running"
start "$keep" 0
load --clients 4 --records "$records" > /dev/null
stop
start "$keep" $((400 * day))
line=$(cycle_done)
echo "  $line"
alone=$(echo "$line" | sed -n 's/.* done in \([0-9.]*\) s.*/\1/p')
stop
esac

case $parts in *2*)
echo
echo "# 2. ingest ($load_s s, 4 clients, as fast as possible) while a cycle prunes $records" \
    "expired records, beside the same load right after the cycle (same daemon, same vault);" \
    "$rounds rounds, each on a fresh vault"
printf '  %-6s %16s %16s %8s %s\n' round "while pruning" "alone after" ratio "the cycle"
: > "$data/ratios"
for r in $(seq 1 "$rounds"); do
    rm -rf "$data/vault" # each round from a fresh vault
    start "$keep" 0
    load --clients 4 --records "$records" > /dev/null
    stop
    start "$keep" $((400 * day))
    with=$(load --clients 4 --duration "$load_s")
    line=$(cycle_done)
    base=$(load --clients 4 --duration "$load_s")
    stop
    ratio=$(awk -v a="$with" -v b="$base" 'BEGIN { printf "%.0f", 100 * a / b }')
    echo "$ratio" >> "$data/ratios"
    printf '  %-6s %16s %16s %7s%% %s\n' "$r" "$with" "$base" "$ratio" \
        "$(echo "$line" | sed 's/retention cycle [0-9]* done in \([0-9.]*\) s: \([0-9]*\) .*/\2 pruned in \1 s/')"
done
echo "  median: $(sort -n "$data/ratios" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')%" \
    "of the throughput alone while pruning (target >= 80%)"
[ -z "$alone" ] || echo "  pruning alone: $records payloads in $alone s" \
    "($(awk -v n="$records" -v t="$alone" 'BEGIN { printf "%.0f", n / t }') payloads/s)"
esac

case $parts in *3*) ;; *) exit 0 ;; esac
echo
echo "# 3. soak: $soak_rate records/s for $soak_s s, record = 1m, a cycle every 10 s"
rm -rf "$data/vault"
start "[retention]
record = 1m
allow_short = yes
interval = 10s" 0
"$build/tools/evident-load" --socket "$sock" --clients 4 --rate "$soak_rate" \
    --duration "$soak_s" > "$data/soak-load.txt" &
loader=$!
t0=$(date +%s)
printf '  %8s %12s %14s %10s\n' "seconds" "entries" "data.mdb bytes" "pruned"
: > "$data/soak.tsv"
while kill -0 "$loader" 2>/dev/null; do
    sleep 15
    st=$("$build/tools/evidentctl" --vault "$data/vault" status --json 2>/dev/null || true)
    [ -n "$st" ] || continue
    echo "$st" | /usr/bin/python3 -c '
import json, os, sys, time
o = json.load(sys.stdin)
by = o.get("entries_by_type", {})
print(int(time.time()) - int(sys.argv[1]), o["entries"],
      os.path.getsize(sys.argv[2] + "/data.mdb"), by.get("prune", 0))' "$t0" "$data/vault" \
        | tee -a "$data/soak.tsv" | awk '{ printf "  %8s %12s %14s %10s\n", $1, $2, $3, $4 }'
done
wait "$loader" || true
stop
/usr/bin/python3 - "$data/soak.tsv" <<'EOF'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
first = next((r for r in rows if r[3] > 0), None)  # the first sample after a prune
if first is None or first is rows[-1]:
    sys.exit("soak too short: retention did not run twice")
# before any prune: the whole entry; from 2 minutes after the first prune: what stays
before = rows[0]
settled = next(r for r in rows if r[0] >= first[0] + 120) if rows[-1][0] >= first[0] + 150 \
    else first
end = rows[-1]
print("  bytes per record before the first prune: %.0f (payload, leaf, nodes, indexes)"
      % (before[2] / max(1, before[1])))
print("  bytes per record from %d s to %d s (retention running): %.0f"
      % (settled[0], end[0], (end[2] - settled[2]) / max(1, (end[1] - settled[1]) / 2)))
print("  (an expired record leaves two entries for ever, itself and its prune entry: the")
print("   growth is divided by the records, i.e. half the entries)")
EOF
