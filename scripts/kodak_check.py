"""Kodak spot check: nfcodec against Pillow JPEG and WebP at matched bits per pixel.

    python scripts/kodak_check.py                      # kodim01/05/15/23, 0.5 and 1.0 bpp
    python scripts/kodak_check.py --configs diner --targets 0.5 --preset fast
    python scripts/kodak_check.py --report-only        # rebuild the report from the records

For every image x configuration x target rate, nfcodec encodes the picture, the bytes are
decoded again by a separate timed `nfcodec.decode` call, and bpp (file bytes * 8 / pixels) and
PSNR-RGB are measured on those bytes. Each finished run is appended at once to a JSON-lines
file (`--records`) and runs already there are skipped, so an interrupted check resumes where it
stopped (`--fresh` ignores earlier records). The baselines are measured in the same process: one
in-memory Pillow quality sweep per image (JPEG quality 1..95, WebP quality 0..100, real byte
counts), and each nfcodec result is compared with the baseline's PSNR at exactly its bpp,
linearly interpolated between the two sweep points that bracket it. The markdown report goes
to stdout and to `--out`.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "kodak"
DEFAULT_OUT = REPO / "eval" / "results" / "kodak_check.md"
DEFAULT_RECORDS = REPO / "eval" / "results" / "kodak_check.jsonl"
DEFAULT_IMAGES = ("01", "05", "15", "23")
DEFAULT_TARGETS = (0.5, 1.0)

#: configuration name -> keyword arguments of `nfcodec.encode_image`
CONFIGS: dict[str, dict[str, Any]] = {
    "hashgrid": {"field": "hashgrid", "permute": False, "seed": 0},
    "hashgrid+rpp": {"field": "hashgrid", "permute": True, "seed": 1},
    "diner": {"field": "diner", "permute": False, "seed": 0},
}

JPEG_QUALITIES = range(1, 96)
WEBP_QUALITIES = range(0, 101)
RECORD_KIND = "nfcodec-run"


# --------------------------------------------------------------------------- baselines


@dataclass(frozen=True)
class SweepPoint:
    """One baseline encode: quality setting, measured bpp and PSNR-RGB."""

    quality: int
    bpp: float
    psnr: float


@dataclass(frozen=True)
class Match:
    """Baseline PSNR interpolated at a given bpp, with the two sweep points used."""

    bpp: float
    psnr: float
    lo: SweepPoint
    hi: SweepPoint


def matched_psnr(points: Iterable[SweepPoint], bpp: float) -> Match | None:
    """PSNR of a sweep at `bpp`, linear in bpp between the bracketing points; None outside it.

    Points are ordered by bpp (ties by PSNR, so an exact hit takes the best of equal-size files).
    """
    ordered = sorted(points, key=lambda p: (p.bpp, p.psnr))
    if not ordered or not math.isfinite(bpp) or not ordered[0].bpp <= bpp <= ordered[-1].bpp:
        return None
    below = max(i for i, p in enumerate(ordered) if p.bpp <= bpp)
    lo = ordered[below]
    if lo.bpp == bpp or below == len(ordered) - 1:
        return Match(bpp, lo.psnr, lo, lo)
    hi = ordered[below + 1]
    weight = (bpp - lo.bpp) / (hi.bpp - lo.bpp)
    return Match(bpp, lo.psnr + weight * (hi.psnr - lo.psnr), lo, hi)


def _pil_image(image: np.ndarray) -> Any:
    """Pillow image of a (H, W, 1|3) uint8 array (mode L or RGB)."""
    from PIL import Image

    return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)


def pillow_sweep(image: np.ndarray, fmt: str, qualities: Iterable[int]) -> list[SweepPoint]:
    """Encode `image` in memory with Pillow at every quality; real byte counts, PSNR-RGB."""
    from PIL import Image

    from nfcodec.metrics import psnr

    pil = _pil_image(image)
    mode = pil.mode
    pixels = image.shape[0] * image.shape[1]
    points = []
    for quality in qualities:
        buffer = io.BytesIO()
        pil.save(buffer, format=fmt, quality=quality)
        size = buffer.tell()
        buffer.seek(0)
        with Image.open(buffer) as opened:
            decoded = np.asarray(opened.convert(mode)).reshape(image.shape)
        points.append(SweepPoint(quality, size * 8.0 / pixels, psnr(image, decoded)))
    return points


# --------------------------------------------------------------------------- records


@dataclass
class Plan:
    """Everything one invocation was asked to do."""

    dataset: Path
    images: list[str]
    targets: list[float]
    configs: list[str]
    preset: str
    device: str


def run_key(image: str, config: str, preset: str, target: float) -> tuple[str, str, str, float]:
    """Identity of one run in the records (resume skips a run whose key is present)."""
    return (image, config, preset, round(float(target), 6))


def record_key(record: dict[str, Any]) -> tuple[str, str, str, float]:
    return run_key(record["image"], record["config"], record["preset"], record["target_bpp"])


def load_records(path: Path) -> dict[tuple[str, str, str, float], dict[str, Any]]:
    """Finished runs in a JSON-lines file, later lines winning; unreadable lines are skipped."""
    found: dict[tuple[str, str, str, float], dict[str, Any]] = {}
    if not path.exists():
        return found
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if record.get("kind") == RECORD_KIND:
                found[record_key(record)] = record
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            print(f"{path}:{number}: unreadable record skipped", file=sys.stderr)
    return found


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one line and make sure it reached the disk before the next run starts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# --------------------------------------------------------------------------- nfcodec runs


def encode_run(
    path: Path, original: np.ndarray, config: str, preset: str, target: float, device: str
) -> dict[str, Any]:
    """One nfcodec encode + separately timed decode, measured on the bytes."""
    import nfcodec
    from nfcodec.metrics import psnr

    options = CONFIGS[config]
    start = time.perf_counter()
    result = nfcodec.encode_image(
        str(path), preset=preset, target_bpp=target, device=device, quiet=True, **options
    )
    call_seconds = time.perf_counter() - start
    data = bytes(result.data)
    start = time.perf_counter()
    decoded = nfcodec.decode(data)
    decode_seconds = time.perf_counter() - start
    height, width = original.shape[:2]
    return {
        "bytes": len(data),
        "width": width,
        "height": height,
        "bpp": len(data) * 8.0 / (width * height),
        "psnr": psnr(original, np.asarray(decoded).reshape(original.shape)),
        "psnr_encoder": result.psnr,
        "bpp_encoder": result.bpp,
        "encode_seconds": result.encode_seconds,
        "encode_call_seconds": call_seconds,
        "fit_seconds": result.fit_seconds,
        "decode_seconds": decode_seconds,
        "lmbda": result.lmbda,
        "steps": result.steps,
        "field_config": result.config,
        **options,
    }


def _match_dict(match: Match | None) -> dict[str, Any] | None:
    return None if match is None else asdict(match)


# --------------------------------------------------------------------------- environment


def _torch_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if info["cuda"]:
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, core counts and torch threading of this process."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        **_torch_info(),
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), *args],
            capture_output=True, text=True, timeout=20, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def versions() -> dict[str, str]:
    """Library versions that decide the numbers, and the source commit."""
    import PIL
    import torch
    from PIL import features

    import nfcodec

    found = {
        "python": platform.python_version(),
        "nfcodec": nfcodec.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "libjpeg": str(features.version("jpg")),
        "libjpeg_turbo": str(features.version("libjpeg_turbo")),
        "libwebp": str(features.version("webp")),
    }
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        found["commit"] = commit + (" (uncommitted changes)" if dirty else "")
    return found


# --------------------------------------------------------------------------- report


def _f(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _delta(record: dict[str, Any], baseline: str) -> float | None:
    match = record.get(baseline)
    return None if match is None else record["psnr"] - match["psnr"]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def config_section(
    config: str, plan: Plan, results: dict[tuple[str, str, str, float], dict[str, Any]],
    failures: dict[tuple[str, str, str, float], str],
) -> list[str]:
    """Markdown table and summary line of one configuration."""
    options = CONFIGS[config]
    lines = [
        f"## {config}",
        "",
        f"field={options['field']}, permute={options['permute']}, seed={options['seed']}, "
        f"preset={plan.preset}",
        "",
        "| image | target bpp | bpp | PSNR (dB) | enc s | dec s | JPEG PSNR @bpp | Δ JPEG "
        "| WebP PSNR @bpp | Δ WebP |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    parts = []
    wins = {"jpeg": 0, "webp": 0}
    compared = {"jpeg": 0, "webp": 0}
    for target in plan.targets:
        rows = []
        for image in plan.images:
            key = run_key(image, config, plan.preset, target)
            record = results.get(key)
            if record is None:
                why = failures.get(key, "not run")
                lines.append(f"| {image} | {target:g} | — | — | — | — | — | — | — | {why} |")
                continue
            rows.append(record)
            jpeg, webp = record.get("jpeg"), record.get("webp")
            lines.append(
                f"| {image} | {target:g} | {record['bpp']:.3f} | {record['psnr']:.2f} "
                f"| {record['encode_seconds']:.1f} | {record['decode_seconds']:.3f} "
                f"| {_f(jpeg and jpeg['psnr'], 2)} | {_f(_delta(record, 'jpeg'), 2, True)} "
                f"| {_f(webp and webp['psnr'], 2)} | {_f(_delta(record, 'webp'), 2, True)} |"
            )
        text = f"@{target:g}: {len(rows)}/{len(plan.images)} images"
        if rows:
            text += (
                f", mean bpp {_mean([r['bpp'] for r in rows]):.3f}"
                f", mean PSNR {_mean([r['psnr'] for r in rows]):.2f} dB"
            )
        for baseline, label in (("jpeg", "JPEG"), ("webp", "WebP")):
            deltas = [d for d in (_delta(r, baseline) for r in rows) if d is not None]
            compared[baseline] += len(deltas)
            wins[baseline] += sum(d > 0 for d in deltas)
            if deltas:
                text += f", mean Δ {label} {_mean(deltas):+.2f} dB over {len(deltas)}"
        parts.append(text)
    lines += [
        "",
        f"**Summary {config}** (mean of per-image PSNR and of per-image bpp, per target): "
        + "; ".join(parts)
        + f". Wins vs JPEG: {wins['jpeg']}/{compared['jpeg']}, "
        f"vs WebP: {wins['webp']}/{compared['webp']} "
        "(win = higher PSNR than the baseline at the same bpp).",
        "",
    ]
    return lines


def render_report(
    plan: Plan, results: dict[tuple[str, str, str, float], dict[str, Any]],
    failures: dict[tuple[str, str, str, float], str], command: str, reused: int,
    machine: dict[str, Any], found_versions: dict[str, str],
) -> str:
    """The whole markdown report."""
    threads = f"{machine['torch_threads']} (interop {machine['torch_interop_threads']})"
    gpu = machine.get("cuda_device", "none")
    lines = [
        "# Kodak check: nfcodec vs JPEG / WebP at matched bpp",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- command: `{command}` (cwd `{os.getcwd()}`)",
        f"- dataset: `{plan.dataset}`; images: {', '.join(plan.images)}; "
        f"targets: {', '.join(f'{t:g}' for t in plan.targets)} bpp; preset: {plan.preset}; "
        f"device: {plan.device}",
        f"- machine: {machine['host']}, {machine['cpu']}, cpu_count {machine['cpu_count']} "
        f"(usable {machine['usable_cpus']}), torch threads {threads}, GPU {gpu}, "
        f"{machine['platform']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in found_versions.items()),
        "",
        "How measured: bpp = nfcodec file bytes × 8 / pixels; PSNR-RGB (8-bit peak, MSE over all "
        "pixels and channels, `nfcodec.metrics.psnr`) of the original against "
        "`nfcodec.decode(data)`. enc s = `EncodeResult.encode_seconds` (reading the picture to "
        "finished bytes); dec s = a separately timed `nfcodec.decode(data)` call. "
        "Baselines: Pillow JPEG (quality 1..95, Pillow defaults: 4:2:0, no optimize) and WebP "
        "(quality 0..100, method 4) swept once per image in memory with real byte counts in this "
        "run; \"PSNR @bpp\" is the baseline PSNR at exactly the nfcodec bpp, **linearly "
        "interpolated over bpp between the two neighbouring sweep points** (neighbours in bpp "
        "order; the qualities used are in the records) — n/a when the bpp lies outside the "
        "sweep. Δ = nfcodec − baseline (dB).",
        "",
    ]
    if reused:
        hosts = sorted({str(r.get("host")) for r in results.values()})
        lines += [
            f"{reused} run(s) were taken from the records of an earlier invocation "
            f"(hosts: {', '.join(hosts)}); their timings come from that invocation.",
            "",
        ]
    for config in plan.configs:
        lines += config_section(config, plan, results, failures)
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(text)
    os.replace(scratch, path)


# --------------------------------------------------------------------------- command line


def image_name(text: str) -> str:
    """'1', '01', 'kodim01' or 'kodim01.png' -> 'kodim01'."""
    stem = Path(text).stem.lower().removeprefix("kodim")
    if not stem.isdigit():
        raise argparse.ArgumentTypeError(f"not a Kodak image number: {text!r}")
    return f"kodim{int(stem):02d}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Kodak folder")
    parser.add_argument("--images", nargs="+", type=image_name,
                        default=[image_name(name) for name in DEFAULT_IMAGES],
                        help="image numbers (default: 01 05 15 23)")
    parser.add_argument("--targets", nargs="+", type=float, default=list(DEFAULT_TARGETS),
                        help="target bpp values (default: 0.5 1.0)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads before encoding (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS, help="JSON-lines runs")
    parser.add_argument("--fresh", action="store_true", help="ignore existing records")
    parser.add_argument("--report-only", action="store_true",
                        help="encode nothing; report the runs found in --records")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every run finished, 1 when some failed or are missing."""
    args = parse_args(argv)
    command = shlex.join(
        ["python", sys.argv[0] if argv is None else "scripts/kodak_check.py",
         *(sys.argv[1:] if argv is None else argv)]
    )
    log: Callable[[str], None] = (
        (lambda _: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    )
    images = list(dict.fromkeys(args.images))
    plan = Plan(args.dataset, images, list(dict.fromkeys(args.targets)),
                list(dict.fromkeys(args.configs)), args.preset, args.device)
    paths = {name: plan.dataset / f"{name}.png" for name in plan.images}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"kodak_check: missing image(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    from nfcodec.errors import InputError
    from nfcodec.fit.presets import preset_named

    try:
        preset_named(plan.preset)
    except InputError as exc:
        print(f"kodak_check: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from nfcodec.io import read_image

    earlier = {} if args.fresh else load_records(args.records)
    originals: dict[str, np.ndarray] = {}
    sweeps: dict[str, dict[str, list[SweepPoint]]] = {}

    def original(name: str) -> np.ndarray:
        if name not in originals:
            originals[name] = read_image(paths[name])
        return originals[name]

    def sweep(name: str) -> dict[str, list[SweepPoint]]:
        if name not in sweeps:
            start = time.perf_counter()
            sweeps[name] = {
                "jpeg": pillow_sweep(original(name), "JPEG", JPEG_QUALITIES),
                "webp": pillow_sweep(original(name), "WEBP", WEBP_QUALITIES),
            }
            log(f"{name}: JPEG/WebP quality sweep in {time.perf_counter() - start:.1f} s")
        return sweeps[name]

    machine = machine_info()
    found_versions = versions()
    results: dict[tuple[str, str, str, float], dict[str, Any]] = {}
    failures: dict[tuple[str, str, str, float], str] = {}
    total = len(plan.configs) * len(plan.images) * len(plan.targets)
    done = reused = 0
    for config in plan.configs:
        for name in plan.images:
            for target in plan.targets:
                done += 1
                key = run_key(name, config, plan.preset, target)
                label = f"[{done}/{total}] {config} {name} @{target:g} bpp"
                if key in earlier:
                    results[key] = earlier[key]
                    reused += 1
                    log(f"{label}: in records, skipped")
                    continue
                if args.report_only:
                    continue
                log(f"{label}: encoding ...")
                try:
                    measured = encode_run(
                        paths[name], original(name), config, plan.preset, target, plan.device
                    )
                except Exception as exc:  # one failed run must not stop the rest
                    failures[key] = f"failed: {type(exc).__name__}"
                    log(f"{label}: FAILED: {type(exc).__name__}: {exc}")
                    continue
                curves = sweep(name)
                record = {
                    "kind": RECORD_KIND,
                    "image": name,
                    "config": config,
                    "preset": plan.preset,
                    "target_bpp": float(target),
                    "device": plan.device,
                    **measured,
                    "jpeg": _match_dict(matched_psnr(curves["jpeg"], measured["bpp"])),
                    "webp": _match_dict(matched_psnr(curves["webp"], measured["bpp"])),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "host": machine["host"],
                    "torch_threads": machine["torch_threads"],
                    "versions": found_versions,
                    "command": command,
                }
                append_record(args.records, record)
                results[key] = record
                log(
                    f"{label}: {record['bpp']:.3f} bpp, {record['psnr']:.2f} dB, "
                    f"enc {record['encode_seconds']:.1f} s, dec {record['decode_seconds']:.2f} s, "
                    f"Δ JPEG {_f(_delta(record, 'jpeg'), 2, True)}, "
                    f"Δ WebP {_f(_delta(record, 'webp'), 2, True)}"
                )
    # Baselines are re-measured in this run for records taken from earlier invocations too.
    for record in results.values():
        curves = sweep(record["image"])
        record["jpeg"] = _match_dict(matched_psnr(curves["jpeg"], record["bpp"]))
        record["webp"] = _match_dict(matched_psnr(curves["webp"], record["bpp"]))
    report = render_report(plan, results, failures, command, reused, machine, found_versions)
    print(report)
    write_atomic(args.out, report + "\n")
    log(f"report written to {args.out}; records in {args.records}")
    return 0 if len(results) == total else 1


if __name__ == "__main__":
    sys.exit(main())
