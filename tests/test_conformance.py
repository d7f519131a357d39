"""The committed conformance vectors decode to the pixels their manifest pins.

The raw-pixel hash (uint8, row-major H x W x C) is the normative check: it depends on the
decoder alone. The PNG-bytes hash also depends on Pillow's encoder and zlib, so it is compared
only when those versions match the ones the manifest was made with; otherwise the PNG is read
back and its pixels compared instead. Regenerate with scripts/make_conformance_vectors.py.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import pytest
from click.testing import CliRunner

import nfcodec
from nfcodec.cli import main
from nfcodec.fields.registry import field_class_for_kind, name_of
from nfcodec.io import read_image

VECTOR_DIR = Path(__file__).resolve().parents[1] / "bitstream" / "vectors"
MANIFEST = VECTOR_DIR / "MANIFEST.json"
MAX_VECTOR_BYTES = 2048


def load_manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def vector_entries() -> list[dict[str, Any]]:
    if not MANIFEST.is_file():
        return []
    return load_manifest()["vectors"]


ENTRIES = vector_entries()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_sha256(pixels: np.ndarray) -> str:
    return sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


def test_manifest_lists_every_vector() -> None:
    assert MANIFEST.is_file(), "run scripts/make_conformance_vectors.py"
    listed = {entry["file"] for entry in ENTRIES}
    on_disk = {path.name for path in VECTOR_DIR.glob("*.nfc")}
    assert listed == on_disk
    assert len(listed) >= 4


def test_vectors_cover_the_format() -> None:
    """Every field, permutation on and off, grey and RGB, and a 1x1 picture."""
    cases = [entry["exercises"] for entry in ENTRIES]
    assert {case["field"] for case in cases} == {"hashgrid", "diner", "loe", "siren"}
    assert {case["permute"] for case in cases} == {False, True}
    assert {case["channels"] for case in cases} == {1, 3}
    assert any(case["width"] == case["height"] == 1 for case in cases)
    backbones = {case["field_params"]["backbone"] for case in cases if case["field"] == "diner"}
    assert backbones == {0, 1}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_vector_decodes_to_pinned_pixels(entry: dict[str, Any], tmp_path: Path) -> None:
    data = (VECTOR_DIR / entry["file"]).read_bytes()
    assert len(data) <= MAX_VECTOR_BYTES
    assert sha256(data) == entry["sha256"], "vector file changed; its manifest entry did not"

    case = entry["exercises"]
    png = tmp_path / "decoded.png"
    pixels = nfcodec.decode(data, png)
    assert pixels.shape == (case["height"], case["width"], case["channels"])
    assert pixels.dtype == np.uint8
    assert raw_sha256(pixels) == entry["decoded_raw_sha256"]
    assert raw_sha256(nfcodec.decode(data)) == entry["decoded_raw_sha256"]

    assert np.array_equal(read_image(png), pixels)
    environment = load_manifest()["environment"]
    if (PIL.__version__, zlib.ZLIB_RUNTIME_VERSION) == (environment["pillow"], environment["zlib"]):
        assert sha256(png.read_bytes()) == entry["decoded_png_sha256"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_vector_header_matches_manifest(entry: dict[str, Any]) -> None:
    info = nfcodec.read_info(VECTOR_DIR / entry["file"])
    case = entry["exercises"]
    header = info.header
    assert (header.width, header.height, header.channels) == (
        case["width"], case["height"], case["channels"],
    )
    assert header.permute == case["permute"]
    assert header.seed == case["seed"]
    assert name_of(field_class_for_kind(header.field_kind)) == case["field"]
    assert header.params() == case["field_params"]
    assert {kind.name.lower(): size for kind, size in info.sections} == case["sections"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_info_command_on_vector(entry: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["info", str(VECTOR_DIR / entry["file"])])
    assert result.exit_code == 0, result.output
    case = entry["exercises"]
    assert case["field"] in result.stdout
    assert f"{case['width']} x {case['height']}" in result.stdout
    assert f"total:       {entry['bytes']} bytes" in result.stdout
