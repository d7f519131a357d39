"""Kodak spot check: nfcodec against Pillow JPEG and WebP at matched bits per pixel.

    python scripts/kodak_check.py                      # kodim01/05/15/23, 0.5 and 1.0 bpp
    python scripts/kodak_check.py --configs diner --targets 0.5 --preset fast
    python scripts/kodak_check.py --report-only        # rebuild the report from the records

A small front end to the RD harness (`nfcodec_eval`): every image x configuration x target
rate is one harness job (`run_sweep`, serial), whose record (bpp from the file bytes, PSNR-RGB
of a separately timed `nfcodec.decode`, times, versions, host) goes to the harness store in
`--records` (a folder with records.jsonl). Jobs with an 'ok' record are skipped, so an
interrupted check resumes where it stopped; `--fresh` runs them again. The baselines are the
harness's Pillow codecs swept in memory in this process (JPEG quality 1..95, WebP 0..100, real
byte counts), and each nfcodec result is compared with the baseline's PSNR at exactly its bpp,
linearly interpolated between the two sweep points that bracket it. The markdown report goes
to stdout and to `--out`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "kodak"
DEFAULT_OUT = REPO / "eval" / "results" / "kodak-check" / "report.md"
DEFAULT_RECORDS = REPO / "eval" / "results" / "kodak-check"
DEFAULT_IMAGES = ("01", "05", "15", "23")
DEFAULT_TARGETS = (0.5, 1.0)
DATASET_NAME = "kodak"

#: configuration name -> keyword arguments of `nfcodec.encode_image`
CONFIGS: dict[str, dict[str, Any]] = {
    "hashgrid": {"field": "hashgrid", "permute": False, "seed": 0},
    "hashgrid+rpp": {"field": "hashgrid", "permute": True, "seed": 1},
    "diner": {"field": "diner", "permute": False, "seed": 0},
}

JPEG_QUALITIES = range(1, 96)
WEBP_QUALITIES = range(0, 101)

Key = tuple[str, str, float]  # (image, configuration, target bpp)


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


def pillow_sweep(image: np.ndarray, codec: str, qualities: Iterable[int]) -> list[SweepPoint]:
    """The harness codec `codec` ('jpeg' or 'webp') at every quality, in memory: real byte
    counts, PSNR-RGB of the decoded picture."""
    from nfcodec_eval.codecs import get_codec

    from nfcodec.metrics import psnr

    adapter = get_codec(codec)
    pixels = image.shape[0] * image.shape[1]
    points = []
    for quality in qualities:
        run = adapter.run(image, float(quality))
        points.append(SweepPoint(quality, run.num_bytes * 8.0 / pixels, psnr(image, run.decoded)))
    return points


# --------------------------------------------------------------------------- harness jobs


@dataclass
class Plan:
    """Everything one invocation was asked to do."""

    dataset: Path
    images: list[str]
    targets: list[float]
    configs: list[str]
    preset: str
    device: str
    threads: int | None = None


def codecs_for(plan: Plan) -> list[Any]:
    """One harness codec per configuration; its name is the configuration's."""
    from nfcodec_eval.codecs import NfcodecCodec

    return [
        NfcodecCodec(plan.preset, name=config, options=CONFIGS[config], device=plan.device,
                     threads=plan.threads)
        for config in plan.configs
    ]


def run_plan(plan: Plan, records: Path, fresh: bool, quiet: bool) -> None:
    """Run the plan's jobs that have no 'ok' record (all of them if `fresh`)."""
    from nfcodec_eval.sweep import run_sweep

    run_sweep(
        plan.dataset, records, codecs_for(plan), executor="serial",
        images=[f"{name}.png" for name in plan.images], rates=plan.targets, quiet=quiet,
        dataset=DATASET_NAME, rerun=fresh,
    )


def plan_records(plan: Plan, records: Path) -> tuple[dict[Key, Any], dict[Key, str]]:
    """The plan's 'ok' records and its failures' messages, by (image, config, target)."""
    from nfcodec_eval.store import load_records

    found: dict[Key, Any] = {}
    failures: dict[Key, str] = {}
    for record in load_records(records):
        key = (Path(record.image).stem, record.codec, round(float(record.rate), 6))
        wanted = (
            record.dataset == DATASET_NAME
            and record.config.get("preset") == plan.preset
            and key[0] in plan.images
            and key[1] in plan.configs
            and key[2] in {round(t, 6) for t in plan.targets}
        )
        if not wanted:
            continue
        if record.ok:
            found[key] = record
        else:
            failures[key] = f"failed: {record.error.split(':')[0]}"
    return found, failures


# --------------------------------------------------------------------------- report


def _f(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _delta(psnr: float, match: Match | None) -> float | None:
    return None if match is None else psnr - match.psnr


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Row:
    """One nfcodec run beside its baselines."""

    bpp: float
    psnr: float
    encode_s: float
    decode_s: float
    jpeg: Match | None
    webp: Match | None


def config_section(
    config: str, plan: Plan, rows: dict[Key, Row], failures: dict[Key, str]
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
        done = []
        for image in plan.images:
            key = (image, config, round(target, 6))
            row = rows.get(key)
            if row is None:
                why = failures.get(key, "not run")
                lines.append(f"| {image} | {target:g} | — | — | — | — | — | — | — | {why} |")
                continue
            done.append(row)
            lines.append(
                f"| {image} | {target:g} | {row.bpp:.3f} | {row.psnr:.2f} "
                f"| {row.encode_s:.1f} | {row.decode_s:.3f} "
                + "".join(
                    f"| {_f(match and match.psnr, 2)} | {_f(_delta(row.psnr, match), 2, True)} "
                    for match in (row.jpeg, row.webp)
                )
                + "|"
            )
        text = f"@{target:g}: {len(done)}/{len(plan.images)} images"
        if done:
            text += (
                f", mean bpp {_mean([r.bpp for r in done]):.3f}"
                f", mean PSNR {_mean([r.psnr for r in done]):.2f} dB"
            )
        for baseline, label in (("jpeg", "JPEG"), ("webp", "WebP")):
            deltas = [
                d for d in (_delta(r.psnr, getattr(r, baseline)) for r in done) if d is not None
            ]
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
    plan: Plan, rows: dict[Key, Row], failures: dict[Key, str], command: str,
    reused_hosts: list[str], host: dict[str, Any], found_versions: dict[str, str],
) -> str:
    """The whole markdown report."""
    threads = "automatic (nfcodec.threads)" if plan.threads is None else str(plan.threads)
    lines = [
        "# Kodak check: nfcodec vs JPEG / WebP at matched bpp",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- command: `{command}`",
        f"- dataset: `{plan.dataset.name}`; images: {', '.join(plan.images)}; "
        f"targets: {', '.join(f'{t:g}' for t in plan.targets)} bpp; preset: {plan.preset}; "
        f"device: {plan.device}; threads: {threads}",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in host.items()),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in found_versions.items()),
        "",
        "How measured: bpp = nfcodec file bytes × 8 / pixels; PSNR-RGB (8-bit peak, MSE over all "
        "pixels and channels, `nfcodec.metrics.psnr`) of the original against "
        "`nfcodec.decode(data)`. enc s = `EncodeResult.encode_seconds` (reading the picture to "
        "finished bytes); dec s = a separately timed `nfcodec.decode(data)` call (the harness's "
        "nfcodec codec). Baselines: the harness's Pillow JPEG (quality 1..95, Pillow defaults: "
        "4:2:0, no optimize) and WebP (quality 0..100, method 4) swept once per image in memory "
        "with real byte counts in this run; \"PSNR @bpp\" is the baseline PSNR at exactly the "
        "nfcodec bpp, **linearly interpolated over bpp between the two neighbouring sweep "
        "points** (neighbours in bpp order) — n/a when the bpp lies outside the sweep. "
        "Δ = nfcodec − baseline (dB).",
        "",
    ]
    if reused_hosts:
        lines += [
            f"{len(reused_hosts)} run(s) were taken from the records of an earlier invocation "
            f"(hosts: {', '.join(sorted(set(reused_hosts)))}); their timings come from that "
            "invocation.",
            "",
        ]
    for config in plan.configs:
        lines += config_section(config, plan, rows, failures)
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
                        help="CPU threads per encode (default: nfcodec's automatic choice)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report")
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS,
                        help="harness results folder (records.jsonl)")
    parser.add_argument("--fresh", action="store_true", help="encode again runs already recorded")
    parser.add_argument("--report-only", action="store_true",
                        help="encode nothing; report the runs found in --records")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every run finished, 1 when some failed or are missing."""
    args = parse_args(argv)
    command = shlex.join(
        ["python", "scripts/kodak_check.py", *(sys.argv[1:] if argv is None else argv)]
    )
    log: Callable[[str], None] = (
        (lambda _: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    )
    plan = Plan(args.dataset, list(dict.fromkeys(args.images)), list(dict.fromkeys(args.targets)),
                list(dict.fromkeys(args.configs)), args.preset, args.device, args.threads)
    paths = {name: plan.dataset / f"{name}.png" for name in plan.images}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"kodak_check: missing image(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    from nfcodec_eval.jobs import host_info, library_versions

    from nfcodec.errors import InputError
    from nfcodec.fit.presets import preset_named
    from nfcodec.io import read_image

    try:
        preset_named(plan.preset)
    except InputError as exc:
        print(f"kodak_check: {exc}", file=sys.stderr)
        return 2

    before, _ = plan_records(plan, args.records)
    if not args.report_only:
        run_plan(plan, args.records, args.fresh, args.quiet)
    records, failures = plan_records(plan, args.records)
    reused = [] if args.fresh else [
        str(record.host.get("hostname")) for key, record in records.items() if key in before
    ]

    rows: dict[Key, Row] = {}
    for name in plan.images:
        keys = [key for key in records if key[0] == name]
        if not keys:
            continue
        start = time.perf_counter()
        original = read_image(paths[name])
        jpeg = pillow_sweep(original, "jpeg", JPEG_QUALITIES)
        webp = pillow_sweep(original, "webp", WEBP_QUALITIES)
        log(f"{name}: JPEG/WebP quality sweep in {time.perf_counter() - start:.1f} s")
        for key in keys:
            record = records[key]
            rows[key] = Row(record.bpp, float(record.psnr), record.encode_s, record.decode_s,
                            matched_psnr(jpeg, record.bpp), matched_psnr(webp, record.bpp))
    versions = {k: v for k, v in library_versions().items() if k != "nfcodec_git"}
    commit = library_versions().get("nfcodec_git")
    if commit:
        versions["commit"] = commit
    report = render_report(plan, rows, failures, command, reused, dict(host_info()), versions)
    print(report)
    write_atomic(args.out, report + "\n")
    log(f"report written to {args.out}; records in {args.records}")
    total = len(plan.configs) * len(plan.images) * len(plan.targets)
    return 0 if len(rows) == total else 1


if __name__ == "__main__":
    sys.exit(main())
