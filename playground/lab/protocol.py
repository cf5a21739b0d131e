"""Just enough of the Kafka wire protocol for the fault proxy to follow a connection.

Every request and response is a frame: an int32 size, then that many bytes. A request starts with
api_key (int16), api_version (int16) and correlation_id (int32); a response starts with the
correlation_id it answers. From header v1 on (every Produce request) a request header then carries
the client_id, which lets faults aim at chosen clients. Of the request bodies only Produce's acks is
read, because a Produce request with acks=0 gets no response at all.
"""

from __future__ import annotations

import struct

PRODUCE = 0
MAX_FRAME_BYTES = 100 * 1024 * 1024  # far above any real request; guards against a non-Kafka peer
FIRST_FLEXIBLE_PRODUCE_VERSION = 9  # v9+ uses request header v2 and compact strings
FIRST_TRANSACTIONAL_PRODUCE_VERSION = 3  # v3+ starts the body with transactional_id

_HEADER = struct.Struct(">hhi")
_INT16 = struct.Struct(">h")


class FrameError(ValueError):
    """The peer sent something that is not a Kafka frame."""


def frame_size(prefix: bytes) -> int:
    """The size announced by a frame's 4-byte prefix, checked for sanity."""
    size = int.from_bytes(prefix, "big", signed=True)
    if size < 4 or size > MAX_FRAME_BYTES:
        raise FrameError(f"implausible Kafka frame size {size}")
    return size


def request_header(frame: bytes) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a request frame (without its size prefix)."""
    if len(frame) < _HEADER.size:
        raise FrameError("request shorter than its header")
    return _HEADER.unpack_from(frame)


def request_client_id(frame: bytes) -> str | None:
    """The client_id of a request frame (without its size prefix); None if the client sent null.

    Request headers v1 and v2 both carry it as an int16-length string (never compact)."""
    client_id, end = _nullable_string(frame, _HEADER.size)
    if end > len(frame):
        raise FrameError("request shorter than its client id")
    return None if client_id is None else client_id.decode("utf-8", errors="replace")


def response_correlation_id(frame: bytes) -> int:
    """The correlation id a response frame (without its size prefix) answers."""
    return int.from_bytes(frame[:4], "big", signed=True)


def produce_acks(frame: bytes, api_version: int) -> int:
    """The acks field of a Produce request frame: 0, 1 or -1 (all)."""
    flexible = api_version >= FIRST_FLEXIBLE_PRODUCE_VERSION
    _client_id, position = _nullable_string(frame, _HEADER.size)  # never compact, even in v2
    if flexible:
        position = _skip_tagged_fields(frame, position)
    if api_version >= FIRST_TRANSACTIONAL_PRODUCE_VERSION:
        if flexible:
            length_plus_one, position = _unsigned_varint(frame, position)
            position += max(length_plus_one - 1, 0)
        else:
            _transactional_id, position = _nullable_string(frame, position)
    (acks,) = _INT16.unpack_from(frame, position)
    return acks


def _nullable_string(frame: bytes, position: int) -> tuple[bytes | None, int]:
    """The int16-length string at `position` (length -1: null) and the position after it."""
    (length,) = _INT16.unpack_from(frame, position)
    position += 2
    if length < 0:
        return None, position
    return frame[position : position + length], position + length


def _unsigned_varint(frame: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = frame[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _skip_tagged_fields(frame: bytes, position: int) -> int:
    count, position = _unsigned_varint(frame, position)
    for _ in range(count):
        _tag, position = _unsigned_varint(frame, position)
        size, position = _unsigned_varint(frame, position)
        position += size
    return position
