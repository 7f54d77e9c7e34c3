# SPDX-License-Identifier: Apache-2.0
"""The evidentd ingest client: one background I/O thread per Client owning the socket.

See the package docstring (``help(evident)``) for the user's view. This module holds the
implementation; everything public is re-exported by ``evident``.

Threads and ownership
---------------------
Caller threads (``record``, ``record_sync``, ``review``, ``register``, ``flush``, ``stats``)
only touch the state guarded by ``Client._lock``: the send queue, the hand-over list of
registrations and the counters. Everything about the connection (socket, write buffer,
decoder, records in flight, registrations on the wire, artifact uploads, retry timers)
belongs to the I/O thread alone. A review travels like a record (same queue, in-flight
table, retries and resends); only its frame and the handling of its Ack differ. A caller
wakes the I/O thread through a pipe, writing at most one byte per wake-up.
"""

import atexit
import collections
import concurrent.futures
import errno
import hashlib
import heapq
import itertools
import logging
import os
import random
import selectors
import socket
import sys
import threading
import time
import uuid
import weakref
import builtins
from typing import NamedTuple, Tuple

from google.protobuf import json_format

from . import _wire
from . import evident_pb2 as pb

__all__ = [
    "PROTOCOL_VERSION",
    "DEFAULT_SOCKET",
    "CHUNK_SIZE",
    "Ack",
    "Verdict",
    "EvidentError",
    "QueueFull",
    "RecordError",
    "RegistrationError",
    "ConflictError",
    "TimeoutError",
    "ClosedError",
    "Client",
    "manifest_from_dict",
    "file_sha256",
]

log = logging.getLogger("evident")
log.addHandler(logging.NullHandler())  # a library logs only where the application says

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/run/evidentd/ingest.sock"
CHUNK_SIZE = 256 * 1024  # artifact chunk size (PROTOCOL.md: clients use 256 KiB)

_Code = pb.Error.Code
#: Error codes after which the request is retried with backoff (the daemon says "later").
RETRYABLE = frozenset({"OVERLOADED", "VAULT_FULL"})

# I/O thread session states.
_DOWN, _HELLO, _RESYNC, _READY = range(4)

_HIGH_WATER = 256 * 1024  # stop filling the write buffer above this many bytes
_READ_SIZE = 256 * 1024
_BATCH = 512  # records taken from the queue per lock acquisition


# ---------------------------------------------------------------------------- results, errors


class Ack(NamedTuple):
    """The daemon's acknowledgement: the entry is durable in the vault.

    ``request_id``: the record's request id (for a registration ``"ID@VERSION"``);
    ``seq``: the entry's number in the vault (for a retry: the original entry's);
    ``leaf_hash``: the RFC 6962 leaf hash of the entry (32 bytes);
    ``duplicate``: True when the daemon had stored this request before.
    """

    request_id: str
    seq: int
    leaf_hash: bytes
    duplicate: bool


class Verdict(NamedTuple):
    """The daemon's verdict on a record sent with ``verdict_deadline_ms > 0``, or on any
    record a guard caught (sent right after its Ack, asked for or not).

    ``action`` is ``"PROCEED"``, ``"REVIEW"``, ``"HOLD"`` (a guard holds the decision until
    a human's review of the record: ``review(record_seq=...)``) or ``"PENDING"`` (no answer
    before the deadline); ``reasons`` a tuple of str; ``guards`` the names of the guards
    that caught the record (empty for an audit's verdict).
    """

    request_id: str
    seq: int
    action: str
    confidence: float
    incident_id: int
    reasons: Tuple[str, ...]
    guards: Tuple[str, ...] = ()


class EvidentError(Exception):
    """Base class of every error this module raises."""


class QueueFull(EvidentError):
    """``record()`` found ``max_queue`` records already held by the client (nothing was queued)."""


class ClosedError(EvidentError):
    """The client was closed (or is used in a child process after fork())."""


class TimeoutError(EvidentError, builtins.TimeoutError):
    """A blocking call (register, record_sync) did not complete in time.

    The request itself is not cancelled: it stays queued and is delivered when it can be.
    Also an instance of the built-in ``TimeoutError``.
    """


class RecordError(EvidentError):
    """The daemon refused a record (or the client could not send it).

    ``code`` is the protocol's error code name (``"UNKNOWN_MODEL"``, ``"SCHEMA_MISMATCH"``,
    ``"BAD_MESSAGE"``, ``"OVERLOADED"`` after the retries ran out, ``"TOO_LARGE"``, ...),
    ``message`` the daemon's explanation, ``request_id`` the record's id.
    """

    def __init__(self, code, message, request_id=None):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.request_id = request_id

    def __reduce__(self):
        return type(self), (self.code, self.message, self.request_id)


class RegistrationError(EvidentError):
    """The daemon refused a model registration.

    ``code`` and ``message`` as the daemon sent them; ``key`` is ``"ID@VERSION"``.
    """

    def __init__(self, code, message, key=None):
        super().__init__(f"{key}: {code}: {message}" if key else f"{code}: {message}")
        self.code = code
        self.message = message
        self.key = key

    def __reduce__(self):
        return type(self), (self.code, self.message, self.key)


class ConflictError(RegistrationError):
    """Another manifest or artifact is already registered under the same ``ID@VERSION``."""


def _code_name(code):
    try:
        return _Code.Name(code)
    except ValueError:
        return f"CODE_{code}"


# ---------------------------------------------------------------------------- manifests



def _upper_enums(d):
    out = dict(d)
    feats = out.get("features")
    if isinstance(feats, list):
        nf = []
        for f in feats:
            if isinstance(f, dict) and isinstance(f.get("type"), str):
                f = dict(f, type=f["type"].upper())
            nf.append(f)
        out["features"] = nf
    dec = out.get("decision")
    if isinstance(dec, dict) and isinstance(dec.get("kind"), str):
        out["decision"] = dict(dec, kind=dec["kind"].upper())
    return out


def manifest_from_dict(d):
    """Convert a JSON-like dict into an ``evident_pb2.ModelManifest``.

    Field names may be the proto's (``model_id``, ``artifact_sha256``) or their JSON
    camelCase forms (``modelId``); enum values may be names in any case (``"categorical"``,
    ``"ARGMAX"``) or numbers; 64-bit integers may be ints or decimal strings. An unknown
    field raises ``ValueError`` (a typo must not silently drop lineage). Uses
    ``google.protobuf.json_format.ParseDict``.
    """
    if isinstance(d, pb.ModelManifest):
        m = pb.ModelManifest()
        m.CopyFrom(d)
        return m
    if not isinstance(d, dict):
        raise TypeError(f"manifest must be a dict or ModelManifest, not {type(d).__name__}")
    m = pb.ModelManifest()
    try:
        json_format.ParseDict(_upper_enums(d), m)
    except json_format.ParseError as e:
        raise ValueError(f"bad manifest: {e}") from None
    return m


def file_sha256(path, bufsize=1 << 20):
    """Return ``(lowercase hex SHA-256, size in bytes)`` of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def _check_name(what, s, limit):
    if not isinstance(s, str) or not 1 <= len(s) <= limit or \
            not all(0x21 <= ord(c) <= 0x7E for c in s):
        raise ValueError(f"{what} must be 1-{limit} printable ASCII characters without "
                         f"spaces: {s!r}")


# ---------------------------------------------------------------------------- internal state


_RECORD_TAG = b"\x2a"  # Frame field 5 (record), wire type 2 (length-delimited)
assert pb.Frame.DESCRIPTOR.fields_by_name["record"].number == 5


def _record_frame(record_bytes):
    """The framed ``Frame{record}``: the same bytes as serializing a Frame holding the
    record, without building (and copying into) a Frame message - a third of record()'s
    cost."""
    body = _RECORD_TAG + _wire.encode_varint(len(record_bytes)) + record_bytes
    return _wire.encode_varint(len(body)) + body


class _Pending:
    """One record held by the client until it is resolved (acked or failed)."""

    __slots__ = ("request_id", "frame", "order", "attempts", "future", "resend")
    is_review = False  # class attribute: no per-record cost

    def __init__(self, request_id, frame, order, future):
        self.request_id = request_id
        self.frame = frame  # varint-prefixed Frame bytes, sent as they are on every attempt
        self.order = order  # enqueue order: resend in the original order after a reconnect
        self.attempts = 0  # OVERLOADED / VAULT_FULL retries so far
        self.future = future  # concurrent.futures.Future for record_sync, else None
        self.resend = False  # sent on a connection that was lost before its answer


class _ReviewPending(_Pending):
    """A Review frame held like a record: queued, sent in order, resent after a reconnect
    and retried on OVERLOADED / VAULT_FULL; its Ack resolves ``future`` and is not passed to
    ``on_ack`` (which reports records)."""

    __slots__ = ()
    is_review = True


def _check_text(what, s, limit, required):
    """A str of at most ``limit`` UTF-8 bytes (at least 1 when ``required``), without NUL
    (the daemon keeps these as C strings). Returns it."""
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, not {type(s).__name__}")
    try:
        n = len(s.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not encodable as UTF-8") from None
    if "\0" in s:
        raise ValueError(f"{what} must not contain NUL characters")
    if n > limit or (required and n == 0):
        raise ValueError(f"{what} must be {'1' if required else '0'}-{limit} bytes of UTF-8, "
                         f"not {n}")
    return s


def _check_subject(subject):
    """A data subject id the daemon accepts (PROTOCOL.md, Records): a str of 1-128 UTF-8 bytes
    without NUL or other control characters (C0, DEL, C1). Returns it."""
    _check_text("subject", subject, 128, True)
    for i, ch in enumerate(subject):
        if ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f:
            raise ValueError(f"subject must not contain control characters "
                             f"({ch!r} at character {i})")
    return subject


def _check_str(what, s):
    """A str (or UTF-8 bytes) the daemon accepts as a string field: UTF-8 without NUL
    (PROTOCOL.md, Strings: protobuf would carry "x\\0one" and the daemon refuses it).
    Other types are left to protobuf, which raises TypeError. Returns s."""
    if isinstance(s, str):
        if "\0" in s:
            raise ValueError(f"{what} must not contain NUL characters: {s!r}")
        if not s.isascii():
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{what} is not encodable as UTF-8 (a lone surrogate): "
                                 f"{s!r}") from None
    elif isinstance(s, (bytes, bytearray)):
        if b"\0" in s:
            raise ValueError(f"{what} must not contain NUL bytes: {s!r}")
        try:
            s.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not valid UTF-8: {s!r}") from None
    return s


def _check_message_strings(msg, path):
    """Every string field of a protobuf message, at any depth, through _check_str; the
    ValueError names the field, e.g. ``manifest.features[1].name``."""
    for fd, value in msg.ListFields():
        name = f"{path}.{fd.name}"
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            vfd = mt.fields_by_name["value"]
            for k, v in value.items():
                if mt.fields_by_name["key"].type == fd.TYPE_STRING:
                    _check_str(f"{name} key", k)
                if vfd.type == fd.TYPE_STRING:
                    _check_str(f"{name}[{k!r}]", v)
                elif vfd.type == fd.TYPE_MESSAGE:
                    _check_message_strings(v, f"{name}[{k!r}]")
            continue
        items = enumerate(value) if fd.label == fd.LABEL_REPEATED else ((None, value),)
        for i, v in items:
            item = name if i is None else f"{name}[{i}]"
            if fd.type == fd.TYPE_STRING:
                _check_str(item, v)
            elif fd.type == fd.TYPE_MESSAGE:
                _check_message_strings(v, item)


class _Registration:
    __slots__ = ("key", "manifest", "frame", "artifact_path", "reference_path", "future",
                 "attempts", "seq")

    def __init__(self, manifest, artifact_path, reference_path):
        self.key = f"{manifest.model_id}@{manifest.version}"
        self.manifest = manifest
        self.frame = _wire.encode_frame(
            pb.Frame(register_model=pb.RegisterModel(manifest=manifest)).SerializeToString())
        self.artifact_path = artifact_path
        self.reference_path = reference_path
        self.future = concurrent.futures.Future()
        self.attempts = 0
        self.seq = None


class _Upload:
    __slots__ = ("reg", "kind", "file", "offset", "size")

    def __init__(self, reg, kind, file, offset, size):
        self.reg = reg
        self.kind = kind
        self.file = file
        self.offset = offset
        self.size = size


_clients = weakref.WeakSet()


def _after_fork_in_child():
    # The I/O thread does not exist in a child; any use of an inherited Client is an error.
    for c in list(_clients):
        c._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_at_exit():
    # The I/O threads are daemon threads: without this, records queued when the interpreter
    # exits would be lost without a word. Each open Client gets exit_timeout seconds.
    for c in list(_clients):
        if not c._closed and not c._forked:
            c.close(timeout=c.exit_timeout)


# ---------------------------------------------------------------------------- the client


class Client:
    """A connection to evidentd that records decisions without blocking the caller.

    ``Client(socket_path=None, client_name=None, *, max_queue=100000, on_full="raise",
    on_error=None, on_ack=None, on_verdict=None, max_retries=20, backoff_min=0.05,
    backoff_max=5.0, connect_timeout=5.0, handshake_timeout=10.0, chunk_size=262144,
    exit_timeout=5.0)``

    ``socket_path``: the daemon's socket (default ``/run/evidentd/ingest.sock``).
    ``client_name``: 1-128 printable ASCII characters without spaces; with each record's
    request id it is the daemon's deduplication key and it is stored with every record, so
    use a stable name per service instance (default: ``HOST-PROGRAM``).
    ``max_queue``: most records held at once (queued, waiting for a retry, or sent and not
    yet acknowledged; all must be kept to resend them after a reconnect).
    ``on_full``: what ``record()`` does when ``max_queue`` is reached: ``"raise"`` (default)
    raises ``QueueFull``; ``"count"`` returns None. Either way it never blocks, nothing is
    dropped silently, and ``stats()["refused_queue_full"]`` counts it.
    ``on_error(request_id, code, message)``: called (on the I/O thread) for each record
    that finally failed (e.g. code ``"CONFLICT"``: its request_id was stored before with
    other content), and for errors not tied to a pending record (request_id may be
    None, or ``"ID@VERSION"`` for a registration redone after a reconnect).
    ``on_ack(ack)``, ``on_verdict(verdict)``: called on the I/O thread for every record
    Ack / Verdict. Callbacks must be quick; exceptions in them are logged and ignored. They
    may call ``record()`` and ``stats()``, not the blocking methods (RuntimeError).
    ``max_retries``: attempts after OVERLOADED / VAULT_FULL before the record fails.
    ``backoff_min``, ``backoff_max``: reconnect and retry delays double from min to max
    (seconds, with jitter).
    ``exit_timeout``: at interpreter exit, a Client not closed yet is closed (flushed) for
    up to this many seconds.

    The I/O thread starts at once and connects in the background; ``record()`` works
    before the daemon is reachable (records wait in the queue).
    """

    def __init__(self, socket_path=None, client_name=None, *, max_queue=100000,
                 on_full="raise", on_error=None, on_ack=None, on_verdict=None, max_retries=20,
                 backoff_min=0.05, backoff_max=5.0, connect_timeout=5.0,
                 handshake_timeout=10.0, chunk_size=CHUNK_SIZE, exit_timeout=5.0):
        if socket_path is None:
            socket_path = DEFAULT_SOCKET
        if client_name is None:
            prog = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "python")
            raw = f"{socket.gethostname()}-{prog}"
            client_name = "".join(c if 0x21 <= ord(c) <= 0x7E else "_" for c in raw)[:128]
        _check_name("client_name", client_name, 128)
        if on_full not in ("raise", "count"):
            raise ValueError('on_full must be "raise" or "count"')
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if not 0 < backoff_min <= backoff_max:
            raise ValueError("need 0 < backoff_min <= backoff_max")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.socket_path = os.fspath(socket_path)
        self.client_name = client_name
        self.max_queue = int(max_queue)
        self.on_full = on_full
        self.on_error = on_error
        self.on_ack = on_ack
        self.on_verdict = on_verdict
        self.max_retries = int(max_retries)
        self.backoff_min = float(backoff_min)
        self.backoff_max = float(backoff_max)
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.chunk_size = int(chunk_size)
        self.exit_timeout = exit_timeout

        # --- shared with callers, guarded by _lock
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = collections.deque()  # _Pending waiting to be sent
        self._outstanding = 0  # records held: queued + waiting for retry + in flight
        self._reg_incoming = []  # registrations handed to the I/O thread
        self._order = itertools.count()
        self._wake_pending = False
        self._want_records = False  # the I/O thread sends records now: wake it for new ones
        self._closing = False
        self._closed = False
        self._forked = False
        self._dead = False  # the I/O thread has exited
        self._max_frame = _wire.DEFAULT_MAX_FRAME
        self._hello = None  # the last HelloOk
        self._connected = False
        self._counts = {
            "sent": 0, "resent": 0, "acked": 0, "duplicates": 0, "failed": 0,
            "retries": 0, "refused_queue_full": 0, "reconnects": 0, "connects": 0,
            "verdicts": 0, "unmatched": 0, "registrations": 0, "uploaded_bytes": 0,
            "reviews": 0,
        }
        self._errors = collections.Counter()
        self._last_error = None

        # --- I/O thread only
        self._sock = None
        self._state = _DOWN
        self._wbuf = bytearray()
        self._decoder = None
        self._ctl = collections.deque()  # control frames (Hello, RegisterModel), sent first
        self._inflight = {}  # request_id -> deque of _Pending sent on this connection
        self._n_inflight = 0
        self._retry = []  # heap of (due, order, _Pending)
        self._regs_done = {}  # key -> _Registration acknowledged (redone after reconnects)
        self._regs_todo = collections.deque()  # registrations to send
        self._reg_waiting = None  # the registration on the wire (one at a time)
        self._reg_retry = []  # heap of (due, n, _Registration)
        self._resync = set()  # keys that must be redone before records flow again
        self._uploads = collections.deque()
        self._hello_deadline = None
        self._reg_counter = itertools.count()

        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=f"evident-io[{client_name}]",
                                        daemon=True)
        _clients.add(self)
        self._thread.start()

    # ------------------------------------------------------------------ context manager

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (f"<evident.Client {self.client_name!r} socket={self.socket_path!r} "
                f"connected={self._connected}>")

    # ------------------------------------------------------------------ public API

    @property
    def connected(self):
        """True while a session with the daemon is established (after HelloOk)."""
        return self._connected

    @property
    def daemon_info(self):
        """The last HelloOk as a dict (``protocol_version``, ``daemon_version``,
        ``vault_origin``, ``max_frame``), or None before the first connection."""
        h = self._hello
        if h is None:
            return None
        return {"protocol_version": h.protocol_version, "daemon_version": h.daemon_version,
                "vault_origin": h.vault_origin, "max_frame": h.max_frame}

    def register(self, manifest, artifact_path, reference_path=None, *, timeout=30.0):
        """Register a model version; block until the daemon acknowledges it; return its seq.

        ``manifest``: a dict (see ``manifest_from_dict``) or an ``evident_pb2.ModelManifest``
        (not modified). ``artifact_sha256`` / ``artifact_size`` (and the reference data's)
        are computed from the files when missing. The artifact is streamed in 256 KiB chunks
        only if the daemon asks for it; a version already registered with the same manifest
        and artifact is acknowledged at once without an upload.

        The registration is remembered and redone automatically after every reconnect,
        before queued records are resent. Raises ``ConflictError`` (another manifest holds
        this ``ID@VERSION``), ``RegistrationError`` (any other refusal, with the daemon's
        message), ``TimeoutError`` (the registration then continues in the background),
        ``ValueError`` / ``OSError`` for a bad manifest or unreadable file.
        """
        self._check_usable()
        self._no_wait_on_io_thread("register()")
        m = manifest_from_dict(manifest)
        if not m.model_id or not m.version:
            raise ValueError("manifest needs model_id and version")
        _check_message_strings(m, "manifest")
        artifact_path = os.fspath(artifact_path)
        if not m.artifact_sha256:
            m.artifact_sha256, size = file_sha256(artifact_path)
            if not m.HasField("artifact_size"):
                m.artifact_size = size
        elif not m.HasField("artifact_size"):
            m.artifact_size = os.stat(artifact_path).st_size
        if reference_path is not None:
            reference_path = os.fspath(reference_path)
            if not m.reference_data_sha256:
                m.reference_data_sha256, size = file_sha256(reference_path)
                if not m.HasField("reference_data_size"):
                    m.reference_data_size = size
            elif not m.HasField("reference_data_size"):
                m.reference_data_size = os.stat(reference_path).st_size
        elif m.reference_data_sha256:
            raise ValueError("the manifest names reference data but reference_path is None")
        reg = _Registration(m, artifact_path, reference_path)
        if len(reg.frame) > self._max_frame:
            raise ValueError(f"manifest too large: {len(reg.frame)} bytes > max_frame "
                             f"{self._max_frame}")
        with self._lock:
            self._reg_incoming.append(reg)
        self._wake()
        try:
            return reg.future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"registration of {reg.key} not acknowledged within "
                               f"{timeout} s (it continues in the background)") from None

    def record(self, model_id, model_version, features, scores, decision=None, *,
               request_id=None, context=None, labels=None, trace_id=None,
               timestamp_unix_ns=None, base_margin=None, verdict_deadline_ms=0,
               subject=None):
        """Queue one decision for the vault and return its request id; never blocks.

        ``features``: the model's inputs in the manifest's feature order (floats; NaN =
        missing; categorical features as category indexes). ``scores``: the model's outputs
        in the manifest's output space. ``decision``: the decision label. ``context``: dict
        of numeric facts (``{"amount": 129.5}``); ``labels``: dict of string facts;
        ``trace_id``: str. ``timestamp_unix_ns`` defaults to ``time.time_ns()``.
        ``request_id`` defaults to a fresh UUID4 (hex); it is kept across reconnects and
        retries, so the daemon stores each record once. ``subject``: the data subject the
        decision is about, as a pseudonymous id you can map back to a person (never a name
        or an e-mail address): 1-128 bytes of UTF-8 without control characters; the vault
        indexes it, for access requests and erasure (proto/PROTOCOL.md, "Retention, holds
        and erasure").

        When ``max_queue`` records are held, raises ``QueueFull`` (or returns None with
        ``on_full="count"``). A frame over the daemon's ``max_frame`` raises
        ``RecordError("TOO_LARGE")``; bad argument types raise ``TypeError``/``ValueError``,
        and so does a string (ids, decision, trace_id, context keys, labels, subject) with a
        NUL character or a lone surrogate, or a subject that is empty, over 128 bytes or
        holds a control character: the daemon refuses those (nothing is queued).
        The outcome arrives later: ``on_ack`` / ``on_error`` callbacks, ``stats()``,
        ``flush()``.

        Sending a record again yourself (the same ``request_id``) is answered with the
        first one's seq and ``duplicate=True`` only when it is the same record, every
        field alike: pass ``timestamp_unix_ns`` then, since the default is "now". Other
        content under a stored ``request_id`` is refused with ``CONFLICT`` (the first
        record stands; the daemon keeps the refused one as a notice): reported to
        ``on_error`` and never retried. The client's own resends after a reconnect or an
        OVERLOADED / VAULT_FULL are the same bytes and never conflict.
        """
        p = self._make_pending(model_id, model_version, features, scores, decision,
                               request_id, context, labels, trace_id, timestamp_unix_ns,
                               base_margin, verdict_deadline_ms, None, subject)
        if not self._enqueue(p, self.on_full == "raise"):
            return None
        return p.request_id

    def record_sync(self, model_id, model_version, features, scores, decision=None, *,
                    timeout=5.0, **kw):
        """Like ``record()`` but wait for the outcome: return the ``Ack``.

        Raises ``RecordError(code, message)`` when the daemon refuses the record (after the
        retries for OVERLOADED / VAULT_FULL; at once for any other code, e.g.
        ``RecordError("CONFLICT")`` for a ``request_id`` stored before with other content),
        ``QueueFull`` when the queue is full (whatever ``on_full`` says), ``TimeoutError``
        after ``timeout`` seconds (None: no limit; the record stays queued and is still
        delivered).
        """
        self._no_wait_on_io_thread("record_sync()")
        fut = concurrent.futures.Future()
        p = self._make_pending(model_id, model_version, features, scores, decision,
                               kw.pop("request_id", None), kw.pop("context", None),
                               kw.pop("labels", None), kw.pop("trace_id", None),
                               kw.pop("timestamp_unix_ns", None), kw.pop("base_margin", None),
                               kw.pop("verdict_deadline_ms", 0), fut, kw.pop("subject", None))
        if kw:
            raise TypeError(f"unexpected arguments: {', '.join(kw)}")
        self._enqueue(p, True)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"record {p.request_id} not acknowledged within {timeout} s "
                               f"(it stays queued)") from None

    def review(self, incident_id, reviewer, outcome, note=None, *, request_id=None,
               timeout=10.0, record_seq=None):
        """Record a human's review of an incident; wait for the daemon's ``Ack``; return it.

        A record a guard caught (``Verdict.guards``) has no incident: review it with
        ``incident_id=None, record_seq=SEQ`` (the seq of its Ack and Verdict), e.g. outcome
        ``"released"`` or ``"confirmed"``; the default request id is then
        ``"review-seq-<SEQ>"``.

        ``incident_id``: the incident's id (the seq of its incident entry, as in a
        ``Verdict`` and ``evidentctl incidents``); ``reviewer``: who reviewed (1-128 bytes
        of UTF-8, e.g. an e-mail address); ``outcome``: 1-64 bytes, e.g. ``"upheld"``,
        ``"overturned"``, ``"escalated"``; ``note``: optional free text up to 16 KiB.
        The daemon stores the review as a vault entry and acknowledges it once durable.

        ``request_id`` defaults to ``"review-<incident_id>"`` (the daemon's own default):
        with it, sending the same review again is answered with the first review's seq and
        ``duplicate=True``; pass a distinct request id to record a further review of the
        same incident (another review under a stored request id is not stored: the daemon
        answers it as a duplicate or refuses it with ``CONFLICT``). The review
        shares the records' queue: it counts towards ``max_queue`` and ``flush()``, is
        resent after a reconnect and retried after OVERLOADED / VAULT_FULL; its Ack is not
        passed to ``on_ack`` (``stats()["reviews"]`` counts them).

        Raises ``RecordError(code, message)`` when the daemon refuses it (also reported to
        ``on_error``), ``QueueFull``, ``TimeoutError`` after ``timeout`` seconds (None: no
        limit; the review stays queued and is still delivered), ``ClosedError``,
        ``TypeError`` / ``ValueError`` for bad arguments (nothing is sent).
        """
        self._no_wait_on_io_thread("review()")
        self._check_usable()
        if (incident_id is None) == (record_seq is None):
            raise TypeError("review() takes an incident_id or a record_seq, not both or none")
        name, target = ("incident_id", incident_id) if record_seq is None else \
            ("record_seq", record_seq)
        if isinstance(target, bool) or not isinstance(target, int):
            raise TypeError(f"{name} must be an int, not {type(target).__name__}")
        if not 0 <= target < 1 << 64:
            raise ValueError(f"{name} must be from 0 to 2**64-1, not {target}")
        rv = pb.Review(reviewer=_check_text("reviewer", reviewer, 128, True),
                       outcome=_check_text("outcome", outcome, 64, True))
        if record_seq is None:
            rv.incident_id = incident_id
        else:
            rv.record_seq = record_seq
        if note is not None:
            rv.note = _check_text("note", note, 16384, False)
        if request_id is None:
            # what the daemon answers with
            request_id = f"review-{incident_id}" if record_seq is None else \
                f"review-seq-{record_seq}"
        else:
            _check_text("request_id", request_id, 256, True)
            rv.request_id = request_id
        fut = concurrent.futures.Future()
        p = _ReviewPending(request_id, _wire.encode_frame(
            pb.Frame(review=rv).SerializeToString()), 0, fut)
        self._enqueue(p, True)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"review {request_id} of incident {incident_id} not "
                               f"acknowledged within {timeout} s (it stays queued)") from None

    def flush(self, timeout=None):
        """Wait until every record handed to ``record()`` so far is resolved.

        Resolved means acknowledged by the daemon or finally refused (reported through
        ``on_error``); reviews sent by ``review()`` count too. Returns True when nothing is
        outstanding, False when ``timeout`` seconds (None: no limit) passed first.
        """
        self._no_wait_on_io_thread("flush()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._outstanding:
                if self._closed or self._dead:
                    return False
                if deadline is None:
                    self._cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
            return True

    def stats(self):
        """Counters, as a dict.

        ``queued`` (waiting to be sent, including retries), ``inflight`` (sent, not yet
        acknowledged), ``outstanding`` (both), ``sent`` (record frames written, resends
        included), ``resent`` (of them, after a reconnect), ``acked`` (records acknowledged,
        each once), ``duplicates`` (of them, acks flagged duplicate), ``failed`` (records
        finally refused), ``retries`` (OVERLOADED / VAULT_FULL retries),
        ``refused_queue_full``, ``errors`` (dict: error code name -> count of final
        failures and errors not tied to a record), ``reconnects`` (sessions lost),
        ``connects`` (sessions established), ``connected``, ``verdicts``, ``unmatched``
        (acks or errors for nothing pending), ``registrations`` (acknowledged),
        ``reviews`` (acknowledged; not in ``acked``), ``uploaded_bytes``, ``last_error``
        (``(code, message)`` or None). Queue counters and ``sent``, ``failed``, ``errors``
        include reviews.
        """
        with self._lock:
            s = dict(self._counts)
            s["outstanding"] = self._outstanding
            s["inflight"] = self._n_inflight
            s["queued"] = self._outstanding - self._n_inflight
            s["errors"] = dict(self._errors)
            s["connected"] = self._connected
            s["last_error"] = self._last_error
        return s

    def close(self, timeout=10.0):
        """Flush for up to ``timeout`` seconds, then stop the I/O thread and close the socket.

        Returns True when every record was resolved; otherwise the rest is abandoned (logged
        as a warning) and waiters get ``ClosedError``. Idempotent.
        """
        if self._closed:
            return self._outstanding == 0
        on_io_thread = threading.current_thread() is self._thread
        # From a callback (the I/O thread) a flush would wait for itself: skip it.
        drained = self.flush(timeout) if not (self._forked or on_io_thread) else False
        with self._lock:
            self._closing = True
        self._wake()
        if not on_io_thread:
            self._thread.join()
        with self._lock:
            self._closed = True
            left = self._outstanding
            queued = list(self._queue)
            self._queue.clear()
            regs = self._reg_incoming
            self._reg_incoming = []
            self._cond.notify_all()
        for p in queued:
            if p.future is not None and not p.future.done():
                p.future.set_exception(ClosedError("client closed"))
        for r in regs:
            if not r.future.done():
                r.future.set_exception(ClosedError("client closed"))
        if left:
            log.warning("evident: client %s closed with %d records not acknowledged",
                        self.client_name, left)
        if not on_io_thread:
            with self._lock:  # wake-up writes happen under the lock: no write to a reused fd
                for fd in (self._wake_r, self._wake_w):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                self._wake_w = -1
        _clients.discard(self)
        return drained and left == 0

    # ------------------------------------------------------------------ caller helpers

    def _no_wait_on_io_thread(self, what):
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{what} from a callback would wait for the I/O thread that "
                               f"runs the callback; use record() there")

    def _check_usable(self):
        if self._forked:
            raise ClosedError("this Client was created before fork(); create one per process")
        if self._closing or self._closed:
            raise ClosedError("client closed")

    def _make_pending(self, model_id, model_version, features, scores, decision, request_id,
                      context, labels, trace_id, timestamp_unix_ns, base_margin,
                      verdict_deadline_ms, future, subject=None):
        self._check_usable()
        if request_id is None:
            request_id = uuid.uuid4().hex
        elif not isinstance(request_id, str) or not 1 <= len(
                _check_str("request_id", request_id).encode()) <= 256:
            raise ValueError("request_id must be a str of 1-256 bytes")
        # strings as the daemon checks them (PROTOCOL.md, Strings): no NUL, UTF-8
        _check_str("model_id", model_id)
        _check_str("model_version", model_version)
        if decision is not None:
            _check_str("decision", decision)
        if trace_id is not None:
            _check_str("trace_id", trace_id)
        if context:
            for k in context:
                _check_str("context key", k)
        if labels:
            for k, v in labels.items():
                _check_str("labels key", k)
                _check_str(f"labels[{k!r}]", v)
        if subject is not None:
            _check_subject(subject)
        r = pb.Record()
        r.model_id = model_id
        r.model_version = model_version
        r.request_id = request_id
        r.timestamp_unix_ns = time.time_ns() if timestamp_unix_ns is None else timestamp_unix_ns
        r.features.extend(features)
        r.scores.extend(scores)
        if decision is not None:
            r.decision = decision
        if base_margin is not None:
            r.base_margin = base_margin
        if context:
            r.context.update(context)
        if labels:
            r.labels.update(labels)
        if trace_id is not None:
            r.trace_id = trace_id
        if verdict_deadline_ms:
            r.verdict_deadline_ms = verdict_deadline_ms
        if subject is not None:
            r.subject = subject
        frame = _record_frame(r.SerializeToString())
        if len(frame) > self._max_frame:
            raise RecordError("TOO_LARGE", f"record frame of {len(frame)} bytes exceeds the "
                              f"daemon's max_frame {self._max_frame}", request_id)
        return _Pending(request_id, frame, 0, future)

    def _enqueue(self, p, raise_when_full):
        with self._lock:
            if self._closing or self._closed:
                raise ClosedError("client closed")
            if self._outstanding >= self.max_queue:
                self._counts["refused_queue_full"] += 1
                if raise_when_full:
                    raise QueueFull(f"{self._outstanding} records held (max_queue "
                                    f"{self.max_queue})")
                return False
            p.order = next(self._order)
            self._queue.append(p)
            self._outstanding += 1
            if self._want_records and not self._wake_pending:
                # Disconnected or resyncing, the I/O thread does not need the wake-up: it
                # takes the queue as soon as records may flow.
                self._wake_pending = True
                self._write_wake()
        return True

    def _wake(self):
        with self._lock:
            self._wake_pending = True
            self._write_wake()

    def _write_wake(self):
        """Write one wake-up byte; called with _lock held (close() closes the pipe under it)."""
        if self._wake_w < 0:
            return
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass  # pipe full: a wake-up is pending anyway

    # ------------------------------------------------------------------ I/O thread

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        failures = 0
        try:
            while not self._closing:
                self._take_incoming()
                sock = self._connect()
                if sock is None:
                    failures += 1
                    self._idle_wait(sel, self._backoff(failures))
                    continue
                reached_ready = False
                try:
                    reached_ready = self._session(sel, sock)
                except (OSError, _wire.FrameError, _SessionLost) as e:
                    if not self._closing:
                        log.info("evident: connection to %s lost: %s", self.socket_path, e)
                finally:
                    self._teardown(sel)
                if reached_ready:
                    failures = 0
                elif not self._closing:
                    failures += 1
                    self._idle_wait(sel, self._backoff(failures))
        except BaseException:  # pragma: no cover - a bug; keep callers from hanging forever
            log.exception("evident: I/O thread crashed")
            with self._lock:
                self._closing = True
                self._cond.notify_all()
            raise
        finally:
            sel.close()
            self._teardown(None)
            self._fail_all_on_close()
            with self._lock:
                self._dead = True
                waiting = [p for p in self._queue if p.future is not None]
                self._cond.notify_all()
            for p in waiting:
                if not p.future.done():
                    p.future.set_exception(ClosedError("client closed"))

    def _backoff(self, n):
        d = min(self.backoff_max, self.backoff_min * (2 ** min(n - 1, 30)))
        return d * random.uniform(0.5, 1.0)

    def _idle_wait(self, sel, delay):
        """Sleep up to ``delay`` while disconnected; close() and registrations wake us."""
        deadline = time.monotonic() + delay
        while not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ in sel.select(left):
                if key.data == "wake":
                    self._drain_wake()
            self._take_incoming()

    def _drain_wake(self):
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._lock:
            self._wake_pending = False

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.connect_timeout)
            s.connect(self.socket_path)
            s.setblocking(False)
        except OSError as e:
            s.close()
            log.debug("evident: connect %s: %s", self.socket_path, e)
            return None
        return s

    def _session(self, sel, sock):
        """Run one connection until it fails or the client closes. Returns True if the
        session reached the ready state (handshake and re-registrations done)."""
        self._sock = sock
        self._decoder = _wire.FrameDecoder(max(self._max_frame, _wire.DEFAULT_MAX_FRAME))
        self._wbuf = bytearray()
        self._state = _HELLO
        self._ctl.append(_wire.encode_frame(pb.Frame(hello=pb.Hello(
            protocol_version=PROTOCOL_VERSION, client_name=self.client_name))
            .SerializeToString()))
        self._hello_deadline = time.monotonic() + self.handshake_timeout
        sel.register(sock, selectors.EVENT_READ, "sock")
        events = selectors.EVENT_READ
        reached_ready = False
        while not self._closing:
            self._take_incoming()
            self._due_retries()
            self._due_reg_retries()
            self._pump_regs()
            self._fill()
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._wbuf else 0)
            if want != events:
                sel.modify(sock, want, "sock")
                events = want
            for key, mask in sel.select(self._next_timeout()):
                if key.data == "wake":
                    self._drain_wake()
                    continue
                if mask & selectors.EVENT_READ:
                    self._read()
                if mask & selectors.EVENT_WRITE and self._wbuf:
                    self._write()
            if self._state == _HELLO and time.monotonic() > self._hello_deadline:
                raise _SessionLost("no HelloOk within the handshake timeout")
            if self._state == _READY:
                reached_ready = True
        return reached_ready

    def _next_timeout(self):
        t = None
        now = time.monotonic()
        if self._state == _HELLO:
            t = self._hello_deadline - now
        if self._retry:
            d = self._retry[0][0] - now
            t = d if t is None else min(t, d)
        if self._reg_retry:
            d = self._reg_retry[0][0] - now
            t = d if t is None else min(t, d)
        if t is None:
            return None
        return max(t, 0)

    def _teardown(self, sel):
        """After a session: forget the socket; everything sent and not acked goes back in
        front of the queue (in its original order); registrations are redone next time."""
        sock = self._sock
        self._sock = None
        self._state = _DOWN
        self._wbuf = bytearray()
        self._ctl.clear()
        for u in self._uploads:
            u.file.close()
        self._uploads.clear()
        if self._reg_waiting is not None:
            self._regs_todo.appendleft(self._reg_waiting)
            self._reg_waiting = None
        self._resync.clear()
        back = []
        for dq in self._inflight.values():
            back.extend(dq)
        self._inflight.clear()
        back.sort(key=lambda p: p.order)
        for p in back:
            p.resend = True  # not a retry: p.attempts is unchanged
        with self._lock:
            self._queue.extendleft(reversed(back))
            self._n_inflight = 0
            self._want_records = False
            if self._connected and not self._closing:
                self._counts["reconnects"] += 1
            self._connected = False
            self._cond.notify_all()
        if sock is not None:
            if sel is not None:
                try:
                    sel.unregister(sock)
                except (KeyError, ValueError):
                    pass
            sock.close()

    def _fail_all_on_close(self):
        """Called when the I/O thread exits: fail what is still waiting."""
        pend = []
        for _, _, p in self._retry:
            pend.append(p)
        self._retry = []
        regs = list(self._regs_todo) + [r for _, _, r in self._reg_retry]
        self._regs_todo.clear()
        self._reg_retry = []
        for p in pend:
            with self._lock:
                self._queue.append(p)  # counted as outstanding; close() reports them
        for r in regs:
            if not r.future.done():
                r.future.set_exception(ClosedError("client closed"))

    # -- hand-over from callers

    def _take_incoming(self):
        with self._lock:
            if not self._reg_incoming:
                return
            regs = self._reg_incoming
            self._reg_incoming = []
        self._regs_todo.extend(regs)

    # -- registrations

    def _pump_regs(self):
        """Send the next registration when none is on the wire (the daemon handles one
        registration per connection at a time)."""
        if self._state not in (_RESYNC, _READY) or self._reg_waiting is not None:
            return
        if self._regs_todo:
            reg = self._regs_todo.popleft()
            self._reg_waiting = reg
            self._ctl.append(reg.frame)
            return
        self._check_resync_done()

    def _check_resync_done(self):
        if self._state == _RESYNC and not self._resync:
            self._state = _READY
            with self._lock:
                self._want_records = True

    def _on_hello_ok(self, ok):
        with self._lock:
            self._hello = ok
            if ok.max_frame:
                self._max_frame = ok.max_frame
            self._connected = True
            self._counts["connects"] += 1
        if ok.max_frame:
            self._decoder.max_frame = max(ok.max_frame, _wire.DEFAULT_MAX_FRAME)
        # Redo every registration acknowledged before, then the ones not finished yet,
        # before any record flows.
        pending_keys = {r.key for r in self._regs_todo}
        pending_keys.update(r.key for _, _, r in self._reg_retry)
        redo = [r for k, r in self._regs_done.items() if k not in pending_keys]
        self._regs_todo.extendleft(reversed(redo))
        self._resync = {r.key for r in self._regs_todo} | \
            {r.key for _, _, r in self._reg_retry}
        self._state = _RESYNC
        self._check_resync_done()

    def _reg_resolved(self, reg, keep_resync=False):
        if not keep_resync:
            self._resync.discard(reg.key)
        for u in [u for u in self._uploads if u.reg is reg]:
            u.file.close()
            self._uploads.remove(u)
        if self._reg_waiting is reg:
            self._reg_waiting = None
        self._check_resync_done()

    def _on_reg_ack(self, reg, ack):
        reg.seq = ack.seq
        self._regs_done[reg.key] = reg
        with self._lock:
            self._counts["registrations"] += 1
        self._reg_resolved(reg)
        if not reg.future.done():
            reg.future.set_result(ack.seq)

    def _on_reg_error(self, reg, code, message):
        if code in RETRYABLE and reg.attempts < self.max_retries:
            # Retried later; during a resync, records keep waiting for it.
            self._reg_resolved(reg, keep_resync=True)
            reg.attempts += 1
            heapq.heappush(self._reg_retry, (time.monotonic() + self._backoff(reg.attempts),
                                             next(self._reg_counter), reg))
            return
        self._reg_resolved(reg)
        self._reg_failed(reg, code, message)

    def _reg_failed(self, reg, code, message):
        self._note_error(code, message)
        if reg.future.done():
            # A registration redone after a reconnect: stop redoing it and tell the user.
            if self._regs_done.get(reg.key) is reg:
                del self._regs_done[reg.key]
            self._callback(self.on_error, reg.key, code, message)
            return
        exc = (ConflictError if code == "CONFLICT" else RegistrationError)(code, message,
                                                                           reg.key)
        reg.future.set_exception(exc)

    def _due_reg_retries(self):
        now = time.monotonic()
        while self._reg_retry and self._reg_retry[0][0] <= now:
            self._regs_todo.append(heapq.heappop(self._reg_retry)[2])

    def _on_artifact_request(self, req):
        key = f"{req.model_id}@{req.version}"
        reg = self._reg_waiting
        if reg is None or reg.key != key:
            log.warning("evident: ArtifactRequest for %s, which is not being registered", key)
            return
        if req.kind == pb.ArtifactChunk.REFERENCE_DATA:
            path = reg.reference_path
        else:
            path = reg.artifact_path
        if path is None:
            # The daemon wants something we were not given: end it with an empty last chunk;
            # the daemon refuses the registration with its own message.
            self._ctl.append(self._chunk_frame(reg, req.kind, req.offset, b"", True))
            return
        try:
            f = open(path, "rb")
            size = os.fstat(f.fileno()).st_size
            f.seek(req.offset)
        except OSError as e:
            self._reg_resolved(reg)
            self._reg_failed(reg, "LOCAL", f"{path}: {e}")
            # The daemon waits for chunks: close this connection so it drops the upload.
            raise _SessionLost(f"cannot read {path}: {e}")
        self._uploads.append(_Upload(reg, req.kind, f, req.offset, size))

    def _chunk_frame(self, reg, kind, offset, data, last):
        m = reg.manifest
        return _wire.encode_frame(pb.Frame(artifact_chunk=pb.ArtifactChunk(
            model_id=m.model_id, version=m.version, kind=kind, offset=offset, data=data,
            last=last)).SerializeToString())

    def _upload_step(self):
        """Append the next chunk of the active upload to the write buffer."""
        u = self._uploads[0]
        chunk = max(1, min(self.chunk_size, self._max_frame - 1024))
        data = u.file.read(chunk)
        last = len(data) < chunk or u.offset + len(data) >= u.size
        self._wbuf += self._chunk_frame(u.reg, u.kind, u.offset, data, last)
        u.offset += len(data)
        with self._lock:
            self._counts["uploaded_bytes"] += len(data)
        if last:
            u.file.close()
            self._uploads.popleft()

    # -- records

    def _due_retries(self):
        if not self._retry:
            return
        now = time.monotonic()
        due = []
        while self._retry and self._retry[0][0] <= now:
            due.append(heapq.heappop(self._retry)[2])
        if due:
            due.sort(key=lambda p: p.order)
            with self._lock:
                self._queue.extendleft(reversed(due))

    def _fill(self):
        wbuf = self._wbuf
        while self._ctl and len(wbuf) < _HIGH_WATER:
            wbuf += self._ctl.popleft()
        while self._uploads and len(wbuf) < _HIGH_WATER:
            self._upload_step()
        if self._uploads or self._state != _READY or len(wbuf) >= _HIGH_WATER:
            return  # an artifact goes out contiguously; records wait for the session
        max_frame = self._max_frame
        while len(wbuf) < _HIGH_WATER:
            with self._lock:
                q = self._queue
                if not q:
                    return
                n = min(len(q), _BATCH)
                batch = [q.popleft() for _ in range(n)]
                self._n_inflight += n
            too_large = []
            sent = resent = 0
            for p in batch:
                if len(p.frame) > max_frame:
                    too_large.append(p)
                    continue
                wbuf += p.frame
                dq = self._inflight.get(p.request_id)
                if dq is None:
                    self._inflight[p.request_id] = collections.deque((p,))
                else:
                    dq.append(p)
                sent += 1
                if p.resend:
                    p.resend = False
                    resent += 1
            with self._lock:
                self._counts["sent"] += sent
                self._counts["resent"] += resent
                self._n_inflight -= len(too_large)
            for p in too_large:
                self._record_failed(p, "TOO_LARGE", f"record frame of {len(p.frame)} bytes "
                                    f"exceeds the daemon's max_frame {max_frame}",
                                    counted_inflight=False)

    def _take_inflight(self, request_id):
        dq = self._inflight.get(request_id)
        if dq is None:
            return None
        p = dq.popleft()
        if not dq:
            del self._inflight[request_id]
        return p

    def _on_ack(self, a, batch):
        """An Ack: a registration's, or a record's (appended to batch, see _settle_acks)."""
        rid = a.request_id
        reg = self._reg_waiting
        if reg is not None and rid == reg.key and rid not in self._inflight:
            self._on_reg_ack(reg, a)
            return
        p = self._take_inflight(rid)
        if p is None:
            if reg is not None and rid == reg.key:
                self._on_reg_ack(reg, a)
                return
            with self._lock:
                self._counts["unmatched"] += 1
            return
        if p.is_review:
            self._settle_review(p, Ack(rid, a.seq, a.leaf_hash, a.duplicate))
            return
        batch.append((p, Ack(rid, a.seq, a.leaf_hash, a.duplicate)))

    def _settle_review(self, p, ack):
        with self._lock:
            self._n_inflight -= 1
            self._outstanding -= 1
            self._counts["reviews"] += 1
            if self._outstanding == 0:
                self._cond.notify_all()
        p.future.set_result(ack)

    def _settle_acks(self, batch):
        """Count a batch of record acks under one lock acquisition, then tell the waiters."""
        dups = sum(1 for _, a in batch if a.duplicate)
        n = len(batch)
        with self._lock:
            self._n_inflight -= n
            self._outstanding -= n
            self._counts["acked"] += n
            self._counts["duplicates"] += dups
            if self._outstanding == 0:
                self._cond.notify_all()
        on_ack = self.on_ack
        for p, ack in batch:
            if p.future is not None:
                p.future.set_result(ack)
            if on_ack is not None:
                self._callback(on_ack, ack)
        batch.clear()

    def _on_error(self, e):
        code = _code_name(e.code)
        rid = e.request_id
        reg = self._reg_waiting
        if rid and reg is not None and rid == reg.key and rid not in self._inflight:
            self._on_reg_error(reg, code, e.message)
            return
        p = self._take_inflight(rid) if rid else None
        if p is None:
            if rid and reg is not None and rid == reg.key:
                self._on_reg_error(reg, code, e.message)
                return
            # Not tied to a pending request (or a connection-level error: the daemon closes).
            if self._state == _HELLO and code in ("BAD_MESSAGE", "BAD_PROTOCOL_VERSION",
                                                  "UNAUTHORIZED"):
                log.warning("evident: daemon refused the session: %s: %s", code, e.message)
            self._note_error(code, e.message)
            with self._lock:
                self._counts["unmatched"] += 1 if rid else 0
            self._callback(self.on_error, rid or None, code, e.message)
            return
        if code in RETRYABLE and p.attempts < self.max_retries:
            p.attempts += 1
            with self._lock:
                self._n_inflight -= 1
                self._counts["retries"] += 1
            heapq.heappush(self._retry, (time.monotonic() + self._backoff(p.attempts),
                                         p.order, p))
            return
        self._record_failed(p, code, e.message)

    def _record_failed(self, p, code, message, counted_inflight=True):
        with self._lock:
            if counted_inflight:
                self._n_inflight -= 1
            self._outstanding -= 1
            self._counts["failed"] += 1
            self._errors[code] += 1
            self._last_error = (code, message)
            if self._outstanding == 0:
                self._cond.notify_all()
        if p.future is not None:
            p.future.set_exception(RecordError(code, message, p.request_id))
        self._callback(self.on_error, p.request_id, code, message)

    def _on_verdict(self, v):
        with self._lock:
            self._counts["verdicts"] += 1
        if self.on_verdict is not None:
            self._callback(self.on_verdict, Verdict(
                v.request_id, v.seq, pb.Verdict.Action.Name(v.action) if v.action in
                pb.Verdict.Action.values() else str(v.action), v.confidence, v.incident_id,
                tuple(v.reasons), tuple(v.guards)))

    def _note_error(self, code, message):
        with self._lock:
            self._errors[code] += 1
            self._last_error = (code, message)

    def _callback(self, fn, *args):
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("evident: callback %r raised", fn)

    # -- socket I/O

    def _read(self):
        try:
            data = self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            raise _SessionLost("daemon closed the connection")
        acks = []
        try:
            for body in self._decoder.feed(data):
                f = pb.Frame()
                try:
                    f.ParseFromString(body)
                except Exception as e:  # google.protobuf.message.DecodeError
                    raise _SessionLost(f"undecodable frame from daemon: {e}") from None
                which = f.WhichOneof("body")
                if which == "ack":
                    self._on_ack(f.ack, acks)
                    continue
                if acks:
                    self._settle_acks(acks)  # keep callbacks in arrival order
                self._on_frame(which, f)
        finally:
            if acks:
                self._settle_acks(acks)
        self._pump_regs()

    def _on_frame(self, which, f):
        if which == "error":
            self._on_error(f.error)
        elif which == "artifact_request":
            self._on_artifact_request(f.artifact_request)
        elif which == "verdict":
            self._on_verdict(f.verdict)
        elif which == "hello_ok":
            if self._state != _HELLO:
                raise _SessionLost("unexpected HelloOk")
            if f.hello_ok.protocol_version != PROTOCOL_VERSION:
                raise _SessionLost(f"daemon speaks protocol "
                                   f"{f.hello_ok.protocol_version}")
            self._on_hello_ok(f.hello_ok)
        else:
            log.warning("evident: ignoring unexpected frame %r from daemon", which)

    def _write(self):
        try:
            n = self._sock.send(self._wbuf, socket.MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            raise
        del self._wbuf[:n]
        self._fill()


class _SessionLost(Exception):
    pass

