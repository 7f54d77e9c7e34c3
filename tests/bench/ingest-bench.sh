#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ingest benchmark: evidentd under evident-load with 1, 4 and 16 clients (1 KiB records),
# beside the raw LMDB + SHA-256 group-commit baseline measured in the same run; ack latency
# at a steady 10,000 records/s; the C client's fire-and-forget cost on the caller's thread.
#   tests/bench/ingest-bench.sh [BUILD_DIR] [DATA_DIR]
# DATA_DIR must be on the disk being measured (default: BUILD_DIR/bench-data).
set -eu
build=${1:-build}
data=${2:-$build/bench-data}
records=${RECORDS:-300000}
mkdir -p "$data"
rm -rf "$data/ingest"
mkdir -p "$data/ingest"
sock="$data/ingest/ingest.sock"

echo "# command: $0 $*   (RECORDS=$records)"
echo "# $(nproc) cores, $(uname -r); data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"

"$build/daemon/evidentd" --vault "$data/ingest/vault" --socket "$sock" --log-level warning &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done

printf '\n%-9s %12s %12s %10s %10s %12s %12s\n' clients "acked rec/s" "raw rec/s" "vs raw" \
    "p50 ms" "p99 ms" "daemon peak"
sample_anon() { # writes the daemon's peak anonymous memory (KiB) to $1 until killed
    max=0
    while :; do
        a=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        if [ "${a:-0}" -gt "$max" ]; then max=$a; echo "$max" > "$1"; fi
        sleep 0.05
    done
}
for c in 1 4 16; do
    echo 0 > "$data/ingest/peak"
    sample_anon "$data/ingest/peak" &
    sampler=$!
    "$build/tools/evident-load" --socket "$sock" --clients "$c" --records "$records" \
        --json > "$data/ingest/load.json"
    kill $sampler
    wait $sampler 2>/dev/null || true
    anon="$(cat "$data/ingest/peak") KiB"
    out=$(cat "$data/ingest/load.json")
    read -r rps p50 p99 <<EOT
$(echo "$out" | /usr/bin/python3 -c 'import json, sys
o = json.load(sys.stdin)
print(o["throughput_rps"], o["ack_latency_us"]["p50"], o["ack_latency_us"]["p99"])')
EOT
    # the baseline right after, same disk, batch = what one commit gathered under this load
    raw=$("$build/tests/bench/vault-bench" --raw-only --batch 1000 --records "$records" \
        --rounds 1 --dir "$data/raw" | awk '{print $4}')
    awk -v c="$c" -v r="$rps" -v b="$raw" -v p50="$p50" -v p99="$p99" -v a="$anon" 'BEGIN {
        printf "%-9s %12.0f %12.0f %9.0f%% %10.2f %12.2f %12s\n", c, r, b, 100 * r / b,
            p50 / 1000, p99 / 1000, a }'
done

echo
echo "# steady 10,000 records/s for 10 s, 4 clients:"
"$build/tools/evident-load" --socket "$sock" --clients 4 --duration 10 --rate 10000 \
    --daemon-pid "$pid" | sed 's/^/  /'

echo
echo "# caller-thread cost of evident_record() (fire-and-forget), draining into evidentd:"
"$build/tests/bench/client-bench" --socket "$sock" --records 300000 | sed 's/^/  /'
