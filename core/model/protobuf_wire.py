"""A minimal reader of the protobuf wire format (no generated classes needed).

Only what the project reads is supported: varints (wire type 0), 64-bit (1),
length-delimited (2: sub-messages, strings, packed repeated scalars) and 32-bit (5).
A message is returned as ``{field_number: [raw values...]}``; callers decode each
field with the helpers below according to the schema they expect.
"""
from __future__ import annotations

import struct

import numpy as np


class WireFormatError(ValueError):
    """The bytes are not a valid protobuf message."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at ``pos``; returns (value, new position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireFormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireFormatError("varint longer than 10 bytes")


def parse_message(buf: bytes) -> dict[int, list]:
    """Split a message into its fields.

    Values: int for wire types 0, bytes (8 long) for 1, bytes for 2, bytes (4 long) for 5.
    Repeated fields keep their order.
    """
    fields: dict[int, list] = {}
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireFormatError("field number 0")
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise WireFormatError(f"unsupported wire type {wire} (field {number})")
        if pos > n:
            raise WireFormatError(f"field {number} runs past the end of the message")
        fields.setdefault(number, []).append(value)
    return fields


def floats(values: list) -> np.ndarray:
    """A repeated float field, packed (bytes of 4k) or not (4-byte items) -> (k,) float32."""
    chunks = [v for v in values]
    if not chunks:
        return np.zeros(0, np.float32)
    data = b"".join(chunks)
    if len(data) % 4:
        raise WireFormatError("packed float field length is not a multiple of 4")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def uints(values: list) -> np.ndarray:
    """A repeated varint field, packed (bytes) or not (ints) -> (k,) int64."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(v)
        else:
            pos = 0
            while pos < len(v):
                x, pos = read_varint(v, pos)
                out.append(x)
    return np.asarray(out, dtype=np.int64)


def single_float(values: list, default: float = 0.0) -> float:
    """The last value of a 32-bit field (protobuf: the last one wins) as a float, ``default`` when absent."""
    if not values:
        return default
    return float(struct.unpack("<f", values[-1])[0])


def single_uint(values: list, default: int = 0) -> int:
    """The last value of a varint field (protobuf: the last one wins), ``default`` when absent."""
    return int(values[-1]) if values else default
