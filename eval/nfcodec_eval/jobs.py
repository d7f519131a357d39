"""Planning sweep jobs and running one job inside a worker.

A job is one (dataset, image or clip, codec configuration, rate point). Jobs are small
frozen dataclasses so they pickle to process-pool and Ray workers; the worker
resolves the codec again from its *spec* and media (`nfcodec_eval.resolve`):

* a registered name (``"jpeg"``, ``"x264"``), looked up in the image or video registry;
* ``"package.module:attr"``, where ``attr`` is a codec instance, a codec class or a
  zero-argument factory. This is how tests and experiments plug in codecs that are
  not registered: the module only has to be importable by the workers.

A codec *instance* may also be passed to `plan_jobs`; it then travels inside the
job and must be picklable for the process and Ray executors.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import importlib
import importlib.metadata
import os
import platform
import resource
import socket
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nfcodec_eval.resolve import Media, SweepError, adapters_for, resolve_codec
from nfcodec_eval.schema import Record, Scalar, make_job_id, one_line

__all__ = ["Job", "SweepError", "plan_jobs", "run_job", "failed_record", "resolve_codec"]

if TYPE_CHECKING:  # pragma: no cover
    from nfcodec_eval.codecs import Codec, CodecRun

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".bmp", ".tif", ".tiff", ".webp"}
)

# Containers PyAV reads that hold clips; a file with one of these suffixes is a video item.
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v"})

RateSpec = Sequence[float] | Mapping[str, Sequence[float]] | None


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to produce one `Record`."""

    job_id: str
    dataset: str
    image: str  # name relative to the dataset folder, POSIX separators
    image_path: str
    codec: str  # the codec's own name, as stored in records
    codec_spec: str  # how a worker finds the codec again (see module docstring)
    config: dict[str, Scalar]
    rate: float
    uses_gpu: bool = False
    codec_obj: Any = field(default=None, compare=False, repr=False)
    media: Media = "image"
    frames: int | None = None  # video only: code the first N frames (None: all)


# --------------------------------------------------------------------------- planning


def list_items(dataset_dir: str | os.PathLike[str]) -> list[tuple[str, Path, Media]]:
    """Images and video clips under a dataset folder (recursive, hidden entries skipped), sorted."""
    root = Path(dataset_dir)
    found: list[tuple[str, Path, Media]] = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            found.append((rel.as_posix(), path, "image"))
        elif suffix in VIDEO_SUFFIXES:
            found.append((rel.as_posix(), path, "video"))
    return sorted(found)


def list_images(dataset_dir: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Image files under a dataset folder (recursively, hidden entries skipped), sorted."""
    return [(name, path) for name, path, media in list_items(dataset_dir) if media == "image"]


def select_images(
    available: list[tuple[str, Path]], patterns: Sequence[str] | None
) -> list[tuple[str, Path]]:
    """Keep images whose name or stem matches any glob; every pattern must match something.

    An unmatched pattern is an error rather than a silent no-op, because a typo
    would otherwise produce a quietly incomplete sweep.
    """
    if not patterns:
        return available
    chosen: dict[str, Path] = {}
    for pattern in patterns:
        hits = [
            (name, path)
            for name, path in available
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(Path(name).stem, pattern)
        ]
        if not hits:
            sample = ", ".join(name for name, _ in available[:5])
            raise SweepError(f"--images {pattern!r} matches no image (have: {sample or 'none'})")
        chosen.update(hits)
    return sorted(chosen.items())


def codec_config(codec: Codec) -> dict[str, Scalar]:
    """Fixed settings of a codec that are part of the job identity.

    Codecs may expose an optional ``config`` mapping (or method returning one), e.g.
    an encoder preset; two codecs with equal names but different configs are
    different jobs.
    """
    raw = getattr(codec, "config", None)
    if callable(raw):
        raw = raw()
    return {str(k): v for k, v in dict(raw or {}).items()}


def _rates_for(codec: Codec, rates: RateSpec) -> list[float]:
    if rates is None:
        return [float(r) for r in codec.rate_points()]
    if isinstance(rates, Mapping):
        chosen = rates.get(codec.name)
        return [float(r) for r in (chosen if chosen is not None else codec.rate_points())]
    return [float(r) for r in rates]


def plan_jobs(
    dataset_dir: str | os.PathLike[str],
    codecs: Sequence[str | Codec],
    images: Sequence[str] | None = None,
    rates: RateSpec = None,
    dataset: str | None = None,
    frames: int | None = None,
) -> list[Job]:
    """All jobs of a sweep, item-major, without duplicates.

    Items are the dataset's images and video clips; image codecs get the images and video
    codecs the clips. ``rates`` overrides each codec's ``rate_points()``: one list for every
    codec, or a mapping from codec name to its list. ``dataset`` defaults to the folder name.
    ``frames`` codes only the first N frames of each clip and joins the job's config.
    """
    root = Path(dataset_dir).expanduser().resolve()
    if not root.is_dir():
        raise SweepError(f"dataset folder {str(dataset_dir)!r} does not exist")
    if not codecs:
        raise SweepError("no codec given")
    if frames is not None and (isinstance(frames, bool) or frames < 1):
        raise SweepError(f"frames must be a positive integer, got {frames!r}")
    name = dataset or root.name
    items = list_items(root)
    media_by_name = {item: media for item, _, media in items}
    picked = select_images([(item, path) for item, path, _ in items], images)
    if not picked:
        suffixes = sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        raise SweepError(f"no images or clips ({', '.join(suffixes)}) in {str(root)!r}")
    medias = {media_by_name[item] for item, _ in picked}
    resolved = [(spec, adapters_for(spec, medias)) for spec in codecs]
    if frames is not None and "video" not in medias:
        raise SweepError("--frames applies to video clips, and the dataset has none")
    jobs: dict[str, Job] = {}
    for item, path in picked:
        media = media_by_name[item]
        for spec, adapters in resolved:
            codec = adapters.get(media)
            if codec is None:
                continue
            config = codec_config(codec)
            if media == "video" and frames is not None:
                config["frames"] = int(frames)
            for rate in _rates_for(codec, rates):
                job_id = make_job_id(name, item, codec.name, config, rate)
                jobs.setdefault(
                    job_id,
                    Job(
                        job_id=job_id,
                        dataset=name,
                        image=item,
                        image_path=str(path),
                        codec=codec.name,
                        codec_spec=spec if isinstance(spec, str) else "",
                        config=config,
                        rate=rate,
                        uses_gpu=bool(getattr(codec, "uses_gpu", False)),
                        codec_obj=None if isinstance(spec, str) else spec,
                        media=media,
                        frames=frames if media == "video" else None,
                    ),
                )
    return list(jobs.values())


# --------------------------------------------------------------------- worker side


def _reset_peak_rss() -> None:
    """Reset the kernel's RSS high-water mark so VmHWM covers only the next job (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float | None:
    """Peak RSS of this process in MiB: VmHWM on Linux, else lifetime ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# Sweeps append to their committed records, so that folder must not make the code look modified.
_RESULTS_PATHSPEC = ":(top,exclude)eval/results"


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit(where: Path | None = None) -> str | None:
    """Commit of the checkout at `where` (default: nfcodec's), None outside git.

    Suffixed ``-dirty`` when tracked files other than the results are modified.
    """
    if where is None:
        import nfcodec

        where = Path(nfcodec.__file__).resolve().parent
    commit = _git(where, "rev-parse", "HEAD")
    if not commit:
        return None
    status = ("status", "--porcelain", "--untracked-files=no")
    changes = _git(where, *status, "--", ":/", _RESULTS_PATHSPEC)
    return commit + ("" if changes == "" else "-dirty")  # a failed status counts as modified


@functools.cache
def library_versions() -> dict[str, str]:
    """Versions that can change results; read from metadata so torch is not imported."""
    found = {
        "nfcodec": _dist_version("nfcodec"),
        "nfcodec_git": git_commit(),
        "torch": _dist_version("torch"),
        "Pillow": _dist_version("pillow"),
        "PyAV": _dist_version("av"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    return {k: v for k, v in found.items() if v}


@functools.cache
def host_info() -> dict[str, Scalar]:
    return {
        "hostname": socket.gethostname(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpu_name() -> str | None:
    torch = sys.modules.get("torch")  # only if the codec already loaded it
    try:
        if torch is not None and torch.cuda.is_available():
            return str(torch.cuda.get_device_name())
    except Exception:  # best-effort description only
        return None
    return None


def _read_image(path: str) -> np.ndarray:
    from nfcodec.io import read_image

    return read_image(path)


def _metrics(ref: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """PSNR (8-bit peak, over all channels) and MS-SSIM of the decoded image."""
    from nfcodec import metrics

    return float(metrics.psnr(ref, test)), float(metrics.ms_ssim(ref, test))


def _check_decoded(decoded: np.ndarray, original: np.ndarray) -> np.ndarray:
    decoded = np.asarray(decoded)
    if decoded.dtype != np.uint8 or decoded.shape != original.shape:
        raise ValueError(
            f"codec returned {decoded.dtype} {decoded.shape}, expected uint8 {original.shape}"
        )
    return decoded


def _describe(exc: BaseException) -> str:
    """``Type: message (at file:line)`` — the innermost frame says where it broke."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {Path(last.filename).name}:{last.lineno})"
    return one_line(f"{type(exc).__name__}: {exc}{where}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _base_fields(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "dataset": job.dataset,
        "image": job.image,
        "codec": job.codec,
        "config": dict(job.config),
        "rate": job.rate,
    }


def _ok_record(job: Job, image: np.ndarray, run: CodecRun, codec: Codec) -> Record:
    """An 'ok' record; `image` is the picture, or the (T, H, W, 3) frames of a clip."""
    decoded = _check_decoded(run.decoded, image)
    video: dict[str, Any] = {}
    if job.media == "video":
        from nfcodec_eval.video_jobs import video_psnr

        psnr, video["psnr_pooled"] = video_psnr(image, decoded)
        ms_ssim = None  # not computed for clips: per-frame MS-SSIM would cost more than coding
        video["frames"], height, width = (int(n) for n in image.shape[:3])
    else:
        psnr, ms_ssim = _metrics(image, decoded)
        height, width = image.shape[:2]
    versions = dict(library_versions())
    versions.update({str(k): str(v) for k, v in codec.versions().items()})
    host = dict(host_info())
    gpu = _gpu_name() if job.uses_gpu else None
    if gpu:
        host["gpu"] = gpu
    fields = _base_fields(job)
    fields["config"] = {**fields["config"], **dict(run.config)}
    return Record(
        **fields,
        status="ok",
        width=int(width),
        height=int(height),
        num_bytes=int(run.num_bytes),
        bpp=int(run.num_bytes) * 8.0 / (int(width) * int(height) * video.get("frames", 1)),
        psnr=psnr,
        ms_ssim=ms_ssim,
        encode_s=float(run.encode_seconds),
        decode_s=float(run.decode_seconds),
        peak_mem_mb=_peak_rss_mb(),
        versions=versions,
        host=host,
        finished_at=_now(),
        **video,
    )


def failed_record(job: Job, error: str) -> Record:
    """A 'failed' record for a job; also used by executors when a worker dies."""
    return Record(
        **_base_fields(job),
        status="failed",
        error=one_line(error),
        versions=dict(library_versions()),
        host=dict(host_info()),
        finished_at=_now(),
    )


def run_job(job: Job) -> Record:
    """Run one job and measure it; never raises (failures become 'failed' records)."""
    _reset_peak_rss()
    try:
        if job.codec_obj is not None:
            codec = job.codec_obj
        else:
            codec = resolve_codec(job.codec_spec, job.media)
        if job.media == "video":
            from nfcodec_eval.video_jobs import read_clip

            clip = read_clip(job.image_path, job.frames)
            return _ok_record(job, clip.frames, codec.run(clip, job.rate), codec)
        image = _read_image(job.image_path)
        run = codec.run(image, job.rate)
        return _ok_record(job, image, run, codec)
    except Exception as exc:  # any codec failure is data, not a crash
        return failed_record(job, _describe(exc))
