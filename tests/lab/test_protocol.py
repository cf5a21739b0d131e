"""The proxy's reading of Kafka frames: header fields, and acks in both Produce encodings."""

from __future__ import annotations

import struct

import pytest

from playground.lab import protocol


def produce_request(version: int, acks: int, transactional_id: str | None = None) -> bytes:
    """A Produce request frame (without its size prefix), as a client would encode it."""
    client_id = b"rdkafka"
    header = struct.pack(">hhi", protocol.PRODUCE, version, 42)
    header += struct.pack(">h", len(client_id)) + client_id
    if version >= 9:
        header += b"\x01\x05\x02ab"  # one tagged field (tag 5, two bytes), to be skipped
        txn = b"\x00" if transactional_id is None else bytes([len(transactional_id) + 1])
        body = txn + (transactional_id or "").encode()
    else:
        if transactional_id is None:
            body = struct.pack(">h", -1)
        else:
            body = struct.pack(">h", len(transactional_id)) + transactional_id.encode()
    return header + body + struct.pack(">h", acks) + struct.pack(">i", 30000)


@pytest.mark.parametrize("version", [3, 7, 8, 9, 10, 11])
@pytest.mark.parametrize("acks", [0, 1, -1])
@pytest.mark.parametrize("transactional_id", [None, "txn-7"])
def test_produce_acks_is_read_in_every_encoding(version, acks, transactional_id):
    frame = produce_request(version, acks, transactional_id)
    assert protocol.produce_acks(frame, version) == acks


def test_request_header_gives_api_key_version_and_correlation_id():
    assert protocol.request_header(produce_request(9, -1)) == (protocol.PRODUCE, 9, 42)


def test_response_correlation_id_is_its_first_field():
    assert protocol.response_correlation_id(struct.pack(">i", 1234) + b"rest") == 1234


@pytest.mark.parametrize("size", [-1, 0, 3, protocol.MAX_FRAME_BYTES + 1])
def test_implausible_frame_sizes_are_refused(size):
    with pytest.raises(protocol.FrameError):
        protocol.frame_size(struct.pack(">i", size))
