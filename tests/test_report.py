"""Report on a hand-made results folder whose BD-rates are known in advance."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from nfcodec_eval.reference import load_curve, reference_set
from nfcodec_eval.report import build_curves, make_report, report_command
from nfcodec_eval.schema import Record, make_job_id
from nfcodec_eval.store import RecordWriter, load_records

BPP = [0.2, 0.4, 0.8, 1.2, 1.6]
IMAGES = ("a.png", "b.png")


def _psnr(bpp: float) -> float:
    """A log-linear curve, so scaling every rate by k is a BD-rate of exactly (k - 1)."""
    return 32.0 + 5.0 * math.log(bpp)


def _record(
    codec: str, image: str, rate: float, bpp: float, psnr: float, ok: bool = True
) -> Record:
    return Record(
        job_id=make_job_id("kodak", image, codec, {}, rate),
        dataset="kodak",
        image=image,
        codec=codec,
        config={"quality": rate},
        rate=rate,
        status="ok" if ok else "failed",
        error="" if ok else "boom",
        width=8,
        height=8,
        num_bytes=int(bpp * 8),
        bpp=bpp if ok else 0.0,
        psnr=psnr if ok else None,
        encode_s=0.5,
        decode_s=0.25,
    )


def _write_records(folder: Path) -> None:
    """WebP on the reference curve, JPEG needing 1.5x its rate; one JPEG point fails on b.png."""
    with RecordWriter(folder) as writer:
        for codec, scale in (("webp", 1.0), ("jpeg", 1.5)):
            for rate, bpp in enumerate(BPP):
                for image, wobble in zip(IMAGES, (-1, 1), strict=True):
                    # per-image values straddle the mean so the averages are exact
                    writer.append(
                        _record(
                            codec,
                            image,
                            rate,
                            bpp * scale * (1 + 0.1 * wobble),
                            _psnr(bpp) + 0.5 * wobble,
                        )
                    )
        writer.append(_record("jpeg", "a.png", 9, 3.0, 40.0))
        writer.append(_record("jpeg", "b.png", 9, 0.0, 0.0, ok=False))


def _write_references(root: Path) -> Path:
    folder = root / "kodak"
    folder.mkdir(parents=True)
    curves = {
        "bpg_444_x265_ycbcr": [b * 0.5 for b in BPP],
        "jpeg": [b * 1.5 for b in BPP],
        "webp": BPP,
    }
    for stem, bpp in curves.items():
        psnr = [_psnr(b) for b in BPP]
        data = {
            "name": stem,
            "description": f"test {stem}",
            "results": {"bpp": bpp, "psnr-rgb": psnr},
        }
        (folder / f"{stem}.json").write_text(json.dumps(data))
    return folder


def test_curves_are_means_of_complete_rate_points(tmp_path: Path) -> None:
    _write_records(tmp_path)
    curves = build_curves(load_records(tmp_path))["kodak"]
    jpeg = curves["jpeg"]
    assert jpeg.rates == (0, 1, 2, 3, 4) and jpeg.dropped_rates == (9,)
    assert jpeg.bpp == pytest.approx([1.5 * b for b in BPP])
    assert jpeg.psnr == pytest.approx([_psnr(b) for b in BPP])
    assert jpeg.num_images == 2 and jpeg.mean_encode_s == pytest.approx(0.5)


def test_make_report_writes_json_markdown_and_plot(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _write_records(results)
    refs = _write_references(tmp_path / "refs")
    report = make_report(results, tmp_path / "refs")

    saved = load_curve(results / "jpeg.json")
    assert saved.bpp == pytest.approx([1.5 * b for b in BPP])
    assert "mean of per-image values" in saved.description
    assert (results / "webp.json").is_file()
    assert (results / "rd.png").stat().st_size > 1000

    text = report.read_text()
    assert "Images: 2." in text
    assert "| codec | points | images |" in text
    # jpeg needs 1.5x WebP's rate and 3x BPG's: +50% and +200%, on the shared PSNR range
    assert "| jpeg | 5 (1 dropped) | 2 | +200.00%" in text
    assert "+50.00%" in text
    assert "PCHIP" in text and "Harness check" in text
    assert "| jpeg | +0.00%" in text and "| webp | +0.00%" in text
    # published curves on the same scale: BPG half of WebP's bits, CompressAI JPEG 1.5x
    assert "| BPG 4:4:4 | 5 | anchor | -50.00%" in text
    assert "| JPEG (CompressAI) | 5 | +200.00%" in text
    assert "| WebP (CompressAI) | 5 | +100.00% (24.0–34.4 dB) | +0.00%" in text
    assert f"`{refs.parent.name}/{refs.name}`" in text and str(refs) not in text  # no machine paths
    # 2 images against a 24-image published set is flagged, titled as a subset, not judged
    assert "indicative only" in text
    assert "## kodak (subset: 2 of 24 images)" in text
    assert "not judged (subset)" in text and "FAIL" not in text and "| pass |" not in text


def test_report_command(tmp_path: Path) -> None:
    _write_records(tmp_path / "r")
    _write_references(tmp_path / "refs")
    outcome = CliRunner().invoke(
        report_command, [str(tmp_path / "r"), "--reference-dir", str(tmp_path / "refs")]
    )
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "r" / "report.md").is_file()


def test_anchor_option_compares_against_any_measured_codec(tmp_path: Path) -> None:
    _write_records(tmp_path / "r")
    _write_references(tmp_path / "refs")
    outcome = CliRunner().invoke(
        report_command,
        [str(tmp_path / "r"), "--reference-dir", str(tmp_path / "refs"), "--anchor", "jpeg"],
    )
    assert outcome.exit_code == 0, outcome.output
    text = (tmp_path / "r" / "report.md").read_text()
    assert "BD-rate vs jpeg (ours, measured)" in text
    assert "| jpeg | 5 (1 dropped) | 2 | +200.00%" in text and "| anchor |" in text
    # WebP needs 1/1.5 of JPEG's rate at equal PSNR: -33.33%
    assert "-33.33%" in text


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(report_command, [str(tmp_path)])
    assert outcome.exit_code != 0 and "no records" in outcome.output


def test_clic_sample_maps_to_pro_valid_only(tmp_path: Path) -> None:
    for name in ("clic2020-pro-valid", "clic2020-professional-test", "kodak"):
        (tmp_path / name).mkdir()
    chosen = reference_set("clic2020-sample", tmp_path)
    assert chosen is not None and chosen.folder.name == "clic2020-pro-valid"
    assert "41-image pro-valid set" in chosen.label
    test_split = reference_set("clic2020-test", tmp_path)
    assert test_split is not None and test_split.folder.name == "clic2020-professional-test"
    assert reference_set("my-photos", tmp_path) is None


def test_report_shows_how_rate_controlled_codecs_landed(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    landed = {0.5: (("a.png", 0.49), ("b.png", 0.53)), 0.25: (("a.png", 0.2), ("b.png", 0.25))}
    with RecordWriter(folder) as writer:
        for target, files in landed.items():
            for image, bpp in files:
                record = _record("nfc", image, target, bpp, _psnr(bpp))
                writer.append(replace(record, config={"target_bpp": target}))
        writer.append(_record("webp", "a.png", 50, 0.4, 30.0))  # no target: not in the table
    text = make_report(folder, tmp_path / "none-such").read_text()
    assert "### Rate control landing" in text
    # 0.25: -20% and 0%, mean 0.225, one file off; 0.5: -2% and +6%, mean 0.51, one off
    assert "| nfc | 0.25 | 2 | 0.225 | -20.0% | +0.0% | 1 |" in text
    assert "| nfc | 0.5 | 2 | 0.510 | -2.0% | +6.0% | 1 |" in text
    assert "| webp |" not in text.split("### Rate control landing")[1].split("\n\n")[1]


def test_no_landing_table_without_targets(tmp_path: Path) -> None:
    _write_records(tmp_path / "r")
    assert "Rate control landing" not in make_report(tmp_path / "r").read_text()


def test_subset_is_told_apart_from_the_full_set(tmp_path: Path) -> None:
    from nfcodec_eval.reference import ReferenceSet
    from nfcodec_eval.report import _full_set_size

    refs = ReferenceSet(tmp_path, "published", "published", 24)
    assert _full_set_size(refs, 2) == 24
    assert _full_set_size(refs, 24) is None
    assert _full_set_size(None, 2) is None
    assert _full_set_size(ReferenceSet(tmp_path, "x", "x", None), 2) is None
