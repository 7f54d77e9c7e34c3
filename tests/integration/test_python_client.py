#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Tests of the pure-Python client module `evident` (tools/python/evident).
#
#   PYTHONPATH=tools/python /usr/bin/python3 tests/integration/test_python_client.py -v
#   EVIDENTD=build/daemon/evidentd PYTHONPATH=tools/python /usr/bin/python3 \
#       tests/integration/test_python_client.py -v          # also against the real daemon
#
# Most tests run against FakeDaemon: a thread with a real Unix socket that speaks
# proto/PROTOCOL.md (HelloOk, ArtifactRequest, Acks with increasing seqs, dedup by
# (client_name, request_id)) and can inject faults: close a connection after N records
# without acking them, answer OVERLOADED to the first K records, refuse unknown models.
# RealDaemonTests run only when $EVIDENTD names the daemon binary. Standard library and
# python3-protobuf only; synchronisation is by events and polling with timeouts, never by
# fixed sleeps.
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYDIR = os.path.join(ROOT, "tools", "python")
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)

import evident  # noqa: E402
from evident import _wire  # noqa: E402
from evident import evident_pb2 as pb  # noqa: E402
from google.protobuf.internal import decoder as pb_decoder  # noqa: E402
from google.protobuf.internal import encoder as pb_encoder  # noqa: E402

TIMEOUT = 30.0  # generous upper bound for anything that should take milliseconds


def wait_for(pred, timeout=TIMEOUT, what="condition"):
    """Poll pred() until it is true; fail after timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def frame_bytes(**kw):
    return _wire.encode_frame(pb.Frame(**kw).SerializeToString())


# ------------------------------------------------------------------------------- fake daemon


class FakeDaemon:
    """An in-test evidentd speaking the ingest protocol on a real Unix socket.

    State (models, stored records, seqs) lives in the object and survives stop()/start(),
    like a vault survives a daemon restart. Faults:
      close_after_records=N  on the next connection that sends records, commit the first N
                             records without acking them, then close (once)
      overloaded_first=K     answer OVERLOADED to the first K records received
      max_frame              announced in HelloOk and enforced
      verdicts               answer a Verdict after the Ack when verdict_deadline_ms > 0
      drop_at_chunk=True     close the connection at the first ArtifactChunk (once)
      overloaded_registrations=K   answer OVERLOADED to the first K RegisterModel
      refuse_reviews=True    answer BAD_MESSAGE to every Review
    A record whose (client_name, request_id) is stored is answered with the stored seq and
    duplicate=True when its bytes are the same, with CONFLICT when they differ (as the daemon;
    counted in `conflicts`). Reviews are stored like records (dedup key: request_id, default "review-<incident_id>" or "review-seq-<record_seq>")
    and kept in `reviews` as (client_name, request_id, seq, Review).
    """

    def __init__(self, path, *, close_after_records=None, overloaded_first=0,
                 max_frame=1 << 20, verdicts=False, drop_at_chunk=False,
                 overloaded_registrations=0, refuse_reviews=False):
        self.path = path
        self.refuse_reviews = refuse_reviews
        self.reviews = []
        self.close_after_records = close_after_records
        self.overloaded_left = overloaded_first
        self.max_frame = max_frame
        self.verdicts = verdicts
        self.drop_at_chunk = drop_at_chunk
        self.overloaded_registrations = overloaded_registrations
        self.lock = threading.Lock()
        self.next_seq = 0
        self.models = {}  # key -> (manifest bytes, seq)
        self.dedup = {}  # (client_name, request_id) -> (seq, leaf)
        self.stored = []  # (client_name, request_id, seq) in commit order
        self.chunks = []  # (conn, key, kind, offset, len, last)
        self.artifacts = {}  # (key, kind) -> bytes received
        self.conn_frames = []  # per connection: list of frame kinds in arrival order
        self.hellos = []  # client names
        self.violations = []  # protocol violations by the client
        self.overloaded_sent = 0
        self.contents = {}  # (client_name, request_id) -> the stored record's bytes
        self.conflicts = 0
        self._listener = None
        self._conns = set()
        self._threads = []
        self.start()

    # -- lifecycle

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)
        s.listen(16)
        self._listener = s
        t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self):
        """Close the listener and every connection (a daemon crash, as clients see it)."""
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(TIMEOUT)
        self._threads = []
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _accept_loop(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self._conns.add(conn)
                idx = len(self.conn_frames)
                self.conn_frames.append([])
            t = threading.Thread(target=self._serve, args=(conn, idx), daemon=True)
            t.start()
            self._threads.append(t)

    # -- one connection

    def _frames(self, conn, dec):
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                bodies = dec.feed(data)
            except _wire.FrameTooLarge:
                self._send(conn, error=pb.Error(code=pb.Error.TOO_LARGE, message="too large"))
                return
            for b in bodies:
                f = pb.Frame()
                f.ParseFromString(b)
                yield f

    def _send(self, conn, **kw):
        try:
            conn.sendall(frame_bytes(**kw))
        except OSError:
            pass

    def _leaf(self, seq):
        return hashlib.sha256(b"\0leaf" + seq.to_bytes(8, "big")).digest()

    def _commit(self):
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def _serve(self, conn, idx):
        dec = _wire.FrameDecoder(self.max_frame)
        log = self.conn_frames[idx]
        client = None
        reg = None  # registration in progress on this connection
        fault_records = None  # records committed without ack on this connection
        try:
            for f in self._frames(conn, dec):
                kind = f.WhichOneof("body")
                log.append(kind)
                if client is None:
                    if kind != "hello" or f.hello.protocol_version != 1:
                        self._send(conn, error=pb.Error(code=pb.Error.BAD_MESSAGE,
                                                        message="Hello expected"))
                        return
                    client = f.hello.client_name
                    self.hellos.append(client)
                    self._send(conn, hello_ok=pb.HelloOk(
                        protocol_version=1, daemon_version="fake-1",
                        vault_origin="fake.example/vault", max_frame=self.max_frame))
                    continue
                if kind == "register_model":
                    reg = self._on_register(conn, f.register_model.manifest, reg)
                elif kind == "artifact_chunk":
                    if self.drop_at_chunk:
                        self.drop_at_chunk = False
                        return  # upload interrupted: the registration is not stored
                    reg = self._on_chunk(conn, idx, f.artifact_chunk, reg)
                elif kind == "record":
                    r = f.record
                    with self.lock:
                        if fault_records is None and self.close_after_records:
                            fault_records = self.close_after_records
                            self.close_after_records = None
                        if fault_records is not None:
                            self._store(client, r)  # committed, ack dropped
                            fault_records -= 1
                            if fault_records == 0:
                                return  # close without acking
                            continue
                    self._on_record(conn, client, r)
                elif kind == "review":
                    self._on_review(conn, client, f.review)
                else:
                    self._send(conn, error=pb.Error(code=pb.Error.BAD_MESSAGE,
                                                    message=f"unexpected {kind}"))
        finally:
            with self.lock:
                self._conns.discard(conn)
            conn.close()

    def _on_register(self, conn, m, reg):
        key = f"{m.model_id}@{m.version}"
        if reg is not None:
            self.violations.append(f"RegisterModel {key} while {reg['key']} in progress")
        mb = m.SerializeToString(deterministic=True)
        with self.lock:
            have = self.models.get(key)
            overloaded = self.overloaded_registrations > 0
            self.overloaded_registrations -= overloaded
        if overloaded:
            self._send(conn, error=pb.Error(code=pb.Error.OVERLOADED, request_id=key,
                                            message="busy"))
            return None
        if have is not None:
            if have[0] == mb:
                self._send(conn, ack=pb.Ack(request_id=key, seq=have[1],
                                            leaf_hash=self._leaf(have[1]), duplicate=True))
            else:
                self._send(conn, error=pb.Error(code=pb.Error.CONFLICT, request_id=key,
                                                message=f"{key} is registered with another "
                                                        f"manifest"))
            return None
        if len(m.artifact_sha256) != 64 or not m.HasField("artifact_size"):
            self._send(conn, error=pb.Error(code=pb.Error.BAD_MESSAGE, request_id=key,
                                            message="artifact_sha256/size missing"))
            return None
        reg = {"key": key, "manifest": m, "mb": mb, "kind": pb.ArtifactChunk.MODEL,
               "offset": 0, "h": hashlib.sha256(), "data": bytearray()}
        self._send(conn, artifact_request=pb.ArtifactRequest(
            model_id=m.model_id, version=m.version, kind=pb.ArtifactChunk.MODEL, offset=0))
        return reg

    def _on_chunk(self, conn, idx, c, reg):
        key = f"{c.model_id}@{c.version}"
        with self.lock:
            self.chunks.append((idx, key, c.kind, c.offset, len(c.data), c.last))
        if reg is None or reg["key"] != key or reg["kind"] != c.kind:
            self.violations.append(f"unexpected chunk {key} kind {c.kind}")
            return reg
        if c.offset != reg["offset"]:
            self.violations.append(f"chunk offset {c.offset}, expected {reg['offset']}")
        if len(c.data) > 256 * 1024:
            self.violations.append(f"chunk of {len(c.data)} bytes")
        reg["h"].update(c.data)
        reg["data"] += c.data
        reg["offset"] += len(c.data)
        if not c.last:
            return reg
        m = reg["manifest"]
        if reg["kind"] == pb.ArtifactChunk.MODEL:
            want_sha, want_size = m.artifact_sha256, m.artifact_size
        else:
            want_sha, want_size = m.reference_data_sha256, m.reference_data_size
        self.artifacts[(key, reg["kind"])] = bytes(reg["data"])
        if reg["h"].hexdigest() != want_sha or reg["offset"] != want_size:
            self._send(conn, error=pb.Error(code=pb.Error.SCHEMA_MISMATCH, request_id=key,
                                            message="artifact hash or size differs from "
                                                    "the manifest"))
            return None
        if reg["kind"] == pb.ArtifactChunk.MODEL and m.reference_data_sha256:
            reg.update(kind=pb.ArtifactChunk.REFERENCE_DATA, offset=0, h=hashlib.sha256(),
                       data=bytearray())
            self._send(conn, artifact_request=pb.ArtifactRequest(
                model_id=m.model_id, version=m.version,
                kind=pb.ArtifactChunk.REFERENCE_DATA, offset=0))
            return reg
        with self.lock:
            seq = self._commit()
            self.models[key] = (reg["mb"], seq)
        self._send(conn, ack=pb.Ack(request_id=key, seq=seq, leaf_hash=self._leaf(seq)))
        return None

    def _store(self, client, r, request_id=None):
        """(seq, duplicate); duplicate is None for a record stored before with other bytes
        (CONFLICT)."""
        k = (client, request_id or r.request_id)
        body = r.SerializeToString(deterministic=True) if request_id is None else None
        if k in self.dedup:
            if body is not None and self.contents.get(k) != body:
                return self.dedup[k], None
            return self.dedup[k], True
        seq = self._commit()
        self.dedup[k] = seq
        if request_id is None:  # a record, not a review
            self.stored.append((client, r.request_id, seq))
            self.contents[k] = body
        return seq, False

    def _on_review(self, conn, client, rv):
        rid = rv.request_id or (f"review-seq-{rv.record_seq}" if rv.HasField("record_seq")
                                else f"review-{rv.incident_id}")
        if self.refuse_reviews:
            self._send(conn, error=pb.Error(code=pb.Error.BAD_MESSAGE, request_id=rid,
                                            message="reviews refused by the test"))
            return
        with self.lock:
            seq, dup = self._store(client, rv, rid)
            if not dup:
                self.reviews.append((client, rid, seq, rv))
        self._send(conn, ack=pb.Ack(request_id=rid, seq=seq, leaf_hash=self._leaf(seq),
                                    duplicate=dup))

    def _on_record(self, conn, client, r):
        key = f"{r.model_id}@{r.model_version}"
        with self.lock:
            if self.overloaded_left > 0:
                self.overloaded_left -= 1
                self.overloaded_sent += 1
                err = (pb.Error.OVERLOADED, "queue over its global limit")
            elif key not in self.models:
                err = (pb.Error.UNKNOWN_MODEL, f"{key} is not registered")
            else:
                m = pb.ModelManifest()
                m.ParseFromString(self.models[key][0])
                if len(r.features) != len(m.features):
                    err = (pb.Error.SCHEMA_MISMATCH, f"{len(r.features)} features, the "
                           f"manifest has {len(m.features)}")
                else:
                    err = None
                    seq, dup = self._store(client, r)
                    if dup is None:
                        self.conflicts += 1
                        err = (pb.Error.CONFLICT, f"request_id {r.request_id} was stored with "
                               f"other content (seq {seq}); the first record stands")
        if err is not None:
            self._send(conn, error=pb.Error(code=err[0], message=err[1],
                                            request_id=r.request_id))
            return
        self._send(conn, ack=pb.Ack(request_id=r.request_id, seq=seq,
                                    leaf_hash=self._leaf(seq), duplicate=dup))
        if self.verdicts and r.verdict_deadline_ms:
            self._send(conn, verdict=pb.Verdict(request_id=r.request_id, seq=seq,
                                                action=pb.Verdict.REVIEW, confidence=0.25,
                                                incident_id=7, reasons=["amount high"],
                                                guards=["g-amount"]))


# ------------------------------------------------------------------------------- helpers

FEATURES = ["amount", "age_days", "country"]


def make_manifest(model_id="pricing", version="3", n_features=3, **extra):
    d = {
        "model_id": model_id,
        "version": version,
        "framework": "linear-json",
        "output_space": "probability",
        "decision": {"kind": "threshold", "threshold": 0.5, "label_below": "allow",
                     "label_above": "deny"},
        "features": [{"name": f"f{i}", "type": "numeric", "min": 0.0, "max": 100.0}
                     for i in range(n_features)],
        "lineage": {"code_uri": "https://example.com/repo", "code_commit": "abc123",
                    "created_by": "test", "hyperparameters": {"l2": "0.1"}},
    }
    d.update(extra)
    return d


class FakeCase(unittest.TestCase):
    """Temp dir, a fake daemon and clients that are closed at the end."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evident-py-")
        self.sock = os.path.join(self.tmp, "s.sock")
        self.clients = []
        self.fake = None

    def tearDown(self):
        violations = []
        try:
            for c in self.clients:
                c.close(timeout=1)
            if self.fake is not None:
                self.fake.stop()
                violations = self.fake.violations
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(violations, [], "protocol violations seen by the fake daemon")

    def daemon(self, **kw):
        self.fake = FakeDaemon(self.sock, **kw)
        return self.fake

    def preregistered_daemon(self):
        """A fake daemon that already holds pricing@3 when it starts listening on self.sock
        (registered through another socket, so no client of self.sock can race it)."""
        fake = FakeDaemon(os.path.join(self.tmp, "setup.sock"))
        c = evident.Client(fake.path, client_name="setup")
        self.registered(c)
        c.close()
        fake.stop()
        fake.path = self.sock
        fake.start()
        self.fake = fake
        return fake

    def client(self, **kw):
        kw.setdefault("client_name", "test-client")
        kw.setdefault("backoff_min", 0.01)
        kw.setdefault("backoff_max", 0.2)
        c = evident.Client(self.sock, **kw)
        self.clients.append(c)
        return c

    def artifact(self, size, name="model.bin"):
        path = os.path.join(self.tmp, name)
        rnd = random.Random(size)
        with open(path, "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(size)))
        return path

    def registered(self, c, model_id="pricing", version="3", n_features=3):
        path = self.artifact(1000, f"{model_id}-{version}.json")
        c.register(make_manifest(model_id, version, n_features), path, timeout=TIMEOUT)


def rec(c, i=0, **kw):
    kw.setdefault("model_id", "pricing")
    kw.setdefault("model_version", "3")
    kw.setdefault("features", [float(i), 2.0, float("nan")])
    kw.setdefault("scores", [0.25])
    kw.setdefault("decision", "allow")
    return c.record(**kw)


# ------------------------------------------------------------------------------- framing


class WireTests(unittest.TestCase):
    def test_varint_round_trip_and_interop(self):
        values = [0, 1, 127, 128, 255, 300, 16383, 16384, 2**21, 2**28 - 1, 2**32, 2**63,
                  2**64 - 1]
        for v in values:
            b = _wire.encode_varint(v)
            self.assertEqual(b, pb_encoder._VarintBytes(v), v)
            self.assertEqual(_wire.decode_varint(b), (v, len(b)))
            self.assertEqual(pb_decoder._DecodeVarint(b, 0), (v, len(b)))
            self.assertIsNone(_wire.decode_varint(b[:-1]))
        with self.assertRaises(ValueError):
            _wire.encode_varint(-1)
        with self.assertRaises(ValueError):
            _wire.encode_varint(2**64)

    def test_frames_in_arbitrary_pieces(self):
        msgs = [pb.Frame(hello=pb.Hello(protocol_version=1, client_name="x")),
                pb.Frame(record=pb.Record(request_id="r" * 300, features=[1.0] * 40)),
                pb.Frame(ack=pb.Ack(request_id="a", seq=2**40)),
                pb.Frame()]  # empty body: a zero-length frame
        stream = b"".join(_wire.encode_frame(m.SerializeToString()) for m in msgs)
        # Same bytes as protobuf's own delimited writer.
        self.assertEqual(stream, b"".join(pb_encoder._VarintBytes(m.ByteSize()) +
                                          m.SerializeToString() for m in msgs))
        for step in (1, 2, 3, 7, 64, len(stream)):
            dec = _wire.FrameDecoder()
            out = []
            for i in range(0, len(stream), step):
                out.extend(dec.feed(stream[i:i + step]))
            self.assertEqual([pb.Frame.FromString(b) for b in out], msgs, step)
            self.assertEqual(dec.pending(), 0)

    def test_record_frame_shortcut(self):
        """The client frames records without building a Frame; the bytes must be the same."""
        from evident import client as client_mod
        r = pb.Record(model_id="m", model_version="1", request_id="x" * 200,
                      features=[1.0] * 30, scores=[0.5], context={"a": 1.0},
                      labels={"b": "c"})
        self.assertEqual(client_mod._record_frame(r.SerializeToString()),
                         _wire.encode_frame(pb.Frame(record=r).SerializeToString()))

    def test_max_frame_refused_before_body(self):
        dec = _wire.FrameDecoder(max_frame=1000)
        self.assertEqual(dec.feed(_wire.encode_frame(b"x" * 1000)), [b"x" * 1000])
        # Only the prefix of a 1001-byte frame: refused at once, without the body.
        with self.assertRaises(_wire.FrameTooLarge) as cm:
            dec.feed(_wire.encode_varint(1001))
        self.assertEqual((cm.exception.length, cm.exception.max_frame), (1001, 1000))
        self.assertIsInstance(cm.exception, _wire.FrameError)
        dec = _wire.FrameDecoder()
        with self.assertRaises(_wire.FrameTooLarge):
            dec.feed(_wire.encode_varint((1 << 20) + 1))

    def test_malformed_varint(self):
        with self.assertRaises(_wire.FrameError):
            _wire.FrameDecoder().feed(b"\xff" * 11)
        with self.assertRaises(_wire.FrameError):  # 10 bytes, more than 64 bits
            _wire.decode_varint(b"\xff" * 9 + b"\x7f")
        dec = _wire.FrameDecoder()
        self.assertEqual(dec.feed(b"\xff" * 9), [])  # incomplete, still plausible
        with self.assertRaises(_wire.FrameError):
            dec.feed(b"\xff")


class GeneratedCodeTests(unittest.TestCase):
    def test_evident_pb2_is_current(self):
        """The committed evident_pb2.py equals a fresh protoc run on proto/evident.proto."""
        if shutil.which("protoc") is None:
            self.skipTest("protoc not installed (Debian package protobuf-compiler)")
        committed = os.path.join(PYDIR, "evident", "evident_pb2.py")
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(["sh", os.path.join(PYDIR, "regen.sh"), d],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(d, "evident_pb2.py"), "rb") as f:
                fresh = f.read()
        with open(committed, "rb") as f:
            have = f.read()
        if fresh != have:
            self.fail("tools/python/evident/evident_pb2.py is out of date with "
                      "proto/evident.proto: run tools/python/regen.sh and commit the result")

    def test_frame_cases(self):
        names = {f.name for f in pb.Frame.DESCRIPTOR.oneofs_by_name["body"].fields}
        self.assertTrue({"hello", "hello_ok", "register_model", "artifact_chunk", "record",
                         "ack", "error", "artifact_request", "verdict"} <= names)


class ManifestTests(unittest.TestCase):
    def test_snake_and_camel_case(self):
        a = evident.manifest_from_dict(make_manifest(artifact_sha256="ab" * 32,
                                                     artifact_size=5))
        d = make_manifest()
        del d["model_id"]
        d.update(modelId="pricing", artifactSha256="ab" * 32, artifactSize="5",
                 outputSpace="probability")
        del d["output_space"]
        b = evident.manifest_from_dict(d)
        self.assertEqual(a, b)
        self.assertEqual(a.decision.kind, pb.DecisionRule.THRESHOLD)
        self.assertEqual(a.features[1].name, "f1")
        self.assertEqual(a.lineage.hyperparameters["l2"], "0.1")

    def test_enum_names_any_case_and_copy(self):
        m = evident.manifest_from_dict({"model_id": "m", "version": "1",
                                        "features": [{"name": "c", "type": "categorical",
                                                      "categories": ["a", "b"]}],
                                        "decision": {"kind": "ARGMAX",
                                                     "class_labels": ["x", "y"]}})
        self.assertEqual(m.features[0].type, pb.Feature.CATEGORICAL)
        self.assertEqual(m.decision.kind, pb.DecisionRule.ARGMAX)
        m2 = evident.manifest_from_dict(m)
        self.assertEqual(m2, m)
        self.assertIsNot(m2, m)

    def test_unknown_field_refused(self):
        with self.assertRaises(ValueError):
            evident.manifest_from_dict({"model_id": "m", "verison": "1"})
        with self.assertRaises(TypeError):
            evident.manifest_from_dict(["model_id"])


# ------------------------------------------------------------------------------- client


class RegisterTests(FakeCase):
    def test_upload_chunks_contiguous_and_hash_computed(self):
        fake = self.daemon()
        size = 3 * 256 * 1024 + 12345  # four chunks, the last one short
        path = self.artifact(size)
        c = self.client()
        manifest = make_manifest()
        seq = c.register(manifest, path, timeout=TIMEOUT)
        self.assertEqual(seq, 0)
        self.assertNotIn("artifact_sha256", manifest)  # the caller's dict is not changed
        chunks = [ch for ch in fake.chunks if ch[2] == pb.ArtifactChunk.MODEL]
        self.assertEqual([ch[3] for ch in chunks], [0, 262144, 524288, 786432])
        self.assertEqual([ch[4] for ch in chunks], [262144] * 3 + [12345])
        self.assertEqual([ch[5] for ch in chunks], [False, False, False, True])
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(fake.artifacts[("pricing@3", pb.ArtifactChunk.MODEL)], data)
        stored = pb.ModelManifest.FromString(fake.models["pricing@3"][0])
        self.assertEqual(stored.artifact_sha256, hashlib.sha256(data).hexdigest())
        self.assertEqual(stored.artifact_size, size)
        s = c.stats()
        self.assertEqual((s["registrations"], s["uploaded_bytes"]), (1, size))

    def test_exact_multiple_of_chunk_and_empty_artifact(self):
        fake = self.daemon()
        c = self.client()
        c.register(make_manifest(version="a"), self.artifact(2 * 256 * 1024, "a"),
                   timeout=TIMEOUT)
        c.register(make_manifest(version="b"), self.artifact(0, "b"), timeout=TIMEOUT)
        a = [ch[3:] for ch in fake.chunks if ch[1] == "pricing@a"]
        self.assertEqual(a, [(0, 262144, False), (262144, 262144, True)])
        b = [ch[3:] for ch in fake.chunks if ch[1] == "pricing@b"]
        self.assertEqual(b, [(0, 0, True)])

    def test_reference_data(self):
        fake = self.daemon()
        c = self.client()
        ref = self.artifact(300000, "ref.csv")
        seq = c.register(make_manifest(), self.artifact(5000), reference_path=ref,
                         timeout=TIMEOUT)
        kinds = [(ch[2], ch[3]) for ch in fake.chunks]
        self.assertEqual(kinds, [(pb.ArtifactChunk.MODEL, 0),
                                 (pb.ArtifactChunk.REFERENCE_DATA, 0),
                                 (pb.ArtifactChunk.REFERENCE_DATA, 262144)])
        with open(ref, "rb") as f:
            self.assertEqual(fake.artifacts[("pricing@3", pb.ArtifactChunk.REFERENCE_DATA)],
                             f.read())
        self.assertEqual(seq, 0)
        with self.assertRaises(ValueError):  # names reference data, no file given
            c.register(make_manifest(reference_data_sha256="00" * 32), self.artifact(10))

    def test_duplicate_registration_no_upload(self):
        fake = self.daemon()
        path = self.artifact(600000)
        c = self.client()
        seq = c.register(make_manifest(), path, timeout=TIMEOUT)
        n = len(fake.chunks)
        self.assertEqual(c.register(make_manifest(), path, timeout=TIMEOUT), seq)
        c2 = self.client(client_name="another-process")
        self.assertEqual(c2.register(make_manifest(), path, timeout=TIMEOUT), seq)
        self.assertEqual(len(fake.chunks), n)  # no second upload

    def test_conflict_and_schema_mismatch(self):
        self.daemon()
        c = self.client()
        path = self.artifact(1000)
        c.register(make_manifest(), path, timeout=TIMEOUT)
        with self.assertRaises(evident.ConflictError) as cm:
            c.register(make_manifest(framework="oracle"), path, timeout=TIMEOUT)
        self.assertEqual((cm.exception.code, cm.exception.key), ("CONFLICT", "pricing@3"))
        self.assertIn("another manifest", cm.exception.message)
        with self.assertRaises(evident.RegistrationError) as cm:
            c.register(make_manifest(version="4", artifact_sha256="00" * 32), path,
                       timeout=TIMEOUT)
        self.assertNotIsInstance(cm.exception, evident.ConflictError)
        self.assertEqual(cm.exception.code, "SCHEMA_MISMATCH")
        self.assertEqual(c.stats()["errors"], {"CONFLICT": 1, "SCHEMA_MISMATCH": 1})

    def test_overloaded_registration_retried(self):
        fake = self.daemon(overloaded_registrations=2)
        c = self.client(backoff_min=0.001, backoff_max=0.01)
        seq = c.register(make_manifest(), self.artifact(1000), timeout=TIMEOUT)
        self.assertEqual(seq, fake.models["pricing@3"][1])
        self.assertEqual(fake.conn_frames[0].count("register_model"), 3)
        self.assertEqual(c.stats()["errors"], {})

    def test_register_waits_for_daemon(self):
        c = self.client()
        with self.assertRaises(evident.TimeoutError):
            c.register(make_manifest(), self.artifact(10), timeout=0.2)
        self.assertIsInstance(evident.TimeoutError("x"), TimeoutError)
        # The registration continues in the background once the daemon is up.
        fake = self.daemon()
        wait_for(lambda: "pricing@3" in fake.models, what="background registration")


class RecordTests(FakeCase):
    def test_fire_and_forget_and_flush(self):
        fake = self.daemon()
        acks = []
        c = self.client(on_ack=acks.append)
        self.registered(c)
        rids = [rec(c, i, context={"amount": 12.5}, labels={"desk": "eu"}, trace_id="t",
                    base_margin=-0.5) for i in range(500)]
        self.assertEqual(len(set(rids)), 500)
        self.assertTrue(all(len(r) == 32 for r in rids))  # uuid4 hex
        self.assertTrue(c.flush(timeout=TIMEOUT))
        s = c.stats()
        self.assertEqual((s["acked"], s["sent"], s["queued"], s["inflight"], s["failed"]),
                         (500, 500, 0, 0, 0))
        self.assertEqual([a.request_id for a in acks], rids)  # one connection: in order
        self.assertEqual([a.seq for a in acks], list(range(1, 501)))
        self.assertEqual([r[1] for r in fake.stored], rids)

    def test_record_fields_on_the_wire(self):
        got = []
        fake = self.daemon()
        orig = fake._on_record
        fake._on_record = lambda conn, client, r: (got.append(pb.Record().__class__.FromString(
            r.SerializeToString())), orig(conn, client, r))
        c = self.client()
        self.registered(c)
        c.record_sync(model_id="pricing", model_version="3", features=[1, 2, float("nan")],
                      scores=[0.7, 0.3], decision="deny", request_id="req-1",
                      context={"amount": 99.5}, labels={"desk": "eu"}, trace_id="tr",
                      timestamp_unix_ns=123, base_margin=0.5, verdict_deadline_ms=20,
                      subject="s-\u00e9-42", timeout=TIMEOUT)
        before = time.time_ns()
        c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                      scores=[0.1], timeout=TIMEOUT)
        r, r2 = got
        self.assertEqual((r.model_id, r.model_version, r.request_id, r.timestamp_unix_ns),
                         ("pricing", "3", "req-1", 123))
        self.assertEqual(list(r.features)[:2], [1.0, 2.0])
        self.assertNotEqual(r.features[2], r.features[2])  # NaN kept
        self.assertEqual((list(r.scores), r.decision, r.base_margin), ([0.7, 0.3], "deny",
                                                                         0.5))
        self.assertEqual((dict(r.context), dict(r.labels), r.trace_id,
                          r.verdict_deadline_ms), ({"amount": 99.5}, {"desk": "eu"}, "tr", 20))
        self.assertEqual(r.subject, "s-\u00e9-42")
        self.assertFalse(r2.HasField("base_margin") or r2.HasField("decision") or
                         r2.HasField("trace_id") or r2.HasField("verdict_deadline_ms") or
                         r2.HasField("subject"))
        self.assertGreaterEqual(r2.timestamp_unix_ns, before - 10**9)

    def test_record_sync(self):
        self.daemon()
        c = self.client()
        self.registered(c)
        a = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[0.9], decision="deny", request_id="fixed-id",
                          timestamp_unix_ns=1_700_000_000_000_000_000, timeout=TIMEOUT)
        self.assertIsInstance(a, evident.Ack)
        self.assertEqual((a.request_id, a.seq, a.duplicate), ("fixed-id", 1, False))
        self.assertEqual(len(a.leaf_hash), 32)
        # the same record again: the same seq
        b = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[0.9], decision="deny", request_id="fixed-id",
                          timestamp_unix_ns=1_700_000_000_000_000_000, timeout=TIMEOUT)
        self.assertEqual((b.seq, b.duplicate, b.leaf_hash), (1, True, a.leaf_hash))
        with self.assertRaises(evident.RecordError) as cm:
            c.record_sync(model_id="nope", model_version="1", features=[1], scores=[1],
                          request_id="bad-1", timeout=TIMEOUT)
        e = cm.exception
        self.assertEqual((e.code, e.request_id), ("UNKNOWN_MODEL", "bad-1"))
        self.assertIn("nope@1 is not registered", e.message)
        with self.assertRaises(TypeError):
            c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[1], colour="red")

    def test_on_error_callback(self):
        self.daemon()
        errors = []
        c = self.client(on_error=lambda *a: errors.append(a))
        self.registered(c)
        r1 = rec(c, model_id="unknown")
        r2 = rec(c, features=[1.0])  # schema mismatch: one feature, manifest has three
        r3 = rec(c)
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual([(e[0], e[1]) for e in errors], [(r1, "UNKNOWN_MODEL"),
                                                          (r2, "SCHEMA_MISMATCH")])
        self.assertIn("manifest has 3", errors[1][2])
        s = c.stats()
        self.assertEqual(s["errors"], {"UNKNOWN_MODEL": 1, "SCHEMA_MISMATCH": 1})
        self.assertEqual((s["failed"], s["acked"]), (2, 1))
        self.assertEqual(s["last_error"][0], "SCHEMA_MISMATCH")
        del r3

    def test_callback_exception_does_not_kill_client(self):
        self.daemon()

        def boom(*a):
            raise RuntimeError("callback bug")
        c = self.client(on_ack=boom, on_error=boom)
        self.registered(c)
        import logging
        logging.getLogger("evident").disabled = True
        try:
            rec(c, model_id="unknown")
            rec(c)
            self.assertTrue(c.flush(timeout=TIMEOUT))
        finally:
            logging.getLogger("evident").disabled = False
        self.assertEqual(c.stats()["acked"], 1)

    def test_overloaded_is_retried(self):
        fake = self.daemon(overloaded_first=5)
        errors = []
        c = self.client(on_error=lambda *a: errors.append(a), backoff_min=0.001,
                        backoff_max=0.01)
        self.registered(c)
        rids = [rec(c, i) for i in range(20)]
        self.assertTrue(c.flush(timeout=TIMEOUT))
        s = c.stats()
        self.assertEqual((s["acked"], s["retries"], s["failed"], s["errors"]),
                         (20, 5, 0, {}))
        self.assertEqual(errors, [])
        self.assertEqual(sorted(r[1] for r in fake.stored), sorted(rids))

    def test_overloaded_retries_exhausted(self):
        self.daemon(overloaded_first=1000)
        errors = []
        c = self.client(on_error=lambda *a: errors.append(a), max_retries=2,
                        backoff_min=0.001, backoff_max=0.01)
        self.registered(c)
        with self.assertRaises(evident.RecordError) as cm:
            c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[0.5], timeout=TIMEOUT)
        self.assertEqual(cm.exception.code, "OVERLOADED")
        s = c.stats()
        self.assertEqual((s["retries"], s["failed"], s["errors"]), (2, 1, {"OVERLOADED": 1}))
        self.assertEqual([e[1] for e in errors], ["OVERLOADED"])

    def test_conflict_reaches_the_caller_and_is_not_retried(self):
        # issue 11 item 5: a retry with other content is CONFLICT, raised to the caller at
        # once; OVERLOADED on the way is still retried and nothing is dropped
        fake = self.daemon(overloaded_first=2)
        errors = []
        c = self.client(on_error=lambda *a: errors.append(a), backoff_min=0.001,
                        backoff_max=0.01)
        self.registered(c)
        kw = dict(model_id="pricing", model_version="3", features=[1, 2, 3], scores=[0.9],
                  decision="deny", request_id="same", timestamp_unix_ns=42)
        a = c.record_sync(timeout=TIMEOUT, **kw)  # after 2 OVERLOADED
        self.assertEqual(c.record_sync(timeout=TIMEOUT, **kw),
                         evident.Ack("same", a.seq, a.leaf_hash, True))
        with self.assertRaises(evident.RecordError) as cm:
            c.record_sync(timeout=TIMEOUT, **dict(kw, decision="allow"))
        e = cm.exception
        self.assertEqual((e.code, e.request_id), ("CONFLICT", "same"))
        self.assertIn("the first record stands", e.message)
        self.assertEqual([x[:2] for x in errors], [("same", "CONFLICT")])
        # fire and forget: on_error, and flush() is not left waiting
        self.assertEqual(c.record(**dict(kw, timestamp_unix_ns=None)), "same")
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual([x[:2] for x in errors], [("same", "CONFLICT")] * 2)
        s = c.stats()
        self.assertEqual((s["retries"], s["failed"], s["acked"], s["outstanding"]),
                         (2, 2, 2, 0))
        self.assertEqual(s["errors"], {"CONFLICT": 2})
        self.assertEqual(fake.conflicts, 2)
        self.assertEqual(fake.conn_frames[0].count("record"), 6)  # no CONFLICT was resent
        self.assertEqual([r for r in fake.stored if r[1] == "same"],
                         [("test-client", "same", a.seq)])

    def test_strings_the_daemon_refuses_raise_value_error(self):
        # issue 11 item 4: "x\0one" and "x\0two" were stored as "x" and collapsed; the
        # client refuses them before queueing, naming the argument
        fake = self.daemon()
        c = self.client()
        self.registered(c)
        bad = [
            (dict(request_id="x\0one"), "request_id"),
            (dict(request_id="x\0two"), "request_id"),
            (dict(model_id="m\0junk"), "model_id"),
            (dict(model_version="3\0"), "model_version"),
            (dict(decision="al\0low"), "decision"),
            (dict(trace_id="\0"), "trace_id"),
            (dict(context={"a\0b": 1.0}), "context key"),
            (dict(labels={"desk\0": "eu"}), "labels key"),
            (dict(labels={"desk": "e\0u"}), "labels['desk']"),
            (dict(labels={"desk": "\ud800"}), "labels['desk']"),
            (dict(request_id="r\udfff"), "request_id"),
            (dict(decision=b"\xc0\xaf"), "decision"),
            (dict(subject="s\0"), "subject"),
            (dict(subject=""), "subject"),
            (dict(subject="x" * 129), "subject"),
            (dict(subject="\u00e9" * 65), "subject"),  # 130 bytes of UTF-8
            (dict(subject="a\nb"), "subject"),
            (dict(subject="del\x7f"), "subject"),
            (dict(subject="c1\x85"), "subject"),
            (dict(subject="\udc80"), "subject"),
        ]
        for kw, what in bad:
            with self.assertRaises(ValueError, msg=repr(kw)) as cm:
                rec(c, **kw)
            self.assertIn(what, str(cm.exception))
            with self.assertRaises(ValueError, msg=repr(kw)):
                c.record_sync(**dict(dict(model_id="pricing", model_version="3",
                                          features=[1, 2, 3], scores=[0.5]), **kw))
        self.assertEqual(c.stats()["outstanding"], 0)
        # beyond ASCII is fine
        a = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[0.5], decision="d\u00e9cid\u00e9 \U0001F600",
                          labels={"desk": "\u65e5\u672c"}, timeout=TIMEOUT)
        self.assertFalse(a.duplicate)
        self.assertEqual(len(fake.stored), 1)
        # a manifest's strings, by their path
        m = make_manifest(version="4")
        m["features"][1]["name"] = "f\x001"
        with self.assertRaises(ValueError) as cm:
            c.register(m, self.artifact(1000), timeout=TIMEOUT)
        self.assertIn("manifest.features[1].name", str(cm.exception))
        m = make_manifest(version="4")
        m["lineage"]["hyperparameters"] = {"l2": "0.\x001"}
        with self.assertRaises(ValueError) as cm:
            c.register(m, self.artifact(1000), timeout=TIMEOUT)
        self.assertIn("manifest.lineage.hyperparameters['l2']", str(cm.exception))
        self.assertNotIn("pricing@4", fake.models)

    def test_verdict_callback(self):
        self.daemon(verdicts=True)
        got = []
        done = threading.Event()
        c = self.client(on_verdict=lambda v: (got.append(v), done.set()))
        self.registered(c)
        rid = rec(c, verdict_deadline_ms=50)
        self.assertTrue(done.wait(TIMEOUT))
        v = got[0]
        self.assertEqual((v.request_id, v.action, v.confidence, v.incident_id, v.reasons,
                          v.guards), (rid, "REVIEW", 0.25, 7, ("amount high",), ("g-amount",)))
        self.assertEqual(c.stats()["verdicts"], 1)

    def test_too_large(self):
        self.daemon(max_frame=4096)
        c = self.client()
        self.registered(c)
        wait_for(lambda: c.daemon_info is not None, what="HelloOk")
        self.assertEqual(c.daemon_info["max_frame"], 4096)
        with self.assertRaises(evident.RecordError) as cm:
            rec(c, features=[1.0] * 1000)
        self.assertEqual(cm.exception.code, "TOO_LARGE")
        self.assertEqual(c.stats()["outstanding"], 0)  # nothing queued

    def test_close_from_callback(self):
        self.daemon()
        closed = threading.Event()
        c = self.client(on_ack=lambda a: (c.close(), closed.set()))
        self.registered(c)
        rec(c)
        self.assertTrue(closed.wait(TIMEOUT))
        with self.assertRaises(evident.ClosedError):
            rec(c)

    def test_unclosed_client_flushed_at_exit(self):
        fake = self.daemon()
        script = (
            "import sys, evident\n"
            "c = evident.Client(sys.argv[1], client_name='exiting')\n"
            "for i in range(200):\n"
            "    c.record(model_id='pricing', model_version='3', features=[1, 2, 3],\n"
            "             scores=[0.5], request_id=f'exit-{i}')\n")
        c = self.client()
        self.registered(c)
        env = dict(os.environ, PYTHONPATH=PYDIR)
        p = subprocess.run([sys.executable, "-c", script, self.sock], env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = sorted(r[1] for r in fake.stored if r[0] == "exiting")
        self.assertEqual(got, sorted(f"exit-{i}" for i in range(200)))

    def test_argument_checks(self):
        with self.assertRaises(ValueError):
            evident.Client(self.sock, client_name="has space")
        with self.assertRaises(ValueError):
            evident.Client(self.sock, client_name="x" * 129)
        with self.assertRaises(ValueError):
            evident.Client(self.sock, client_name="ok", on_full="drop")
        c = self.client()
        with self.assertRaises(ValueError):
            rec(c, request_id="")
        with self.assertRaises(TypeError):
            rec(c, features=["a"])
        with self.assertRaises(TypeError):
            rec(c, subject=42)
        self.assertEqual(c.stats()["outstanding"], 0)
        c.close(timeout=0)
        with self.assertRaises(evident.ClosedError):
            rec(c)


class ReviewTests(FakeCase):
    def test_review_ack_and_wire(self):
        fake = self.daemon()
        acks = []
        c = self.client(on_ack=acks.append)
        self.registered(c)
        rec(c)
        a = c.review(41, "risk-officer@example.com", "overturned", "fat finger, not a crash",
                     timeout=TIMEOUT)
        self.assertIsInstance(a, evident.Ack)
        self.assertEqual((a.request_id, a.duplicate, len(a.leaf_hash)),
                         ("review-41", False, 32))
        client, rid, seq, rv = fake.reviews[0]
        self.assertEqual((client, rid, seq), ("test-client", "review-41", a.seq))
        self.assertEqual((rv.incident_id, rv.reviewer, rv.outcome, rv.note),
                         (41, "risk-officer@example.com", "overturned",
                          "fat finger, not a crash"))
        self.assertFalse(rv.HasField("request_id"))  # the daemon's default is implied
        # The same review again: the first one's seq, flagged duplicate; nothing new stored.
        b = c.review(41, "risk-officer@example.com", "overturned", timeout=TIMEOUT)
        self.assertEqual((b.seq, b.duplicate), (a.seq, True))
        # A further review of the same incident under its own request id; no note.
        d = c.review(41, "cro@example.com", "upheld", request_id="r41-2", timeout=TIMEOUT)
        self.assertEqual((d.request_id, d.duplicate), ("r41-2", False))
        self.assertNotEqual(d.seq, a.seq)
        self.assertEqual(len(fake.reviews), 2)
        rv2 = fake.reviews[1][3]
        self.assertEqual((rv2.request_id, rv2.HasField("note")), ("r41-2", False))
        self.assertTrue(c.flush(timeout=TIMEOUT))
        s = c.stats()
        self.assertEqual((s["acked"], s["reviews"], s["outstanding"], s["failed"]),
                         (1, 3, 0, 0))
        self.assertEqual(len(acks), 1)  # on_ack reports records only

    def test_review_of_a_guarded_record(self):
        fake = self.daemon()
        c = self.client()
        a = c.review(None, "desk-head@example.com", "released", record_seq=12,
                     timeout=TIMEOUT)
        self.assertEqual((a.request_id, a.duplicate), ("review-seq-12", False))
        rv = fake.reviews[0][3]
        self.assertEqual((rv.record_seq, rv.HasField("incident_id"), rv.outcome),
                         (12, False, "released"))
        with self.assertRaises(TypeError):
            c.review(3, "a", "b", record_seq=4)  # one target, not both
        with self.assertRaises(TypeError):
            c.review(None, "a", "b")
        with self.assertRaises(ValueError):
            c.review(None, "a", "b", record_seq=-1)

    def test_review_refused(self):
        self.daemon(refuse_reviews=True)
        errors = []
        c = self.client(on_error=lambda *a: errors.append(a))
        with self.assertRaises(evident.RecordError) as cm:
            c.review(7, "alice", "upheld", timeout=TIMEOUT)
        e = cm.exception
        self.assertEqual((e.code, e.request_id), ("BAD_MESSAGE", "review-7"))
        self.assertIn("refused by the test", e.message)
        self.assertEqual([x[:2] for x in errors], [("review-7", "BAD_MESSAGE")])
        s = c.stats()
        self.assertEqual((s["failed"], s["reviews"], s["outstanding"]), (1, 0, 0))

    def test_review_waits_for_daemon(self):
        # No daemon yet: the review stays queued past the timeout and is delivered later.
        c = self.client()
        with self.assertRaises(evident.TimeoutError):
            c.review(3, "bob", "escalated", timeout=0.05)
        self.assertEqual(c.stats()["outstanding"], 1)
        fake = self.daemon()
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual([(r[1], r[3].outcome) for r in fake.reviews],
                         [("review-3", "escalated")])
        self.assertEqual(c.stats()["reviews"], 1)

    def test_review_argument_checks(self):
        c = self.client()
        bad = [
            (TypeError, ("7", "a", "b")),
            (TypeError, (True, "a", "b")),
            (TypeError, (7.0, "a", "b")),
            (ValueError, (-1, "a", "b")),
            (ValueError, (1 << 64, "a", "b")),
            (TypeError, (7, b"alice", "b")),
            (TypeError, (7, "a", None)),
            (ValueError, (7, "", "b")),
            (ValueError, (7, "a", "")),
            (ValueError, (7, "\u00e9" * 65, "b")),  # 130 bytes of UTF-8
            (ValueError, (7, "a", "x" * 65)),
            (ValueError, (7, "a", "b", "n" * 16385)),
            (TypeError, (7, "a", "b", 12)),
            (ValueError, (7, "al\0ice", "b")),
            (ValueError, (7, "a", "b", "\ud800")),  # not encodable
        ]
        for exc, args in bad:
            with self.assertRaises(exc, msg=repr(args)[:80]):
                c.review(*args, timeout=0)
        for rid in ("", "r" * 257, 5):
            with self.assertRaises((TypeError, ValueError), msg=repr(rid)[:80]):
                c.review(7, "a", "b", request_id=rid, timeout=0)
        self.assertEqual(c.stats()["outstanding"], 0)  # nothing was queued
        # The limits themselves are accepted.
        with self.assertRaises(evident.TimeoutError):  # no daemon: stays queued
            c.review((1 << 64) - 1, "\u00e9" * 64, "x" * 64, "n" * 16384, timeout=0)
        self.assertEqual(c.stats()["outstanding"], 1)
        c.close(timeout=0)
        with self.assertRaises(evident.ClosedError):
            c.review(7, "a", "b")


class QueueTests(FakeCase):
    def test_queue_full_raises_and_counts(self):
        # No daemon: nothing is ever acknowledged, so the queue fills deterministically.
        c = self.client(max_queue=10)
        for i in range(10):
            self.assertIsNotNone(rec(c, i))
        with self.assertRaises(evident.QueueFull):
            rec(c, 10)
        with self.assertRaises(evident.QueueFull):
            c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                          scores=[1], timeout=1)
        s = c.stats()
        self.assertEqual((s["refused_queue_full"], s["queued"], s["sent"]), (2, 10, 0))
        self.assertFalse(c.flush(timeout=0.05))
        self.assertFalse(c.close(timeout=0.05))

    def test_queue_full_count_mode(self):
        c = self.client(max_queue=3, on_full="count")
        got = [rec(c, i) for i in range(5)]
        self.assertEqual(sum(g is None for g in got), 2)
        self.assertEqual(c.stats()["refused_queue_full"], 2)
        # Once the daemon is up, the queue drains and record() works again.
        self.preregistered_daemon()
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertIsNotNone(rec(c))
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual(c.stats()["acked"], 4)

    def test_record_never_blocks_without_daemon(self):
        c = self.client(max_queue=100000)
        t0 = time.monotonic()
        for i in range(20000):
            rec(c, i)
        self.assertLess(time.monotonic() - t0, TIMEOUT)
        self.assertEqual(c.stats()["queued"], 20000)


class ReconnectTests(FakeCase):
    def test_resend_unacked_gets_original_seqs(self):
        fake = self.daemon()
        acks = {}
        c = self.client(on_ack=lambda a: acks.__setitem__(a.request_id, a))
        self.registered(c)
        fake.close_after_records = 100
        rids = [rec(c, i) for i in range(300)]
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual(set(acks), set(rids))
        # Every record stored exactly once; the first 100 were committed on the first
        # connection and acked on the second as duplicates with their original seqs.
        self.assertEqual(sorted(r[1] for r in fake.stored), sorted(rids))
        orig = {r[1]: r[2] for r in fake.stored}
        for rid in rids:
            self.assertEqual(acks[rid].seq, orig[rid])
        self.assertTrue(all(acks[r].duplicate for r in rids[:100]))
        self.assertFalse(any(acks[r].duplicate for r in rids[100:]))
        s = c.stats()
        self.assertEqual((s["acked"], s["duplicates"], s["reconnects"]), (300, 100, 1))
        self.assertGreaterEqual(s["resent"], 100)
        # On the new connection the registration was redone (no upload) before any record.
        second = fake.conn_frames[-1]
        self.assertEqual(second[:2], ["hello", "register_model"])
        self.assertNotIn("artifact_chunk", second)
        self.assertEqual(second[2:], ["record"] * (len(second) - 2))

    def test_daemon_restart(self):
        fake = self.daemon()
        acks = []
        c = self.client(on_ack=acks.append)
        self.registered(c)
        first = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                              scores=[0.5], request_id="before", timestamp_unix_ns=7,
                              timeout=TIMEOUT)
        fake.stop()
        wait_for(lambda: not c.connected, what="disconnect")
        rids = [rec(c, i) for i in range(50)]  # queued while the daemon is down
        self.assertEqual(c.stats()["queued"], 50)
        fake.start()
        self.assertTrue(c.flush(timeout=TIMEOUT))
        self.assertEqual({a.request_id for a in acks}, set(rids) | {"before"})
        again = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                              scores=[0.5], request_id="before", timestamp_unix_ns=7,
                              timeout=TIMEOUT)
        self.assertEqual((again.seq, again.duplicate), (first.seq, True))
        s = c.stats()
        self.assertEqual((s["reconnects"], s["connects"]), (1, 2))

    def test_overloaded_reregistration_holds_records(self):
        # After a reconnect the redone registration is refused OVERLOADED twice: records
        # must wait for it (else they would get UNKNOWN_MODEL from a fresh daemon).
        fake = self.daemon()
        c = self.client(backoff_min=0.001, backoff_max=0.01)
        self.registered(c)
        fake.stop()
        wait_for(lambda: not c.connected, what="disconnect")
        fake.models.clear()  # a new, empty vault
        fake.overloaded_registrations = 2
        rids = [rec(c, i) for i in range(20)]
        fake.start()
        self.assertTrue(c.flush(timeout=TIMEOUT))
        s = c.stats()
        self.assertEqual((s["acked"], s["failed"]), (20, 0), s)
        self.assertEqual(sorted(r[1] for r in fake.stored), sorted(rids))
        log = fake.conn_frames[-1]
        self.assertEqual(log[:4], ["hello", "register_model", "register_model",
                                   "register_model"])
        self.assertIn("artifact_chunk", log)  # the new vault asked for the artifact
        self.assertEqual(log.index("record"), len(log) - 20)

    def test_registration_in_progress_survives_disconnect(self):
        # The connection drops at the first chunk: the upload restarts on the next session.
        fake = self.daemon(drop_at_chunk=True)
        c = self.client()
        path = self.artifact(400000)
        seq = c.register(make_manifest(), path, timeout=TIMEOUT)
        self.assertEqual(seq, fake.models["pricing@3"][1])
        with open(path, "rb") as f:
            self.assertEqual(fake.artifacts[("pricing@3", pb.ArtifactChunk.MODEL)], f.read())
        self.assertEqual([ch[3] for ch in fake.chunks], [0, 262144])  # second session
        self.assertEqual(c.stats()["reconnects"], 1)


class ThreadTests(FakeCase):
    def test_many_threads(self):
        fake = self.daemon()
        lock = threading.Lock()
        acks = []

        def on_ack(a):
            with lock:
                acks.append(a)
        c = self.client(on_ack=on_ack)
        self.registered(c)
        results = [None] * 8
        barrier = threading.Barrier(8)

        def worker(k):
            barrier.wait()
            results[k] = [rec(c, i, labels={"thread": str(k)}) for i in range(1000)]
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        self.assertTrue(c.flush(timeout=TIMEOUT))
        rids = [r for rs in results for r in rs]
        self.assertEqual(len(rids), 8000)
        self.assertEqual(len(set(rids)), 8000)
        self.assertEqual(len(acks), 8000)  # each acked exactly once
        self.assertEqual({a.request_id for a in acks}, set(rids))
        self.assertEqual(len({a.seq for a in acks}), 8000)
        self.assertEqual(len(fake.stored), 8000)
        s = c.stats()
        self.assertEqual((s["acked"], s["duplicates"], s["failed"], s["outstanding"]),
                         (8000, 0, 0, 0))


# ------------------------------------------------------------------------------- real daemon

EVIDENTD = os.environ.get("EVIDENTD")
# evidentctl: $EVIDENTCTL, else next to the daemon in a meson build tree (BUILD/tools/).
EVIDENTCTL = os.environ.get("EVIDENTCTL") or (
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(EVIDENTD))), "tools",
                 "evidentctl") if EVIDENTD else None)


@unittest.skipUnless(EVIDENTD, "EVIDENTD is not set: set EVIDENTD=path/to/evidentd to run "
                               "the client against the real daemon")
class RealDaemonTests(unittest.TestCase):
    N = 1000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evident-real-")
        self.vault = self.tmp
        self.sock = os.path.join(self.tmp, "s.sock")
        self.proc = None
        self.logs = []

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_daemon(self, config=None):
        logpath = os.path.join(self.tmp, f"evidentd-{len(self.logs)}.log")
        self.logs.append(logpath)
        args = [EVIDENTD, "--vault", self.vault, "--socket", self.sock]
        config = config or os.environ.get("EVIDENTD_CONFIG")
        if config:
            args += ["--config", config]
        with open(logpath, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"evidentd exited with {self.proc.returncode}:\n"
                                     + self.daemon_log())
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_for(up, what="evidentd's socket")

    def daemon_log(self):
        out = []
        for p in self.logs:
            with open(p, errors="replace") as f:
                out.append(f"--- {p}\n{f.read()}")
        return "\n".join(out)

    def write_artifact(self):
        artifact = os.path.join(self.tmp, "model.json")
        with open(artifact, "w") as f:
            f.write('{"intercept": -1.0, "coef": [0.01, -0.002, 0.5], "link": "logit", '
                    '"feature_names": ["f0", "f1", "f2"]}\n')
        return artifact

    def ctl(self, *args):
        """evidentctl --vault VAULT --json ARGS: the JSON Lines it prints, as objects."""
        p = subprocess.run([EVIDENTCTL, "--vault", self.vault, "--json", *args],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, f"evidentctl {' '.join(args)}: {p.stderr}")
        dec, out, text = json.JSONDecoder(), [], p.stdout.strip()
        while text:  # JSON Lines, or one (possibly pretty-printed) object
            obj, end = dec.raw_decode(text)
            out.append(obj)
            text = text[end:].lstrip()
        return out

    def test_review_of_an_incident(self):
        # A trigger opens an incident for a large record; a human's review of it is
        # acknowledged with the seq of a review entry that evidentctl shows with the incident.
        if not (EVIDENTCTL and os.access(EVIDENTCTL, os.X_OK)):
            self.skipTest(f"evidentctl not found at {EVIDENTCTL}: set EVIDENTCTL")
        conf = os.path.join(self.tmp, "evidentd.conf")
        with open(conf, "w") as f:
            f.write("[trigger large]\nmodel = pricing\nwhen = context.amount > 500\n"
                    "methods = linear\n")
        self.start_daemon(conf)
        c = evident.Client(self.sock, client_name="real-review-test", backoff_min=0.01,
                           backoff_max=0.5)
        try:
            c.register(make_manifest(), self.write_artifact(), timeout=TIMEOUT)
            small = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                                  scores=[0.5], decision="allow", context={"amount": 10.0},
                                  timeout=TIMEOUT)
            big = c.record_sync(model_id="pricing", model_version="3", features=[1, 2, 3],
                                scores=[0.5], decision="allow", context={"amount": 9000.0},
                                timeout=TIMEOUT)
            # The incident entry is written right after the record's commit.
            incidents = wait_for(lambda: self.ctl("incidents"), what="the incident")
            self.assertEqual([i["record_seq"] for i in incidents], [big.seq], incidents)
            self.assertNotEqual(small.seq, big.seq)
            iid = incidents[0]["id"]
            note = "checked against the order book: legitimate — keep it"
            a = c.review(iid, "risk-officer@example.com", "upheld", note, timeout=TIMEOUT)
            self.assertEqual((a.request_id, a.duplicate, len(a.leaf_hash)),
                             (f"review-{iid}", False, 32))
            self.assertGreater(a.seq, iid)
            # Sent again: the daemon's dedup answers with the same entry.
            b = c.review(iid, "risk-officer@example.com", "upheld", note, timeout=TIMEOUT)
            self.assertEqual((b.seq, b.duplicate, b.leaf_hash), (a.seq, True, a.leaf_hash))
            with self.assertRaises(ValueError):
                c.review(iid, "x" * 129, "upheld")
            self.assertEqual(c.stats()["reviews"], 2)
        finally:
            c.close(timeout=5)

        logged = self.ctl("log", "--type", "review")
        self.assertEqual([e["seq"] for e in logged], [a.seq])
        self.assertEqual(logged[0]["leaf_hash"], a.leaf_hash.hex())
        shown = self.ctl("show", str(a.seq))[0]
        self.assertEqual(shown["type"], "review")
        self.assertEqual(shown["payload"]["client_name"], "real-review-test")
        self.assertEqual(shown["payload"]["review"],
                         {"incident_id": iid, "reviewer": "risk-officer@example.com",
                          "outcome": "upheld", "note": note})
        inc = self.ctl("incident", str(iid))[0]
        self.assertEqual([(r["seq"], r["reviewer"], r["outcome"], r["note"])
                          for r in inc["reviews"]],
                         [(a.seq, "risk-officer@example.com", "upheld", note)])

    def test_strings_checked_as_bytes(self):
        # issue 11 item 4, end to end on a raw socket: "x\0one" and "x\0two" were both
        # stored as "x" (the second answered as a duplicate of the first); a client name
        # with NUL and control bytes passed; invalid UTF-8 was stored. Each is refused now
        # with BAD_MESSAGE naming the field, and nothing is stored.
        self.start_daemon()

        def session(*frames, hello="raw-strings"):
            if hello is not None:
                frames = (frame_bytes(hello=pb.Hello(protocol_version=1,
                                                     client_name=hello)),) + frames
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            s.connect(self.sock)
            s.sendall(b"".join(frames))
            dec, got = _wire.FrameDecoder(1 << 20), []
            while len(got) < len(frames):
                data = s.recv(65536)
                if not data:
                    break
                for body in dec.feed(data):
                    f = pb.Frame()
                    f.ParseFromString(body)
                    got.append(f)
            s.close()
            return [(f.error.code, f.error.message, f.error.request_id)
                    if f.WhichOneof("body") == "error" else f.WhichOneof("body") for f in got]

        def record(rid="r", **kw):
            return frame_bytes(record=pb.Record(model_id="pricing", model_version="3",
                                                request_id=rid, features=[1, 2, 3],
                                                scores=[0.5], **kw))
        bad_label = record(labels={"desk": "ab####"}).replace(b"ab####", b"ab\xc0\xaf##")
        got = session(record("x\0one"), record("x\0two"), bad_label)
        nul = (pb.Error.BAD_MESSAGE, "record.request_id: NUL byte at offset 1", "")
        self.assertEqual(got, ["hello_ok", nul, nul,
                               (pb.Error.BAD_MESSAGE,
                                "record.labels[0].value: invalid UTF-8 at offset 2", "")],
                         self.daemon_log())
        hello = frame_bytes(hello=pb.Hello(protocol_version=1, client_name="svcQQb"))
        got = session(hello.replace(b"svcQQb", b"svc\0\x01b"), hello=None)
        self.assertEqual(got, [(pb.Error.BAD_MESSAGE, "hello.client_name: NUL byte at offset 3",
                                "")])
        if EVIDENTCTL and os.access(EVIDENTCTL, os.X_OK):
            self.assertEqual(self.ctl("log", "--type", "record"), [])

    def test_conflict_reaches_the_caller(self):
        # issue 11 item 5: the daemon answers a retry with other content CONFLICT; the client
        # raises it to the caller at once and never resends it; the first record stands
        self.start_daemon()
        errors = []
        c = evident.Client(self.sock, client_name="real-conflict-test", backoff_min=0.01,
                           backoff_max=0.5, on_error=lambda *a: errors.append(a))
        try:
            c.register(make_manifest(), self.write_artifact(), timeout=TIMEOUT)
            kw = dict(model_id="pricing", model_version="3", features=[1, 2, 3],
                      scores=[0.5], decision="allow", request_id="same",
                      timestamp_unix_ns=1_700_000_000_000_000_000)
            a = c.record_sync(timeout=TIMEOUT, **kw)
            b = c.record_sync(timeout=TIMEOUT, **kw)
            self.assertEqual((b.seq, b.duplicate, b.leaf_hash), (a.seq, True, a.leaf_hash))
            with self.assertRaises(evident.RecordError) as cm:
                c.record_sync(timeout=TIMEOUT, **dict(kw, decision="deny"))
            self.assertEqual((cm.exception.code, cm.exception.request_id), ("CONFLICT", "same"))
            c.record(**dict(kw, timestamp_unix_ns=None))  # "now": other content too
            self.assertTrue(c.flush(timeout=TIMEOUT), c.stats())
            self.assertEqual([e[:2] for e in errors], [("same", "CONFLICT")] * 2,
                             self.daemon_log())
            s = c.stats()
            self.assertEqual((s["retries"], s["failed"], s["errors"]),
                             (0, 2, {"CONFLICT": 2}))
        finally:
            c.close(timeout=5)
        if EVIDENTCTL and os.access(EVIDENTCTL, os.X_OK):
            records = self.ctl("log", "--type", "record")
            self.assertEqual([e["seq"] for e in records], [a.seq])  # the first stands
            self.assertEqual(len(self.ctl("log", "--type", "notice")), 2)  # the refused ones

    def test_register_record_kill9_resend(self):
        self.start_daemon()
        artifact = self.write_artifact()
        acks = {}
        lock = threading.Lock()
        errors = []

        def on_ack(a):
            with lock:
                acks[a.request_id] = a
        c = evident.Client(self.sock, client_name="real-daemon-test", on_ack=on_ack,
                           on_error=lambda *a: errors.append(a), backoff_min=0.01,
                           backoff_max=0.5)
        try:
            manifest = make_manifest()
            seq = c.register(manifest, artifact, timeout=TIMEOUT)
            self.assertEqual(c.register(manifest, artifact, timeout=TIMEOUT), seq)

            def send(i, rid=None):
                # a fixed timestamp: sent again under its request id, it is the same record
                x = [float(i % 100), float(i % 7), float(i % 2)]
                return c.record(model_id="pricing", model_version="3", features=x,
                                scores=[0.5], decision="allow", request_id=rid,
                                context={"amount": float(i)}, labels={"desk": "eu"},
                                timestamp_unix_ns=1_700_000_000_000_000_000 + i)
            first = [send(i) for i in range(self.N)]
            self.assertTrue(c.flush(timeout=120), c.stats())
            self.assertEqual(errors, [], self.daemon_log())
            seqs = [acks[r].seq for r in first]
            self.assertEqual(len(set(seqs)), self.N)
            self.assertEqual(seqs, sorted(seqs))  # one connection: in order, increasing
            self.assertTrue(all(s > seq for s in seqs))
            self.assertTrue(all(len(acks[r].leaf_hash) == 32 for r in first))

            # More records, then kill -9 while they are in flight; restart; the client
            # reconnects, re-registers and resends; every record ends up acked once.
            second = [send(self.N + i) for i in range(self.N)]
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(TIMEOUT)
            self.start_daemon()
            self.assertTrue(c.flush(timeout=120), (c.stats(), self.daemon_log()))
            self.assertEqual(errors, [], self.daemon_log())
            self.assertEqual(set(acks), set(first) | set(second))
            all_seqs = [acks[r].seq for r in first + second]
            self.assertEqual(len(set(all_seqs)), 2 * self.N)
            self.assertGreaterEqual(c.stats()["reconnects"], 1)

            # The daemon's dedup survived kill -9: resending the first batch under the same
            # request ids returns the original seqs, flagged duplicate.
            old = {r: acks[r].seq for r in first}
            acks.clear()
            for i, r in enumerate(first):
                send(i, rid=r)
            self.assertTrue(c.flush(timeout=120), c.stats())
            self.assertEqual({r: acks[r].seq for r in first}, old)
            self.assertTrue(all(acks[r].duplicate for r in first))
        finally:
            c.close(timeout=5)


if __name__ == "__main__":
    unittest.main()
