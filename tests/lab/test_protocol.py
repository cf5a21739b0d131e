"""The proxy's reading of Kafka frames: header fields, the client id, and acks in both Produce
encodings."""

from __future__ import annotations

import struct

import pytest

from playground.lab import protocol


def produce_request(
    version: int,
    acks: int,
    transactional_id: str | None = None,
    client_id: bytes | None = b"rdkafka",
) -> bytes:
    """A Produce request frame (without its size prefix), as a client would encode it."""
    header = struct.pack(">hhi", protocol.PRODUCE, version, 42)
    if client_id is None:
        header += struct.pack(">h", -1)
    else:
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


@pytest.mark.parametrize("version", [3, 7, 9, 11])  # request header v1 up to v8, v2 from v9
@pytest.mark.parametrize(
    ("client_id", "expected"),
    [
        (b"exp-aaa-source-producer-0", "exp-aaa-source-producer-0"),
        (b"", ""),
        (None, None),
        ("producteur-été".encode(), "producteur-été"),
        (b"bad-\xff", "bad-\ufffd"),  # not UTF-8: replaced, not refused
    ],
)
def test_request_client_id_is_read_in_both_request_header_versions(version, client_id, expected):
    frame = produce_request(version, -1, "txn-7", client_id=client_id)
    assert protocol.request_client_id(frame) == expected
    assert protocol.produce_acks(frame, version) == -1  # and acks is still found after it


def test_request_client_id_refuses_a_frame_cut_inside_it():
    frame = produce_request(7, -1, client_id=b"exp-aaa-source-producer-0")
    with pytest.raises(protocol.FrameError):
        protocol.request_client_id(frame[:20])


def test_request_header_gives_api_key_version_and_correlation_id():
    assert protocol.request_header(produce_request(9, -1)) == (protocol.PRODUCE, 9, 42)


def test_response_correlation_id_is_its_first_field():
    assert protocol.response_correlation_id(struct.pack(">i", 1234) + b"rest") == 1234


@pytest.mark.parametrize("size", [-1, 0, 3, protocol.MAX_FRAME_BYTES + 1])
def test_implausible_frame_sizes_are_refused(size):
    with pytest.raises(protocol.FrameError):
        protocol.frame_size(struct.pack(">i", size))
