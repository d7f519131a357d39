"""Append-only JSON Lines store of sweep results.

Every record is written with one ``os.write`` of a complete line on an
``O_APPEND`` descriptor followed by ``fsync``. A process killed at any moment
therefore leaves at worst one partial last line, which the loader drops; every
earlier line is a whole record that is already on disk.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from nfcodec_eval.schema import Record

RECORDS_FILE = "records.jsonl"


def records_path(folder: str | os.PathLike[str]) -> Path:
    return Path(folder) / RECORDS_FILE


class RecordWriter:
    """Appends records to ``<folder>/records.jsonl``; safe to reopen after a crash."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = records_path(folder)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Start on a fresh line if a killed writer left a partial one.

        Without this the next record would be glued onto the fragment and both
        would be lost to the loader.
        """
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                os.write(self._fd, b"\n")
                os.fsync(self._fd)

    def append(self, record: Record) -> None:
        """Write one record durably (single write, then fsync)."""
        data = (record.to_json() + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - only on a full disk
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_raw_records(folder: str | os.PathLike[str]) -> Iterator[Record]:
    """Every readable record in file order, duplicates included.

    A line that is not valid JSON is the expected trace of a writer killed
    mid-write (after a resume it is no longer the last line), so it is skipped
    silently. Valid JSON that is not a record is unexpected and warns.
    """
    path = records_path(folder)
    if not path.exists():
        return
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError: a torn line
            continue
        try:
            yield Record.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.warn(f"{path}:{number}: skipping bad record ({exc})", stacklevel=2)


def dedupe(records: Iterable[Record]) -> list[Record]:
    """One record per job_id: the last 'ok' one, else the last failure.

    Order follows each job's first appearance, so output is stable across resumes.
    """
    chosen: dict[str, Record] = {}
    for record in records:
        previous = chosen.get(record.job_id)
        if previous is None or record.ok or not previous.ok:
            chosen[record.job_id] = record
    return list(chosen.values())


def load_records(folder: str | os.PathLike[str]) -> list[Record]:
    """Records of a results folder, deduplicated by job_id (see `dedupe`)."""
    return dedupe(iter_raw_records(folder))


def done_job_ids(folder: str | os.PathLike[str]) -> set[str]:
    """Ids of jobs that finished with status 'ok' (what a resume skips)."""
    return {r.job_id for r in iter_raw_records(folder) if r.ok}


def recorded_job_ids(folder: str | os.PathLike[str]) -> set[str]:
    """Ids of every job with any record, failed ones included (``--no-retry-failed``)."""
    return {r.job_id for r in iter_raw_records(folder)}
