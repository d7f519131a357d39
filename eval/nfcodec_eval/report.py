"""Turn a results folder (records.jsonl) into curves, a markdown report and an RD plot.

Curves are the mean of per-image bpp and the mean of per-image PSNR at each rate point
(CompressAI averages the same way), and a rate point only enters a curve when every image of
the dataset succeeded there; otherwise the mean would mix different image subsets. Dropped
points are counted in the report.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from nfcodec_eval.bdrate import BDResult, bd_rate
from nfcodec_eval.reference import (
    ReferenceCurve,
    ReferenceSet,
    bpg_anchor,
    load_folder,
    overlay_curves,
    reference_set,
)
from nfcodec_eval.schema import Record
from nfcodec_eval.store import load_records

__all__ = ["MeasuredCurve", "build_curves", "make_report", "report_command"]

HARNESS_TOLERANCE_PERCENT = 3.0
LANDING_TOLERANCE_PERCENT = 5.0
_HARNESS_CODECS = ("jpeg", "webp")


@dataclass(frozen=True)
class MeasuredCurve:
    """Our averaged curve for one codec on one dataset, sorted by bpp."""

    dataset: str
    codec: str
    rates: tuple[float, ...]
    bpp: tuple[float, ...]
    psnr: tuple[float, ...]
    num_images: int
    dropped_rates: tuple[float, ...]
    mean_encode_s: float
    mean_decode_s: float
    frames: int | None = None  # a clip's curve: frames coded (None for images)
    psnr_pooled: tuple[float, ...] = ()  # clips: PSNR of the MSE pooled over all frames
    mean_decode_fps: float = math.nan  # clips: frames / decode seconds, mean over rate points

    def to_compressai(self) -> dict[str, object]:
        """CompressAI's results format, so our curves load wherever theirs do."""
        dropped = (
            f"; rate points dropped because some image failed: {list(self.dropped_rates)}"
            if self.dropped_rates
            else ""
        )
        if self.frames is not None:
            return {
                "name": self.codec,
                "description": (
                    f"nfcodec_eval sweep of {self.codec} on {self.dataset}: bpp = coded bits / "
                    f"(width x height x {self.frames} frames), psnr-rgb = mean of per-frame "
                    f"PSNR-RGB, psnr-rgb-pooled = PSNR of the MSE over all frames{dropped}"
                ),
                "results": {
                    "rate": list(self.rates),
                    "bpp": list(self.bpp),
                    "psnr-rgb": list(self.psnr),
                    "psnr-rgb-pooled": list(self.psnr_pooled),
                },
            }
        return {
            "name": self.codec,
            "description": (
                f"nfcodec_eval sweep of {self.codec} on {self.dataset}: mean of per-image values "
                f"(bpp and PSNR-RGB) over {self.num_images} images at each rate point{dropped}"
            ),
            "results": {
                "rate": list(self.rates),
                "bpp": list(self.bpp),
                "psnr-rgb": list(self.psnr),
            },
        }


def _usable(record: Record) -> bool:
    """An ok record with a finite PSNR (lossless results have none and cannot be averaged)."""
    return record.ok and record.psnr is not None and math.isfinite(record.psnr)


def _curve(dataset: str, codec: str, records: Sequence[Record], images: set[str]) -> MeasuredCurve:
    by_rate: dict[float, dict[str, Record]] = defaultdict(dict)
    for record in records:
        if _usable(record):
            by_rate[record.rate][record.image] = record
    all_rates = {r.rate for r in records}
    points: list[tuple[float, float, float, float]] = []
    for rate, per_image in by_rate.items():
        if set(per_image) == images:
            rows = per_image.values()
            points.append(
                (
                    rate,
                    sum(r.bpp for r in rows) / len(images),
                    sum(float(r.psnr or 0.0) for r in rows) / len(images),
                    _mean(_or_nan(r.psnr_pooled) for r in rows),
                )
            )
    points.sort(key=lambda p: p[1])
    kept = {p[0] for p in points}
    ok = [r for r in records if _usable(r)]
    frames = ok[0].frames if ok else None
    return MeasuredCurve(
        dataset=dataset,
        codec=codec,
        rates=tuple(p[0] for p in points),
        bpp=tuple(p[1] for p in points),
        psnr=tuple(p[2] for p in points),
        num_images=len(images),
        dropped_rates=tuple(sorted(all_rates - kept)),
        mean_encode_s=_mean(r.encode_s for r in ok),
        mean_decode_s=_mean(r.decode_s for r in ok),
        frames=frames,
        psnr_pooled=tuple(p[3] for p in points) if frames is not None else (),
        mean_decode_fps=(
            _mean((r.frames or 0) / r.decode_s for r in ok if r.decode_s > 0)
            if frames is not None
            else math.nan
        ),
    )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else math.nan


def curve_group(record: Record) -> str:
    """Which curve a record belongs to: its dataset for images; for a clip, the clip itself
    at its frame count (`<dataset>/<clip without suffix>-<N>f`), since clips are compared one
    by one and a different frame count is a different test."""
    if record.frames is None:
        return record.dataset
    stem = Path(record.image).with_suffix("").as_posix()
    return f"{record.dataset}/{stem}-{record.frames}f"


def group_records(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Records by curve group (see `curve_group`). A failed clip record carries no frame
    count, so it joins the group its clip's successful records are in."""
    clips = {(r.dataset, r.image): curve_group(r) for r in records if r.frames is not None}
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        key = curve_group(record)
        if record.frames is None:
            key = clips.get((record.dataset, record.image), key)
        groups[key].append(record)
    return dict(groups)


def build_curves(records: Sequence[Record]) -> dict[str, dict[str, MeasuredCurve]]:
    """group -> codec -> averaged curve, over the images seen anywhere in that group.

    A group is a dataset of images, or one clip (see `curve_group`)."""
    grouped: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    images: dict[str, set[str]] = defaultdict(set)
    for key, rows in group_records(records).items():
        for record in rows:
            grouped[key][record.codec].append(record)
            images[key].add(record.image)
    return {
        dataset: {
            codec: _curve(dataset, codec, rows, images[dataset])
            for codec, rows in sorted(per_codec.items())
        }
        for dataset, per_codec in sorted(grouped.items())
    }


# --------------------------------------------------------------------------- BD-rate cells


def _bd(
    anchor_bpp: Sequence[float],
    anchor_psnr: Sequence[float],
    curve: MeasuredCurve | ReferenceCurve,
    method: str = "pchip",
) -> BDResult | str:
    """BD-rate of `curve` against an anchor, or the reason it cannot be computed."""
    if len(curve.bpp) < 2:
        return "n/a (fewer than 2 complete rate points)"
    try:
        return bd_rate(anchor_bpp, anchor_psnr, curve.bpp, curve.psnr, method)  # type: ignore[arg-type]
    except ValueError as exc:
        return f"n/a ({exc})"


def _cell(result: BDResult | str) -> str:
    if isinstance(result, str):
        return result.replace("|", "/")
    lo, hi = result.interval
    return f"{result.value:+.2f}% ({lo:.1f}–{hi:.1f} dB)"


@dataclass(frozen=True)
class Anchor:
    """One BD-rate column: the curve the others are compared with, or why there is none."""

    heading: str
    curve: MeasuredCurve | ReferenceCurve | None
    missing: str = "n/a"  # the cell text when there is no curve
    codec: str | None = None  # a measured anchor's own row reads 'anchor'

    def cell(self, codec: str, curve: MeasuredCurve) -> str:
        if self.curve is None:
            return self.missing
        if codec == self.codec:
            return "anchor"
        return _cell(_bd(self.curve.bpp, self.curve.psnr, curve))


def measured_anchor(curves: dict[str, MeasuredCurve], codec: str, heading: str) -> Anchor:
    """A column against one of our measured codecs (none if it has under 2 points)."""
    curve = curves.get(codec)
    usable = curve if curve is not None and len(curve.bpp) >= 2 else None
    return Anchor(heading, usable, f"n/a (no {codec} sweep)", codec)


def bd_table(curves: dict[str, MeasuredCurve], anchors: Sequence[Anchor]) -> list[str]:
    """Per codec: points, images (or frames for a clip), one BD-rate per anchor, timings."""
    video = any(c.frames is not None for c in curves.values())
    count = "frames" if video else "images"
    timing = "mean encode s | decode frames/s" if video else "mean encode s | mean decode s"
    heads = "".join(f" {a.heading} |" for a in anchors)
    lines = [
        f"| codec | points | {count} |{heads} {timing} |",
        "|---|---|---|" + "---|" * len(anchors) + "---|---|",
    ]
    for codec, curve in curves.items():
        points = f"{len(curve.bpp)}" + (
            f" ({len(curve.dropped_rates)} dropped)" if curve.dropped_rates else ""
        )
        cells = "".join(f" {a.cell(codec, curve)} |" for a in anchors)
        counted = curve.frames if video else curve.num_images
        speed = f"{curve.mean_decode_fps:.1f}" if video else f"{curve.mean_decode_s:.3f}"
        lines.append(
            f"| {codec} | {points} | {counted} |{cells} {curve.mean_encode_s:.3f} | {speed} |"
        )
    return lines


BD_METHOD_NOTE = (
    "BD-rate: log(bpp) interpolated as a function of PSNR-RGB with a piecewise cubic "
    "Hermite (PCHIP) curve, integrated exactly over the PSNR interval both curves cover "
    "(shown in each cell); negative means fewer bits than the anchor at equal quality."
)


# --------------------------------------------------------------------------- markdown


def _dataset_section(
    dataset: str,
    curves: dict[str, MeasuredCurve],
    records: Sequence[Record],
    refs: ReferenceSet | None,
    published: dict[str, ReferenceCurve],
    plot_name: str,
    anchor_codec: str = "webp",
) -> list[str]:
    num_images = max((c.num_images for c in curves.values()), default=0)
    full = _full_set_size(refs, num_images)
    title = dataset if full is None else f"{dataset} (subset: {num_images} of {full} images)"
    lines = [f"## {title}", "", f"Images: {num_images}.", ""]
    if full is not None:
        lines += [
            f"**Note:** {num_images} image(s) swept, but the published curves average "
            f"{refs.num_images} images ({refs.label}); BD-rates against them and the harness "
            "check are indicative only.",
            "",
        ]
    anchor = bpg_anchor(published)
    measured = curves.get(anchor_codec)
    bpg_head = (
        f"BD-rate vs BPG 4:4:4 ({refs.label}: `{anchor.key}.json`)"
        if anchor and refs
        else "BD-rate vs BPG 4:4:4"
    )
    anchors = [
        Anchor(bpg_head, anchor, "n/a (no BPG curve)"),
        measured_anchor(curves, anchor_codec, f"BD-rate vs {anchor_codec} (ours, measured)"),
    ]
    lines += bd_table(curves, anchors)
    lines += [
        "",
        f"{BD_METHOD_NOTE} Curves are the mean of per-image bpp and PSNR at each rate point; "
        "a point counts only if every image succeeded.",
        "",
    ]
    lines += _landing_section(records)
    lines += _published_bd_section(published, measured, anchor_codec)
    lines += _harness_section(curves, published, refs, subset=full is not None)
    if refs is not None:
        chosen = overlay_curves(published)
        where = f"{Path(refs.folder).parent.name}/{Path(refs.folder).name}"  # no machine paths
        lines += [f"Published curves drawn dashed ({refs.label}, `{where}`):", ""]
        lines += [f"- {label}: {curve.description}" for label, curve in chosen]
        lines.append("")
    else:
        lines += [f"No published curves are known for dataset `{dataset}`.", ""]
    lines += [f"![rate-distortion]({plot_name})", ""]
    return lines


def _landing_section(records: Sequence[Record]) -> list[str]:
    """How close rate-controlled codecs (config `target_bpp`) landed to their targets.

    A codec that aims at a bit rate is only as useful as its aim; this table makes misses
    visible next to the BD-rates, which use the real sizes whatever the aim.
    """
    by_target: dict[tuple[str, float], list[float]] = defaultdict(list)
    for record in records:
        target = record.config.get("target_bpp")
        if record.ok and isinstance(target, int | float) and target > 0:
            by_target[(record.codec, float(target))].append(record.bpp)
    if not by_target:
        return []
    tol = LANDING_TOLERANCE_PERCENT
    lines = [
        "### Rate control landing",
        "",
        f"Real file bpp against the target bpp, per file; 'off' counts files more than ±{tol:g}%"
        " away from their target.",
        "",
        "| codec | target bpp | files | mean bpp | lowest | highest | off |",
        "|---|---|---|---|---|---|---|",
    ]
    for (codec, target), bpps in sorted(by_target.items()):
        errors = [100.0 * (bpp / target - 1.0) for bpp in bpps]
        off = sum(abs(e) > tol for e in errors)
        lines.append(
            f"| {codec} | {target:g} | {len(bpps)} | {_mean(bpps):.3f} | {min(errors):+.1f}% "
            f"| {max(errors):+.1f}% | {off} |"
        )
    return [*lines, ""]


def _published_bd_section(
    published: dict[str, ReferenceCurve],
    measured_anchor: MeasuredCurve | None,
    anchor_codec: str,
) -> list[str]:
    """The published codecs under the same BD-rate method, so every row reads on one scale."""
    chosen = overlay_curves(published)
    bpg = bpg_anchor(published)
    if not chosen or bpg is None:
        return []
    rows = []
    for label, curve in chosen:
        vs_bpg = "anchor" if curve is bpg else _cell(_bd(bpg.bpp, bpg.psnr, curve))
        if measured_anchor is None or len(measured_anchor.bpp) < 2:
            vs_measured = f"n/a (no {anchor_codec} sweep)"
        else:
            vs_measured = _cell(_bd(measured_anchor.bpp, measured_anchor.psnr, curve))
        rows.append(f"| {label} | {len(curve.bpp)} | {vs_bpg} | {vs_measured} |")
    return [
        "### Published codecs (their curves, same BD-rate method)",
        "",
        f"| codec | points | BD-rate vs BPG 4:4:4 | BD-rate vs {anchor_codec} (ours, measured) |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def _full_set_size(refs: ReferenceSet | None, num_images: int) -> int | None:
    """Images in the published set when this sweep covers fewer (a subset), else None."""
    if refs is None or refs.num_images in (None, num_images):
        return None
    return refs.num_images


def _harness_section(
    curves: dict[str, MeasuredCurve],
    published: dict[str, ReferenceCurve],
    refs: ReferenceSet | None,
    subset: bool = False,
) -> list[str]:
    """Our JPEG/WebP against CompressAI's: if these disagree, the harness is suspect. A subset
    is not judged: its mean is not the published set's mean, so a gap says nothing."""
    rows = []
    for codec in _HARNESS_CODECS:
        if codec not in curves or codec not in published:
            continue
        theirs = published[codec]
        pchip = _bd(theirs.bpp, theirs.psnr, curves[codec])
        cubic = _bd(theirs.bpp, theirs.psnr, curves[codec], "cubic")
        verdict = "n/a"
        if subset:
            verdict = "not judged (subset)"
        elif isinstance(pchip, BDResult):
            within = abs(pchip.value) <= HARNESS_TOLERANCE_PERCENT
            verdict = "pass" if within else "FAIL"
        cubic_text = f"{cubic.value:+.2f}%" if isinstance(cubic, BDResult) else cubic
        rows.append(f"| {codec} | {_cell(pchip)} | {cubic_text} | {verdict} |")
    if not rows:
        where = refs.label if refs else "no reference folder"
        return [f"Harness check: no CompressAI JPEG/WebP curve to compare with ({where}).", ""]
    return [
        f"### Harness check (target: within ±{HARNESS_TOLERANCE_PERCENT:g}%)",
        "",
        "BD-rate of our measured curve against CompressAI's published one for the same codec.",
        "",
        "| codec | BD-rate (PCHIP) | BD-rate (cubic) | verdict |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


# --------------------------------------------------------------------------- plot


def _plot(
    path: Path,
    title: str,
    curves: dict[str, MeasuredCurve],
    refs: ReferenceSet | None,
    published: dict[str, ReferenceCurve],
    log_x: bool = False,
) -> None:
    """PSNR-RGB vs bpp: measured curves solid with markers, published ones dashed.

    Images are drawn on 0-2 bpp; clips (`log_x`) on a log axis over the rates measured, since
    video rates span more than a decade near zero."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    try:
        psnr_in_view: list[float] = []
        # separate palettes so a measured curve never shares a colour with a published one
        measured_colours = plt.get_cmap("tab10").colors
        published_colours = plt.get_cmap("tab20b").colors
        for index, (codec, curve) in enumerate(curves.items()):
            colour = measured_colours[index % len(measured_colours)]
            ax.plot(
                curve.bpp, curve.psnr, "-o", color=colour, markersize=3, linewidth=1.6, label=codec
            )
            psnr_in_view += [q for b, q in zip(curve.bpp, curve.psnr, strict=True) if b <= 2]
        if refs is not None:
            for index, (label, ref) in enumerate(overlay_curves(published)):
                colour = published_colours[(3 * index) % len(published_colours)]
                ax.plot(
                    ref.bpp,
                    ref.psnr,
                    "--",
                    color=colour,
                    linewidth=1.0,
                    label=f"{label} ({refs.legend})",
                )
                psnr_in_view += [q for b, q in zip(ref.bpp, ref.psnr, strict=True) if b <= 2]
        if log_x:
            _log_rate_axis(ax, [b for c in curves.values() for b in c.bpp])
            psnr_in_view = [q for c in curves.values() for q in c.psnr]
        else:
            ax.set_xlim(0, 2)
        if psnr_in_view:
            ax.set_ylim(math.floor(min(psnr_in_view)) - 1, math.ceil(max(psnr_in_view)) + 1)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR-RGB (dB)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _log_rate_axis(ax: Any, bpp: Sequence[float]) -> None:
    """Log bpp axis labelled in plain decimals at 1-2-5 steps (matplotlib's minor labels
    collide on a narrow decade)."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    ax.set_xscale("log")
    if not bpp:
        return
    lo, hi = min(bpp), max(bpp)
    steps = [m * 10.0**e for e in range(-4, 2) for m in (1, 2, 5)]
    ax.xaxis.set_major_locator(FixedLocator([t for t in steps if lo / 2 <= t <= hi * 2]))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------- entry points


def make_report(
    results_dir: str | os.PathLike[str],
    reference_dir: str | os.PathLike[str] | None = None,
    anchor_codec: str = "webp",
) -> Path:
    """Write `<codec>.json`, `rd.png` and `report.md` into `results_dir`; return the report path.

    With several datasets in one folder, curves go to `<dataset>/<codec>.json` and plots to
    `rd-<dataset>.png` so that no two datasets overwrite each other.
    """
    folder = Path(results_dir)
    records = load_records(folder)
    if not records:
        raise click.ClickException(f"no records found in {folder / 'records.jsonl'}")
    all_curves = build_curves(records)
    grouped = group_records(records)
    several = len(all_curves) > 1
    ok = sum(r.ok for r in records)
    lines = [
        "# Rate-distortion report",
        "",
        f"Records: {len(records)} ({ok} ok, {len(records) - ok} failed).",
        "",
    ]
    for dataset, curves in all_curves.items():
        json_dir = folder / dataset if several else folder
        json_dir.mkdir(parents=True, exist_ok=True)
        for codec, curve in curves.items():
            (json_dir / f"{codec}.json").write_text(
                json.dumps(curve.to_compressai(), indent=1) + "\n", encoding="utf-8"
            )
        rows = grouped[dataset]
        if any(c.frames is not None for c in curves.values()):
            from nfcodec_eval.video_report import clip_section, clip_title

            plot_name = f"rd-{dataset.replace('/', '-')}.png" if several else "rd.png"
            _plot(folder / plot_name, clip_title(dataset, rows), curves, None, {}, log_x=True)
            lines += clip_section(dataset, curves, rows, plot_name)
            continue
        refs = reference_set(dataset, reference_dir)
        published = load_folder(refs.folder) if refs else {}
        plot_name = f"rd-{dataset}.png" if several else "rd.png"
        swept = max((c.num_images for c in curves.values()), default=0)
        full = _full_set_size(refs, swept)
        title = f"{dataset}: mean over {swept} images"
        if full is not None:
            title += f" (subset of {full})"
        _plot(folder / plot_name, title, curves, refs, published)
        lines += _dataset_section(dataset, curves, rows, refs, published, plot_name, anchor_codec)
    report = folder / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


@click.command("report")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--reference-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Published curves: a root of per-dataset folders or one folder of JSON files "
    "(default: ../shared/reference-rd or $NFCODEC_REFERENCE_RD).",
)
@click.option(
    "--anchor",
    default="webp",
    show_default=True,
    help="Measured codec of the sweep that the second BD-rate column compares against "
    "(e.g. 'nfcodec' to compare training presets).",
)
def report_command(results_dir: Path, reference_dir: Path | None, anchor: str) -> None:
    """Summarise a sweep: per-codec curves, BD-rates, harness check and RD plot."""
    path = make_report(results_dir, reference_dir, anchor)
    click.echo(f"wrote {path}")
