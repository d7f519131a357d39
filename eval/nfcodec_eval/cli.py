"""``nfcodec sweep``: run a resumable rate–distortion sweep from the command line.

`sweep_command` is a plain click command; the ``nfcodec`` group registers it.
Re-running the same command resumes: jobs with an 'ok' record are skipped.
Exit status is 0 when every planned job ended 'ok', 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path

import click

from nfcodec.errors import InputError
from nfcodec_eval.executors import EXECUTORS
from nfcodec_eval.jobs import SweepError
from nfcodec_eval.sweep import run_sweep


def _split_names(values: tuple[str, ...]) -> list[str]:
    """Accept both repeated options and comma-separated lists (``--codec jpeg,webp``)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("sweep")
@click.option(
    "--dataset",
    "dataset_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of images and/or video clips (searched recursively); its name is the "
    "dataset name. Image codecs code the images, video codecs the clips.",
)
@click.option(
    "--codec",
    "codecs",
    required=True,
    multiple=True,
    help="Codec name (repeatable or comma-separated), or 'module:attr' for a custom codec.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder; records.jsonl there is appended to and resumed from.",
)
@click.option(
    "--images",
    multiple=True,
    help="Only images or clips whose name or stem matches this glob/name (repeatable).",
)
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    default=None,
    help="Video clips: code only the first N frames (recorded in each job's config).",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    type=float,
    help="Rate point for every codec (repeatable); default: each codec's own list.",
)
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="local",
    show_default=True,
    help="local process pool, serial (in-process), or ray tasks.",
)
@click.option("--address", default=None, help="Ray cluster address (default: local runtime).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel jobs (default: CPU count).",
)
@click.option(
    "--retry-failed/--no-retry-failed",
    default=True,
    show_default=True,
    help="Re-run jobs whose earlier record is 'failed'.",
)
@click.option("--quiet", is_flag=True, help="No progress bar or per-failure lines.")
def sweep_command(
    dataset_dir: Path,
    codecs: tuple[str, ...],
    out_dir: Path,
    images: tuple[str, ...],
    frames: int | None,
    rates: tuple[float, ...],
    executor: str,
    address: str | None,
    workers: int | None,
    retry_failed: bool,
    quiet: bool,
) -> None:
    """Measure rate and distortion of codecs on a dataset of images or clips, one record per job."""
    try:
        summary = run_sweep(
            dataset_dir,
            out_dir,
            _split_names(codecs),
            executor=executor,
            address=address,
            workers=workers,
            images=list(images) or None,
            quiet=quiet,
            rates=list(rates) or None,
            retry_failed=retry_failed,
            frames=frames,
        )
    except SweepError as exc:
        raise click.UsageError(str(exc)) from exc
    except InputError as exc:  # includes ExecutorError (e.g. Ray not installed)
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or out_dir}") from exc
    if not quiet:
        click.echo(summary.describe(), err=True)
    if not summary.all_ok:
        click.get_current_context().exit(1)
