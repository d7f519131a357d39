"""Wire constants of the .nfc format: magic, version, ids and bounds. Standard library only.

Every id here is an explicit integer that appears in files; never renumber, only append.
"""

from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"\x89NFC"
FORMAT_MAJOR = 2  # what encoders write: 2.0 codes latents with the autoregressive model
FORMAT_MINOR = 2
# Highest minor version read for each major: 1.1 added the hash grid's `activation`, 2.1 its
# `cubic_levels`, 2.2 the weight-only field kinds LOE and COORD_MLP.
READABLE_VERSIONS = {1: 1, 2: 2}

MAX_SIDE = 16384  # pixels per side a decoder accepts
MAX_PIXELS = 1 << 26  # 67 M pixels: bounds every allocation that scales with the image
MAX_HEADER_BYTES = 4096
MAX_SECTIONS = 64
MAX_SECTION_BYTES = 1 << 30


class FieldKind(IntEnum):
    """Which neural field the stream holds."""

    HASHGRID = 1
    DINER = 2
    LOE = 3  # Levels-of-Experts: position-dependent weight tiles on a positional encoding (2.2)
    COORD_MLP = 4  # COIN-style coordinate MLP or SIREN, weights only (2.2)


class Activation(IntEnum):
    """Hidden activation of the hash grid's MLP (its `activation` parameter)."""

    RELU = 0
    GELU = 1  # exact x * Phi(x), erf form


class Backbone(IntEnum):
    """Synthesis network of a DINER field (its `backbone` parameter)."""

    MLP = 0  # ReLU MLP
    SIREN = 1  # sin(omega * x) hidden activations


class TileLayout(IntEnum):
    """Order of the weight-grid scales over a LOE field's tiled layers (its `layout`)."""

    COARSE_TO_FINE = 0  # the paper's quad tree: layer k has 2**(coarsest_log2 + k) cells a side
    FINE_TO_COARSE = 1  # the reverse order, best in the LoE supplement's Table 5


class TileSelection(IntEnum):
    """How a LOE layer picks its weights from the tile (its `selection`)."""

    NEAREST = 0  # the weight matrix of the cell holding the pixel
    BILINEAR = 1  # the four nearest cells' outputs blended by bilinear weights


class SectionKind(IntEnum):
    """What a section's payload holds."""

    LATENTS = 1  # grid tables / per-pixel tables: entropy-coded integer symbols
    WEIGHTS = 2  # network weights: entropy-coded integer symbols + quantization steps
    LATENT_MODEL = 3  # format 2: the autoregressive latent model's integer parameters


@dataclass(frozen=True)
class ParamSpec:
    """One integer hyper-parameter of a field, stored in the header in declaration order.

    A parameter added in version `since` (major, minor) is absent from older files, which are
    decoded as if it held `default` (the behaviour those files were written with).
    """

    name: str
    lo: int
    hi: int
    since: tuple[int, int] = (1, 0)
    default: int = 0


# Hyper-parameters the decoder needs to rebuild each field kind, in wire order.
# Values are integers; the decoder rejects any value outside [lo, hi] before building anything.
FIELD_PARAMS: dict[FieldKind, tuple[ParamSpec, ...]] = {
    FieldKind.HASHGRID: (
        ParamSpec("levels", 1, 24),
        ParamSpec("features", 1, 8),
        ParamSpec("log2_table_size", 4, 24),
        ParamSpec("coarsest_resolution", 1, MAX_SIDE),
        ParamSpec("finest_resolution", 1, MAX_SIDE),
        ParamSpec("hidden_width", 1, 256),
        ParamSpec("hidden_layers", 0, 8),
        ParamSpec("context_rows", 0, 2),  # format 1 only; 2.x ignores it (the ARM replaces it)
        ParamSpec(
            "activation", 0, int(max(Activation)), since=(1, 1), default=int(Activation.RELU)
        ),
        # coarsest levels read by cubic Lagrange (4x4 vertices), the others bilinearly
        ParamSpec("cubic_levels", 0, 24, since=(2, 1), default=0),
    ),
    FieldKind.DINER: (
        ParamSpec("table_width", 1, 3),
        ParamSpec("backbone", 0, int(max(Backbone))),
        ParamSpec("hidden_width", 1, 256),
        ParamSpec("hidden_layers", 0, 8),
        ParamSpec("siren_omega", 1, 1000),
    ),
    FieldKind.LOE: (
        ParamSpec("pe_octaves", 0, 16),
        ParamSpec("hidden_width", 1, 256),
        ParamSpec("hidden_layers", 0, 16),
        ParamSpec("tile", 1, 4),  # a tile holds tile x tile weight matrices per tiled layer
        ParamSpec("tiled_layers", 0, 17),  # the first tiled_layers linear layers, <= layers
        ParamSpec("layout", 0, int(max(TileLayout))),
        ParamSpec("coarsest_log2", 0, 16),
        ParamSpec("selection", 0, int(max(TileSelection))),
    ),
    FieldKind.COORD_MLP: (
        ParamSpec("backbone", 0, int(max(Backbone))),
        ParamSpec("pe_octaves", 0, 16),
        ParamSpec("hidden_width", 1, 256),
        ParamSpec("hidden_layers", 0, 16),
        ParamSpec("siren_omega", 1, 1000),
    ),
}
# First version whose files may hold each field kind (kinds not listed: every version).
FIELD_KIND_SINCE: dict[FieldKind, tuple[int, int]] = {
    FieldKind.LOE: (2, 2),
    FieldKind.COORD_MLP: (2, 2),
}
MAX_TILE_LOG2 = 24  # finest weight-grid scale a LOE header may ask for: 2**24 cells a side
