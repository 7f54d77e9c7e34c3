#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Witnessing benchmark: evidentd with two local evident-witness servers (quorum 2) beside the
# same daemon without witnesses, in the same run:
#   1. durable ingest throughput (evident-load, 4 clients, as fast as possible), without and
#      with the witnesses configured, three times each, interleaved (medians);
#   2. under a steady 10,000 records/s for DURATION seconds, the time from a checkpoint being
#      signed to its quorum of 2 cosignatures stored in the vault, p50/p99/max, as the daemon
#      reports it at stop (daemon/publish.c measures it: monotonic clock, per checkpoint that
#      reached the quorum; checkpoints signed while a submission was in flight are skipped
#      and counted).
#   tests/bench/witness-bench.sh [BUILD_DIR] [DATA_DIR]
set -eu
build=${1:-build}
data=${2:-$build/bench-data}/witness
records=${RECORDS:-200000}
duration=${DURATION:-10}
rm -rf "$data"
mkdir -p "$data"

echo "# command: $0 $*   (RECORDS=$records DURATION=$duration)"
echo "# $(nproc) cores, $(uname -r); data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"

pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

port_free() { # a TCP port nothing listens on
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

# The log's key, made here so that the witnesses can trust it before any vault exists. Every
# run below writes a fresh vault, so each has its own origin (a witness rightly refuses a
# second history under an origin it has cosigned): the trust files list the key under each.
openssl genpkey -algorithm ed25519 -out "$data/log.key" 2>/dev/null
chmod 600 "$data/log.key"
runs="a1 b1 a2 b2 a3 b3 steady"
vkeys=$(/usr/bin/python3 - "$data/log.key" $runs <<'EOF'
import base64, hashlib, sys
from cryptography.hazmat.primitives import serialization
sk = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
for run in sys.argv[2:]:
    name = "bench.example/witness-" + run
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4].hex()
    print("%s+%s+%s" % (name, kid, base64.b64encode(b"\x01" + pub).decode()))
EOF
)

wconf=""
for w in 1 2; do
    port=$(port_free)
    echo "$vkeys" > "$data/trust$w"
    vk=$("$build/tools/witness/evident-witness" --state "$data/w$w" --name "w$w.bench" --vkey)
    "$build/tools/witness/evident-witness" --listen "127.0.0.1:$port" --state "$data/w$w" \
        --name "w$w.bench" --trust "$data/trust$w" 2>>"$data/witness$w.log" &
    pids="$pids $!"
    wait_port "$port"
    wconf="$wconf
[witness w$w]
url = http://127.0.0.1:$port
vkey = $vk"
done

# run NAME WITNESSES(0|1) LOAD-ARGS...: a fresh vault, evident-load, a clean stop; prints the
# load's JSON on one line and leaves the daemon's log in $data/NAME.log
run() {
    name=$1; with=$2; shift 2
    conf="$data/$name.conf"
    printf '[daemon]\norigin = bench.example/witness-%s\nsigning_key = %s\n' "$name" \
        "$data/log.key" > "$conf"
    if [ "$with" = 1 ]; then printf 'witness_quorum = 2\n%s\n' "$wconf" >> "$conf"; fi
    rm -rf "$data/$name.vault"
    "$build/daemon/evidentd" --vault "$data/$name.vault" --socket "$data/$name.sock" \
        --config "$conf" --log-level notice 2>"$data/$name.log" &
    dp=$!
    wait_sock "$data/$name.sock"
    "$build/tools/evident-load" --socket "$data/$name.sock" --json "$@"
    kill -TERM $dp; wait $dp
}
rps() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["throughput_rps"])'; }

printf '\n%-28s %12s %12s %12s\n' "4 clients, $records records" "without" "with" "with/without"
a1=$(run a1 0 --clients 4 --records "$records" | rps)
b1=$(run b1 1 --clients 4 --records "$records" | rps)
a2=$(run a2 0 --clients 4 --records "$records" | rps)
b2=$(run b2 1 --clients 4 --records "$records" | rps)
a3=$(run a3 0 --clients 4 --records "$records" | rps)
b3=$(run b3 1 --clients 4 --records "$records" | rps)
/usr/bin/python3 - "$a1" "$a2" "$a3" "$b1" "$b2" "$b3" <<'EOF'
import statistics, sys
a = [float(x) for x in sys.argv[1:4]]
b = [float(x) for x in sys.argv[4:7]]
ma, mb = statistics.median(a), statistics.median(b)
print("%-28s %12.0f %12.0f %11.1f%%" % ("acked records/s (median of 3)", ma, mb, 100 * mb / ma))
print("%-28s %12s %12s" % ("  rounds", " ".join("%.0f" % x for x in a),
                             " ".join("%.0f" % x for x in b)))
EOF
grep -h "witnesses:" "$data/b1.log" "$data/b2.log" "$data/b3.log" | sed 's/^.*witnesses:/  witnesses:/'

echo
echo "# steady 10,000 records/s for $duration s, 4 clients, quorum 2 of 2 local witnesses:"
run steady 1 --clients 4 --duration "$duration" --rate 10000 |
    /usr/bin/python3 -c 'import json, sys
o = json.loads(sys.stdin.read())
print("  acked %.0f records/s, ack p50 %.2f ms p99 %.2f ms" % (o["throughput_rps"],
      o["ack_latency_us"]["p50"] / 1000, o["ack_latency_us"]["p99"] / 1000))'
grep -h "witnesses:" "$data/steady.log" | sed 's/^.*witnesses:/  witnesses:/'
"$build/tools/evidentctl" --vault "$data/steady.vault" status | grep -i -E "witness|cosign" |
    sed 's/^/  /'
