"""Hand-made vectors: the NaN/infinity vector and the negative vectors with their error classes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import nfcodec
import nfcodec.decoder as decoder
import nfcodec.errors as errors
from nfcodec.pixels import samples_to_uint8
from tests.script_loader import load_script

CRAFTED = Path(__file__).resolve().parents[1] / "bitstream" / "vectors" / "crafted"
MANIFEST = json.loads((CRAFTED / "MANIFEST.json").read_text())
ENTRIES = {entry["file"]: entry for entry in MANIFEST["vectors"]}
NEGATIVE = [name for name, entry in ENTRIES.items() if entry["expect"] != "decodes"]


def test_manifest_lists_every_file() -> None:
    assert set(ENTRIES) == {p.name for p in CRAFTED.glob("*.nfc")}
    assert len(NEGATIVE) >= 25


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_committed_bytes_match_the_manifest(name: str) -> None:
    data = (CRAFTED / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ENTRIES[name]["sha256"]


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_raises_its_class_exactly(name: str) -> None:
    expected = getattr(errors, ENTRIES[name]["expect"])
    for source in (CRAFTED / name, (CRAFTED / name).read_bytes()):
        with pytest.raises(errors.NfcError) as caught:
            nfcodec.decode(source)
        assert type(caught.value) is expected, f"{name}: {caught.value!r}"
        assert "\n" not in str(caught.value)


def test_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = load_script("make_crafted_vectors")
    assert script.main(["--out", str(tmp_path)]) == 0
    for name in ENTRIES:
        assert (tmp_path / name).read_bytes() == (CRAFTED / name).read_bytes(), name
    assert json.loads((tmp_path / "MANIFEST.json").read_text()) == MANIFEST


def test_samples_to_uint8_defines_nan_and_infinities() -> None:
    values = np.array([np.nan, np.inf, -np.inf, -0.5, 0.5, 1.5, 2 / 255 + 0.5 / 255],
                      dtype=np.float32)
    assert samples_to_uint8(values).tolist() == [0, 255, 0, 0, 128, 255, 2]


def test_nan_vector_decodes_to_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The synthesis really produces NaN, +inf and -inf, and the pixels follow SPEC section 11."""
    script = load_script("make_crafted_vectors")
    seen: list[np.ndarray] = []

    def recording(values: np.ndarray) -> np.ndarray:
        seen.append(np.array(values, dtype=np.float32))
        return samples_to_uint8(values)

    monkeypatch.setattr(decoder, "samples_to_uint8", recording)
    pixels = nfcodec.decode(CRAFTED / "nan_inf_diner_12x8.nfc")
    raw = np.concatenate(seen)
    assert np.isnan(raw[:, 0]).any() and np.isposinf(raw[:, 1]).any()
    assert np.isneginf(raw[:, 2]).any() and np.isfinite(raw).any()
    expected = script.nan_inf_expected(script.nan_inf_latents())
    np.testing.assert_array_equal(pixels, expected)
    digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
    assert digest == ENTRIES["nan_inf_diner_12x8.nfc"]["decoded_raw_sha256"]
