# SPDX-License-Identifier: Apache-2.0
"""record a production model's decisions in an evidentd evidence vault

SYNOPSIS
    import evident

    with evident.Client("/run/evidentd/ingest.sock", client_name="pricing-svc-1") as c:
        c.register(manifest, "model.json")              # blocks until durable; returns seq
        rid = c.record(model_id="pricing", model_version="3",
                       features=[1.0, float("nan"), 42.0], scores=[0.93],
                       decision="deny", context={"amount": 129.5}, labels={"desk": "eu"})
        ack = c.record_sync(model_id="pricing", model_version="3",
                            features=[...], scores=[...], decision="allow", timeout=5.0)
        c.flush(timeout=10)                             # everything queued is resolved
        print(c.stats())

DESCRIPTION
    A pure-Python client of the evidentd ingest protocol (proto/PROTOCOL.md): delimited
    protobuf frames over a Unix socket, using only the standard library and the `protobuf`
    package. Each Client owns one background I/O thread and one connection; any number of
    threads may call its methods concurrently.

    record() never blocks: it serializes the record in the caller's thread, appends it to
    a bounded in-memory queue and returns the request id. The I/O thread sends queued
    records pipelined, matches the daemon's Acks by request id, and keeps every record until
    it is acknowledged (durable in the vault) or finally refused.

    Records sent but not acknowledged when the connection is lost are resent, with the same
    request id, after an automatic reconnect (exponential backoff, 50 ms to 5 s, with
    jitter). The daemon deduplicates on (client_name, request_id) and answers a resent
    record with its original seq and duplicate=True: nothing is stored twice and nothing is
    lost. Before resending, the client redoes every registration made earlier on this
    Client (the daemon acknowledges an identical registration without a new upload).

CLASSES
    Client(socket_path=None, client_name=None, *, max_queue=100000, on_full="raise",
           on_error=None, on_ack=None, on_verdict=None, max_retries=20,
           backoff_min=0.05, backoff_max=5.0, connect_timeout=5.0,
           handshake_timeout=10.0, chunk_size=262144, exit_timeout=5.0)
        socket_path defaults to /run/evidentd/ingest.sock (DEFAULT_SOCKET), as in
        libevident. client_name (1-128 printable ASCII, no spaces) is part
        of the daemon's deduplication key and is stored with each record: give each
        service instance a stable name (default HOST-PROGRAM).

        register(manifest, artifact_path, reference_path=None, *, timeout=30.0) -> seq
            manifest: a dict with ModelManifest's field names (snake_case or JSON
            camelCase) or an evident_pb2.ModelManifest. artifact_sha256/artifact_size
            (and reference_data_*) are computed from the files when missing. Blocks until
            the daemon's Ack. The artifact is streamed in 256 KiB chunks read from the
            file, only when the daemon asks for it. Raises ConflictError,
            RegistrationError (with the daemon's code and message) or TimeoutError.

        record(model_id, model_version, features, scores, decision=None, *,
               request_id=None, context=None, labels=None, trace_id=None,
               timestamp_unix_ns=None, base_margin=None, verdict_deadline_ms=0)
               -> request_id
            Fire and forget. request_id defaults to a UUID4 (32 hex digits);
            timestamp_unix_ns to time.time_ns(). A string with a NUL character or a
            lone surrogate raises ValueError (the daemon refuses them).

        record_sync(..., timeout=5.0) -> Ack
            Same arguments; waits for the Ack. Raises RecordError(code, message),
            QueueFull or TimeoutError (the record stays queued).

        flush(timeout=None) -> bool
            Waits until every record so far is acknowledged or finally refused.

        stats() -> dict
            queued, inflight, outstanding, sent, resent, acked, duplicates, failed,
            retries, refused_queue_full, errors {code name: count}, reconnects,
            connects, connected, verdicts, unmatched, registrations, uploaded_bytes,
            last_error.

        close(timeout=10.0) -> bool
            Flushes up to timeout, then stops the I/O thread. Also on leaving `with`, and
            at interpreter exit (for up to exit_timeout) for a Client still open.

        connected, daemon_info
            Properties: a session is established; the last HelloOk as a dict.

    Ack(request_id, seq, leaf_hash, duplicate)            named tuple
    Verdict(request_id, seq, action, confidence, incident_id, reasons)

QUEUE FULL
    max_queue bounds the records a Client holds: queued, waiting for a retry, or sent and
    not yet acknowledged (all must be kept to resend them after a reconnect). When it is
    reached, record() neither blocks the inference thread nor drops silently: it counts
    the refusal in stats()["refused_queue_full"] and raises QueueFull, or returns None
    when the Client was made with on_full="count". Raising is the default because a
    decision that cannot be evidenced is something the caller must decide about
    (fail the request, degrade, or accept and alert); "count" is for services that chose
    to keep serving and alert on the counter.

ERRORS AND RETRIES
    A record refused with OVERLOADED or VAULT_FULL (the daemon says "retry later") is
    kept and resent with exponential backoff, up to max_retries times, before it counts as
    failed. Any other refusal (UNKNOWN_MODEL, SCHEMA_MISMATCH, BAD_MESSAGE, CONFLICT, ...)
    fails the record at once. CONFLICT means this client_name stored a record under the
    same request_id before with other content: the first record stands (the daemon keeps
    the refused one as a notice). The client's own resends are the same bytes and never
    conflict; a record you send again yourself must be the same record, so pass
    timestamp_unix_ns (its default is "now"). Failures are counted in stats()["errors"] by code name, reported to
    on_error(request_id, code, message), and raised by record_sync(). Callbacks run on the
    I/O thread: keep them short; their exceptions are logged (logger "evident") and ignored.

    EvidentError          base class
    QueueFull             record() with max_queue records held
    RecordError           .code, .message, .request_id
    RegistrationError     .code, .message, .key ("ID@VERSION")
    ConflictError         RegistrationError for another manifest under the same ID@VERSION
    TimeoutError          also a built-in TimeoutError
    ClosedError           the Client is closed, or was inherited across fork()

FUNCTIONS
    manifest_from_dict(d) -> evident_pb2.ModelManifest
        Via google.protobuf.json_format.ParseDict; snake_case or camelCase names, enum
        names in any case; unknown fields raise ValueError.
    file_sha256(path) -> (hex, size)

NOTES
    Register before recording: records queued before any register() call are sent as soon
    as a session is up, and a daemon that does not know the model refuses them with
    UNKNOWN_MODEL. After a reconnect this ordering is kept automatically.

    Create Clients after fork() (pre-forking servers: in each worker); a Client used in a
    child raises ClosedError. Records of one Client are acknowledged in the order they were
    sent on a connection, but retries and resends may reorder them; match by request id.
    A record's request id must not equal an "ID@VERSION" being registered on the same
    Client at the same moment (the protocol answers both with an Ack naming that string).

    The generated protobuf module is evident.evident_pb2 (package evident.v1).

SEE ALSO
    proto/PROTOCOL.md, proto/evident.proto, tools/python/README.md, evidentd(8), evidentctl(1)
"""

from . import evident_pb2
from ._wire import FrameDecoder, FrameError, FrameTooLarge, encode_frame
from .client import (CHUNK_SIZE, DEFAULT_SOCKET, PROTOCOL_VERSION, Ack, Client, ClosedError,
                     ConflictError, EvidentError, QueueFull, RecordError, RegistrationError,
                     TimeoutError, Verdict, file_sha256, manifest_from_dict)

__version__ = "0.1.0"

# Public names document (and pickle) as evident.X rather than evident.client.X.
for _obj in (Client, Ack, Verdict, EvidentError, QueueFull, RecordError, RegistrationError,
             ConflictError, TimeoutError, ClosedError, manifest_from_dict, file_sha256,
             encode_frame, FrameDecoder, FrameError, FrameTooLarge):
    _obj.__module__ = __name__
del _obj

__all__ = [
    "Client",
    "Ack",
    "Verdict",
    "EvidentError",
    "QueueFull",
    "RecordError",
    "RegistrationError",
    "ConflictError",
    "TimeoutError",
    "ClosedError",
    "manifest_from_dict",
    "file_sha256",
    "encode_frame",
    "FrameDecoder",
    "FrameError",
    "FrameTooLarge",
    "evident_pb2",
    "PROTOCOL_VERSION",
    "DEFAULT_SOCKET",
    "CHUNK_SIZE",
]
