"""Reading .nfc files from disk in bounded pieces. Standard library only.

The magic and header are read first (at most HEADER_PREFIX_BYTES), the caller may refuse the
file from its header alone, and then only the bytes each section declares are read, never
more than `max_bytes` in all. A stream without end (/dev/zero, a pipe) or a file longer than its
sections declare is refused after at most `max_bytes + 1` bytes. The validation itself stays in
nfc.py: this module only decides how many bytes to read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from nfcodec.container.header import MAX_VARINT_BYTES, ByteReader, Header
from nfcodec.container.nfc import (
    CRC_BYTES,
    HEADER_PREFIX_BYTES,
    PREAMBLE_BYTES,
    NfcFile,
    NfcInfo,
    check_preamble,
    read_header_block,
    read_info,
    read_nfc,
)
from nfcodec.container.spec import MAGIC, MAX_SECTION_BYTES
from nfcodec.errors import CorruptStream, FormatError, InputError, LimitExceeded, NfcError

SECTION_FRAME_BYTES = 2 * MAX_VARINT_BYTES  # a section's kind and length varints at most
DEFAULT_MAX_FILE_BYTES = 1 << 28  # 256 MiB: far above any real file, small enough to hold
READ_PIECE_BYTES = 1 << 20

HeaderCheck = Callable[[Header], None]


def _read_some(stream: BinaryIO, count: int) -> bytes:
    """Up to `count` bytes, fewer only at end of file (reads from pipes may come short)."""
    parts: list[bytes] = []
    wanted = count
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        parts.append(chunk)
        wanted -= len(chunk)
    return b"".join(parts)


def _append(stream: BinaryIO, data: bytearray, count: int) -> None:
    """Append up to `count` bytes to `data` in pieces, so no second copy of a payload exists."""
    target = len(data) + count
    while len(data) < target:
        chunk = _read_some(stream, min(READ_PIECE_BYTES, target - len(data)))
        if not chunk:
            return
        data += chunk


def _section_span(buffer: bytes, start: int) -> tuple[int, int]:
    """(frame length, payload length) of the section framed at `start`, from its varints."""
    reader = ByteReader(memoryview(buffer), start)
    reader.varint("section kind")
    length = reader.varint("section length")
    return reader.pos - start, length


def _read_bounded(
    stream: BinaryIO, size_hint: int | None, max_bytes: int, check_header: HeaderCheck | None
) -> bytearray:
    """The file's bytes: header first, then exactly what the sections declare, then EOF."""
    data = bytearray(_read_some(stream, len(MAGIC)))
    if bytes(data) != MAGIC:  # checked before reading further, so /dev/zero costs 4 bytes
        check_preamble(memoryview(bytes(data)))
    _append(stream, data, HEADER_PREFIX_BYTES - len(data))
    view = memoryview(bytes(data))
    version = check_preamble(view)
    reader = ByteReader(view, PREAMBLE_BYTES)
    header, count = read_header_block(reader, version)
    if check_header is not None:
        check_header(header)
    position = reader.pos
    for _ in range(count):
        if len(data) < position + SECTION_FRAME_BYTES:
            _append(stream, data, position + SECTION_FRAME_BYTES - len(data))
        frame, length = _section_span(bytes(data[position : position + SECTION_FRAME_BYTES]), 0)
        end = position + frame + length + CRC_BYTES
        # The format's own bound and a truncation are file errors; only then is it our limit.
        if length > MAX_SECTION_BYTES:
            raise CorruptStream(f"section length {length} exceeds {MAX_SECTION_BYTES}")
        if size_hint is not None and end > size_hint:
            raise CorruptStream(
                f"truncated section: {length} bytes declared, file has {size_hint} bytes"
            )
        if end > max_bytes:
            raise LimitExceeded(
                f"sections declare at least {end} bytes, more than the {max_bytes}-byte limit"
            )
        if len(data) < end:
            _append(stream, data, end - len(data))
        if len(data) < end:
            raise CorruptStream(f"truncated section: {length} bytes declared, file ends first")
        position = end
    if len(data) == position:
        _append(stream, data, 1)
    if len(data) > position:
        raise CorruptStream(
            f"file is longer than its {count} section(s) declare ({position} bytes)"
        )
    return data  # not copied to bytes: the parser takes any buffer


def read_path_bounded(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    check_header: HeaderCheck | None = None,
) -> bytearray:
    """The bytes of the .nfc file at `path`, read in bounded pieces; errors name the file."""
    where = Path(path)
    try:
        with open(where, "rb", buffering=0) as stream:
            info = os.fstat(stream.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError
            size_hint = info.st_size if stat.S_ISREG(info.st_mode) else None
            return _read_bounded(stream, size_hint, max_bytes, check_header)  # type: ignore[arg-type]
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except NfcError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def read_nfc_path(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    check_header: HeaderCheck | None = None,
) -> NfcFile:
    """Read and fully validate the file at `path`; `check_header` may refuse it first."""
    data = read_path_bounded(path, max_bytes=max_bytes, check_header=check_header)
    try:
        return read_nfc(data)
    except FormatError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def read_info_path(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> NfcInfo:
    """Header and section sizes of the file at `path`, CRCs checked, read in bounded pieces."""
    data = read_path_bounded(path, max_bytes=max_bytes)
    try:
        return read_info(data)
    except FormatError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def read_info_source(source: object) -> NfcInfo:
    """`read_info` for bytes or a path: what `nfcodec info` needs, without numpy or torch."""
    if isinstance(source, bytes | bytearray | memoryview):
        return read_info(source)  # type: ignore[arg-type]
    return read_info_path(source)  # type: ignore[arg-type]
