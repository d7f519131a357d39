"""The report's section for one clip: BD-rates against x264 and nfcodec intra, rate points.

Clips are reported one by one (a curve per clip and frame count, see
`nfcodec_eval.report.curve_group`): two clips of different size and motion have curves too far
apart for a mean to say anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from nfcodec_eval.report import (
    BD_METHOD_NOTE,
    Anchor,
    MeasuredCurve,
    _landing_section,
    bd_table,
    measured_anchor,
)
from nfcodec_eval.schema import Record

VIDEO_ANCHOR = "x264"
INTRA_PREFIX = "nfcodec-intra"  # the intra-only reference, whichever preset was swept


def clip_title(key: str, rows: Sequence[Record]) -> str:
    """`<dataset>/<clip>-<N>f: W×H, N frames` from the clip's successful records."""
    ok = [r for r in rows if r.ok]
    if not ok:
        return key
    return f"{key}: {ok[0].width}×{ok[0].height}, {ok[0].frames} frames"


def clip_anchors(curves: dict[str, MeasuredCurve]) -> list[Anchor]:
    """x264 always (a missing sweep says so); nfcodec intra where some preset of it was run."""
    anchors = [measured_anchor(curves, VIDEO_ANCHOR, "BD-rate vs x264 (medium)")]
    anchors += [
        measured_anchor(curves, name, f"BD-rate vs {name}")
        for name in sorted(curves)
        if name.startswith(INTRA_PREFIX)
    ]
    return anchors


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def rate_point_rows(rows: Sequence[Record]) -> list[str]:
    """Every successful record of the clip: the measured numbers behind the curves."""
    lines = [
        "| codec | rate | bpp | PSNR-RGB (mean of frames) | PSNR-RGB (pooled MSE) | encode s "
        "| decode frames/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted((r for r in rows if r.ok), key=lambda r: (r.codec, r.bpp)):
        fps = (r.frames or 0) / r.decode_s if r.decode_s > 0 else None
        lines.append(
            f"| {r.codec} | {r.rate:g} | {r.bpp:.4f} | {_number(r.psnr, 2)} "
            f"| {_number(r.psnr_pooled, 2)} | {r.encode_s:.2f} | {_number(fps, 0)} |"
        )
    return lines


def clip_section(
    key: str, curves: dict[str, MeasuredCurve], rows: Sequence[Record], plot_name: str
) -> list[str]:
    """Markdown for one clip: BD-rate table, method, rate points, landing, failures, plot."""
    ok = [r for r in rows if r.ok]
    lines = [f"## {clip_title(key, rows)}", ""]
    if ok:
        first = ok[0]
        lines += [
            f"Clip `{first.image}` of dataset `{first.dataset}`. bpp = coded bits / "
            f"({first.width} × {first.height} × {first.frames} frames); PSNR-RGB = mean over "
            "frames of each frame's 8-bit RGB PSNR; pooled = PSNR of the MSE over all frames.",
            "",
        ]
    lines += bd_table(curves, clip_anchors(curves))
    lines += [
        "",
        f"{BD_METHOD_NOTE} Decode frames/s is the clip's frames over its decode time, averaged "
        "over rate points.",
        "",
        "### Rate points",
        "",
        *rate_point_rows(rows),
        "",
    ]
    lines += _landing_section(rows)
    failed = [r for r in rows if not r.ok]
    if failed:
        lines += ["### Failed jobs", ""]
        lines += [f"- {r.codec} rate {r.rate:g}: {r.error}" for r in failed]
        lines.append("")
    lines += [f"![rate-distortion]({plot_name})", ""]
    return lines
