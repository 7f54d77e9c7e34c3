#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ingest with triggers beside ingest without, in the same run: evidentd under evident-load
# (4 clients, ~1 KiB records), once with no [trigger] section and once with a rule that
# fires on 1% of the records (context.amount >= 990; evident-load's amounts are uniform in
# [0, 1000)) plus two rules that never fire, alternating for ROUNDS rounds; the median of each.
#   tests/bench/trigger-ingest-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}
records=${RECORDS:-200000}
rounds=${ROUNDS:-3}
mkdir -p "$data"
echo "# command: $0 $*   (RECORDS=$records ROUNDS=$rounds)"

cat > "$data/triggers.conf" <<'CONF'
[daemon]
[trigger large]
when = context.amount >= 990
methods = treeshap, flip
rate_limit = 1000000/s
burst = 1000000
[trigger never]
when = score > 2 && label.desk in ["fx", "rates"]
[trigger other-model]
model = none
when = true
CONF
printf '' > "$data/empty.conf"

run() { # $1: config file; prints acked records/s
    rm -rf "$data/tib"
    mkdir -p "$data/tib"
    "$build/daemon/evidentd" --vault "$data/tib/vault" --socket "$data/tib/s.sock" \
        --config "$1" --log-level warning &
    pid=$!
    i=0
    while [ ! -S "$data/tib/s.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    "$build/tools/evident-load" --socket "$data/tib/s.sock" --clients 4 --records "$records" \
        --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["throughput_rps"])'
    kill -TERM $pid
    wait $pid || true
}

none="" with=""
r=0
while [ $r -lt "$rounds" ]; do
    none="$none $(run "$data/empty.conf")"
    with="$with $(run "$data/triggers.conf")"
    r=$((r + 1))
done
incidents=$("$build/tools/evidentctl" --vault "$data/tib/vault" --json log --type incident |
    wc -l)
/usr/bin/python3 - "$none" "$with" "$incidents" "$records" <<'PY'
import statistics, sys
none = [float(x) for x in sys.argv[1].split()]
with_ = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(none), statistics.median(with_)
print("%-24s %12s" % ("", "acked rec/s (median)"))
print("%-24s %12.0f   rounds: %s" % ("no triggers", a, " ".join("%.0f" % x for x in none)))
print("%-24s %12.0f   rounds: %s" % ("3 rules, 1% firing", b, " ".join("%.0f" % x for x in with_)))
print("with / without: %.0f%%; incidents in the last vault: %s of %s records"
      % (100 * b / a, sys.argv[3], sys.argv[4]))
PY
rm -rf "$data/tib"
