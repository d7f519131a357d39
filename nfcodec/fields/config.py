"""What a field is, without its network code: configs, latent layouts and network shapes.

Standard library plus the grid geometry (numpy), no torch: the decoder rebuilds a field's
layout from the header with this module alone, and the torch field classes build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from nfcodec.container.spec import (
    FIELD_PARAMS,
    MAX_TILE_LOG2,
    Activation,
    Backbone,
    FieldKind,
    TileSelection,
)
from nfcodec.errors import UnknownComponent
from nfcodec.kernels.geometry import LevelGeometry, level_geometry


@dataclass(frozen=True)
class LatentTable:
    """Layout of one latent table: `rows` entries of `features` values.

    When `grid_shape` is set the rows are a row-major (height, width) vertex grid, so the rows
    above an entry are its spatial neighbours; the context model uses them. Hashed tables and
    per-pixel tables have no such structure (`grid_shape` is None).
    """

    rows: int
    features: int
    grid_shape: tuple[int, int] | None


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a synthesis network: layer widths from input to output and its activation."""

    sizes: tuple[int, ...]  # n_in, hidden..., n_out
    activation: str  # "relu", "gelu", "leaky_relu" (slope 0.2) or "sine"
    omega: float = 1.0  # SIREN frequency; unused by the others
    tiles: tuple[int, ...] = ()  # weight matrices per layer (LoE tiles); missing layers have 1

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each Linear from input to output."""
        return [(b, a) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    def layer_tiles(self) -> list[int]:
        """Weight matrices (and bias vectors) held by each layer."""
        count = len(self.sizes) - 1
        return list(self.tiles[:count]) + [1] * (count - len(self.tiles))

    def tensor_sizes(self) -> list[int]:
        """Element counts in wire order: weight then bias of each layer, tiles stacked."""
        return [
            n
            for (out, inp), tiles in zip(self.layer_shapes(), self.layer_tiles(), strict=True)
            for n in (tiles * out * inp, tiles * out)
        ]


class FieldConfig:
    """Base for frozen dataclass configs whose integer fields are the header's hyper-parameters."""

    kind: ClassVar[FieldKind]

    def to_params(self) -> tuple[int, ...]:
        """Values in the wire order declared by `FIELD_PARAMS` for this kind."""
        return tuple(int(getattr(self, spec.name)) for spec in FIELD_PARAMS[self.kind])

    @classmethod
    def from_params(cls, values: tuple[int, ...]) -> FieldConfig:
        names = [spec.name for spec in FIELD_PARAMS[cls.kind]]
        return cls(**dict(zip(names, values, strict=True)))

    def check(self) -> None:
        """Raise ValueError when a value lies outside the bounds the container accepts."""
        for spec in FIELD_PARAMS[self.kind]:
            value = getattr(self, spec.name)
            if not spec.lo <= value <= spec.hi:
                raise ValueError(f"{spec.name}={value} outside [{spec.lo}, {spec.hi}]")

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))  # type: ignore[arg-type]

    def latent_tables(self, height: int, width: int) -> list[LatentTable]:
        raise NotImplementedError

    def network(self, channels: int) -> NetworkSpec:
        raise NotImplementedError


@dataclass(frozen=True)
class HashGridConfig(FieldConfig):
    kind: ClassVar[FieldKind] = FieldKind.HASHGRID
    levels: int = 8
    features: int = 1
    log2_table_size: int = 20
    coarsest_resolution: int = 12
    finest_resolution: int = 768
    hidden_width: int = 16
    hidden_layers: int = 2
    context_rows: int = 2
    activation: int = int(Activation.GELU)
    cubic_levels: int = 8  # every one of the default 8 levels

    def check(self) -> None:
        super().check()
        if self.cubic_levels > self.levels:
            raise ValueError(f"cubic_levels={self.cubic_levels} above levels={self.levels}")

    def geometries(self, height: int, width: int) -> list[LevelGeometry]:
        resolutions = level_resolutions(
            self.levels, self.coarsest_resolution, self.finest_resolution
        )
        return [level_geometry(height, width, r, self.log2_table_size) for r in resolutions]

    def latent_tables(self, height: int, width: int) -> list[LatentTable]:
        return [
            LatentTable(g.rows, self.features, (g.cells_h + 1, g.cells_w + 1) if g.dense else None)
            for g in self.geometries(height, width)
        ]

    def network(self, channels: int) -> NetworkSpec:
        sizes = (self.levels * self.features,) + (self.hidden_width,) * self.hidden_layers
        return NetworkSpec(sizes + (channels,), Activation(self.activation).name.lower())


@dataclass(frozen=True)
class DinerConfig(FieldConfig):
    kind: ClassVar[FieldKind] = FieldKind.DINER
    table_width: int = 2
    backbone: int = int(Backbone.MLP)
    hidden_width: int = 32
    hidden_layers: int = 2
    siren_omega: int = 30

    def latent_tables(self, height: int, width: int) -> list[LatentTable]:
        return [LatentTable(height * width, self.table_width, None)]

    def network(self, channels: int) -> NetworkSpec:
        sizes = (self.table_width,) + (self.hidden_width,) * self.hidden_layers + (channels,)
        if self.backbone == Backbone.SIREN:
            return NetworkSpec(sizes, "sine", float(self.siren_omega))
        return NetworkSpec(sizes, "relu")


class CoordinateConfig(FieldConfig):
    """A weight-only field: no latent tables, the network reads the positional encoding."""

    pe_octaves: int

    def latent_tables(self, height: int, width: int) -> list[LatentTable]:
        return []


@dataclass(frozen=True)
class LoeConfig(CoordinateConfig):
    """Levels-of-Experts (Hao et al., NeurIPS 2022); defaults are the supplement's Table 5 net
    but 2 layers of 32, a size for coding rather than fitting."""

    kind: ClassVar[FieldKind] = FieldKind.LOE
    pe_octaves: int = 8
    hidden_width: int = 32
    hidden_layers: int = 4
    tile: int = 2
    tiled_layers: int = 4
    layout: int = 0
    coarsest_log2: int = 1
    selection: int = int(TileSelection.NEAREST)

    def check(self) -> None:
        super().check()
        if self.tiled_layers > self.hidden_layers + 1:
            raise ValueError(
                f"tiled_layers={self.tiled_layers} above the {self.hidden_layers + 1} layers"
            )
        if self.coarsest_log2 + self.tiled_layers - 1 > MAX_TILE_LOG2:
            raise ValueError(f"finest weight grid above 2**{MAX_TILE_LOG2} cells a side")

    def network(self, channels: int) -> NetworkSpec:
        sizes = (2 + 4 * self.pe_octaves,) + (self.hidden_width,) * self.hidden_layers
        return NetworkSpec(
            sizes + (channels,), "leaky_relu", tiles=(self.tile**2,) * self.tiled_layers
        )


@dataclass(frozen=True)
class CoordMlpConfig(CoordinateConfig):
    """COIN (Dupont et al. 2021): a SIREN on raw coordinates, or a ReLU MLP on the positional
    encoding (`backbone = 0`, `pe_octaves > 0`), whose weights are the whole file."""

    kind: ClassVar[FieldKind] = FieldKind.COORD_MLP
    backbone: int = int(Backbone.SIREN)
    pe_octaves: int = 0
    hidden_width: int = 32
    hidden_layers: int = 8
    siren_omega: int = 30

    def network(self, channels: int) -> NetworkSpec:
        sizes = (2 + 4 * self.pe_octaves,) + (self.hidden_width,) * self.hidden_layers
        if self.backbone == Backbone.SIREN:
            return NetworkSpec(sizes + (channels,), "sine", float(self.siren_omega))
        return NetworkSpec(sizes + (channels,), "relu")


CONFIG_TYPES: dict[FieldKind, type[FieldConfig]] = {
    FieldKind.HASHGRID: HashGridConfig,
    FieldKind.DINER: DinerConfig,
    FieldKind.LOE: LoeConfig,
    FieldKind.COORD_MLP: CoordMlpConfig,
}


def config_type_for_kind(kind: FieldKind) -> type[FieldConfig]:
    try:
        return CONFIG_TYPES[kind]
    except KeyError:
        raise UnknownComponent(f"field kind {int(kind)} is not supported by this decoder") from None


def level_resolutions(levels: int, coarsest: int, finest: int) -> list[int]:
    """Geometric resolutions from coarsest to finest, rounded exactly with integer maths.

    N_l is the real number c**((L-1-l)/(L-1)) * f**(l/(L-1)) rounded half up, computed as the
    largest N with (2N-1)**(L-1) <= 2**(L-1) * c**(L-1-l) * f**l, so every decoder agrees.
    """
    if levels == 1:
        return [finest]
    n = levels - 1
    out = []
    for level in range(levels):
        bound = (2**n) * coarsest ** (n - level) * finest**level
        lo, hi = 1, max(coarsest, finest) + 1
        while lo < hi:  # largest N in [1, hi) with (2N-1)**n <= bound
            mid = (lo + hi + 1) // 2
            if (2 * mid - 1) ** n <= bound:
                lo = mid
            else:
                hi = mid - 1
        out.append(lo)
    return out
