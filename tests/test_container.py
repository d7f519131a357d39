"""The .nfc container: round trips, and a reader that fails cleanly on every kind of damage."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfcodec.container import (
    FIELD_PARAMS,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    FieldKind,
    Header,
    NfcInfo,
    Section,
    SectionKind,
    describe,
    read_info,
    read_nfc,
    write_nfc,
)
from nfcodec.container.spec import MAX_PIXELS, MAX_SECTIONS, MAX_SIDE
from nfcodec.errors import CorruptStream, FormatError, UnknownComponent, UnsupportedVersion

HASHGRID_PARAMS = (4, 2, 6, 4, 32, 16, 1, 1, 1, 1)
DINER_PARAMS = (2, 1, 32, 2, 30)


def sample_header(kind: FieldKind = FieldKind.HASHGRID) -> Header:
    params = {FieldKind.HASHGRID: HASHGRID_PARAMS, FieldKind.DINER: DINER_PARAMS}.get(
        kind, tuple(spec.lo for spec in FIELD_PARAMS[kind])
    )
    return Header(
        width=40, height=30, channels=3, permute=True, seed=7, field_kind=kind,
        field_params=params,
    )


def sample_file() -> bytes:
    sections = [
        Section(SectionKind.LATENTS, bytes(range(37))),
        Section(SectionKind.WEIGHTS, b"weights!" * 3),
    ]
    return write_nfc(sample_header(), sections)


# --- crafting raw bytes, independently of the writer -------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def crafted(
    block: bytes, *, major: int = FORMAT_MAJOR, minor: int = FORMAT_MINOR, tail: bytes = b""
) -> bytes:
    """A file whose header block is `block`, with a correct header CRC."""
    prefix = MAGIC + bytes([major, minor]) + varint(len(block)) + block
    return prefix + zlib.crc32(prefix).to_bytes(4, "little") + tail


def header_block(
    *, image_byte: int = 0x13, width: int = 40, height: int = 30, seed: int = 7,
    kind: int = int(FieldKind.HASHGRID), params: tuple[int, ...] = HASHGRID_PARAMS,
    sections: int = 0,
) -> bytes:
    fields = [width, height, seed, kind, *params, sections]
    return bytes([image_byte]) + b"".join(varint(v) for v in fields)


def framed(kind: int, payload: bytes, *, length: int | None = None) -> bytes:
    body = varint(kind) + varint(len(payload) if length is None else length) + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


# --- round trips --------------------------------------------------------------------------------


@st.composite
def headers(draw: st.DrawFn) -> Header:
    kind = draw(st.sampled_from(list(FieldKind)))
    params = tuple(draw(st.integers(spec.lo, spec.hi)) for spec in FIELD_PARAMS[kind])
    width = draw(st.integers(1, MAX_SIDE))
    height = draw(st.integers(1, min(MAX_SIDE, MAX_PIXELS // width)))
    return Header(
        width=width, height=height, channels=draw(st.sampled_from([1, 3])),
        permute=draw(st.booleans()), seed=draw(st.integers(0, 2**64 - 1)),
        field_kind=kind, field_params=params,
    )


section_lists = st.lists(
    st.tuples(st.sampled_from(list(SectionKind)), st.binary(max_size=300)),
    unique_by=lambda item: item[0],
).flatmap(st.permutations)


@settings(max_examples=150, deadline=None)
@given(headers(), section_lists)
def test_round_trip(header: Header, items: list[tuple[SectionKind, bytes]]) -> None:
    sections = tuple(Section(kind, payload) for kind, payload in items)
    data = write_nfc(header, sections)
    parsed = read_nfc(data)
    assert (parsed.major, parsed.minor) == (FORMAT_MAJOR, FORMAT_MINOR)
    assert parsed.header == header
    assert parsed.sections == sections
    for kind, payload in items:
        assert parsed.section(kind) == payload
    info = read_info(data)
    assert info.header == header
    assert info.total_bytes == len(data)
    assert info.sections == tuple((kind, len(payload)) for kind, payload in items)
    assert info.header_bytes + sum(len(p) + 6 for _, p in items) <= len(data)


def test_overhead_is_small() -> None:
    payload = sum(len(s) for s in (bytes(range(37)), b"weights!" * 3))
    assert len(sample_file()) - payload <= 40


def test_missing_section_is_corrupt() -> None:
    parsed = read_nfc(write_nfc(sample_header(), [Section(SectionKind.LATENTS, b"abc")]))
    with pytest.raises(CorruptStream, match="WEIGHTS"):
        parsed.section(SectionKind.WEIGHTS)


def test_params_view_names_values() -> None:
    assert sample_header(FieldKind.DINER).params() == {
        "table_width": 2, "backbone": 1, "hidden_width": 32, "hidden_layers": 2,
        "siren_omega": 30,
    }


def test_read_accepts_bytearray_and_memoryview() -> None:
    data = sample_file()
    assert read_nfc(bytearray(data)) == read_nfc(memoryview(data))


# --- writer-side validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"width": 0}, {"height": MAX_SIDE + 1}, {"width": MAX_SIDE, "height": MAX_SIDE},
        {"channels": 2}, {"permute": 1}, {"seed": -1}, {"seed": 2**64},
        {"field_kind": 99}, {"field_params": (1, 2, 3)},
        {"field_params": (0, *HASHGRID_PARAMS[1:])},
    ],
)
def test_invalid_header_is_refused(change: dict[str, object]) -> None:
    fields = dict(
        width=40, height=30, channels=3, permute=True, seed=7,
        field_kind=FieldKind.HASHGRID, field_params=HASHGRID_PARAMS,
    )
    fields.update(change)
    with pytest.raises(ValueError):
        Header(**fields)  # type: ignore[arg-type]


def test_writer_refuses_duplicate_sections() -> None:
    twice = [Section(SectionKind.LATENTS, b"a"), Section(SectionKind.LATENTS, b"b")]
    with pytest.raises(ValueError, match="duplicate"):
        write_nfc(sample_header(), twice)


# --- damaged files -------------------------------------------------------------------------------


def test_every_truncation_fails_cleanly() -> None:
    data = sample_file()
    for length in range(len(data)):
        with pytest.raises(FormatError):
            read_nfc(data[:length])
        with pytest.raises(FormatError):
            read_info(data[:length])


def test_every_byte_flip_fails_cleanly() -> None:
    data = sample_file()
    for position in range(len(data)):
        for mask in range(1, 256):
            damaged = bytearray(data)
            damaged[position] ^= mask
            with pytest.raises(FormatError):
                read_info(bytes(damaged))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_random_bytes_never_escape(noise: bytes, with_crc: bool) -> None:
    """Garbage after a valid preamble (CRC fixed up or not) only ever raises FormatError."""
    data = crafted(noise) if with_crc else MAGIC + bytes([FORMAT_MAJOR, FORMAT_MINOR]) + noise
    with contextlib.suppress(FormatError):
        read_nfc(data)


def test_trailing_bytes_are_corrupt() -> None:
    with pytest.raises(CorruptStream, match="trailing"):
        read_nfc(sample_file() + b"\0")


@pytest.mark.parametrize("data", [b"", b"\x89N", b"PNG\r\n\x1a\n", b"\x89NFX" + bytes(40)])
def test_not_an_nfc_file(data: bytes) -> None:
    with pytest.raises(FormatError, match="not an .nfc file"):
        read_nfc(data)


@pytest.mark.parametrize(
    ("major", "minor"), [(FORMAT_MAJOR + 1, 0), (FORMAT_MAJOR, FORMAT_MINOR + 1), (0, 0)]
)
def test_other_versions_are_unsupported(major: int, minor: int) -> None:
    data = bytearray(sample_file())
    data[len(MAGIC)], data[len(MAGIC) + 1] = major, minor
    both = rf"{major}\.{minor}.*{FORMAT_MAJOR}\.{FORMAT_MINOR}"
    with pytest.raises(UnsupportedVersion, match=both):
        read_info(bytes(data))


def test_older_headers_take_the_defaults_of_later_parameters() -> None:
    """A 1.0 hash-grid header has no `activation` (it decodes as ReLU, what 1.0 meant); 1.1
    and 2.0 headers have no `cubic_levels` (0: bilinear, what they were written with)."""
    old = crafted(header_block(params=HASHGRID_PARAMS[:-2]), major=1, minor=0)
    assert read_info(old).header.params()["activation"] == 0
    assert read_info(old).header.params()["cubic_levels"] == 0
    for major, minor in ((1, 1), (2, 0)):
        nine = crafted(header_block(params=HASHGRID_PARAMS[:-1]), major=major, minor=minor)
        assert read_info(nine).header.params()["cubic_levels"] == 0
        assert read_info(nine).header.params()["activation"] == 1
    # one value short for the version: the section count is read as the last parameter
    for params, major, minor in ((8, 1, 1), (8, 2, 0), (9, 2, 1)):
        with pytest.raises(CorruptStream):
            read_info(
                crafted(header_block(params=HASHGRID_PARAMS[:params]), major=major, minor=minor)
            )


def test_crafted_valid_file_parses() -> None:
    """The test's own encoder agrees with the writer, so crafted bytes below are meaningful."""
    assert crafted(header_block()) == write_nfc(sample_header(), [])


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (header_block(width=0), "width"),
        (header_block(width=10**6), "width"),
        (header_block(height=2**63), "height"),
        (header_block(width=MAX_SIDE, height=MAX_SIDE), "pixels"),
        (header_block(image_byte=0x12), "channels"),
        (header_block(image_byte=0x33), "reserved"),
        (header_block(seed=2**64 - 1)[:-1] + b"\x80\x00", "shortest"),
        (header_block(params=(25, *HASHGRID_PARAMS[1:])), "levels"),
        (header_block(sections=MAX_SECTIONS + 1), "section count"),
        (header_block() + b"\0", "trailing"),
        (header_block()[:5], "truncated"),
        (b"\x13" + b"\xff" * 11, "varint"),
    ],
)
def test_bad_values_with_valid_crc_are_corrupt(block: bytes, message: str) -> None:
    with pytest.raises(CorruptStream, match=message):
        read_info(crafted(block))


def test_unknown_field_kind() -> None:
    with pytest.raises(UnknownComponent, match="field kind"):
        read_info(crafted(header_block(kind=42)))


def test_unknown_section_kind() -> None:
    data = crafted(header_block(sections=1), tail=framed(99, b"xyz"))
    with pytest.raises(UnknownComponent, match="section kind"):
        read_info(data)


def test_duplicate_section_kind() -> None:
    tail = framed(1, b"a") + framed(1, b"b")
    with pytest.raises(CorruptStream, match="duplicate"):
        read_info(crafted(header_block(sections=2), tail=tail))


@pytest.mark.parametrize(
    "data",
    [
        MAGIC + bytes([FORMAT_MAJOR, FORMAT_MINOR]) + varint(2**62),  # absurd header length
        MAGIC + bytes([FORMAT_MAJOR, FORMAT_MINOR]) + varint(4000) + b"\0" * 4,  # tiny file
        crafted(header_block(sections=1), tail=framed(1, b"", length=2**40)),
        crafted(header_block(sections=1), tail=framed(1, b"", length=1 << 29)),
        crafted(header_block(sections=MAX_SECTIONS)),
    ],
)
def test_absurd_lengths_fail_fast_without_allocating(data: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(CorruptStream):
            read_nfc(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


# --- describe and import hygiene -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FieldKind))
def test_describe_mentions_everything(kind: FieldKind) -> None:
    data = write_nfc(sample_header(kind), [Section(SectionKind.LATENTS, b"z" * 150)])
    info = read_info(data)
    assert isinstance(info, NfcInfo)
    text = describe(info)
    for spec in FIELD_PARAMS[kind]:
        assert spec.name in text
    for fragment in ("1.0", "40 x 30", "seed 7", "latents", "150 bytes", f"{len(data)} bytes"):
        assert fragment in text
    assert f"{len(data) * 8 / 1200:.4f} bpp" in text


def test_container_import_stays_light() -> None:
    code = (
        "import sys, nfcodec.container; "
        "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
