"""The codec API end to end: encode_image -> bytes -> decode, on tiny pictures.

Every encode uses the 20-step 'test' preset from conftest on CPU, so these check plumbing,
exactness of the reported numbers and robustness, not compression quality (one test does
check that a longer fit reaches a sane PSNR).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import nfcodec
from nfcodec.codec import EncodeResult
from nfcodec.container import FieldKind, Header, Section, SectionKind, read_nfc, write_nfc
from nfcodec.errors import FormatError, InputError, LimitExceeded, NfcError
from nfcodec.metrics import psnr
from tests.conftest import JOINT_PRESET, QUALITY_PRESET, TEST_PRESET

FIELDS = ("hashgrid", "diner", "loe", "siren")
WEIGHT_ONLY = ("loe", "siren")  # their files hold the WEIGHTS section alone


def sections_of(field: str) -> list[SectionKind]:
    return [SectionKind.WEIGHTS] if field in WEIGHT_ONLY else list(SectionKind)


FIELD_SECTIONS = [(field, kind) for field in FIELDS for kind in sections_of(field)]
FIELD_SECTION_IDS = [f"{field}-{kind.name}" for field, kind in FIELD_SECTIONS]


def encode(image: np.ndarray, output: Path | None = None, **options: object) -> EncodeResult:
    """encode_image with the test defaults (short preset, CPU)."""
    options.setdefault("preset", TEST_PRESET)
    options.setdefault("device", "cpu")
    return nfcodec.encode_image(image, output, **options)


def check_round_trip(image: np.ndarray, **options: object) -> EncodeResult:
    """Encode, decode, and check everything EncodeResult claims against the bytes."""
    result = encode(image, **options)
    height, width, channels = image.shape
    decoded = nfcodec.decode(result.data)
    assert decoded.shape == image.shape
    assert decoded.dtype == np.uint8
    assert (result.width, result.height, result.channels) == (width, height, channels)
    assert result.num_bytes == len(result.data)
    assert result.bpp == len(result.data) * 8 / (width * height)
    assert result.psnr == psnr(image, decoded)
    assert np.array_equal(nfcodec.decode(result.data), decoded), "decode is not repeatable"
    info = nfcodec.read_info(result.data)
    header = info.header
    assert (header.width, header.height, header.channels) == (width, height, channels)
    assert info.header.permute == bool(options.get("permute", False))
    assert info.total_bytes == len(result.data)
    return result


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("permute", [False, True], ids=["plain", "permute"])
@pytest.mark.parametrize("field", FIELDS)
def test_round_trip_rgb(field: str, permute: bool, rgb_image: np.ndarray) -> None:
    result = check_round_trip(rgb_image, field=field, permute=permute, seed=3)
    assert result.field == field
    assert nfcodec.read_info(result.data).header.seed == 3


@pytest.mark.parametrize("permute", [False, True], ids=["plain", "permute"])
@pytest.mark.parametrize("field", FIELDS)
def test_round_trip_grayscale(field: str, permute: bool, gray_image: np.ndarray) -> None:
    check_round_trip(gray_image, field=field, permute=permute)


def test_two_dimensional_array_is_grayscale(gray_image: np.ndarray) -> None:
    result = encode(gray_image[:, :, 0], field="diner")
    assert nfcodec.decode(result.data).shape == gray_image.shape


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("field", FIELDS)
def test_single_pixel(field: str, channels: int, make_image: Callable[..., np.ndarray]) -> None:
    check_round_trip(make_image(1, 1, channels), field=field, permute=True)


@pytest.mark.parametrize("shape", [(1, 9, 3), (7, 1, 1)], ids=["one-row", "one-column"])
def test_degenerate_strips(
    shape: tuple[int, int, int], make_image: Callable[..., np.ndarray]
) -> None:
    check_round_trip(make_image(*shape), field="hashgrid")


def test_siren_backbone(rgb_image: np.ndarray) -> None:
    result = check_round_trip(rgb_image, field="diner", field_options={"backbone": 1})
    assert nfcodec.read_info(result.data).header.params()["backbone"] == 1


@pytest.mark.parametrize("field", FIELDS)
def test_kodak_crop_round_trip(field: str, kodak_crop: np.ndarray) -> None:
    check_round_trip(kodak_crop, field=field, permute=field == "diner")


def test_kodak_crop_reaches_sane_quality(kodak_crop: np.ndarray) -> None:
    """150 steps on a 32x24 crop: a working fit is far above the ~12 dB of a flat guess."""
    result = check_round_trip(kodak_crop, field="hashgrid", preset=QUALITY_PRESET)
    assert result.psnr > 25.0


def test_joint_rate_training_reaches_sane_quality_and_is_deterministic(
    kodak_crop: np.ndarray,
) -> None:
    """Soft rounding + the coded model as the rate term (the slow preset's trainer)."""
    result = check_round_trip(kodak_crop, field="hashgrid", preset=JOINT_PRESET)
    assert result.psnr > 25.0
    assert encode(kodak_crop, field="hashgrid", preset=JOINT_PRESET).data == result.data


def test_output_path_gets_the_same_bytes(tmp_path: Path, rgb_image: np.ndarray) -> None:
    out = tmp_path / "x.nfc"
    result = encode(rgb_image, out, field="diner")
    assert out.read_bytes() == result.data
    png = tmp_path / "x.png"
    decoded = nfcodec.decode(out, png)
    from nfcodec.io import read_image

    assert np.array_equal(read_image(png), decoded)


# ---------------------------------------------------------------------------- determinism, rate


@pytest.mark.parametrize("permute", [False, True], ids=["plain", "permute"])
@pytest.mark.parametrize("field", FIELDS)
def test_encode_is_deterministic(field: str, permute: bool, rgb_image: np.ndarray) -> None:
    first = encode(rgb_image, field=field, permute=permute, seed=7)
    second = encode(rgb_image, field=field, permute=permute, seed=7)
    assert first.data == second.data


def test_seed_changes_the_permutation(rgb_image: np.ndarray) -> None:
    a = encode(rgb_image, field="diner", permute=True, seed=1)
    b = encode(rgb_image, field="diner", permute=True, seed=2)
    assert a.data != b.data


@pytest.mark.parametrize("field", FIELDS)
def test_higher_lambda_gives_fewer_bytes(field: str, rgb_image: np.ndarray) -> None:
    low = encode(rgb_image, field=field, lmbda=1e-4)
    high = encode(rgb_image, field=field, lmbda=1.0)
    assert high.num_bytes < low.num_bytes
    assert high.lmbda > low.lmbda


# ---------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "options",
    [
        {"field": "nope"},
        {"preset": "nope"},
        {"lmbda": 0.0},
        {"lmbda": 50.0},
        {"target_bpp": 0.0},
        {"seed": -1},
        {"seed": 2**64},
        {"device": "tpu"},
        {"field_options": {"no_such_param": 1}},
        {"field_options": {"hidden_layers": 99}},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_bad_options_raise_input_error(options: dict[str, object], rgb_image: np.ndarray) -> None:
    with pytest.raises(InputError):
        encode(rgb_image, **options)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4, 3), dtype=np.float32),
        np.zeros((4, 4, 2), dtype=np.uint8),
        np.zeros((4, 4, 4), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
        np.zeros((4,), dtype=np.uint8),
    ],
    ids=["float", "two-channels", "rgba", "empty", "1d"],
)
def test_bad_arrays_raise_input_error(array: np.ndarray) -> None:
    with pytest.raises(InputError):
        encode(array)


def test_decode_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        nfcodec.decode(tmp_path / "absent.nfc")
    with pytest.raises(InputError):
        nfcodec.decode(tmp_path)


# ---------------------------------------------------------------------------- damaged payloads


@pytest.fixture(scope="module")
def encoded_files() -> dict[str, bytes]:
    """One small file per field, shared by the damage tests."""
    from tests.conftest import gradient_noise, register_test_presets

    register_test_presets()
    image = gradient_noise(12, 16, 3)
    return {field: encode(image, field=field).data for field in FIELDS}


def reframe(data: bytes, kind: SectionKind, payload: bytes) -> bytes:
    """Replace one section's payload and re-frame the file with valid CRCs."""
    nfc = read_nfc(data)
    sections = [Section(s.kind, payload if s.kind == kind else s.payload) for s in nfc.sections]
    return write_nfc(nfc.header, sections)


def payload_variants(payload: bytes) -> dict[str, bytes]:
    """Damage that must always be detected: the stream no longer has its declared length."""
    return {
        "empty": b"",
        "first-byte": payload[:1],
        "half": payload[: len(payload) // 2],
        "minus-one": payload[:-1],
        "plus-zero": payload + b"\x00",
        "plus-many": payload + bytes(range(64)),
    }


@pytest.mark.parametrize(("field", "kind"), FIELD_SECTIONS, ids=FIELD_SECTION_IDS)
def test_resized_payload_raises_format_error(
    field: str, kind: SectionKind, encoded_files: dict[str, bytes]
) -> None:
    data = encoded_files[field]
    for name, payload in payload_variants(read_nfc(data).section(kind)).items():
        with pytest.raises(FormatError):
            nfcodec.decode(reframe(data, kind, payload))
        assert name  # keeps the variant name in the traceback on failure


@pytest.mark.parametrize(("field", "kind"), FIELD_SECTIONS, ids=FIELD_SECTION_IDS)
def test_flipped_payload_bytes_never_escape_as_other_errors(
    field: str, kind: SectionKind, encoded_files: dict[str, bytes]
) -> None:
    """A damaged byte gives a valid-shaped image or a FormatError, never another exception."""
    data = encoded_files[field]
    header = read_nfc(data).header
    payload = read_nfc(data).section(kind)
    indices = sorted(set(np.linspace(0, len(payload) - 1, 12).astype(int)))
    for index in indices:
        for mask in (0x01, 0xFF):
            damaged = payload[:index] + bytes([payload[index] ^ mask]) + payload[index + 1 :]
            try:
                image = nfcodec.decode(reframe(data, kind, damaged))
            except FormatError:
                continue
            assert image.shape == (header.height, header.width, header.channels)
            assert image.dtype == np.uint8


@pytest.mark.parametrize("field", FIELDS)
def test_missing_section_raises_format_error(field: str, encoded_files: dict[str, bytes]) -> None:
    nfc = read_nfc(encoded_files[field])
    for kind in sections_of(field):
        sections = [s for s in nfc.sections if s.kind != kind]
        with pytest.raises(FormatError):
            nfcodec.decode(write_nfc(nfc.header, sections))


def test_sections_in_any_order(encoded_files: dict[str, bytes]) -> None:
    data = encoded_files["hashgrid"]
    nfc = read_nfc(data)
    swapped = write_nfc(nfc.header, list(reversed(nfc.sections)))
    assert swapped != data
    assert np.array_equal(nfcodec.decode(swapped), nfcodec.decode(data))


def test_header_of_other_field_raises_format_error(encoded_files: dict[str, bytes]) -> None:
    """A hashgrid stream under a diner header (valid CRCs) is refused, not mis-rendered."""
    hashgrid = read_nfc(encoded_files["hashgrid"])
    diner = read_nfc(encoded_files["diner"])
    mixed = write_nfc(diner.header, hashgrid.sections)
    with pytest.raises(FormatError):
        nfcodec.decode(mixed)


# ---------------------------------------------------------------------------- hostile headers


def tiny_payload_file(header: Header) -> bytes:
    sections = [
        Section(SectionKind.LATENTS, b"\x00" * 8),
        Section(SectionKind.WEIGHTS, b"\x00" * 8),
    ]
    return write_nfc(header, sections)


ABSURD_HEADERS = {
    "hashgrid-max-levels-1x1": Header(
        width=1, height=1, channels=3, permute=False, seed=0, field_kind=FieldKind.HASHGRID,
        field_params=(24, 8, 24, 1, 16384, 256, 8, 2, 1, 24),
    ),
    "hashgrid-max-everything-1x1": Header(
        width=1, height=1, channels=3, permute=True, seed=2**64 - 1,
        field_kind=FieldKind.HASHGRID, field_params=(24, 8, 24, 16384, 16384, 256, 8, 0, 1, 24),
    ),
    "hashgrid-max-levels-max-image": Header(
        width=16384, height=4096, channels=3, permute=False, seed=0,
        field_kind=FieldKind.HASHGRID, field_params=(24, 8, 24, 1, 16384, 256, 8, 2, 1, 24),
    ),
    "hashgrid-coarse-above-fine": Header(
        width=8, height=8, channels=1, permute=False, seed=0, field_kind=FieldKind.HASHGRID,
        field_params=(4, 2, 10, 64, 8, 16, 1, 0, 0, 0),
    ),
    "hashgrid-more-cubic-levels-than-levels": Header(
        width=8, height=8, channels=1, permute=False, seed=0, field_kind=FieldKind.HASHGRID,
        field_params=(4, 2, 10, 1, 8, 16, 1, 0, 0, 5),
    ),
    "diner-widest-1x1": Header(
        width=1, height=1, channels=3, permute=False, seed=0, field_kind=FieldKind.DINER,
        field_params=(3, 1, 256, 8, 1000),
    ),
}


@pytest.mark.parametrize("name", list(ABSURD_HEADERS))
def test_absurd_header_refused_fast(name: str) -> None:
    data = tiny_payload_file(ABSURD_HEADERS[name])
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises((FormatError, LimitExceeded)):  # the work budget may refuse first
            nfcodec.decode(data)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0, f"refusal took {elapsed:.2f} s"
    assert peak < 64 << 20, f"refusal allocated {peak / 2**20:.0f} MiB (Python heap)"


PEAK_GROWTH_SCRIPT = """
import resource, sys
import nfcodec
data = sys.stdin.buffer.read()
import torch  # import cost is not what is measured
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    nfcodec.decode(data)
except nfcodec.errors.FormatError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_big_image_with_empty_payload_refused_before_allocating() -> None:
    """A 59-byte file declaring an 8192x4096 DINER image must be refused without ~0.4 GB.

    Torch memory is invisible to tracemalloc, so a fresh interpreter reports its peak RSS
    growth across the decode call.
    """
    header = Header(
        width=8192, height=4096, channels=3, permute=False, seed=0, field_kind=FieldKind.DINER,
        field_params=(3, 0, 16, 1, 30),
    )
    data = tiny_payload_file(header)
    run = subprocess.run(
        [sys.executable, "-c", PEAK_GROWTH_SCRIPT], input=data, capture_output=True, timeout=120,
        env={**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr.decode()
    growth_mib = int(run.stdout.decode().split()[-1]) / 1024
    assert growth_mib < 64, f"refusing a {len(data)}-byte file grew the RSS by {growth_mib:.0f} MiB"


def test_every_decode_failure_is_an_nfc_error(encoded_files: dict[str, bytes]) -> None:
    """Truncating the whole file anywhere gives an NfcError (the CLI relies on this)."""
    data = encoded_files["diner"]
    for end in range(0, len(data), 7):
        with pytest.raises(NfcError):
            nfcodec.decode(data[:end])


def test_network_steps_spend_the_budget_left_under_the_target() -> None:
    import torch

    from nfcodec.codec import _quantise_network
    from nfcodec.fit.weights import tensor_bits

    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(64, 16) * 0.3)
    original = param.detach().clone()

    def mse(_changed: int = 0) -> float:
        return float(((param.detach() - original) ** 2).mean())

    def container(symbols: list[np.ndarray], exponents: list[int]) -> bytes:
        return bytes(int(sum(tensor_bits(s) for s in symbols) / 8))

    coarse = _quantise_network([param], mse, 1.0, 1_000_000, container, None)
    coarse_error = mse()
    with torch.no_grad():
        param.copy_(original)
    fine = _quantise_network([param], mse, 1.0, 1_000_000, container, 4.0 * len(coarse))
    # finer steps: more bytes but within the budget, and the model holds what the file decodes to
    assert len(coarse) < len(fine) <= 4 * len(coarse)
    assert mse() < coarse_error
    with torch.no_grad():
        param.copy_(original)
    tight = _quantise_network([param], mse, 1.0, 1_000_000, container, float(len(coarse)))
    assert len(tight) == len(coarse)
