"""Reading files in bounded pieces: endless streams, files longer or shorter than they claim."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import nfcodec
from nfcodec.container.reader import HEADER_PREFIX_BYTES, _read_bounded, read_path_bounded
from nfcodec.errors import CorruptStream, FormatError, LimitExceeded
from tests.script_loader import load_script

VECTOR = Path(__file__).resolve().parents[1] / "bitstream" / "vectors" / "v2_hashgrid_rgb_24x16.nfc"
MEMORY_LIMIT = 1 << 30


class EndlessStream(io.RawIOBase):
    """`prefix`, then zero bytes for ever; counts what was read."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = len(buffer)
        start = self.consumed
        head = self.prefix[start : start + count]
        buffer[: len(head)] = head
        buffer[len(head) : count] = bytes(count - len(head))
        self.consumed += count
        return count


def with_section_length(declared: int) -> bytes:
    """The vector's header followed by one section that declares `declared` payload bytes."""
    frames = load_script("nfc_frames")
    raw = frames.parse(VECTOR.read_bytes())
    head = frames.assemble(frames.RawFile(raw.major, raw.minor, raw.header_fields, (), 1))
    return head + frames.varint(1) + frames.varint(declared)


def test_endless_stream_after_a_valid_file_reads_one_byte_more() -> None:
    data = VECTOR.read_bytes()
    stream = EndlessStream(data)
    with pytest.raises(CorruptStream, match="longer than"):
        _read_bounded(stream, None, 1 << 28, None)  # type: ignore[arg-type]
    assert stream.consumed <= max(len(data), HEADER_PREFIX_BYTES) + 1


def test_endless_zeros_stop_at_the_magic() -> None:
    stream = EndlessStream(b"")
    with pytest.raises(FormatError, match="not an .nfc file"):
        _read_bounded(stream, None, 1 << 28, None)  # type: ignore[arg-type]
    assert stream.consumed == 4


def test_declared_length_over_the_cap_is_refused_unread() -> None:
    stream = EndlessStream(with_section_length(1 << 29))
    with pytest.raises(LimitExceeded, match="byte limit"):
        _read_bounded(stream, None, 1 << 28, None)  # type: ignore[arg-type]
    assert stream.consumed <= HEADER_PREFIX_BYTES


def test_declared_length_past_the_file_size_is_truncation(tmp_path: Path) -> None:
    path = tmp_path / "short.nfc"
    path.write_bytes(with_section_length(1 << 20) + bytes(100))
    with pytest.raises(CorruptStream, match="short.nfc: truncated section"):
        read_path_bounded(path)


def test_header_check_runs_before_sections_are_read() -> None:
    stream = EndlessStream(with_section_length(1 << 27))
    calls = []
    with pytest.raises(LimitExceeded, match="refused"):
        _read_bounded(stream, None, 1 << 28, lambda h: calls.append(h) or _refuse())  # type: ignore[arg-type]
    assert len(calls) == 1 and stream.consumed <= HEADER_PREFIX_BYTES


def _refuse() -> None:
    raise LimitExceeded("refused")


def test_valid_file_reads_back_whole() -> None:
    assert bytes(read_path_bounded(VECTOR)) == VECTOR.read_bytes()


def test_fifo_is_read_like_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.nfc"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat '{VECTOR}' > '{fifo}'"])
    try:
        assert nfcodec.read_info(fifo).header.width == 24
    finally:
        writer.wait(timeout=30)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_one_line_errors_under_a_1_gib_memory_limit(tmp_path: Path) -> None:
    """/dev/zero and 5 GB sparse files: one line each, no traceback, in a 1 GiB address space."""
    oversized = tmp_path / "oversized.nfc"
    oversized.write_bytes(VECTOR.read_bytes())
    os.truncate(oversized, 5 << 30)  # sparse: a valid file followed by 5 GB of zeros
    claims_1gib = tmp_path / "claims.nfc"
    claims_1gib.write_bytes(with_section_length(1 << 30))
    os.truncate(claims_1gib, 5 << 30)
    cases = [
        ("info", "/dev/zero", "not an .nfc file"),
        ("decode", "/dev/zero", "not an .nfc file"),
        ("decode", str(oversized), "longer than"),
        ("info", str(claims_1gib), "byte limit"),
    ]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for command, source, message in cases:
        output = [str(tmp_path / "out.png")] if command == "decode" else []
        done = subprocess.run(
            [sys.executable, "-c", "from nfcodec.cli import main; main()", command, source,
             *output],
            capture_output=True, text=True, timeout=120, env=env, preexec_fn=_limit_memory,
        )
        lines = done.stderr.splitlines()
        assert done.returncode == 1, (command, source, done.stderr)
        assert len(lines) == 1 and message in lines[0] and source in lines[0], lines
        assert not (tmp_path / "out.png").exists()


def test_file_errors_come_before_the_byte_limit(tmp_path: Path) -> None:
    """Over the format's 2**30 bound, or past the file's end: CorruptStream, as SPEC §5 says."""
    over_format = tmp_path / "over.nfc"
    over_format.write_bytes(with_section_length((1 << 30) + 1))
    with pytest.raises(CorruptStream, match="exceeds"):
        read_path_bounded(over_format, max_bytes=1 << 20)
    with pytest.raises(CorruptStream, match="exceeds"):
        _read_bounded(EndlessStream(with_section_length((1 << 30) + 1)), None, 1 << 20, None)  # type: ignore[arg-type]
    past_end = tmp_path / "past.nfc"
    past_end.write_bytes(with_section_length(1 << 25))
    with pytest.raises(CorruptStream, match="truncated"):
        read_path_bounded(past_end, max_bytes=1 << 20)
