#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks the systemd integration: `units` (verify, security exposure, sysusers/tmpfiles and
# their agreement with the units; evident-witness's units too), `activation` (evidentd
# started the way evidentd.socket and Type=notify start it), `syscalls` (what evidentd calls
# passes SystemCallFilter=) and `witness-syscalls` (the same for evident-witness answering
# real add-checkpoint requests).
# Exit 0 pass, 1 fail, 77 skip (meson's convention).
#
# Environment: BUILD_DIR (default: build/ next to this source tree), EVIDENTD (default
# $BUILD_DIR/daemon/evidentd), EVIDENT_WITNESS (default
# $BUILD_DIR/tools/witness/evident-witness), TMPDIR.

set -eu

mode=${1:-}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-$srcdir/build}
# systemd-sysusers and systemd-tmpfiles resolve relative paths under --root.
build_dir=$(cd "$build_dir" && pwd) || exit 1
evidentd=${EVIDENTD:-$build_dir/daemon/evidentd}
python=/usr/bin/python3
max_exposure=1.0

service_in=$build_dir/systemd/evidentd.service
tmpfiles_in=$build_dir/systemd/evidentd-tmpfiles.conf
socket_in=$srcdir/systemd/evidentd.socket
sysusers_in=$srcdir/systemd/sysusers.d/evidentd.conf
evident_witness=${EVIDENT_WITNESS:-$build_dir/tools/witness/evident-witness}
witness_in=$build_dir/systemd/evident-witness.service
witness_socket_in=$srcdir/systemd/evident-witness.socket

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() {
    echo "ok: $*"
}
skip() {
    echo "SKIP: $*"
    exit 77
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evidentd-systemd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# unit_get FILE KEY: the last value assigned to KEY (what systemd uses for single values).
unit_get() {
    awk -v key="$2" 'index($0, key "=") == 1 { v = substr($0, length(key) + 2) }
        END { print v }' "$1"
}

# passwd_field FILE NAME FIELD: a field of NAME's line in a passwd or group file.
passwd_field() {
    awk -F: -v name="$2" -v f="$3" '$1 == name { print $f }' "$1"
}

check_units() {
    command -v systemd-analyze >/dev/null || skip "units (systemd-analyze not installed)"
    for f in "$service_in" "$tmpfiles_in" "$socket_in" "$sysusers_in"; do
        [ -r "$f" ] || {
            echo "FAIL: $f missing (configure and build first)" >&2
            exit 1
        }
    done

    units=$tmp/units
    mkdir "$units"
    if grep -n '@[a-z_]*@' "$service_in" "$tmpfiles_in"; then
        fail "unsubstituted @variables@ in the configured files"
    fi

    # The installed ExecStart names $bindir/evidentd, absent before `meson install`. verify
    # checks that every Exec*= binary exists, so the copy points at the build tree's daemon,
    # or at /bin/true while the daemon is not built (the command line is still parsed).
    exec_start=$(unit_get "$service_in" ExecStart)
    bin=${exec_start%% *}
    case $bin in
    /*/evidentd) ;;
    *) fail "ExecStart does not start with an absolute .../evidentd: $exec_start" ;;
    esac
    stand_in=$evidentd
    [ -x "$stand_in" ] || stand_in=/bin/true
    sed "s|^ExecStart=$bin |ExecStart=$stand_in |" "$service_in" >"$units/evidentd.service"
    cp "$socket_in" "$units/evidentd.socket"
    [ "$(grep -c "^ExecStart=$stand_in " "$units/evidentd.service")" = 1 ] ||
        fail "could not point ExecStart at $stand_in"

    # systemd-analyze verify exits 0 on most problems ("Unknown key ..., ignoring", "Failed to
    # parse ..., ignoring"), so any output at all is a failure. A canary with one unknown key
    # proves that this systemd still reports such lines; without it a silent verify would
    # pass anything.
    (cd "$units" && systemd-analyze verify --man=no --generators=no \
        ./evidentd.service ./evidentd.socket) >"$tmp/verify.out" 2>&1 || true
    if [ -s "$tmp/verify.out" ]; then
        cat "$tmp/verify.out" >&2
        fail "systemd-analyze verify reported problems"
    else
        ok "systemd-analyze verify: evidentd.service evidentd.socket (ExecStart=$stand_in)"
    fi
    mkdir "$units/canary"
    {
        cat "$units/evidentd.service"
        printf '[Service]\nNoSuchSetting=1\n'
    } >"$units/canary/evidentd.service"
    cp "$socket_in" "$units/canary/evidentd.socket"
    (cd "$units/canary" && systemd-analyze verify --man=no --generators=no \
        ./evidentd.service ./evidentd.socket) >"$tmp/canary.out" 2>&1 || true
    grep -q NoSuchSetting "$tmp/canary.out" ||
        fail "systemd-analyze verify ignores an unknown key here: its pass means nothing"

    # Exposure: systemd's --threshold takes tenths as an integer; parse the number instead so
    # the message says what was measured, and list the settings that cost points.
    (cd "$units" && SYSTEMD_COLORS=0 systemd-analyze security --offline=true \
        ./evidentd.service) >"$tmp/security.out" 2>&1 || true
    exposure=$(sed -n 's/^.*Overall exposure level for evidentd\.service: \([0-9.]*\).*$/\1/p' \
        "$tmp/security.out")
    if [ -z "$exposure" ]; then
        cat "$tmp/security.out" >&2
        fail "no exposure level in systemd-analyze security output"
    elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e + 0 <= m + 0) }'; then
        ok "systemd-analyze security --offline=true: exposure $exposure (<= $max_exposure)"
        grep -E ' [0-9]+\.[0-9]+ *$' "$tmp/security.out" | sed 's/  */ /g; s/^/    /' || true
    else
        grep -E ' [0-9]+\.[0-9]+ *$' "$tmp/security.out" >&2 || true
        fail "exposure $exposure > $max_exposure"
    fi

    check_agreement
    check_sysusers_tmpfiles
    check_witness_units
}

# evident-witness.service and .socket: verify, exposure, and what the two must agree on.
check_witness_units() {
    for f in "$witness_in" "$witness_socket_in"; do
        [ -r "$f" ] || {
            fail "$f missing (configure and build first)"
            return 0
        }
    done
    wunits=$tmp/witness-units
    mkdir "$wunits"
    if grep -n '@[a-z_]*@' "$witness_in"; then
        fail "unsubstituted @variables@ in $witness_in"
    fi
    exec_start=$(unit_get "$witness_in" ExecStart)
    bin=${exec_start%% *}
    case $bin in
    /*/evident-witness) ;;
    *) fail "ExecStart does not start with an absolute .../evident-witness: $exec_start" ;;
    esac
    stand_in=$evident_witness
    [ -x "$stand_in" ] || stand_in=/bin/true
    sed "s|^ExecStart=$bin |ExecStart=$stand_in |" "$witness_in" >"$wunits/evident-witness.service"
    cp "$witness_socket_in" "$wunits/evident-witness.socket"
    (cd "$wunits" && systemd-analyze verify --man=no --generators=no \
        ./evident-witness.service ./evident-witness.socket) >"$tmp/wverify.out" 2>&1 || true
    if [ -s "$tmp/wverify.out" ]; then
        cat "$tmp/wverify.out" >&2
        fail "systemd-analyze verify reported problems with evident-witness's units"
    else
        ok "systemd-analyze verify: evident-witness.service evident-witness.socket"
    fi
    (cd "$wunits" && SYSTEMD_COLORS=0 systemd-analyze security --offline=true \
        ./evident-witness.service) >"$tmp/wsecurity.out" 2>&1 || true
    exposure=$(sed -n 's/^.*Overall exposure level for evident-witness\.service: \([0-9.]*\).*$/\1/p' \
        "$tmp/wsecurity.out")
    if [ -z "$exposure" ]; then
        cat "$tmp/wsecurity.out" >&2
        fail "no exposure level for evident-witness.service"
    elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e + 0 <= m + 0) }'; then
        ok "evident-witness.service: exposure $exposure (<= $max_exposure)"
    else
        grep -E ' [0-9]+\.[0-9]+ *$' "$tmp/wsecurity.out" >&2 || true
        fail "evident-witness.service: exposure $exposure > $max_exposure"
    fi
    # No network of its own: the service gets its one socket from the socket unit.
    [ "$(unit_get "$witness_in" Type)" = notify ] || fail "evident-witness: Type= is not notify"
    [ "$(unit_get "$witness_in" PrivateNetwork)" = yes ] ||
        fail "evident-witness: PrivateNetwork= is not yes"
    [ "$(unit_get "$witness_in" RestrictAddressFamilies)" = AF_UNIX ] ||
        fail "evident-witness: RestrictAddressFamilies= is not AF_UNIX alone"
    case $exec_start in
    *--listen*) fail "evident-witness: ExecStart has --listen; the socket unit passes the socket" ;;
    esac
    [ "$(grep -c '^Listen' "$witness_socket_in")" = 1 ] ||
        fail "evident-witness.socket must listen on exactly one socket"
    [ "$(unit_get "$witness_socket_in" Service)" = evident-witness.service ] ||
        fail "evident-witness.socket: Service= is not evident-witness.service"
    wstate=$(echo "$exec_start" | sed -n 's/^.* --state \([^ ]*\).*$/\1/p')
    [ "$wstate" = "/var/lib/$(unit_get "$witness_in" StateDirectory)" ] ||
        fail "evident-witness: --state $wstate is not /var/lib/ + StateDirectory="
    ok "evident-witness units agree: socket-activated, Type=notify, --state $wstate"
}

# The four files name the same user, group, directories and modes.
check_agreement() {
    svc=$service_in
    user=$(unit_get "$svc" User)
    group=$(unit_get "$svc" Group)
    state=$(unit_get "$svc" StateDirectory)
    runtime=$(unit_get "$svc" RuntimeDirectory)
    listen=$(unit_get "$socket_in" ListenStream)
    [ "$(unit_get "$svc" Type)" = notify ] || fail "Type= is not notify"
    [ "$(unit_get "$svc" RuntimeDirectoryPreserve)" = yes ] ||
        fail "no RuntimeDirectoryPreserve=yes: a stop would unlink evidentd.socket's node"
    [ "${listen%/*}" = "/run/$runtime" ] ||
        fail "ListenStream=$listen is not in RuntimeDirectory=/run/$runtime"
    [ "$(unit_get "$socket_in" SocketGroup)" = "$group" ] || fail "SocketGroup= is not Group=$group"
    [ "$(unit_get "$socket_in" SocketUser)" = "$user" ] || fail "SocketUser= is not User=$user"
    [ "$(unit_get "$socket_in" SocketMode)" = 0660 ] || fail "SocketMode= is not 0660"
    [ "$(unit_get "$socket_in" Service)" = evidentd.service ] ||
        fail "Service= is not evidentd.service"
    # The socket unit keeps the node; fd 3 must be the one socket (LISTEN_FDS=1).
    [ "$(grep -c '^Listen' "$socket_in")" = 1 ] ||
        fail "the socket unit must listen on exactly one socket"
    ok "units agree: $user:$group, /var/lib/$state, $listen"
}

check_sysusers_tmpfiles() {
    root=$tmp/root
    mkdir -p "$root/etc"
    if ! systemd-sysusers --root="$root" "$sysusers_in" >"$tmp/sysusers.out" 2>&1; then
        cat "$tmp/sysusers.out" >&2
        fail "systemd-sysusers rejected $sysusers_in"
        return 0
    fi
    uid=$(passwd_field "$root/etc/passwd" "$user" 3)
    gid=$(passwd_field "$root/etc/group" "$group" 3)
    if [ -z "$uid" ] || [ -z "$gid" ]; then
        fail "sysusers.d does not create user $user and group $group"
        return 0
    fi
    [ "$(passwd_field "$root/etc/passwd" "$user" 6)" = "/var/lib/$state" ] ||
        fail "home of $user is not /var/lib/$state"
    case $(passwd_field "$root/etc/passwd" "$user" 7) in
    */nologin) ;;
    *) fail "shell of $user is not nologin" ;;
    esac

    ok "sysusers.d: user $user ($uid), group $group ($gid), home /var/lib/$state"

    if [ "$(id -u)" != 0 ]; then
        echo "note: not root, so tmpfiles.d is not applied (it chowns)"
        return 0
    fi
    if ! systemd-tmpfiles --root="$root" --create "$tmpfiles_in" >"$tmp/tmpfiles.out" 2>&1 ||
        [ -s "$tmp/tmpfiles.out" ]; then
        cat "$tmp/tmpfiles.out" >&2
        fail "systemd-tmpfiles reported problems with $tmpfiles_in"
    fi
    config=$(unit_get "$svc" ExecStart | sed -n 's/^.* --config \([^ ]*\).*$/\1/p')
    [ -n "$config" ] || fail "ExecStart has no --config FILE"
    # path owner:group mode, as the unit (and the daemon) needs them
    while read -r path want; do
        got=$(stat -c '%u:%g %a' "$root$path" 2>/dev/null) || got=missing
        if [ "$got" = "$want" ]; then
            ok "tmpfiles.d: $path $got"
        else
            fail "tmpfiles.d: $path is '$got', want '$want'"
        fi
    done <<EOF
/var/lib/$state $uid:$gid $(unit_get "$svc" StateDirectoryMode | sed 's/^0//')
/run/$runtime $uid:$gid $(unit_get "$svc" RuntimeDirectoryMode | sed 's/^0//')
${config%/*} 0:$gid 750
$config 0:$gid 640
EOF
}

check_activation() {
    command -v systemd-socket-activate >/dev/null ||
        skip "socket activation (systemd-socket-activate not installed)"
    [ -x "$python" ] || skip "socket activation ($python not installed)"
    [ -x "$evidentd" ] || skip "socket activation (EVIDENTD not built)"
    mkdir "$tmp/vault"
    printf '# empty: every key at its default\n' >"$tmp/evidentd.conf"
    "$python" - "$evidentd" "$tmp" <<'EOF'
# Plays systemd: binds the notify socket, lets systemd-socket-activate bind the ingest socket
# and exec evidentd on the first connection (fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=ingest), then
# checks READY=1, WATCHDOG=1, Hello -> HelloOk, SIGHUP, SIGTERM -> STOPPING=1 and exit 0.
import os, re, signal, socket, struct, subprocess, sys, time

evidentd, tmp = sys.argv[1], sys.argv[2]
ingest = os.path.join(tmp, "ingest.sock")
notify_path = os.path.join(tmp, "notify.sock")
not_bound = os.path.join(tmp, "not-bound.sock")
log_path = os.path.join(tmp, "evidentd.log")
WATCHDOG_USEC = 2000000  # WATCHDOG=1 expected every second
failures = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    failures.append(msg)


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(s):
    n, shift = 0, 0
    while True:
        b = read_exact(s, 1)[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return read_exact(s, n)


def fields(buf):
    """Top-level protobuf fields: {number: value} (varints as int, the rest as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                v |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
        elif wt == 2:
            ln, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                ln |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + ln]; i += ln
        elif wt == 5:
            v = buf[i:i + 4]; i += 4
        elif wt == 1:
            v = buf[i:i + 8]; i += 8
        else:
            raise ValueError("wire type %d" % wt)
        out[num] = v
    return out


def hello(name):
    """Connects, sends Hello{1, name}, returns the HelloOk fields or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(ingest)
        body = b"\x08\x01\x12" + varint(len(name)) + name.encode()
        frame = b"\x0a" + varint(len(body)) + body  # Frame{hello(1)}
        s.sendall(varint(len(frame)) + frame)
        f = fields(read_frame(s))
    except (OSError, EOFError, ValueError, IndexError) as e:
        fail("%s: no reply to Hello: %s" % (name, e))
        return None
    finally:
        s.close()
    if 2 not in f:
        err = fields(f[9]) if 9 in f else {}
        fail("%s: expected HelloOk (Frame field 2), got fields %s %s" % (name, sorted(f), err))
        return None
    ok = fields(f[2])
    if ok.get(1) != 1:
        fail("%s: HelloOk.protocol_version is %r" % (name, ok.get(1)))
    return ok


notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
messages = []  # (sender pid, {key: value})


def collect(until, timeout):
    """Reads notifications until until(messages) or the timeout; returns until's result."""
    end = time.monotonic() + timeout
    while not until(messages):
        left = end - time.monotonic()
        if left <= 0:
            return False
        notify.settimeout(left)
        try:
            data, anc, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return False
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:12])[0]
        kv = dict(l.split("=", 1) for l in data.decode(errors="replace").split("\n") if "=" in l)
        messages.append((pid, kv))
    return True


def status(rc):
    return "killed by %s" % signal.Signals(-rc).name if rc < 0 else "exit status %d" % rc


def seen(key, value=None):
    return lambda ms: any(key in kv and (value is None or kv[key] == value) for _, kv in ms)


# systemd-socket-activate passes only LISTEN_* and -E variables: forward the sanitizers'.
env_args = ["-E", "NOTIFY_SOCKET=" + notify_path, "-E", "WATCHDOG_USEC=%d" % WATCHDOG_USEC]
for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if name in os.environ:
        env_args += ["-E", name]
cmd = ["systemd-socket-activate", "-l", ingest, "--fdname=ingest"] + env_args + [
    evidentd, "--config", os.path.join(tmp, "evidentd.conf"),
    "--vault", os.path.join(tmp, "vault"), "--socket", not_bound]
log = open(log_path, "wb")
proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
try:
    end = time.monotonic() + 10
    while not os.path.exists(ingest) and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    if not os.path.exists(ingest):
        fail("systemd-socket-activate did not create %s" % ingest)
    else:
        # The first connection makes systemd-socket-activate exec evidentd in its own pid.
        if hello("sa-test") is not None:
            print("ok: socket-activated evidentd answered Hello with HelloOk")
        if os.path.exists(not_bound):
            fail("evidentd bound --socket although it was given a listening fd 3")
        if collect(seen("READY", "1"), 10):
            pids = {pid for pid, kv in messages if "READY" in kv}
            if pids != {proc.pid}:
                fail("READY=1 came from pid %s, not the main pid %d (NotifyAccess=main)"
                     % (sorted(pids, key=str), proc.pid))
            else:
                print("ok: READY=1 from the main pid")
        else:
            fail("no READY=1 on $NOTIFY_SOCKET (Type=notify would time out)")
        n = sum(1 for _, kv in messages if "WATCHDOG" in kv)
        if collect(lambda ms: sum(1 for _, kv in ms if "WATCHDOG" in kv) >= n + 2, 4):
            print("ok: WATCHDOG=1 at WATCHDOG_USEC/2")
        else:
            fail("fewer than 2 WATCHDOG=1 in 4 s with WATCHDOG_USEC=%d" % WATCHDOG_USEC)

        if proc.poll() is None:
            proc.send_signal(signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
            time.sleep(0.5)
            if proc.poll() is None and hello("sa-test-after-hup") is not None:
                print("ok: still serving after SIGHUP (reload)")

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            fail("evidentd did not exit within 30 s of SIGTERM")
        if rc != 0:
            fail("SIGTERM: %s, want exit status 0" % status(rc))
        else:
            print("ok: SIGTERM -> exit 0")
        if collect(seen("STOPPING", "1"), 1):
            print("ok: STOPPING=1")
        else:
            fail("no STOPPING=1 before exit")
    else:
        fail("evidentd ended before SIGTERM: %s" % status(proc.returncode))
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()

# journald reads the <N> prefix as the priority: every line evidentd writes carries one.
lines = open(log_path, "rb").read().decode(errors="replace").splitlines()
ours = [l for l in lines if not l.startswith(("Listening on ", "Communication attempt",
                                              "Execing ", "Trying to "))]
bad = [l for l in ours if l and not re.match(r"<[0-7]>", l)]
if bad:
    fail("log lines without a <N> syslog prefix: %r" % bad[:3])
if failures:
    print("--- evidentd stderr ---", file=sys.stderr)
    print("\n".join(lines), file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
}

# Runs evidentd under strace (start, Hello, SIGHUP, SIGTERM) and fails on any system call
# that the unit's SystemCallFilter= would refuse with EPERM. No systemd runs here, so this
# is how the filter meets the real daemon before production does.
check_syscalls() {
    command -v strace >/dev/null || skip "system calls (strace not installed)"
    command -v systemd-analyze >/dev/null || skip "system calls (systemd-analyze not installed)"
    [ -x "$python" ] || skip "system calls ($python not installed)"
    [ -x "$evidentd" ] || skip "system calls (EVIDENTD not built)"
    [ -r "$service_in" ] || {
        echo "FAIL: $service_in missing (configure and build first)" >&2
        exit 1
    }
    strace -f -qq -o /dev/null /bin/true 2>/dev/null || skip "system calls (ptrace not permitted)"
    mkdir "$tmp/vault"
    printf '# empty: every key at its default\n' >"$tmp/evidentd.conf"
    sock=$tmp/ingest.sock
    strace -f -qq -o "$tmp/trace" "$evidentd" --config "$tmp/evidentd.conf" \
        --vault "$tmp/vault" --socket "$sock" 2>"$tmp/evidentd.log" &
    spid=$!
    i=0
    while [ ! -S "$sock" ] && [ $i -lt 100 ] && kill -0 "$spid" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    pid=$(pgrep -P "$spid" || true)
    if [ ! -S "$sock" ] || [ -z "$pid" ]; then
        cat "$tmp/evidentd.log" >&2
        fail "evidentd did not listen on $sock under strace"
        kill "$spid" 2>/dev/null || true
        wait "$spid" || true
        return 0
    fi
    # A Hello exercises accept, read and write; its answer is checked by `activation`.
    "$python" - "$sock" <<'EOF' || true
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(bytes.fromhex("0d0a0b0801120773612d74657374"))
try:
    s.recv(4096)
except OSError:
    pass
EOF
    kill -HUP "$pid" 2>/dev/null || true
    sleep 0.5
    kill -TERM "$pid" 2>/dev/null || true
    wait "$spid" || true
    check_filter "$service_in" "$tmp/trace" evidentd
}

# check_filter UNIT TRACE PROGRAM: fails when a system call in strace's TRACE would be refused
# by UNIT's SystemCallFilter= lines.
check_filter() {
    grep '^SystemCallFilter=' "$1" >"$tmp/filter"
    "$python" - "$tmp/filter" "$2" "$3" <<'EOF'
# allowed = @default (systemd adds it to every allow list), then each assignment in order:
# an item adds to the allow list, a ~item removes from it (systemd.exec(5), allow-list mode)
import re, subprocess, sys


def expand(item, seen):
    if not item.startswith("@"):
        return {item}
    if item in seen:
        return set()
    seen.add(item)
    out = subprocess.run(["systemd-analyze", "syscall-filter", item], check=True,
                         capture_output=True, text=True).stdout.splitlines()[1:]
    names = set()
    for w in (l.strip() for l in out):
        if w and not w.startswith("#"):
            names |= expand(w, seen)
    return names


allowed = expand("@default", set())
for line in open(sys.argv[1]):
    value = line.split("=", 1)[1].strip()
    deny = value.startswith("~")
    for item in value.lstrip("~").split():
        names = expand(item.split(":")[0], set())
        allowed = allowed - names if deny else allowed | names
used = set()
for line in open(sys.argv[2]):
    m = re.match(r"\d+ +([a-z0-9_]+)\(", line)
    if m:
        used.add(m.group(1))
refused = sorted(used - allowed)
if refused:
    print("FAIL: SystemCallFilter= refuses system calls %s made: %s" % (
        sys.argv[3], " ".join(refused)), file=sys.stderr)
    sys.exit(1)
print("ok: all %d system calls %s made pass SystemCallFilter=" % (len(used), sys.argv[3]))
EOF
}

# Runs evident-witness under strace answering real add-checkpoint requests (a cosignature and
# refusals), then SIGTERM, and checks its system calls against its unit's SystemCallFilter=.
check_witness_syscalls() {
    command -v strace >/dev/null || skip "system calls (strace not installed)"
    command -v systemd-analyze >/dev/null || skip "system calls (systemd-analyze not installed)"
    [ -x "$python" ] || skip "system calls ($python not installed)"
    [ -x "$evident_witness" ] || skip "system calls (evident-witness not built)"
    sample=$build_dir/tools/evident-sample
    ctl=$build_dir/tools/evidentctl
    { [ -x "$sample" ] && [ -x "$ctl" ]; } ||
        skip "system calls (evident-sample, evidentctl not built)"
    [ -r "$witness_in" ] || {
        echo "FAIL: $witness_in missing (configure and build first)" >&2
        exit 1
    }
    strace -f -qq -o /dev/null /bin/true 2>/dev/null || skip "system calls (ptrace not permitted)"
    "$sample" --vault "$tmp/log" --records 3 --origin example.org/log >/dev/null
    "$ctl" --vault "$tmp/log" checkpoint --key >"$tmp/trust"
    "$ctl" --vault "$tmp/log" checkpoint >"$tmp/checkpoint"
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    strace -f -qq -o "$tmp/trace" "$evident_witness" --listen "127.0.0.1:$port" \
        --state "$tmp/witness" --name witness.example/w1 --trust "$tmp/trust" \
        2>"$tmp/witness.log" &
    spid=$!
    if ! "$python" - "$port" "$tmp/checkpoint" <<'EOF'; then
import http.client, socket, sys, time
port, note = int(sys.argv[1]), open(sys.argv[2], "rb").read()
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("evident-witness did not listen under strace")
        time.sleep(0.05)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for body, want in ((b"old 0\n\n" + note, 200), (b"old 1\n\n" + note, 409), (b"x", 400)):
    c.request("POST", "/add-checkpoint", body=body)
    r = c.getresponse()
    r.read()
    if r.status != want:
        sys.exit("status %d, want %d" % (r.status, want))
print("ok: evident-witness answered 200, 409 and 400 under strace")
EOF
        cat "$tmp/witness.log" >&2
        fail "evident-witness did not answer under strace"
    fi
    pid=$(pgrep -P "$spid" || true)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    wait "$spid" || true
    check_filter "$witness_in" "$tmp/trace" evident-witness
}

case $mode in
units) check_units ;;
activation) check_activation || failures=$((failures + 1)) ;;
syscalls) check_syscalls || failures=$((failures + 1)) ;;
witness-syscalls) check_witness_syscalls || failures=$((failures + 1)) ;;
*)
    echo "usage: $0 units|activation|syscalls|witness-syscalls" >&2
    exit 2
    ;;
esac
[ "$failures" = 0 ] || exit 1
