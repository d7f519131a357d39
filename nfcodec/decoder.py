"""Decoder: container -> entropy -> latents -> grid features -> synthesis -> pixels -> unpermute.

numpy, numba and constriction only (no torch, no `nfcodec.fit`): a decode starts in a fraction
of a second. `decode_bytes` is the whole decoder; `decode` adds reading a path and writing an
image file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nfcodec.container import Header, NfcFile, NfcInfo, SectionKind, read_nfc
from nfcodec.container import read_info as _read_info
from nfcodec.container.reader import read_info_source, read_nfc_path
from nfcodec.container.spec import FieldKind
from nfcodec.errors import CorruptStream
from nfcodec.fields.config import (
    CoordinateConfig,
    DinerConfig,
    FieldConfig,
    HashGridConfig,
    LatentTable,
    LoeConfig,
    config_type_for_kind,
)
from nfcodec.fields.positional import positional_encoding, tile_scales, tile_taps
from nfcodec.limits import DEFAULT_MAX_PIXELS, check_decode_budget
from nfcodec.pixels import samples_to_uint8
from nfcodec.quant import dequantize
from nfcodec.sections import (
    TableLayout,
    decode_latent_model,
    decode_latents,
    decode_latents_arm,
    decode_weights,
    plane_shapes,
)
from nfcodec.source import Source, is_path, naming
from nfcodec.synthesis import synthesize, synthesize_tiled
from nfcodec.transforms import unpermute_pixels

RENDER_CHUNK = 1 << 16  # pixels per pass through the network: bounds the decoder's memory
MAX_LATENTS_PER_PIXEL = 16  # bound on table rows x features relative to the image
MAX_LATENTS = 1 << 27

def read_info(source: Source) -> NfcInfo:
    """Header and section table only (a file read in bounded pieces); errors name the file."""
    with naming(source):
        return read_info_source(source)


def decode(
    source: Source, output: Any = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode .nfc bytes or a path into uint8 (H, W, C); write `output` (format from its
    suffix, see `nfcodec.io.write_image`) if given.

    A file whose image exceeds `max_pixels`, or whose synthesis work exceeds that limit's
    budget (`nfcodec.limits`), is refused with LimitExceeded from its header, before any
    payload is read; `max_pixels=None` lifts the limit. A path is read in bounded pieces.
    """
    with naming(source):
        if is_path(source):
            nfc = read_nfc_path(
                source, check_header=lambda header: check_decode_budget(header, max_pixels)
            )
            image = decode_container(nfc)
        else:
            image = decode_bytes(bytes(source), max_pixels=max_pixels)  # type: ignore[arg-type]
    if output is not None:
        from nfcodec.io import write_image

        write_image(image, output)
    return image


def decode_bytes(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The decoded picture of a whole .nfc file, uint8 (H, W, C), within `max_pixels`' budget."""
    check_decode_budget(_read_info(data).header, max_pixels)
    return decode_container(read_nfc(data))


def decode_container(nfc: NfcFile) -> np.ndarray:
    """The decoded picture of a parsed .nfc file, uint8 (H, W, C)."""
    header = nfc.header
    config = config_type_for_kind(header.field_kind).from_params(header.field_params)
    layouts = field_layout(config, header)
    if not layouts:  # a weight-only field (LOE, COORD_MLP): its file holds WEIGHTS alone
        _check_weight_only(nfc)
        tables = []
    elif nfc.major >= 2:
        arm = decode_latent_model(nfc.section(SectionKind.LATENT_MODEL), len(plane_shapes(layouts)))
        tables = decode_latents_arm(nfc.section(SectionKind.LATENTS), layouts, arm)
    else:
        context_rows = getattr(config, "context_rows", 0)
        tables = decode_latents(nfc.section(SectionKind.LATENTS), layouts, context_rows)
    network = config.network(header.channels)
    symbols, exponents = decode_weights(nfc.section(SectionKind.WEIGHTS), network.tensor_sizes())
    tensors = [dequantize(s, e) for s, e in zip(symbols, exponents, strict=True)]
    latents = [np.ascontiguousarray(t, dtype=np.float32) for t in tables]
    features = _feature_reader(config, header, latents)
    n = header.width * header.height
    out = np.empty((n, header.channels), dtype=np.uint8)
    for begin in range(0, n, RENDER_CHUNK):
        end = min(n, begin + RENDER_CHUNK)
        inputs = features(begin, end)
        if isinstance(config, LoeConfig):
            taps = _loe_taps(config, header, begin, end)
            samples = synthesize_tiled(inputs, network, tensors, taps)
        else:
            samples = synthesize(inputs, network, tensors)
        out[begin:end] = samples_to_uint8(samples)
    image = out.reshape(header.height, header.width, header.channels)
    if header.permute:
        image = unpermute_pixels(image, header.seed)
    return image


def field_layout(config: FieldConfig, header: Header) -> list[TableLayout]:
    """The latent tables the header implies, checked against the decoder's bounds before any
    table is allocated."""
    if isinstance(config, LoeConfig):
        try:
            config.check()
        except ValueError as exc:
            raise CorruptStream(f"corrupt header: {exc}") from None
    if isinstance(config, HashGridConfig):
        if config.coarsest_resolution > config.finest_resolution:
            raise CorruptStream("corrupt header: coarsest resolution above finest")
        if config.cubic_levels > config.levels:
            raise CorruptStream("corrupt header: more cubic levels than levels")
    tables: list[LatentTable] = config.latent_tables(header.height, header.width)
    latents = sum(t.rows * t.features for t in tables)
    limit = min(MAX_LATENTS, MAX_LATENTS_PER_PIXEL * header.pixels + (1 << 16))
    if latents > limit:
        raise CorruptStream(f"header asks for {latents} latents, more than {limit} allowed")
    return [TableLayout(t.rows, t.features, t.grid_shape) for t in tables]


def _check_weight_only(nfc: NfcFile) -> None:
    kinds = [section.kind for section in nfc.sections]
    if kinds != [SectionKind.WEIGHTS]:
        names = ", ".join(kind.name for kind in kinds) or "none"
        raise CorruptStream(f"a weight-only field's file holds one WEIGHTS section, not {names}")


def _loe_taps(
    config: LoeConfig, header: Header, begin: int, end: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each tiled layer's matrix taps and blend weights for pixels [begin, end) (SPEC 11)."""
    pixels = np.arange(begin, end, dtype=np.int64)
    side = max(header.width, header.height)
    return [
        tile_taps(pixels, header.width, side, scale, config.tile, config.selection)
        for scale in tile_scales(config.tiled_layers, config.coarsest_log2, config.layout)
    ]


def _feature_reader(config: FieldConfig, header: Header, latents: list[np.ndarray]) -> Any:
    """A function (begin, end) -> float32 network inputs of pixels [begin, end)."""
    if header.field_kind == FieldKind.DINER:
        assert isinstance(config, DinerConfig)
        return lambda begin, end: latents[0][begin:end]
    if isinstance(config, CoordinateConfig):
        octaves = config.pe_octaves
        return lambda begin, end: positional_encoding(
            np.arange(begin, end, dtype=np.int64), header.height, header.width, octaves
        )
    assert isinstance(config, HashGridConfig)
    from nfcodec.kernels import numba_cubic, numba_grid
    from nfcodec.kernels.plan import grid_plan

    height, width = header.height, header.width
    plan = grid_plan(
        tuple(config.geometries(height, width)), height, width, config.features,
        config.cubic_levels,
    )
    tables = tuple(latents)

    def read(begin: int, end: int) -> np.ndarray:
        pixels = np.arange(begin, end, dtype=np.int64)
        out = np.empty((end - begin, plan.meta.shape[0] * plan.features), dtype=np.float32)
        rows = np.empty(end - begin, dtype=np.int64)
        cols = np.empty(end - begin, dtype=np.int64)
        if plan.ty is not None:
            numba_cubic.forward_subset(
                tables, plan.meta, plan.ty, plan.wy, plan.tx, plan.wx, plan.first_tap, pixels,
                height, width, out, rows, cols,
            )
        else:
            numba_grid.forward_subset(
                tables, plan.meta, plan.iy, plan.fy, plan.jx, plan.fx, pixels, height, width,
                out, rows, cols,
            )
        return out

    return read


__all__ = ["decode", "decode_bytes", "decode_container", "field_layout", "read_info"]
