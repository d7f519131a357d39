"""Published rate-distortion curves (CompressAI JSON format) to compare our sweeps against.

A curve file looks like ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...]}}``.
The same codec scores differently on different image sets, so each dataset we sweep maps to
exactly one folder of published curves, and the label of that folder travels into plot legends
and tables. In particular our ``clic2020-sample`` folder holds one image of the CLIC 2020
professional *validation* split, so it is compared with the 41-image validation curves and
never with the professional-test ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ReferenceCurve",
    "ReferenceSet",
    "default_reference_root",
    "load_curve",
    "load_folder",
    "reference_set",
    "overlay_curves",
    "bpg_anchor",
]

ENV_ROOT = "NFCODEC_REFERENCE_RD"


@dataclass(frozen=True)
class ReferenceCurve:
    """One published curve; `key` is the file name without `.json`."""

    key: str
    name: str
    description: str
    bpp: tuple[float, ...]
    psnr: tuple[float, ...]


@dataclass(frozen=True)
class ReferenceSet:
    """The folder of published curves that matches one of our datasets."""

    folder: Path
    label: str
    """For tables, e.g. 'published, 41-image pro-valid set'."""
    legend: str
    """Short suffix for plot legends, e.g. 'published, CLIC20 pro-valid'."""
    num_images: int | None = None
    """Images the published averages cover, when known (to flag partial comparisons)."""


@dataclass(frozen=True)
class _Mapping:
    subfolder: str
    label: str
    legend: str
    num_images: int | None = None


_KODAK = _Mapping("kodak", "published, 24-image Kodak set", "published, Kodak", 24)
_PRO_VALID = _Mapping(
    "clic2020-pro-valid", "published, 41-image pro-valid set", "published, CLIC20 pro-valid", 41
)
_PRO_TEST = _Mapping(
    "clic2020-professional-test",
    "published, CLIC 2020 professional test set",
    "published, CLIC20 pro-test",
)

_DATASETS: dict[str, _Mapping] = {
    "kodak": _KODAK,
    "clic2020-sample": _PRO_VALID,
    "clic2020-valid": _PRO_VALID,
    "clic2020-pro-valid": _PRO_VALID,
    "clic2020-professional-valid": _PRO_VALID,
    "clic2020-test": _PRO_TEST,
    "clic2020-professional-test": _PRO_TEST,
}

# Curves worth drawing beside ours: (legend name, candidate file stems in order of preference).
# The first stem present in the folder wins, so one method is never drawn twice.
_OVERLAY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("VTM", ("vtm", "c3-baselines-vtm")),
    ("BPG 4:4:4", ("bpg_444_x265_ycbcr", "c3-baselines-bpg")),
    ("C3", ("c3-baselines-c3",)),
    ("Cool-chic 5.0", ("coolchic-v5.0",)),
    ("Cool-chic (C3 baselines)", ("c3-baselines-cool-chic", "c3-baselines-cool-chicv2")),
    ("COIN", ("c3-baselines-coin",)),
    ("COIN++", ("c3-baselines-coinplusplus",)),
    ("Strümpler et al.", ("c3-baselines-spy",)),
    ("JPEG (CompressAI)", ("jpeg",)),
    ("WebP (CompressAI)", ("webp",)),
)

# BPG 4:4:4 anchor for BD-rates: CompressAI's file on Kodak/pro-test, C3's on pro-valid.
_BPG_STEMS = ("bpg_444_x265_ycbcr", "c3-baselines-bpg")


def default_reference_root() -> Path:
    """`$NFCODEC_REFERENCE_RD`, else the shared folder beside the project checkout."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "reference-rd"


def load_curve(path: str | os.PathLike[str]) -> ReferenceCurve:
    """Read one CompressAI-format JSON file, checking the arrays line up."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        results = data["results"]
        bpp = tuple(float(v) for v in results["bpp"])
        psnr = tuple(float(v) for v in results["psnr-rgb"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a CompressAI results file (missing {exc})") from None
    if len(bpp) != len(psnr) or not bpp:
        raise ValueError(f"{path}: 'bpp' and 'psnr-rgb' must be non-empty and equally long")
    return ReferenceCurve(
        key=path.stem,
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        bpp=bpp,
        psnr=psnr,
    )


def load_folder(folder: str | os.PathLike[str]) -> dict[str, ReferenceCurve]:
    """Every curve file in `folder`, keyed by file stem (any folder of such files works)."""
    return {p.stem: load_curve(p) for p in sorted(Path(folder).glob("*.json"))}


def reference_set(dataset: str, root: str | os.PathLike[str] | None = None) -> ReferenceSet | None:
    """Published curves matching `dataset`, or None when we know none or the folder is absent.

    `root` may be a folder of per-dataset subfolders (like shared/reference-rd) or a folder
    that directly holds curve files; the latter is used as is, labelled by its name.
    """
    root_path = Path(root) if root is not None else default_reference_root()
    if any(root_path.glob("*.json")):
        name = root_path.name
        return ReferenceSet(root_path, f"published, {name}", f"published, {name}")
    mapping = _DATASETS.get(dataset)
    if mapping is None:
        return None
    folder = root_path / mapping.subfolder
    if not folder.is_dir():
        return None
    return ReferenceSet(folder, mapping.label, mapping.legend, mapping.num_images)


def overlay_curves(curves: dict[str, ReferenceCurve]) -> list[tuple[str, ReferenceCurve]]:
    """The chosen published curves present in `curves`, as (legend name, curve)."""
    chosen: list[tuple[str, ReferenceCurve]] = []
    for label, stems in _OVERLAY:
        for stem in stems:
            if stem in curves:
                chosen.append((label, curves[stem]))
                break
    return chosen


def bpg_anchor(curves: dict[str, ReferenceCurve]) -> ReferenceCurve | None:
    """The BPG 4:4:4 curve BD-rates are quoted against, if the folder has one."""
    for stem in _BPG_STEMS:
        if stem in curves:
            return curves[stem]
    return None
