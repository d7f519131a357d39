"""The image header of a .nfc file, plus the bounded byte primitives the container reads with.

Standard library only: `nfcodec info` and stream validation must not pay for numpy or torch.
Every reader primitive checks bounds first and fails with CorruptStream, so a hostile
file can never surface IndexError or struct.error, nor make the decoder allocate.
"""

from __future__ import annotations

from dataclasses import dataclass

from nfcodec.container.spec import (
    FIELD_KIND_SINCE,
    FIELD_PARAMS,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAX_PIXELS,
    MAX_SIDE,
    FieldKind,
)
from nfcodec.errors import CorruptStream, UnknownComponent

MAX_VARINT_BYTES = 10  # ceil(64 / 7): enough for any 64-bit value
U64_MAX = (1 << 64) - 1
CHANNEL_CHOICES = (1, 3)

# Layout of the first header byte: low nibble = channel count, one flag bit, the rest reserved.
CHANNELS_MASK = 0x0F
PERMUTE_FLAG = 0x10
RESERVED_IMAGE_BITS = 0xE0


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, shortest form: the only encoding the reader accepts."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise ValueError(f"varint value {value!r} is not an integer in 0..2**64-1")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


class ByteReader:
    """A cursor over untrusted bytes that can only fail with CorruptStream."""

    def __init__(self, data: memoryview, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        """Bytes left before this reader's end: what every length is checked against."""
        return self.end - self.pos

    def take(self, count: int, what: str) -> memoryview:
        """A zero-copy view of the next `count` bytes, refused if they are not all there."""
        if count < 0 or count > self.remaining():
            raise CorruptStream(
                f"truncated {what}: needs {count} bytes, only {self.remaining()} left"
            )
        view = self.data[self.pos : self.pos + count]
        self.pos += count
        return view

    def u8(self, what: str) -> int:
        """One unsigned byte."""
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        """A little-endian 32-bit unsigned integer (used for CRC-32 values)."""
        return int.from_bytes(self.take(4, what), "little")

    def varint(self, what: str) -> int:
        """An unsigned LEB128 integer: at most 10 bytes, at most 64 bits, shortest form."""
        value = 0
        for index in range(MAX_VARINT_BYTES):
            byte = self.u8(what)
            value |= (byte & 0x7F) << (7 * index)
            if byte & 0x80:
                continue
            if byte == 0 and index > 0:
                raise CorruptStream(f"{what}: varint is not in shortest form")
            if value > U64_MAX:
                raise CorruptStream(f"{what}: varint exceeds 64 bits")
            return value
        raise CorruptStream(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problem(kind: FieldKind, params: tuple[int, ...]) -> str | None:
    """Why the hyper-parameters cannot describe a `kind` field, or None if they can."""
    specs = FIELD_PARAMS[kind]
    if len(params) != len(specs):
        return f"{kind.name} takes {len(specs)} hyper-parameters, got {len(params)}"
    for spec, value in zip(specs, params, strict=True):
        if not _is_int(value) or not spec.lo <= value <= spec.hi:
            return f"{kind.name} {spec.name}={value!r} outside {spec.lo}..{spec.hi}"
    return None


def header_problem(header: Header) -> str | None:
    """The first reason this header cannot be stored or decoded, or None if it is sound."""
    for name in ("width", "height"):
        side = getattr(header, name)
        if not _is_int(side) or not 1 <= side <= MAX_SIDE:
            return f"{name} {side!r} outside 1..{MAX_SIDE}"
    if header.width * header.height > MAX_PIXELS:
        return f"{header.width}x{header.height} image exceeds {MAX_PIXELS} pixels"
    if header.channels not in CHANNEL_CHOICES or not _is_int(header.channels):
        return f"channels {header.channels!r} not 1 or 3"
    if not isinstance(header.permute, bool):
        return f"permute {header.permute!r} is not a bool"
    if not _is_int(header.seed) or not 0 <= header.seed <= U64_MAX:
        return f"seed {header.seed!r} outside 0..2**64-1"
    return _field_problem(header.field_kind, header.field_params)


def resolve_field_kind(value: object) -> FieldKind:
    """Map a wire id (or member) to a FieldKind; an unknown id is UnknownComponent."""
    try:
        return FieldKind(value)
    except ValueError:
        raise UnknownComponent(f"unknown field kind id {value!r}") from None


@dataclass(frozen=True)
class Header:
    """What a decoder must know before touching any payload: image shape and field shape.

    Construction validates every value (ValueError), so an invalid header can never be written.
    """

    width: int
    height: int
    channels: int
    permute: bool
    seed: int
    field_kind: FieldKind
    field_params: tuple[int, ...]

    def __post_init__(self) -> None:
        try:
            kind = resolve_field_kind(self.field_kind)
        except UnknownComponent as exc:
            raise ValueError(str(exc)) from None
        object.__setattr__(self, "field_kind", kind)
        try:
            object.__setattr__(self, "field_params", tuple(self.field_params))
        except TypeError:
            raise ValueError(f"field_params {self.field_params!r} is not a sequence") from None
        problem = header_problem(self)
        if problem is not None:
            raise ValueError(problem)

    @property
    def pixels(self) -> int:
        """Pixel count: the denominator of bits per pixel."""
        return self.width * self.height

    def params(self) -> dict[str, int]:
        """The hyper-parameters by name, in wire order."""
        names = (spec.name for spec in FIELD_PARAMS[self.field_kind])
        return dict(zip(names, self.field_params, strict=True))


def encode_header_fields(header: Header) -> bytes:
    """The header's fields in wire order (the container adds length, section count and CRC)."""
    image_byte = header.channels | (PERMUTE_FLAG if header.permute else 0)
    parts = [bytes([image_byte])]
    for value in (header.width, header.height, header.seed, int(header.field_kind)):
        parts.append(encode_varint(value))
    parts.extend(encode_varint(value) for value in header.field_params)
    return b"".join(parts)


def decode_header_fields(
    reader: ByteReader, version: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)
) -> Header:
    """Read the header fields; bounds are enforced before anything is built from them.

    `version` is the file's (major, minor): parameters added later take their declared default.
    """
    image_byte = reader.u8("header image byte")
    if image_byte & RESERVED_IMAGE_BITS:
        raise CorruptStream(f"header image byte 0x{image_byte:02x} has reserved bits set")
    width = reader.varint("header width")
    height = reader.varint("header height")
    seed = reader.varint("header seed")
    kind = resolve_field_kind(reader.varint("header field kind"))
    since = FIELD_KIND_SINCE.get(kind, (1, 0))
    if version < since:
        raise UnknownComponent(
            f"field kind {int(kind)} ({kind.name}) first appears in format {since[0]}.{since[1]}, "
            f"not in a {version[0]}.{version[1]} file"
        )
    params = tuple(
        reader.varint(f"header {spec.name}") if spec.since <= version else spec.default
        for spec in FIELD_PARAMS[kind]
    )
    try:
        return Header(
            width=width,
            height=height,
            channels=image_byte & CHANNELS_MASK,
            permute=bool(image_byte & PERMUTE_FLAG),
            seed=seed,
            field_kind=kind,
            field_params=params,
        )
    except ValueError as exc:
        raise CorruptStream(f"header: {exc}") from None
