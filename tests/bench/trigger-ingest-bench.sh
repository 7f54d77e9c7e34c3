#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Ingest with triggers beside ingest without, in the same run: evidentd under evident-load
# (4 clients, ~1 KiB records), with no [trigger] section; with a rule that fires on 1% of the
# records (context.amount >= 990; evident-load's amounts are uniform in [0, 1000)) at its
# default rate limit (10/s, burst 20: the excess is recorded as RATE_LIMITED incidents, as
# in production) plus two rules that never fire; and with the same rule unlimited (every
# firing audited by the workers, which compete for the same CPUs); alternating for ROUNDS
# rounds, the median of each.
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
methods = linear, flip
[trigger never]
when = score > 2 && label.desk in ["fx", "rates"]
[trigger other-model]
model = none
when = true
CONF
cat > "$data/unlimited.conf" <<'CONF'
[daemon]
[trigger large]
when = context.amount >= 990
methods = linear, flip
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

none="" with="" unl=""
r=0
while [ $r -lt "$rounds" ]; do
    none="$none $(run "$data/empty.conf")"
    with="$with $(run "$data/triggers.conf")"
    unl="$unl $(run "$data/unlimited.conf")"
    r=$((r + 1))
done
count() { "$build/tools/evidentctl" --vault "$data/tib/vault" --json log --type "$1" | wc -l; }
/usr/bin/python3 - "$none" "$with" "$unl" "$(count incident)" "$(count audit)" \
    "$(count notice)" "$records" <<'PY'
import statistics, sys
runs = [[float(x) for x in a.split()] for a in sys.argv[1:4]]
a, b, c = (statistics.median(r) for r in runs)
print("%-34s %12s" % ("", "acked rec/s (median)"))
for name, m, r in (("no triggers", a, runs[0]), ("1% firing, rate-limited (default)", b, runs[1]),
                   ("1% firing, every firing audited", c, runs[2])):
    print("%-34s %12.0f   rounds: %s" % (name, m, " ".join("%.0f" % x for x in r)))
print("rate-limited / none: %.0f%%; every firing audited / none: %.0f%%"
      % (100 * b / a, 100 * c / a))
print("last (unlimited) vault: %s incidents, %s audits, %s audit-skipped notices, %s records"
      % tuple(sys.argv[4:8]))
PY
rm -rf "$data/tib"
