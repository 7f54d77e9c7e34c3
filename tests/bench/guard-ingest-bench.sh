#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ingest with 10 guards beside ingest without, in the same run: evidentd under evident-load
# (4 clients, ~1 KiB records, 50 features f0..f49 uniform in [0, 1), context.amount uniform in
# [0, 1000)), with no [guard] section; with 10 guards that catch nothing (each evaluated on
# every record: feature comparisons, arithmetic, a label list); and with the same 10 guards
# where one holds 1% of the records (context.amount >= 990: a Verdict HOLD after each of
# those Acks and a verdict entry in the vault); alternating for ROUNDS rounds, the median of
# each (and the median of the ratios within a round, steadier on a shared machine).
#   tests/bench/guard-ingest-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}
records=${RECORDS:-200000}
rounds=${ROUNDS:-3}
mkdir -p "$data"
echo "# command: $0 $*   (RECORDS=$records ROUNDS=$rounds)"

guards() { # $1: the first guard's condition
    printf '[daemon]\n'
    printf '[guard g0]\nwhen = %s\naction = hold\nreason = amount at the desk limit\n' "$1"
    printf '[guard g1]\nwhen = feature.f0 > 2 && decision == "decline"\naction = hold\nreason = r\n'
    printf '[guard g2]\nwhen = feature.f1 + feature.f2 > 5\naction = review\nreason = r\n'
    printf '[guard g3]\nwhen = abs(feature.f3 - 0.5) > 1\naction = review\nreason = r\n'
    printf '[guard g4]\nwhen = score > 2 || score < -1\naction = hold\nreason = r\n'
    printf '[guard g5]\nwhen = label.desk in ["none", "other"]\naction = hold\nreason = r\n'
    printf '[guard g6]\nwhen = max(feature.f4, feature.f5, feature.f6) > 1.5\naction = review\nreason = r\n'
    printf '[guard g7]\nwhen = context.amount < 0\naction = hold\nreason = r\n'
    printf '[guard g8]\nwhen = feature.f7 * feature.f8 > 3 && feature.f9 < 0\naction = review\nreason = r\n'
    printf '[guard g9]\nmodel = none\nwhen = true\naction = hold\nreason = another model\n'
}
guards 'context.amount > 1e9' > "$data/guards-none.conf"
guards 'context.amount >= 990' > "$data/guards-1pct.conf"
printf '' > "$data/empty.conf"

run() { # $1: config file; prints acked records/s
    rm -rf "$data/gib"
    mkdir -p "$data/gib"
    "$build/daemon/evidentd" --vault "$data/gib/vault" --socket "$data/gib/s.sock" \
        --config "$1" --log-level warning &
    pid=$!
    i=0
    while [ ! -S "$data/gib/s.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    "$build/tools/evident-load" --socket "$data/gib/s.sock" --clients 4 --records "$records" \
        --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["throughput_rps"])'
    kill -TERM $pid
    wait $pid || true
}

none="" idle="" held=""
r=0
while [ $r -lt "$rounds" ]; do
    none="$none $(run "$data/empty.conf")"
    idle="$idle $(run "$data/guards-none.conf")"
    held="$held $(run "$data/guards-1pct.conf")"
    r=$((r + 1))
done
count() { "$build/tools/evidentctl" --vault "$data/gib/vault" --json log --type "$1" | wc -l; }
/usr/bin/python3 - "$none" "$idle" "$held" "$(count verdict)" "$(count record)" <<'PY'
import statistics, sys
runs = [[float(x) for x in a.split()] for a in sys.argv[1:4]]
a, b, c = (statistics.median(r) for r in runs)
print("%-34s %12s" % ("", "acked rec/s (median)"))
for name, m, r in (("no guards", a, runs[0]), ("10 guards, none catching", b, runs[1]),
                   ("10 guards, 1% held", c, runs[2])):
    print("%-34s %12.0f   rounds: %s" % (name, m, " ".join("%.0f" % x for x in r)))
print("10 guards / none, medians: %.1f%% (none catching), %.1f%% (1%% held)"
      % (100 * b / a, 100 * c / a))
# the machine is shared: each round's configurations ran back to back, so the ratio within a
# round is steadier than the ratio of medians
rb = [y / x for x, y in zip(runs[0], runs[1])]
rc = [y / x for x, y in zip(runs[0], runs[2])]
print("10 guards / none, median of per-round ratios: %.1f%% (none catching), %.1f%% (1%% held)"
      % (100 * statistics.median(rb), 100 * statistics.median(rc)))
print("last (1%% held) vault: %s verdict entries, %s records" % tuple(sys.argv[4:6]))
PY
rm -rf "$data/gib"
