"""The decoder's work budget: pixel count and synthesis cost, checked from the header alone.

A file of a few bytes can describe a huge image or a huge network (an all-equal entropy stream
stores only its count), so the decoder prices a file from its header before touching any
payload and refuses it above the caller's limits. Imports no torch and no numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

from nfcodec.container.header import Header
from nfcodec.container.spec import FieldKind
from nfcodec.errors import LimitExceeded

# Largest image decoded without being asked for more (Pillow's MAX_IMAGE_PIXELS plays this role):
# 2**25 = 33.5 M pixels covers 8K UHD (7680 x 4320) and most camera photos.
DEFAULT_MAX_PIXELS = 1 << 25
# Synthesis multiply-accumulates allowed per allowed pixel: the work budget is
# max_pixels * WORK_MACS_PER_PIXEL, so raising the pixel limit raises the work budget with it.
WORK_MACS_PER_PIXEL = 1 << 12
BILINEAR_MACS = 4  # one multiply-accumulate per grid vertex read and feature
LAGRANGE_MACS = 16  # a cubic Lagrange level reads 4x4 vertices
POSITIONAL_MACS = 16  # an octave of the positional encoding: 4 sines/cosines at ~4 MACs each


@dataclass(frozen=True)
class DecodeCost:
    """What decoding a file costs, known from its header."""

    pixels: int
    macs_per_pixel: int

    @property
    def macs(self) -> int:
        return self.pixels * self.macs_per_pixel


def network_widths(header: Header) -> list[int]:
    """Widths of the synthesis network's layers, input first, output last."""
    params = header.params()
    if header.field_kind == FieldKind.HASHGRID:
        inputs = params["levels"] * params["features"]
    elif header.field_kind == FieldKind.DINER:
        inputs = params["table_width"]
    elif header.field_kind in (FieldKind.LOE, FieldKind.COORD_MLP):
        inputs = 2 + 4 * params["pe_octaves"]
    else:  # a new field kind must state its cost here before it can be decoded
        raise LimitExceeded(f"no cost model for field kind {header.field_kind.name}")
    return [inputs] + [params["hidden_width"]] * params["hidden_layers"] + [header.channels]


def macs_per_pixel(header: Header) -> int:
    """Multiply-accumulates to synthesise one pixel: feature interpolation plus the network."""
    widths = network_widths(header)
    network = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    if header.field_kind == FieldKind.HASHGRID:
        params = header.params()
        cubic = min(params["cubic_levels"], params["levels"])
        per_feature = BILINEAR_MACS * (params["levels"] - cubic) + LAGRANGE_MACS * cubic
        return network + per_feature * params["features"]
    if header.field_kind == FieldKind.LOE:
        return network + loe_extra_macs(header.params(), widths)
    if header.field_kind == FieldKind.COORD_MLP:
        return network + POSITIONAL_MACS * header.params()["pe_octaves"]
    return network


def loe_extra_macs(params: dict[str, int], widths: list[int]) -> int:
    """What a LOE field costs beyond a plain network of its widths: its encoding and, with
    bilinear selection, three more products of each tiled layer plus the blend (4 x out)."""
    extra = POSITIONAL_MACS * params["pe_octaves"]
    if params["selection"] == 1:
        tiled = min(params["tiled_layers"], len(widths) - 1)
        pairs = zip(widths[:tiled], widths[1 : tiled + 1], strict=True)
        extra += sum(3 * a * b + 4 * b for a, b in pairs)
    return extra


def decode_cost(header: Header) -> DecodeCost:
    return DecodeCost(header.pixels, macs_per_pixel(header))


def work_budget(max_pixels: int) -> int:
    """Synthesis MACs allowed for a pixel limit of `max_pixels`."""
    return max_pixels * WORK_MACS_PER_PIXEL


def check_decode_budget(header: Header, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
    """Refuse (LimitExceeded) a file whose pixels or synthesis work exceed `max_pixels`' budget.

    `max_pixels=None` lifts both limits; the format's own bounds (SPEC section 3) still hold.
    """
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    cost = decode_cost(header)
    if cost.pixels > max_pixels:
        raise LimitExceeded(
            f"image of {header.width}x{header.height} = {cost.pixels} pixels exceeds the limit "
            f"of {max_pixels} (raise it with --max-pixels / max_pixels=)"
        )
    budget = work_budget(max_pixels)
    if cost.macs > budget:
        raise LimitExceeded(
            f"synthesis needs {cost.macs_per_pixel} MACs/pixel x {cost.pixels} pixels = "
            f"{cost.macs:.3g} MACs, over the budget of {budget:.3g} for {max_pixels} pixels "
            f"(raise it with --max-pixels / max_pixels=)"
        )
