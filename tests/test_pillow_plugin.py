"""The Pillow plugin, tested the way Pillow tests its own formats: open, load, truncated file,
wrong magic, decompression bomb, save."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import nfcodec
from tests.conftest import TEST_PRESET, gradient_noise, register_test_presets

VECTORS = Path(__file__).resolve().parents[1] / "bitstream" / "vectors"
RGB = VECTORS / "v2_hashgrid_rgb_24x16.nfc"
GREY = VECTORS / "v2_hashgrid_gray_16x12_hashed.nfc"


def test_open_reads_size_and_mode_from_the_header() -> None:
    with Image.open(RGB) as im:
        assert (im.format, im.mode, im.size) == ("NFC", "RGB", (24, 16))
        assert im.info["nfc_version"] == "2.0"
    with Image.open(GREY) as im:
        assert (im.mode, im.size) == ("L", (16, 12))


def test_load_decodes_the_same_pixels_as_the_decoder() -> None:
    for path in (RGB, GREY):
        with Image.open(path) as im:
            pixels = np.asarray(im)
        expected = nfcodec.decode(path)
        assert np.array_equal(pixels, expected.reshape(pixels.shape))


def test_open_does_not_decode(tmp_path: Path) -> None:
    """A file cut after its header opens (size known) and fails only when loaded."""
    data = RGB.read_bytes()
    truncated = tmp_path / "cut.nfc"
    truncated.write_bytes(data[: len(data) - 40])
    with Image.open(truncated) as im:
        assert im.size == (24, 16)
        with pytest.raises(OSError, match="truncated|CRC"):
            im.load()


def test_file_cut_inside_its_header_is_not_identified(tmp_path: Path) -> None:
    cut = tmp_path / "cut.nfc"
    cut.write_bytes(RGB.read_bytes()[:9])
    with pytest.raises(UnidentifiedImageError):
        Image.open(cut)


def test_wrong_magic_is_not_identified(tmp_path: Path) -> None:
    data = bytearray(RGB.read_bytes())
    data[1] ^= 0xFF
    wrong = tmp_path / "wrong.nfc"
    wrong.write_bytes(bytes(data))
    with pytest.raises(UnidentifiedImageError):
        Image.open(wrong)


def test_max_image_pixels_guards_against_bombs(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = 24 * 16
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels // 3)  # more than twice the limit
    with pytest.raises(Image.DecompressionBombError):
        Image.open(RGB)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels - 1)  # just over: a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Image.open(RGB).close()
    assert any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Image.open(RGB).close()


def test_save_encodes_with_the_given_options(tmp_path: Path) -> None:
    register_test_presets()
    picture = Image.fromarray(gradient_noise(12, 16, 3))
    out = tmp_path / "saved.nfc"
    picture.save(out, preset=TEST_PRESET, device="cpu", target_bpp=4.0)
    assert out.read_bytes()[:4] == b"\x89NFC"
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGB", (16, 12))
        assert np.asarray(im).shape == (12, 16, 3)
    with pytest.raises(OSError, match="mode"):
        picture.convert("CMYK").save(tmp_path / "cmyk.nfc")
    assert not (tmp_path / "cmyk.nfc").exists(), "a refused save left a file behind"


def test_load_follows_max_image_pixels_not_the_decoder_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow's limit (twice MAX_IMAGE_PIXELS, where Pillow itself refuses) is the budget the
    decode gets, not the decoder's own default; None lifts it as it does in Pillow."""
    from nfcodec import decoder

    seen: list[int | None] = []
    real = decoder.decode_bytes

    def recording(data: bytes, *, max_pixels: int | None = None) -> np.ndarray:
        seen.append(max_pixels)
        return real(data, max_pixels=max_pixels)

    monkeypatch.setattr(decoder, "decode_bytes", recording)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**9)
    with Image.open(RGB) as im:
        im.load()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(RGB) as im:
        im.load()
    assert seen == [2 * 10**9, None]
