"""Reading and writing whole .nfc files: magic, version, CRC-protected header, sections.

The layout is specified normatively in bitstream/SPEC.md. The reader treats its input as
hostile: every length is bounded before it is used, every CRC is checked, and every failure
is a FormatError subclass with a one-line message.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from nfcodec.container.header import (
    MAX_VARINT_BYTES,
    ByteReader,
    Header,
    decode_header_fields,
    encode_header_fields,
    encode_varint,
)
from nfcodec.container.spec import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_SECTION_BYTES,
    MAX_SECTIONS,
    READABLE_VERSIONS,
    SectionKind,
)
from nfcodec.errors import (
    CorruptStream,
    FormatError,
    InputError,
    UnknownComponent,
    UnsupportedVersion,
)

CRC_BYTES = 4
PREAMBLE_BYTES = len(MAGIC) + 2  # magic, then one byte each for major and minor


def resolve_section_kind(value: object) -> SectionKind:
    """Map a wire id (or member) to a SectionKind; an unknown id is UnknownComponent."""
    try:
        return SectionKind(value)
    except ValueError:
        raise UnknownComponent(f"unknown section kind id {value!r}") from None


@dataclass(frozen=True)
class Section:
    """One typed payload; the container frames it with its kind, length and CRC-32."""

    kind: SectionKind
    payload: bytes

    def __post_init__(self) -> None:
        try:
            kind = resolve_section_kind(self.kind)
        except UnknownComponent as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(self.payload, bytes | bytearray | memoryview):
            raise ValueError(f"{kind.name} payload must be bytes, not {type(self.payload)}")
        payload = bytes(self.payload)
        if len(payload) > MAX_SECTION_BYTES:
            raise ValueError(f"{kind.name} payload exceeds {MAX_SECTION_BYTES} bytes")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "payload", payload)


@dataclass(frozen=True)
class NfcFile:
    """A fully validated .nfc file."""

    major: int
    minor: int
    header: Header
    sections: tuple[Section, ...]

    def section(self, kind: SectionKind) -> bytes:
        """The payload of section `kind`; a decoder that needs a missing one has a bad file."""
        for section in self.sections:
            if section.kind == kind:
                return section.payload
        raise CorruptStream(f"missing {getattr(kind, 'name', kind)} section")


@dataclass(frozen=True)
class NfcInfo:
    """Header-level view of a file for `nfcodec info`: sizes only, no payload copies."""

    major: int
    minor: int
    header: Header
    total_bytes: int
    header_bytes: int
    sections: tuple[tuple[SectionKind, int], ...]

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file, container overhead included."""
        return self.total_bytes * 8 / self.header.pixels


# ---------------------------------------------------------------------------------------------
# Writing


def _frame_section(section: Section) -> bytes:
    """Kind, length, payload, then CRC-32 over all three."""
    body = encode_varint(int(section.kind)) + encode_varint(len(section.payload)) + section.payload
    return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")


def _check_section_list(sections: Sequence[Section]) -> None:
    if len(sections) > MAX_SECTIONS:
        raise ValueError(f"{len(sections)} sections, at most {MAX_SECTIONS} allowed")
    for section in sections:
        if not isinstance(section, Section):
            raise ValueError(f"expected Section, got {type(section).__name__}")
    kinds = [section.kind for section in sections]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"duplicate section kinds in {[kind.name for kind in kinds]}")


def write_nfc(header: Header, sections: Sequence[Section]) -> bytes:
    """Serialize a header and its sections (in the given order) into .nfc bytes."""
    if not isinstance(header, Header):
        raise ValueError(f"expected Header, got {type(header).__name__}")
    sections = tuple(sections)
    _check_section_list(sections)
    block = encode_header_fields(header) + encode_varint(len(sections))
    if len(block) > MAX_HEADER_BYTES:  # cannot happen with the current fields; kept as a guard
        raise ValueError(f"header of {len(block)} bytes exceeds {MAX_HEADER_BYTES}")
    prefix = MAGIC + bytes([FORMAT_MAJOR, FORMAT_MINOR]) + encode_varint(len(block)) + block
    parts = [prefix, zlib.crc32(prefix).to_bytes(CRC_BYTES, "little")]
    parts.extend(_frame_section(section) for section in sections)
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# Reading


def _as_view(data: object) -> memoryview:
    """A flat byte view of the input, so parsing never copies payloads."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"expected bytes, got {type(data).__name__}") from None
    if view.ndim != 1 or view.itemsize != 1:
        try:
            view = view.cast("B")
        except (TypeError, ValueError):
            raise InputError("expected a contiguous byte buffer") from None
    return view


def check_preamble(view: memoryview) -> tuple[int, int]:
    """Magic and version, checked before anything whose layout a version could change."""
    if len(view) < len(MAGIC) or view[: len(MAGIC)] != MAGIC:
        raise FormatError("not an .nfc file (bad magic or too short)")
    if len(view) < PREAMBLE_BYTES:
        raise CorruptStream(f"truncated version: file is only {len(view)} bytes")
    major, minor = view[len(MAGIC)], view[len(MAGIC) + 1]
    if minor > READABLE_VERSIONS.get(major, -1):
        readable = ", ".join(f"{m}.0 to {m}.{top}" for m, top in READABLE_VERSIONS.items())
        raise UnsupportedVersion(
            f"file format version {major}.{minor} is not supported; this decoder reads {readable}"
        )
    return major, minor


def read_header_block(reader: ByteReader, version: tuple[int, int]) -> tuple[Header, int]:
    """Length-prefixed header block and its CRC; returns the header and the section count."""
    length = reader.varint("header length")
    if length > MAX_HEADER_BYTES:
        raise CorruptStream(f"header length {length} exceeds {MAX_HEADER_BYTES}")
    if length + CRC_BYTES > reader.remaining():
        raise CorruptStream(f"truncated header: {length} bytes declared")
    block_end = reader.pos + length
    expected = zlib.crc32(reader.data[:block_end])
    block = ByteReader(reader.data, reader.pos, block_end)
    reader.pos = block_end
    if reader.u32("header CRC") != expected:
        raise CorruptStream("header CRC-32 mismatch")
    header = decode_header_fields(block, version)
    count = block.varint("section count")
    if count > MAX_SECTIONS:
        raise CorruptStream(f"section count {count} exceeds {MAX_SECTIONS}")
    if block.remaining():
        raise CorruptStream(f"header has {block.remaining()} unexpected trailing bytes")
    return header, count


def _read_section(reader: ByteReader) -> tuple[SectionKind, memoryview]:
    """One framed section; its CRC is verified before its kind is trusted."""
    start = reader.pos
    kind_id = reader.varint("section kind")
    length = reader.varint("section length")
    if length > MAX_SECTION_BYTES:
        raise CorruptStream(f"section length {length} exceeds {MAX_SECTION_BYTES}")
    if length + CRC_BYTES > reader.remaining():
        raise CorruptStream(
            f"truncated section: {length} bytes declared, {reader.remaining()} left"
        )
    payload = reader.take(length, "section payload")
    expected = zlib.crc32(reader.data[start : reader.pos])
    if reader.u32("section CRC") != expected:
        raise CorruptStream(f"CRC-32 mismatch in section at byte {start}")
    return resolve_section_kind(kind_id), payload


@dataclass(frozen=True)
class _Parsed:
    """Everything the two public readers need, with payloads still as views."""

    major: int
    minor: int
    header: Header
    total_bytes: int
    header_bytes: int
    sections: tuple[tuple[SectionKind, memoryview], ...]


def _parse(data: object) -> _Parsed:
    """Validate a whole file: preamble, header block, every section, nothing trailing."""
    view = _as_view(data)
    major, minor = check_preamble(view)
    reader = ByteReader(view, PREAMBLE_BYTES)
    header, count = read_header_block(reader, (major, minor))
    header_bytes = reader.pos
    sections: list[tuple[SectionKind, memoryview]] = []
    for _ in range(count):
        kind, payload = _read_section(reader)
        if any(kind == seen for seen, _ in sections):
            raise CorruptStream(f"duplicate {kind.name} section")
        sections.append((kind, payload))
    if reader.remaining():
        raise CorruptStream(f"{reader.remaining()} trailing bytes after the last section")
    return _Parsed(major, minor, header, len(view), header_bytes, tuple(sections))


# Bytes that always hold the preamble and the header block: enough to read a header from a prefix.
HEADER_PREFIX_BYTES = PREAMBLE_BYTES + MAX_VARINT_BYTES + MAX_HEADER_BYTES + CRC_BYTES


def read_header(prefix: bytes) -> tuple[int, int, Header]:
    """(major, minor, header) from the first bytes of a file (sections are neither needed nor
    checked): what an image library's `open` shows before it decodes."""
    view = _as_view(prefix)
    major, minor = check_preamble(view)
    header, _ = read_header_block(ByteReader(view, PREAMBLE_BYTES), (major, minor))
    return major, minor, header


def read_nfc(data: bytes) -> NfcFile:
    """Parse and fully validate .nfc bytes, every CRC included."""
    parsed = _parse(data)
    sections = tuple(Section(kind, bytes(payload)) for kind, payload in parsed.sections)
    return NfcFile(parsed.major, parsed.minor, parsed.header, sections)


def read_info(data: bytes) -> NfcInfo:
    """Validate .nfc bytes (CRCs included) and report sizes without copying payloads."""
    parsed = _parse(data)
    sizes = tuple((kind, len(payload)) for kind, payload in parsed.sections)
    return NfcInfo(
        parsed.major, parsed.minor, parsed.header, parsed.total_bytes, parsed.header_bytes, sizes
    )


# ---------------------------------------------------------------------------------------------
# Human-readable summary


def _header_lines(header: Header) -> list[str]:
    colour = "RGB" if header.channels == 3 else "grey"
    lines = [
        f"image:       {header.width} x {header.height}, {header.channels} channel(s) ({colour})",
        f"permutation: {'on' if header.permute else 'off'}, seed {header.seed}",
        f"field:       {header.field_kind.name.lower()} (id {int(header.field_kind)})",
    ]
    lines.extend(f"  {name:<20} {value}" for name, value in header.params().items())
    return lines


def _size_lines(info: NfcInfo) -> list[str]:
    pixels = info.header.pixels
    lines = [f"sections:    {len(info.sections)}"]
    for kind, length in info.sections:
        lines.append(f"  {kind.name.lower():<20} {length} bytes ({length * 8 / pixels:.4f} bpp)")
    payload = sum(length for _, length in info.sections)
    lines.append(f"header:      {info.header_bytes} bytes")
    lines.append(f"framing:     {info.total_bytes - info.header_bytes - payload} bytes")
    lines.append(f"total:       {info.total_bytes} bytes, {info.bpp:.4f} bpp")
    return lines


def describe(info: NfcInfo) -> str:
    """Multi-line human summary of a file: version, image, field, sections and rate."""
    lines = [f"format:      .nfc {info.major}.{info.minor}"]
    lines += _header_lines(info.header)
    lines += _size_lines(info)
    return "\n".join(lines)
