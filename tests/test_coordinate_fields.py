"""The weight-only fields: LoE (position-dependent weight tiles) and the coordinate MLP / SIREN.

Checks the shared position arithmetic, the torch network against a per-pixel reading of the
LoE supplement's eq. (7)-(8), the torch and torch-free decoders against each other, and the
header and section rules of SPEC section 11 ("Coordinate fields").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nfcodec
from nfcodec.container import FieldKind, Header, Section, SectionKind, read_nfc, write_nfc
from nfcodec.container.header import ByteReader, decode_header_fields, encode_header_fields
from nfcodec.container.spec import FIELD_PARAMS, TileLayout, TileSelection
from nfcodec.errors import CorruptStream, LimitExceeded, UnknownComponent
from nfcodec.fields.config import CoordMlpConfig, LoeConfig
from nfcodec.fields.coordinate import CoordMlpField
from nfcodec.fields.loe import LoeField
from nfcodec.fields.positional import positional_encoding, tile_scales, tile_taps
from nfcodec.limits import check_decode_budget, macs_per_pixel
from nfcodec.synthesis import synthesize, synthesize_tiled
from tests.conftest import TEST_PRESET, gradient_noise

LOE_CASES = {
    "nearest-coarse-to-fine": {"tile": 3, "coarsest_log2": 0},
    "nearest-fine-to-coarse": {"layout": int(TileLayout.FINE_TO_COARSE)},
    "bilinear": {"selection": int(TileSelection.BILINEAR), "tile": 2},
}


def small_loe(**overrides: int) -> LoeConfig:
    values = {"pe_octaves": 2, "hidden_width": 8, "hidden_layers": 3, "tiled_layers": 3}
    values.update(overrides)
    return LoeConfig(**values)


# ------------------------------------------------------------------------ position arithmetic


def test_positional_encoding_values() -> None:
    """Pixel (i, j) of an image with longer side S sits at ((2j+1-S)/S, (2i+1-S)/S)."""
    out = positional_encoding(np.array([0, 5]), height=2, width=4, octaves=2)
    assert out.shape == (2, 10) and out.dtype == np.float32
    u, v = -0.75, -0.75  # pixel 0
    assert out[0, :2].tolist() == [u, v]
    assert out[1, :2].tolist() == [-0.25, -0.25]  # pixel 5 = row 1, column 1
    for k in range(2):
        a = (2.0**k) * math.pi * u
        expected = [math.sin(a), math.sin(a), math.cos(a), math.cos(a)]
        assert np.array_equal(out[0, 2 + 4 * k : 6 + 4 * k], np.float32(expected))


def test_tile_scales_follow_the_layout() -> None:
    """Table 5's quad tree is A_i = 2^i I for i = 1..9, fine to coarse 2^(10-i) I."""
    assert tile_scales(9, 1, TileLayout.COARSE_TO_FINE) == list(range(1, 10))
    assert tile_scales(9, 1, TileLayout.FINE_TO_COARSE) == list(range(9, 0, -1))


def test_nearest_taps_are_the_cell_modulo_the_tile() -> None:
    pixels = np.arange(8 * 8)
    taps, blend = tile_taps(pixels, 8, 8, 1, 2, TileSelection.NEAREST)
    rows, cols = np.divmod(pixels, 8)
    assert np.array_equal(taps[:, 0], (rows >= 4) * 2 + (cols >= 4))  # 2 cells a side
    assert np.all(blend == 1.0)
    taps, _ = tile_taps(pixels, 8, 8, 3, 2, TileSelection.NEAREST)  # a cell per pixel
    assert np.array_equal(taps[:, 0], (rows % 2) * 2 + cols % 2)


def test_bilinear_taps_blend_to_one() -> None:
    pixels = np.arange(6 * 10)
    taps, blend = tile_taps(pixels, 10, 10, 2, 3, TileSelection.BILINEAR)
    assert taps.shape == blend.shape == (60, 4)
    assert taps.min() >= 0 and taps.max() < 9
    assert np.allclose(blend.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(blend >= 0)


# ------------------------------------------------------------------------ torch network


def naive_loe(field: LoeField, inputs: torch.Tensor) -> torch.Tensor:
    """Eq. (7)-(8) pixel by pixel: each pixel's own blend of its cells' matrices."""
    config = field.config
    pixels = np.arange(field.height * field.width)
    h = inputs[:, :-2]
    scales = tile_scales(config.tiled_layers, config.coarsest_log2, config.layout)
    layers = list(field.network.linears)
    for index, layer in enumerate(layers):
        if index < len(scales):
            side = max(field.height, field.width)
            taps, blend = tile_taps(
                pixels, field.width, side, scales[index], config.tile, config.selection
            )
            out = torch.zeros(h.shape[0], layer.weight.shape[1])
            for k in range(taps.shape[1]):
                t = torch.from_numpy(taps[:, k])
                product = torch.einsum("ni,noi->no", h, layer.weight[t]) + layer.bias[t]
                out = out + torch.from_numpy(blend[:, k])[:, None] * product
            h = out
        else:
            h = h @ layer.weight[0].T + layer.bias[0]
        if index < len(layers) - 1:
            h = F.leaky_relu(h, 0.2)
    return h


@pytest.mark.parametrize("case", list(LOE_CASES))
def test_tiled_network_matches_the_per_pixel_definition(case: str) -> None:
    torch.manual_seed(0)
    field = LoeField(small_loe(**LOE_CASES[case]), 7, 11, 3)
    with torch.no_grad():
        for layer in field.network.linears:
            layer.bias.normal_()
    inputs = field.features([])
    out = field.synthesize(inputs)
    assert torch.allclose(out, naive_loe(field, inputs), atol=1e-5)
    resumed = field.network(field.network(inputs, 0, 2), 2)  # the step search's partial runs
    assert torch.allclose(resumed, out, atol=1e-6)
    batch = torch.tensor([3, 5, 40, 41, 70])
    assert torch.allclose(field.render([], batch), out[batch], atol=1e-6)


def test_tiled_network_gradients_reach_every_tile() -> None:
    torch.manual_seed(0)
    field = LoeField(small_loe(tile=2, coarsest_log2=1), 8, 8, 1)
    field.synthesize(field.features([])).square().sum().backward()
    for layer in list(field.network.linears)[:3]:
        assert layer.weight.grad is not None
        assert bool((layer.weight.grad.abs().sum(dim=(1, 2)) > 0).all())


@pytest.mark.parametrize("case", list(LOE_CASES))
def test_torch_free_decoder_agrees_with_the_torch_field(case: str) -> None:
    torch.manual_seed(1)
    config = small_loe(**LOE_CASES[case])
    field = LoeField(config, 9, 13, 3)
    reference = field.synthesize(field.features([])).detach().numpy()
    network = config.network(3)
    tensors = [p.detach().numpy().reshape(-1) for p in field.network_parameters()]
    pixels = np.arange(9 * 13)
    taps = [
        tile_taps(pixels, 13, 13, scale, config.tile, config.selection)
        for scale in tile_scales(config.tiled_layers, config.coarsest_log2, config.layout)
    ]
    inputs = positional_encoding(pixels, 9, 13, config.pe_octaves)
    ours = synthesize_tiled(inputs, network, tensors, taps)
    assert np.allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("backbone", [0, 1])
def test_coordinate_mlp_decoder_agrees_with_the_torch_field(backbone: int) -> None:
    torch.manual_seed(2)
    config = CoordMlpConfig(backbone=backbone, pe_octaves=3, hidden_width=8, hidden_layers=2)
    field = CoordMlpField(config, 5, 6, 1)
    reference = field.render([]).detach().numpy()
    tensors = [p.detach().numpy().reshape(-1) for p in field.network_parameters()]
    inputs = positional_encoding(np.arange(30), 5, 6, 3)
    assert np.allclose(synthesize(inputs, config.network(1), tensors), reference, atol=1e-5)


# ------------------------------------------------------------------------ files


@pytest.mark.parametrize(
    ("field", "options"),
    [("loe", {}), ("loe", {"selection": 1, "layout": 1}), ("siren", {}),
     ("siren", {"backbone": 0, "pe_octaves": 3})],
)
def test_weight_only_files(field: str, options: dict[str, int]) -> None:
    image = gradient_noise(12, 16, 3)
    result = nfcodec.encode_image(
        image, field=field, preset=TEST_PRESET, device="cpu", field_options=options
    )
    nfc = read_nfc(result.data)
    assert (nfc.major, nfc.minor) == (2, 2)
    assert [s.kind for s in nfc.sections] == [SectionKind.WEIGHTS]
    for name, value in options.items():
        assert nfc.header.params()[name] == value
    assert nfcodec.decode(result.data).shape == image.shape


@pytest.fixture(scope="module")
def loe_file() -> bytes:
    from tests.conftest import register_test_presets

    register_test_presets()
    image = gradient_noise(12, 16, 3)
    return nfcodec.encode_image(image, field="loe", preset=TEST_PRESET, device="cpu").data


def test_extra_sections_are_corrupt(loe_file: bytes) -> None:
    nfc = read_nfc(loe_file)
    extra = write_nfc(nfc.header, [Section(SectionKind.LATENTS, b"\x00"), *nfc.sections])
    with pytest.raises(CorruptStream, match="one WEIGHTS section"):
        nfcodec.decode(extra)


def test_more_tiled_layers_than_layers_is_corrupt(loe_file: bytes) -> None:
    nfc = read_nfc(loe_file)
    params = dict(nfc.header.params(), tiled_layers=nfc.header.params()["hidden_layers"] + 2)
    header = Header(16, 12, 3, False, 0, FieldKind.LOE, tuple(params.values()))
    with pytest.raises(CorruptStream, match="tiled_layers"):
        nfcodec.decode(write_nfc(header, nfc.sections))


def test_finest_weight_grid_is_bounded(loe_file: bytes) -> None:
    nfc = read_nfc(loe_file)
    params = dict(nfc.header.params(), hidden_layers=16, tiled_layers=17, coarsest_log2=16)
    header = Header(16, 12, 3, False, 0, FieldKind.LOE, tuple(params.values()))
    with pytest.raises(CorruptStream, match="finest weight grid"):
        nfcodec.decode(write_nfc(header, nfc.sections))


@pytest.mark.parametrize("kind", [FieldKind.LOE, FieldKind.COORD_MLP])
def test_new_kinds_are_refused_in_older_files(kind: FieldKind) -> None:
    params = tuple(spec.lo for spec in FIELD_PARAMS[kind])
    block = encode_header_fields(Header(4, 4, 1, False, 0, kind, params)) + b"\x00"
    with pytest.raises(UnknownComponent, match="2.2"):
        decode_header_fields(ByteReader(memoryview(block)), (2, 1))
    assert decode_header_fields(ByteReader(memoryview(block)), (2, 2)).field_kind == kind


@pytest.mark.parametrize("kind", [FieldKind.LOE, FieldKind.COORD_MLP])
def test_header_bounds(kind: FieldKind) -> None:
    for index, spec in enumerate(FIELD_PARAMS[kind]):
        params = [s.lo for s in FIELD_PARAMS[kind]]
        params[index] = spec.hi + 1
        with pytest.raises(ValueError):
            Header(4, 4, 1, False, 0, kind, tuple(params))


# ------------------------------------------------------------------------ work budget


def loe_header(width: int, height: int, **overrides: int) -> Header:
    config = LoeConfig(**overrides)
    return Header(width, height, 1, False, 0, FieldKind.LOE, config.to_params())


def test_loe_macs_by_hand() -> None:
    """Table 5's network: 34 inputs, nine 64-wide layers, one output; 8 octaves of encoding."""
    table5 = {"pe_octaves": 8, "hidden_width": 64, "hidden_layers": 9, "tiled_layers": 9}
    network = 34 * 64 + 8 * 64 * 64 + 64 * 1
    assert macs_per_pixel(loe_header(512, 512, **table5)) == network + 16 * 8
    bilinear = loe_header(512, 512, selection=1, **table5)
    tiled = 3 * (34 * 64 + 8 * 64 * 64) + 4 * 64 * 9
    assert macs_per_pixel(bilinear) == network + 16 * 8 + tiled


def test_coordinate_mlp_macs_by_hand() -> None:
    config = CoordMlpConfig(pe_octaves=2, hidden_width=16, hidden_layers=3)
    header = Header(8, 8, 3, False, 0, FieldKind.COORD_MLP, config.to_params())
    assert macs_per_pixel(header) == 10 * 16 + 2 * 16 * 16 + 16 * 3 + 16 * 2


def test_a_costly_loe_header_is_refused_before_decoding() -> None:
    header = loe_header(4096, 4096, hidden_width=256, hidden_layers=16, tiled_layers=17,
                        selection=1)
    with pytest.raises(LimitExceeded):
        check_decode_budget(header)
