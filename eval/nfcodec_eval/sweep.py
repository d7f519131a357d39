"""Resumable rate–distortion sweeps: plan jobs, skip finished ones, run and record the rest.

The results folder holds one ``records.jsonl`` (see `nfcodec_eval.store`). Running
the same sweep again only runs jobs without an 'ok' record, so an interrupted or
killed sweep is resumed by repeating the command.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from nfcodec_eval.executors import run_jobs
from nfcodec_eval.jobs import Job, RateSpec, SweepError, plan_jobs
from nfcodec_eval.schema import Record
from nfcodec_eval.store import RecordWriter, done_job_ids, recorded_job_ids

if TYPE_CHECKING:  # pragma: no cover
    from nfcodec_eval.codecs import Codec


@dataclass(frozen=True)
class SweepSummary:
    """Outcome of one `run_sweep` call.

    ``ok``/``failed`` count jobs run by this call; ``skipped`` counts jobs left
    alone because they already had a record, of which ``skipped_failed`` were
    earlier failures kept because retrying was turned off.
    """

    out_dir: Path
    planned: int
    ok: int
    failed: int
    skipped: int
    skipped_failed: int = 0

    @property
    def all_ok(self) -> bool:
        """True when every planned job now has an 'ok' record."""
        return self.failed == 0 and self.skipped_failed == 0

    def describe(self) -> str:
        text = (
            f"{self.planned} jobs: {self.ok} ok, {self.failed} failed, {self.skipped} already done"
        )
        if self.skipped_failed:
            text += f" ({self.skipped_failed} of them failed earlier, not retried)"
        return f"{text}; results in {self.out_dir}"


class _Progress:
    """Overall tqdm bar (ETA over pending jobs) with per-codec done/total in the postfix."""

    def __init__(self, jobs: list[Job], pending: list[Job], quiet: bool) -> None:
        self.total = Counter(job.codec for job in jobs)
        pending_ids = {job.job_id for job in pending}
        self.done = Counter(job.codec for job in jobs if job.job_id not in pending_ids)
        self.quiet = quiet
        self.bar = tqdm(total=len(pending), unit="job", disable=quiet, dynamic_ncols=True)
        self._refresh()

    def _refresh(self) -> None:
        parts = [f"{name} {self.done[name]}/{self.total[name]}" for name in sorted(self.total)]
        self.bar.set_postfix_str(" ".join(parts), refresh=False)

    def advance(self, record: Record) -> None:
        self.done[record.codec] += 1
        if not record.ok and not self.quiet:
            tqdm.write(
                f"failed: {record.image} {record.codec} rate={record.rate:g}: {record.error}"
            )
        self._refresh()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise SweepError(f"output path {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_sweep(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    codecs: Sequence[str | Codec],
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    images: Sequence[str] | None = None,
    quiet: bool = False,
    rates: RateSpec = None,
    retry_failed: bool = True,
    dataset: str | None = None,
    rerun: bool = False,
    frames: int | None = None,
) -> SweepSummary:
    """Run every job of dataset × codecs × rate points that has no 'ok' record yet.

    ``codecs`` are registered names, ``"module:attr"`` specs or codec instances
    (see `nfcodec_eval.jobs`). Failed jobs are recorded and do not stop the sweep;
    they are retried by the next call unless ``retry_failed`` is False; ``rerun`` runs every
    job again (new records win over older ones, see `nfcodec_eval.store.dedupe`). ``frames``
    codes only the first N frames of each video clip (part of each video job's config).
    """
    jobs = plan_jobs(
        dataset_dir, codecs, images=images, rates=rates, dataset=dataset, frames=frames
    )
    out = _prepare_out_dir(out_dir)
    ok_ids = done_job_ids(out)
    skip = set() if rerun else ok_ids if retry_failed else recorded_job_ids(out)
    pending = [job for job in jobs if job.job_id not in skip]
    skipped = len(jobs) - len(pending)
    skipped_failed = sum(1 for job in jobs if job.job_id in skip and job.job_id not in ok_ids)
    results = run_jobs(pending, executor=executor, address=address, workers=workers)
    counts: Counter[str] = Counter()
    progress = _Progress(jobs, pending, quiet)
    try:
        with RecordWriter(out) as writer:
            for record in results:
                writer.append(record)
                counts[record.status] += 1
                progress.advance(record)
    finally:
        results.close()  # stops pool or Ray tasks promptly if the driver is interrupted
        progress.close()
    return SweepSummary(
        out_dir=out,
        planned=len(jobs),
        ok=counts["ok"],
        failed=counts["failed"],
        skipped=skipped,
        skipped_failed=skipped_failed,
    )
