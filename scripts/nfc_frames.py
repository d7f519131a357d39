"""Split .nfc bytes into their frames and join frames back with fresh CRCs.

For tools that write files no encoder would (the fuzzer, crafted and negative vectors): edit a
header field or a payload, reassemble, and every CRC is right again, so the edit reaches the
decoder stage behind the CRCs. Standard library only; never imported by the package.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

MAGIC = b"\x89NFC"


def varint(value: int) -> bytes:
    """Unsigned LEB128, shortest form (SPEC section 1.1)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); ValueError when the bytes run out."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def crc(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "little")


@dataclass(frozen=True)
class RawSection:
    kind: int
    payload: bytes


@dataclass(frozen=True)
class RawFile:
    """A file's parts as plain values: any of them may be out of bounds."""

    major: int
    minor: int
    header_fields: tuple[int, ...]  # image byte, width, height, seed, field kind, params...
    sections: tuple[RawSection, ...] = field(default_factory=tuple)
    section_count: int | None = None  # None: the real number of sections

    def with_field(self, index: int, value: int) -> RawFile:
        values = list(self.header_fields)
        values[index] = value
        return replace(self, header_fields=tuple(values))


def header_block(raw: RawFile) -> bytes:
    image, *rest = raw.header_fields
    count = len(raw.sections) if raw.section_count is None else raw.section_count
    return bytes([image & 0xFF]) + b"".join(varint(v) for v in rest) + varint(count)


def section_frame(section: RawSection) -> bytes:
    body = varint(section.kind) + varint(len(section.payload)) + section.payload
    return body + crc(body)


def assemble(raw: RawFile) -> bytes:
    """The file's bytes with every length and CRC consistent."""
    block = header_block(raw)
    prefix = MAGIC + bytes([raw.major, raw.minor]) + varint(len(block)) + block
    return prefix + crc(prefix) + b"".join(section_frame(s) for s in raw.sections)


def parse(data: bytes) -> RawFile:
    """Frames of a well-formed file (CRCs are not checked); ValueError when it is not one."""
    if data[:4] != MAGIC or len(data) < 6:
        raise ValueError("no magic")
    length, pos = read_varint(data, 6)
    block_end = pos + length
    if length < 2:
        raise ValueError("header block too short to hold fields")
    values: list[int] = [data[pos]]
    cursor = pos + 1
    while cursor < block_end:
        value, cursor = read_varint(data, cursor)
        values.append(value)
    *fields, count = values
    pos = block_end + 4
    sections = []
    for _ in range(count):
        kind, pos = read_varint(data, pos)
        size, pos = read_varint(data, pos)
        sections.append(RawSection(kind, data[pos : pos + size]))
        pos += size + 4
    return RawFile(data[4], data[5], tuple(fields), tuple(sections))
