"""Baseline adapters: real round trips on a synthetic picture and a Kodak crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nfcodec_eval.codecs import Codec, CodecUnavailable, codec_names, get_codec

KODAK = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kodak"

# (low-quality rate, high-quality rate) for each baseline; x265's CRF runs the other way.
SWEEP_ENDS = {
    "jpeg": (10.0, 90.0),
    "webp": (5.0, 90.0),
    "avif": (20.0, 85.0),
    "jpeg2000": (0.25, 2.0),
    "x265": (44.0, 20.0),
}
BASELINES = sorted(SWEEP_ENDS)


def _codec(name: str) -> Codec:
    try:
        return get_codec(name)
    except CodecUnavailable as exc:
        pytest.skip(str(exc))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _synthetic(height: int = 48, width: int = 64) -> np.ndarray:
    """Smooth colour ramps plus mild seeded noise: compressible but not trivial."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.stack([x / width * 200 + 20, y / height * 180 + 40, (x + y) % 64 * 3 + 30], -1)
    rgb += rng.normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _kodak_crop() -> np.ndarray:
    from PIL import Image

    path = KODAK / "kodim23.png"
    if not path.is_file():
        pytest.skip(f"Kodak not found at {KODAK}")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[200:328, 300:428]


def test_registry_lists_choices_on_unknown_name() -> None:
    ours = {
        "nfcodec", "nfcodec-fast", "nfcodec-slow", "nfcodec-loe", "nfcodec-siren",
        "nfcodec-loe-fast", "nfcodec-siren-fast",
    }
    assert set(BASELINES) | ours == set(codec_names())
    with pytest.raises(ValueError, match="jpeg2000"):
        get_codec("jpeg-xl")


@pytest.mark.parametrize("name", BASELINES)
def test_protocol_and_sweep_size(name: str) -> None:
    codec = _codec(name)
    assert isinstance(codec, Codec)
    assert codec.name == name and codec.uses_gpu is False
    assert 8 <= len(codec.rate_points()) <= 10
    assert all(isinstance(v, str) for v in codec.versions().values())


@pytest.mark.parametrize("name", BASELINES)
def test_round_trip_synthetic(name: str) -> None:
    codec = _codec(name)
    image = _synthetic()
    low, high = (codec.run(image, rate) for rate in SWEEP_ENDS[name])
    for run in (low, high):
        assert run.decoded.shape == image.shape and run.decoded.dtype == np.uint8
        assert run.num_bytes > 0 and run.encode_seconds >= 0 and run.decode_seconds >= 0
        assert run.config
    assert low.num_bytes < high.num_bytes
    assert _psnr(image, low.decoded) < _psnr(image, high.decoded)
    # the blue sawtooth's sharp edges cap 4:2:0 codecs near 30 dB on this tiny picture
    assert _psnr(image, high.decoded) > 27.0


@pytest.mark.parametrize("name", BASELINES)
def test_kodak_crop_rates_are_sensible(name: str) -> None:
    codec = _codec(name)
    image = _kodak_crop()
    pixels = image.shape[0] * image.shape[1]
    low, high = (codec.run(image, rate) for rate in SWEEP_ENDS[name])
    low_bpp, high_bpp = 8 * low.num_bytes / pixels, 8 * high.num_bytes / pixels
    assert 0.02 < low_bpp < high_bpp < 8.0
    assert 20.0 < _psnr(image, low.decoded) < _psnr(image, high.decoded)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("shape", [(40, 56), (40, 56, 1)])
def test_grayscale_keeps_its_layout(name: str, shape: tuple[int, ...]) -> None:
    codec = _codec(name)
    image = _synthetic(40, 56)[..., 1].reshape(shape)
    run = codec.run(image, SWEEP_ENDS[name][1])
    assert run.decoded.shape == image.shape
    assert _psnr(image, run.decoded) > 30.0


def test_rejects_unsupported_input() -> None:
    codec = get_codec("jpeg")
    with pytest.raises(ValueError, match="uint8"):
        codec.run(np.zeros((8, 8, 3), dtype=np.float32), 50)
    with pytest.raises(ValueError, match="shape"):
        codec.run(np.zeros((8, 8, 4), dtype=np.uint8), 50)


def test_x265_records_pixel_format_and_excludes_container() -> None:
    run = _codec("x265").run(_synthetic(), 30)
    assert run.config["pix_fmt"] in ("yuv444p", "yuv420p")
    assert "no container" in str(run.config["bytes"])


def test_nfcodec_presets_are_separate_codecs() -> None:
    default, slow = get_codec("nfcodec"), get_codec("nfcodec-slow")
    assert (default.name, default.preset) == ("nfcodec", "medium")  # type: ignore[attr-defined]
    assert (slow.name, slow.preset) == ("nfcodec-slow", "slow")  # type: ignore[attr-defined]


def test_nfcodec_adapter_runs_and_records_its_preset() -> None:
    """A tiny picture and the fast preset keep it quick."""
    codec = get_codec("nfcodec-fast")
    image = _synthetic(16, 16)
    run = codec.run(image, 1.0)
    assert run.decoded.shape == image.shape and run.num_bytes > 0
    assert run.config == {"target_bpp": 1.0, "preset": "fast"}


def test_weight_only_networks_are_sized_to_the_rate() -> None:
    """A higher rate buys a wider network, within the weight budget of a byte a weight."""
    from nfcodec_eval.codecs import sized_network

    from nfcodec.fields.registry import field_class

    for field in ("loe", "siren"):
        low = sized_network(field, 0.25, 768 * 512, 3)["hidden_width"]
        high = sized_network(field, 1.0, 768 * 512, 3)["hidden_width"]
        assert 1 <= low < high <= 256
        config = field_class(field).config_type(hidden_width=high)  # type: ignore[call-arg]
        assert sum(config.network(3).tensor_sizes()) * 8 <= 1.0 * 768 * 512


def test_weight_only_adapter_records_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    from nfcodec.fit.presets import PRESETS, Preset

    monkeypatch.setitem(PRESETS, "medium", Preset("medium", steps=10))
    codec = get_codec("nfcodec-siren")
    run = codec.run(_synthetic(16, 16), 4.0)
    assert run.decoded.shape == (16, 16, 3) and run.num_bytes > 0
    assert run.config["field"] == "siren" and int(run.config["hidden_width"]) >= 1
