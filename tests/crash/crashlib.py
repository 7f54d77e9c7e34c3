# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the crash loops (kill_loop.py, disk_full_loop.py): the protobuf modules
generated from proto/ with protoc, a raw protocol connection, the daemon as a child process,
evidentctl, a bulk reader of the vault's payloads (mdb_dump, vault/FORMAT.md §2) and the
deterministic test model and records.

Nothing here imports the client libraries: the loops speak the wire protocol themselves, so a
bug in a client cannot hide a bug in the daemon.
"""
import collections
import hashlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TIMEOUT = 30.0

pb = None  # evident_pb2 (wire), set by load_protos()
epb = None  # entry_pb2 (vault payloads)


class Violation(Exception):
    """A broken promise: the loop stops and names it."""


def load_protos(workdir):
    """Generates evident_pb2 and entry_pb2 from proto/ into workdir/pb and imports them."""
    global pb, epb
    out = os.path.join(workdir, "pb")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(ROOT, "proto")
    r = subprocess.run(["protoc", "-I" + src, "--python_out=" + out,
                        os.path.join(src, "evident.proto"), os.path.join(src, "entry.proto")],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("protoc failed (apt-get install protobuf-compiler): " + r.stderr)
    sys.path.insert(0, out)
    import evident_pb2
    import entry_pb2
    pb, epb = evident_pb2, entry_pb2


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Conn:
    """A raw protocol connection: delimited Frames in and out."""

    def __init__(self, path, name, timeout=TIMEOUT):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.buf = bytearray()
        try:
            self.s.connect(path)
            self.send(pb.Frame(hello=pb.Hello(protocol_version=1, client_name=name)))
            f = self.recv()
        except BaseException:
            self.s.close()
            raise
        if not f.HasField("hello_ok"):
            self.s.close()
            raise Violation("Hello answered with %s" % f)

    # Deterministic serialization (map entries sorted by key): a resent record is the same
    # bytes. (The daemon compares a retry with the stored record field by field but map
    # entries in wire order, so the same labels in another order would be CONFLICT.)
    def send(self, frame):
        b = frame.SerializeToString(deterministic=True)
        self.s.sendall(varint(len(b)) + b)

    def send_many(self, frames):
        self.s.sendall(b"".join(varint(len(b)) + b for b in
                                (f.SerializeToString(deterministic=True) for f in frames)))

    def _frame(self):
        n = shift = pos = 0
        while pos < len(self.buf):
            b = self.buf[pos]
            n |= (b & 0x7F) << shift
            shift += 7
            pos += 1
            if not b & 0x80:
                if len(self.buf) < pos + n:
                    return None
                f = pb.Frame()
                f.ParseFromString(bytes(self.buf[pos:pos + n]))
                del self.buf[:pos + n]
                return f
        return None

    def recv(self):
        """The next frame; EOFError when the daemon closed (after every frame it sent)."""
        while True:
            f = self._frame()
            if f is not None:
                return f
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError("the daemon closed the connection")
            self.buf += d

    def close(self):
        self.s.close()


class Daemon:
    """evidentd as a child process on a vault and socket of ours."""

    def __init__(self, build, workdir, vault, config_text):
        self.evidentd = os.path.join(build, "daemon", "evidentd")
        self.evidentctl = os.path.join(build, "tools", "evidentctl")
        self.vault = vault
        self.sock = os.path.join(workdir, "ingest.sock")
        self.log = os.path.join(workdir, "evidentd.log")
        self.config = os.path.join(workdir, "evidentd.conf")
        self.write_config(config_text)
        self.proc = None
        self.spawned_ns = 0
        self.starts = 0

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def spawn(self):
        """Starts the process without waiting for its socket."""
        if os.path.exists(self.sock):
            os.unlink(self.sock)  # left by a SIGKILL: its presence would mean nothing
        with open(self.log, "a") as logf:
            self.spawned_ns = time.time_ns()
            self.proc = subprocess.Popen([self.evidentd, "--vault", self.vault, "--socket",
                                          self.sock, "--config", self.config],
                                         stdout=logf, stderr=logf)
        self.starts += 1

    def wait_ready(self, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise Violation("evidentd exited with %d at start:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                with socket.socket(socket.AF_UNIX) as s:
                    try:
                        s.connect(self.sock)
                        return
                    except OSError:
                        pass
            time.sleep(0.002)
        raise Violation("evidentd did not listen within %.0f s:\n%s" % (timeout,
                                                                         self.log_tail()))

    def start(self):
        self.spawn()
        self.wait_ready()

    def threads(self):
        """What each thread of the daemon is doing: state and kernel wait channel, e.g.
        "D:jbd2_log_wait_commit" for one waiting in fsync."""
        out = []
        base = "/proc/%d/task" % self.proc.pid
        try:
            for tid in sorted(os.listdir(base), key=int):
                with open("%s/%s/stat" % (base, tid)) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open("%s/%s/wchan" % (base, tid)) as f:
                    wchan = f.read().strip() or "-"
                out.append("%s:%s" % (state, wchan))
        except OSError:
            pass
        return " ".join(out)

    def kill(self):
        """SIGKILL; returns the wall-clock time (ns) just before it was sent and what the
        threads were doing then."""
        threads = self.threads()
        t = time.time_ns()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return t, threads

    def term(self, timeout=120):
        """SIGTERM (a drain); returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Violation("evidentd did not exit within %d s of SIGTERM" % timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ctl(self, *args, check=True, timeout=600):
        r = subprocess.run([self.evidentctl, "--vault", self.vault] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Violation("evidentctl %s: exit %d: %s%s" % (" ".join(args), r.returncode,
                                                             r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def ctl_json_lines(self, *args):
        return [json.loads(line) for line in self.ctl("--json", *args).stdout.splitlines()
                if line]

    def verify(self):
        """evidentctl verify --json: the report (Violation when it does not pass)."""
        r = self.ctl("verify", "--json", check=False)
        try:
            rep = json.loads(r.stdout)
        except ValueError:
            rep = None
        if r.returncode != 0 or not rep or not rep.get("ok"):
            raise Violation("evidentctl verify failed (exit %d): %s %s" % (
                r.returncode, r.stdout.strip(), r.stderr.strip()))
        return rep


def mdb_dump_db(vault, db, wanted):
    """The values of the keys (big-endian u64 seqs) in `wanted` (a set) of LMDB database `db`
    of the vault, read with mdb_dump. Independent of evidentctl; safe while the daemon writes
    (a read transaction)."""
    r = subprocess.run(["mdb_dump", "-s", db, vault], capture_output=True, timeout=600)
    if r.returncode:
        raise Violation("mdb_dump %s: %s" % (vault, r.stderr.decode(errors="replace")))
    lines = r.stdout.split(b"\n")
    i = lines.index(b"HEADER=END") + 1
    out = {}
    while i + 1 < len(lines) and lines[i] != b"DATA=END":
        seq = int(lines[i], 16)
        if seq in wanted:
            out[seq] = bytes.fromhex(lines[i + 1].strip().decode())
        i += 2
    return out


NONCE_LEN = 16  # vault/FORMAT.md §3: a version-2 leaf's payload is stored as nonce || payload


def dump_payloads(vault, wanted):
    """The payloads of the seqs in `wanted` (a set), from the vault's `payloads` database
    (vault/FORMAT.md §2), without the nonce a version-2 entry stores before its payload (the
    version is the first byte of the entry's leaf, in `leaves`)."""
    raw = mdb_dump_db(vault, "payloads", wanted)
    leaves = mdb_dump_db(vault, "leaves", set(raw))
    out = {}
    for seq, value in raw.items():
        version = leaves[seq][0]
        if version not in (1, 2):
            raise Violation("entry %d: leaf version %d" % (seq, version))
        out[seq] = value[NONCE_LEN:] if version == 2 else value
    return out


# ---------------------------------------------------------------- the model and its records

MODEL_ID, MODEL_VERSION = "crash-lin", "1"
FEATURES = ["f0", "f1", "f2", "f3", "f4", "f5"]
LINEAR = {"intercept": -0.3, "coef": [1.5, -0.8, 0.6, 0.25, -0.4, 0.1], "link": "logit",
          "feature_names": FEATURES}
T0 = 1_764_000_000 * 10 ** 9


def artifact():
    return json.dumps(LINEAR, sort_keys=True).encode()


def manifest():
    art = artifact()
    m = pb.ModelManifest(model_id=MODEL_ID, version=MODEL_VERSION, framework="linear-json",
                         output_space="probability",
                         artifact_sha256=hashlib.sha256(art).hexdigest(),
                         artifact_size=len(art))
    m.decision.kind = pb.DecisionRule.THRESHOLD
    m.decision.threshold = 0.5
    m.decision.label_below = "no"
    m.decision.label_above = "yes"
    for n in FEATURES:
        m.features.add(name=n, min=-3, max=3)
    m.lineage.training_data_sha256 = "ab" * 32
    m.lineage.code_commit = "c0ffee"
    return m


def register(conn):
    """Registers the model on conn (answering ArtifactRequests); returns the final frame."""
    art = artifact()
    m = manifest()
    conn.send(pb.Frame(register_model=pb.RegisterModel(manifest=m)))
    while True:
        f = conn.recv()
        if not f.HasField("artifact_request"):
            return f
        conn.send(pb.Frame(artifact_chunk=pb.ArtifactChunk(
            model_id=m.model_id, version=m.version, kind=pb.ArtifactChunk.MODEL, offset=0,
            data=art, last=True)))


def content(client, i):
    """Record i of client k, the same bytes whenever it is (re)sent: (features, deadline_ms).
    Features are multiples of 1/1024 in [-3, 3) so every comparison with the trigger
    thresholds below is exact in C and in Python."""
    h = hashlib.sha256(b"%s/%d" % (client.encode(), i)).digest()
    x = [(struct.unpack_from(">H", h, 2 * j)[0] % 6144 - 3072) / 1024.0
         for j in range(len(FEATURES))]
    # one record in eight asks for a verdict; the deadlines range from shorter than a commit
    # (PENDING before the record is durable) to longer than any audit
    d = h[20]
    deadline = (0, 2, 15, 60, 250, 1000, 3000, 10000)[h[21] % 8] if d % 8 == 0 else 0
    return x, deadline


def score(x):
    m = LINEAR["intercept"] + sum(c * v for c, v in zip(LINEAR["coef"], x))
    return 1.0 / (1.0 + math.exp(-m))


def record_frame(client, i, min_deadline=0, extra_labels=None):
    """Record i of client k as a Frame; a deadline is raised to min_deadline (ms)."""
    x, deadline = content(client, i)
    if deadline:
        deadline = max(deadline, min_deadline)
    p = score(x)
    rec = pb.Record(model_id=MODEL_ID, model_version=MODEL_VERSION,
                    request_id=request_id(client, i), timestamp_unix_ns=T0 + i,
                    features=x, scores=[p], decision="yes" if p >= 0.5 else "no",
                    context={"i": float(i)}, labels={"desk": "fx"},
                    verdict_deadline_ms=deadline)
    if extra_labels:
        for k, v in extra_labels.items():
            rec.labels[k] = v
    return pb.Frame(record=rec)


def request_id(client, i):
    return "%s-%d" % (client, i)


def parse_request_id(rid):
    client, i = rid.rsplit("-", 1)
    return client, int(i)


# The trigger rules of both loops and their evaluation in Python (the same comparisons the
# daemon's compiled expressions make; features are exact binary fractions).
TRIGGERS = """
[trigger hi]
model = crash-lin
when = feature.f0 > 2.25 && label.desk == "fx"
methods = linear, flip
rate_limit = 1000/s
burst = 1000
[trigger slow]
model = crash-lin
when = feature.f1 < -2.875 && feature.f2 > 2.0 && decision == "yes"
methods = linear, counterfactual, flip, adversarial
review_below = 0.9
rate_limit = 1000/s
burst = 1000
"""


def fires(client, i):
    """The rules record i of client k fires, by name."""
    x, _ = content(client, i)
    out = []
    if x[0] > 2.25:
        out.append("hi")
    if x[1] < -2.875 and x[2] > 2.0 and score(x) >= 0.5:
        out.append("slow")
    return out


class Vault:
    """What the checks know about the vault, read incrementally: it is append-only, and a
    full verify after each kill shows that what was read before has not changed."""

    def __init__(self, d, problem):
        self.d = d
        self.problem = problem
        self.size = 0
        self.last_ts = 0
        self.type_of = {}  # seq -> entry type, for the entries that are not records
        self.rec_seqs = collections.defaultdict(list)  # request id -> [seq]
        self.rid_of = {}  # record seq -> request id
        self.starts = []  # seqs of START entries
        self.unread_incidents = []  # (seq, timestamp) of incidents not looked up yet
        self.incidents = {}  # incident seq -> (record_seq, trigger, status)
        self.incident_of = {}  # (record_seq, trigger) -> incident seq
        self.expected = set()  # (record_seq, trigger) that must have an incident
        self.payload = {}  # seq -> decoded verdict / audit / notice payload

    def refresh(self):
        """Reads the entries appended since the last call."""
        for e in self.d.ctl_json_lines("log", "--from", str(self.size)):
            seq = e["seq"]
            if seq != self.size:
                raise Violation("evidentctl log: entry %d follows %d" % (seq, self.size - 1))
            self.size += 1
            t = e["type"]
            if e["timestamp_ns"] < self.last_ts:
                self.problem("vault", "entry %d: its timestamp goes back" % seq)
            self.last_ts = e["timestamp_ns"]
            if t == "record" and "request_id" not in e:
                self.problem("entry unreadable", "record entry %d: %s" % (
                    seq, e.get("payload_problem", "no request id")))
                continue
            if t == "record":
                rid = e["request_id"]
                self.rec_seqs[rid].append(seq)
                self.rid_of[seq] = rid
                if len(self.rec_seqs[rid]) > 1:
                    self.problem("stored twice", "record %s at seqs %s" % (
                        rid, self.rec_seqs[rid]))
                    continue
                client, i = parse_request_id(rid)
                for trig in fires(client, i):
                    self.expected.add((seq, trig))
                continue
            self.type_of[seq] = t
            if t == "incident":
                self.unread_incidents.append((seq, e["timestamp_ns"]))
            elif t == "lifecycle" and e.get("event") == "START":
                self.starts.append(seq)

    def refresh_incidents(self):
        """Looks up the incidents appended since the last call (evidentctl incidents)."""
        fresh, self.unread_incidents = self.unread_incidents, []
        if not fresh:
            return
        since = "@%d" % (min(ts for _, ts in fresh) // 10 ** 9 - 1)
        got = {r["id"]: r for r in self.d.ctl_json_lines("incidents", "--since", since)}
        for s, _ in fresh:
            if s in got:
                self.add_incident(got[s])
            else:  # (evidentctl incidents leaves out an incident it cannot decode)
                self.problem("entry unreadable", "incident entry %d is not listed by evidentctl "
                             "incidents (evidentctl show: %s)" % (s, self.show_problem(s)))

    def show_problem(self, seq):
        try:
            p = json.loads(self.d.ctl("--json", "show", str(seq)).stdout)["payload"]
            return p.get("problem", "decodes")
        except (Violation, ValueError, KeyError):
            return "?"

    def add_incident(self, r):
        key = (r["record_seq"], r["trigger"])
        self.incidents[r["id"]] = (r["record_seq"], r["trigger"], r["status"])
        rid = self.rid_of.get(r["record_seq"])
        if rid is None:
            self.problem("incident", "incident %d names entry %d, not a record" % (
                r["id"], r["record_seq"]))
        elif key not in self.expected:
            self.problem("incident", "incident %d: rule %s fired on record %d (%s), which it "
                         "does not match" % (r["id"], r["trigger"], r["record_seq"], rid))
        elif key in self.incident_of:
            self.problem("incident twice", "record %d (%s) has two incidents for rule %s: %d "
                         "and %d" % (key[0], rid, key[1], self.incident_of[key], r["id"]))
        elif r["request_id"] != rid or r["client"] != parse_request_id(rid)[0]:
            self.problem("incident", "incident %d names %s/%s, its record is %s" % (
                r["id"], r["client"], r["request_id"], rid))
        else:
            self.incident_of[key] = r["id"]

    def missing_incidents(self):
        return sorted(self.expected - set(self.incident_of))

    def refresh_payloads(self):
        """Decodes the verdict, audit and notice entries not decoded yet (mdb_dump)."""
        want = {s for s, t in self.type_of.items()
                if t in ("verdict", "audit", "notice") and s not in self.payload}
        if not want:
            return
        raw = dump_payloads(self.d.vault, want)
        for s in sorted(want):
            if s not in raw:
                raise Violation("entry %d (%s) has no payload" % (s, self.type_of[s]))
            m = {"verdict": epb.VerdictEntry, "audit": epb.AuditEntry,
                 "notice": epb.NoticeEntry}[self.type_of[s]]()
            try:
                m.ParseFromString(raw[s])
            except Exception as e:  # google.protobuf.message.DecodeError
                self.problem("entry unreadable", "%s entry %d does not decode: %s" % (
                    self.type_of[s], s, e))
                m = None  # (left out of the checks)
            self.payload[s] = m
