# SPDX-License-Identifier: Apache-2.0
"""Varint framing of the evidentd ingest protocol (proto/PROTOCOL.md, "Framing").

Every message on the socket is one serialized ``evident.v1.Frame`` preceded by its length as
a base-128 varint: protobuf's standard "delimited" encoding.

``encode_frame(body)`` prefixes a serialized body; ``FrameDecoder`` turns a byte stream that
arrives in arbitrary pieces back into bodies and refuses a length over its ``max_frame``
*before* buffering the body, as the daemon does.
"""

__all__ = [
    "DEFAULT_MAX_FRAME",
    "MAX_VARINT_BYTES",
    "FrameError",
    "FrameTooLarge",
    "encode_varint",
    "decode_varint",
    "encode_frame",
    "FrameDecoder",
]

DEFAULT_MAX_FRAME = 1 << 20  # 1 MiB, the daemon's default max_frame
MAX_VARINT_BYTES = 10  # a uint64 takes at most 10 bytes


class FrameError(ValueError):
    """The byte stream is not valid framing (malformed or over-long length prefix)."""


class FrameTooLarge(FrameError):
    """A length prefix announced a body larger than the decoder's ``max_frame``."""

    def __init__(self, length, max_frame):
        super().__init__(f"frame of {length} bytes exceeds max_frame {max_frame}")
        self.length = length
        self.max_frame = max_frame

    def __reduce__(self):
        return type(self), (self.length, self.max_frame)


def encode_varint(value):
    """Return the base-128 varint encoding of the non-negative integer ``value``."""
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf, pos=0):
    """Decode a varint from ``buf`` at ``pos``.

    Returns ``(value, new_pos)``, or ``None`` when ``buf`` ends before the varint does.
    Raises FrameError when the varint is longer than 10 bytes or exceeds 64 bits.
    """
    value = 0
    shift = 0
    end = len(buf)
    i = pos
    while True:
        if i >= end:
            if i - pos >= MAX_VARINT_BYTES:
                raise FrameError("varint longer than 10 bytes")
            return None
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if value >= 1 << 64:
                raise FrameError("varint exceeds 64 bits")
            return value, i
        shift += 7
        if i - pos >= MAX_VARINT_BYTES:
            raise FrameError("varint longer than 10 bytes")


def encode_frame(body):
    """Return ``varint(len(body)) + body`` for a serialized message ``body`` (bytes)."""
    return encode_varint(len(body)) + body


class FrameDecoder:
    """Incremental decoder: ``feed(data)`` returns the complete bodies found so far.

    ``max_frame`` bounds the length a prefix may announce; a larger one raises FrameTooLarge
    as soon as the prefix is complete, without waiting for (or buffering) the body. After a
    FrameError the stream is unusable: the caller must drop the connection.
    """

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data in _buf

    def feed(self, data):
        """Append ``data`` (bytes-like) and return a list of complete frame bodies (bytes)."""
        buf = self._buf
        if data:
            buf += data
        frames = []
        pos = self._pos
        end = len(buf)
        while pos < end:
            r = decode_varint(buf, pos)
            if r is None:
                break
            length, body_start = r
            if length > self.max_frame:
                raise FrameTooLarge(length, self.max_frame)
            body_end = body_start + length
            if body_end > end:
                break
            frames.append(bytes(buf[body_start:body_end]))
            pos = body_end
        # Compact: drop consumed bytes (cheap when everything was consumed, the common case).
        if pos == end:
            buf.clear()
            pos = 0
        elif pos > 65536:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return frames

    def pending(self):
        """Number of buffered bytes that do not form a complete frame yet."""
        return len(self._buf) - self._pos
