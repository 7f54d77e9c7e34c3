#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# scale-bench.sh: evidentctl and evidentd on a vault of ten million entries, each command beside
# the same command on a small vault and beside `cat` of a small file, in the same run.
#
#   tests/bench/scale-bench.sh [BUILD_DIR]
#
# Environment: RECORDS (default 10000000), BASE_RECORDS (default 100000), DATA (a folder on the
# disk to use; default a temporary one under /var/tmp, deleted at the end unless KEEP=1),
# REUSE=1 (use DATA's vaults when they are there: skips the generation), RUNS (default 3: each
# figure is the fastest of RUNS).
#
# Writes the vaults with evident-sample (records in transactions of 20,000; the rare entries
# (incident, audit, hold, release, prunes, an erasure, a second model version with its records)
# at the end, where a scan finds them last), then prints, for each command, its command line,
# the wall time (fastest of RUNS), the CPU time (user + system) and the peak resident memory on
# the big vault, on the small one and the baseline. A command that reads the whole big file
# shows it in its memory (the file's pages it touched count as resident) and its time. verify
# prints its entries per second; evidentd's start is the time from exec to the first record
# acknowledged; backtest's CPU time over its wall time shows how many cores it used.
# Needs df room for RECORDS * ~520 bytes (5.2 GB for ten million).
set -eu
build=${1:-build}
build=$(cd "$build" && pwd)
records=${RECORDS:-10000000}
base_records=${BASE_RECORDS:-100000}
runs=${RUNS:-3}
if [ -n "${DATA:-}" ]; then
    data=$DATA
    mkdir -p "$data"
else
    data=$(mktemp -d /var/tmp/scale-bench.XXXXXX)
fi
cleanup() {
    if [ -z "${KEEP:-}" ] && [ -z "${DATA:-}" ]; then rm -rf "$data"; fi
}
trap cleanup EXIT

need=$((records / 1000000 * 520 + 600))
avail=$(df -Pm "$data" | awk 'NR==2 {print $4}')
if [ "$avail" -lt "$need" ]; then
    echo "scale-bench: $data has $avail MiB free, the vaults need about $need MiB" >&2
    exit 1
fi

echo "# command: $0 $*   (RECORDS=$records BASE_RECORDS=$base_records RUNS=$runs)"
echo "# $(nproc) cores, $(uname -r), $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB;" \
    "data in $data ($(df -T "$data" | awk 'NR==2 {print $2}'))"

# make N DIR: a sample vault of N records, the rare entries at its end
make() {
    n=$1
    v=$2
    if [ -n "${REUSE:-}" ] && [ -f "$v/data.mdb" ]; then
        echo "# reusing $v"
        return
    fi
    rm -rf "$v"
    last=$((n + 2))
    t0=$(date +%s.%N)
    "$build/tools/evident-sample" --vault "$v" --records "$n" --subject alice \
        --subject-every $((n / 100)) --incident $((last - 5)) --hold $((last - 4)) \
        --prune $((last - 3)) --no-checkpoint > /dev/null
    "$build/tools/evident-sample" --vault "$v" --records 100 --model-version 2.0.0 \
        --release "hold-$((last - 4))" --erase alice > /dev/null
    t1=$(date +%s.%N)
    echo "# generated $v: $n records + rare entries in $(echo "$t1 - $t0" | bc) s," \
        "$(du -m "$v/data.mdb" | cut -f1) MiB:"
    echo "#   $build/tools/evident-sample --vault $v --records $n --subject alice" \
        "--subject-every $((n / 100)) --incident $((last - 5)) --hold $((last - 4))" \
        "--prune $((last - 3)) --no-checkpoint"
    echo "#   $build/tools/evident-sample --vault $v --records 100 --model-version 2.0.0" \
        "--release hold-$((last - 4)) --erase alice"
}
big=$data/big
small=$data/small
make "$records" "$big"
make "$base_records" "$small"
printf 'small file\n' > "$data/small.txt"

/usr/bin/python3 - "$build" "$big" "$small" "$data" "$runs" <<'EOF'
import os, re, signal, subprocess, sys, tempfile, time

build, big, small, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctl = os.path.join(build, "tools", "evidentctl")

def timed(argv):
    """One run under GNU time (its peak RSS is the command's own, not this Python's):
    (wall s, cpu s, max RSS MiB, stdout, stderr, exit status)."""
    with tempfile.NamedTemporaryFile("r", dir=data) as tf:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%U %S %M"] + argv,
                           capture_output=True, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        u, sy, m = tf.read().split()[-3:]
    return (wall, float(u) + float(sy), int(m) / 1024, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"), p.returncode)

def measure(argv):
    """Fastest of `runs` runs: (wall, cpu, rss MiB, stdout)."""
    best = None
    for _ in range(runs):
        r = timed(argv)
        if r[5] != 0:
            sys.exit(f"scale-bench: {' '.join(argv)}: exit {r[5]}: {r[4][-500:]}")
        if best is None or r[0] < best[0]:
            best = r
    return best

def size(v):
    out = subprocess.run([ctl, "--vault", v, "--json", "status"], capture_output=True, text=True)
    m = re.search(r'"(?:size|entries)":\s*(\d+)', out.stdout)
    return int(m.group(1)) if m else 0

nb, ns = size(big), size(small)
base = measure(["cat", os.path.join(data, "small.txt")])
print(f"# baseline: cat {os.path.join(data, 'small.txt')}: {base[0]*1000:.0f} ms wall, "
      f"{base[2]:.1f} MiB")
print(f"# big vault {nb} entries, small vault {ns} entries; fastest of {runs} runs")
print(f"{'command (on VAULT)':<58} {'big ms':>7} {'cpu ms':>7} {'MiB':>6}   "
      f"{'small ms':>8} {'MiB':>6}")

def row(args, big_args=None, small_args=None):
    b = measure([ctl, "--vault", big] + (big_args or args))
    s = measure([ctl, "--vault", small] + (small_args or args))
    label = "evidentctl " + " ".join(big_args or args)
    print(f"{label:<58} {b[0]*1000:>7.0f} {b[1]*1000:>7.0f} {b[2]:>6.1f}   "
          f"{s[0]*1000:>8.0f} {s[2]:>6.1f}", flush=True)
    return b, s

types = ["record", "model", "artifact", "incident", "audit", "review", "lifecycle", "config",
         "prune", "verdict", "notice", "hold", "release", "erasure"]
row(["status"])
for t in types:
    row(["log", "--type", t, "--limit", "10"])
row(["log", "--model", "credit-risk@2.0.0", "--limit", "10"])
row(["log", "--model", "credit-risk", "--limit", "10"])
row(["log", "--model", "credit-risk@1.0.0", "--from", str(nb // 2), "--limit", "10"],
    small_args=["log", "--model", "credit-risk@1.0.0", "--from", str(ns // 2), "--limit", "10"])
row(["models"])
row(["tail", "-n", "10"])
row(["incidents"])
row(["show", str(nb // 2)], small_args=["show", str(ns // 2)])
row(["prove", str(nb // 2)], small_args=["prove", str(ns // 2)])
row(["consistency", str(nb // 3), str(nb)], small_args=["consistency", str(ns // 3), str(ns)])
inc = measure([ctl, "--vault", big, "--json", "log", "--type", "incident", "--limit", "1"])[3]
incs = measure([ctl, "--vault", small, "--json", "log", "--type", "incident", "--limit", "1"])[3]
ib = re.search(r'"seq":\s*(\d+)', inc).group(1)
isml = re.search(r'"seq":\s*(\d+)', incs).group(1)
row(["report", ib, "--format", "md"], small_args=["report", isml, "--format", "md"])

# verify: every entry, entries/s and memory
for v, n in ((big, nb), (small, ns)):
    wall, cpu, rss, out, err, rc = timed([ctl, "--vault", v, "verify"])
    print(f"evidentctl verify ({'big' if v == big else 'small'}): {wall:.2f} s wall, "
          f"{cpu:.2f} s cpu, {n / wall / 1e6:.2f} M entries/s, max RSS {rss:.0f} MiB"
          f"{'' if rc == 0 else ', exit ' + str(rc)}: {out.splitlines()[0][:60] if out else err[-200:]}",
          flush=True)

# backtest: CPU over wall = cores used
for v in (big, small):
    wall, cpu, rss, out, err, rc = timed([ctl, "--vault", v, "backtest", "--when", "score > 0.9"])
    print(f"evidentctl backtest --when 'score > 0.9' ({'big' if v == big else 'small'}): "
          f"{wall:.2f} s wall, {cpu:.2f} s cpu ({cpu / wall:.2f} cores), max RSS {rss:.0f} MiB"
          f"{'' if rc == 0 else ', exit ' + str(rc) + ': ' + err[-200:]}", flush=True)

# evidentd start: exec to the first acknowledged record
for v in (big, small):
    sock = os.path.join(data, "bench.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    conf = os.path.join(data, "evidentd.conf")
    with open(conf, "w") as f:
        f.write("")
    t0 = time.monotonic()
    d = subprocess.Popen([os.path.join(build, "daemon", "evidentd"), "--config", conf,
                          "--vault", v, "--socket", sock, "--log-level", "warning"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        if d.poll() is not None:
            sys.exit("scale-bench: evidentd exited")
        time.sleep(0.002)
    t_sock = time.monotonic() - t0
    subprocess.run([os.path.join(build, "tools", "evident-load"), "--socket", sock, "--clients",
                    "1", "--records", "1"], capture_output=True, check=True)
    t_ack = time.monotonic() - t0
    d.send_signal(signal.SIGTERM)
    d.wait()
    print(f"evidentd start ({'big' if v == big else 'small'}): socket after {t_sock*1000:.0f} ms, "
          f"first record acknowledged after {t_ack*1000:.0f} ms", flush=True)
EOF
