"""Build the hand-made vectors in bitstream/vectors/crafted/ and their MANIFEST.json.

No encoder writes these files; they pin what a decoder does with inputs a fit never produces:

* ``nan_inf_*``: a valid file whose network outputs NaN, +inf and -inf (SPEC section 11:
  NaN -> 0, +inf -> 255, -inf -> 0). Expected: it decodes, to the recorded pixels.
* ``bad_*``: negative vectors, each a small edit of a committed conformance vector with every
  CRC made right again where the edit is behind one. Expected: the named error class, exactly.
* ``bomb_*``: tiny valid files that describe huge work (an all-equal entropy stream stores only
  its count). Expected: LimitExceeded under the default limits, before any payload is decoded.

``--check`` writes nothing and exits 1 when a file or the manifest would change.

Usage:
    python scripts/make_crafted_vectors.py [--out bitstream/vectors/crafted] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nfc_frames import RawFile, RawSection, assemble, parse, varint  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bitstream" / "vectors" / "crafted"
BASE_VECTOR = REPO_ROOT / "bitstream" / "vectors" / "v2_diner_mlp_rgb_12x8.nfc"
MANIFEST_NAME = "MANIFEST.json"
DECODES = "decodes"

# Section kinds and field kinds as written in files (SPEC tables 3.1 and 4.1).
LATENTS, WEIGHTS, LATENT_MODEL = 1, 2, 3
HASHGRID, DINER = 1, 2
# Header field positions in RawFile.header_fields.
IMAGE, WIDTH, HEIGHT, SEED, KIND = 0, 1, 2, 3, 4
PARAMS = 5


@dataclass(frozen=True)
class Crafted:
    name: str
    description: str
    expect: str  # DECODES or the error class a decoder must raise
    build: Callable[[], bytes]


# ---------------------------------------------------------------------------------------------
# Valid files built from parts (the package's own section writers)


def _zero_arm(planes: int):  # noqa: ANN202 - ArmWeights, imported lazily
    from nfcodec.entropy.arm import ArmWeights

    shapes = ArmWeights.shapes(1, planes)
    return ArmWeights.from_tensors([np.zeros(s, dtype=np.int64) for s in shapes], 1, planes)


def _with_defaults(kind: int, params: tuple[int, ...]) -> tuple[int, ...]:
    """`params` as a 2.0 file holds them, plus the defaults of parameters added since."""
    from nfcodec.container.spec import FIELD_PARAMS, FieldKind

    specs = FIELD_PARAMS[FieldKind(kind)]
    return tuple(params) + tuple(spec.default for spec in specs[len(params):])


def _network_sizes(kind: int, params: tuple[int, ...], width: int, height: int) -> list[int]:
    from nfcodec.container.spec import FieldKind
    from nfcodec.fields.registry import build_field, field_class_for_kind

    config = field_class_for_kind(FieldKind(kind)).config_type.from_params(
        _with_defaults(kind, params)
    )
    model = build_field(config, height, width, 3, with_latents=False)
    return [p.numel() for p in model.network_parameters()]


def _layouts(kind: int, params: tuple[int, ...], width: int, height: int) -> list:
    from nfcodec.container.spec import FieldKind
    from nfcodec.fields.registry import build_field, field_class_for_kind
    from nfcodec.sections import TableLayout

    config = field_class_for_kind(FieldKind(kind)).config_type.from_params(
        _with_defaults(kind, params)
    )
    model = build_field(config, height, width, 3, with_latents=False)
    return [TableLayout(t.rows, t.features, t.grid_shape) for t in model.latent_tables()]


def v2_file(
    kind: int,
    params: tuple[int, ...],
    width: int,
    height: int,
    tables: list[np.ndarray] | None,
    weights: list[np.ndarray],
    exponents: list[int],
    permute: bool = False,
) -> bytes:
    """A format 2.0 RGB file; `tables=None` means all-zero latent tables."""
    from nfcodec.sections import encode_latents_arm, encode_weights, plane_shapes

    layouts = _layouts(kind, params, width, height)
    if tables is None:
        tables = [np.zeros((t.rows, t.features), dtype=np.int32) for t in layouts]
    arm = _zero_arm(len(plane_shapes(layouts)))
    from nfcodec.sections import encode_latent_model

    sections = (
        RawSection(LATENT_MODEL, encode_latent_model(arm)),
        RawSection(LATENTS, encode_latents_arm(tables, layouts, arm)),
        RawSection(WEIGHTS, encode_weights(weights, exponents)),
    )
    image = 3 | (0x10 if permute else 0)
    return assemble(RawFile(2, 0, (image, width, height, 0, kind, *params), sections))


def zero_weights(kind: int, params: tuple[int, ...], width: int, height: int) -> bytes:
    """The WEIGHTS payload of an all-zero network: one all-equal stream, a few bytes."""
    from nfcodec.sections import encode_weights

    sizes = _network_sizes(kind, params, width, height)
    return encode_weights([np.zeros(n, dtype=np.int32) for n in sizes], [0] * len(sizes))


def all_equal_stream(count: int) -> bytes:
    """A format-1 symbol stream of `count` zeros: its head alone (bitstream/parts/entropy.md)."""
    return varint(count) + varint(0) + varint(0) + varint(0)


# ---------------------------------------------------------------------------------------------
# NaN and infinities

NAN_HIDDEN_LAYERS = 8
# Latent per pixel, cycled over the 12 x 8 image: <= 0 (ReLU gives zeros), small (finite,
# saturating outputs), 2**17 (the last hidden sum overflows), 2**20 (the products overflow).
NAN_LATENT_CYCLE = (0, 1, -3, 1 << 20, 1 << 9, -(1 << 20), 1 << 17)
NAN_PARAMS = (1, 0, 2, NAN_HIDDEN_LAYERS, 30)  # DINER: table_width, MLP, width 2, 8 layers, omega


def nan_inf_latents(width: int = 12, height: int = 8) -> np.ndarray:
    cycle = np.array(NAN_LATENT_CYCLE, dtype=np.int32)
    return np.resize(cycle, width * height).reshape(-1, 1)


def nan_inf_vector() -> bytes:
    """DINER, ReLU MLP 1 -> 2 x 8 -> 3, every hidden weight 2**13 and bias 0.

    Hidden value after layer k is latent * 2**13 * 2**(14 (k - 1)), so latent 2**20 overflows to
    +inf inside the hidden layers whatever the summation order. The output layer is
    [[1, -1], [1, 1], [-1, -1]] * 2**-20 with bias (0.5, 0.25, 0.75): from two equal +inf
    hidden values it gives NaN, +inf, -inf; from finite ones it gives 0.5 + 0 exactly, a huge
    positive and a huge negative value; from zeros the bias.
    """
    weights: list[np.ndarray] = []
    exponents: list[int] = []
    widths = [1] + [2] * (NAN_HIDDEN_LAYERS - 1)  # fan-in of each hidden layer
    for fan_in in widths:
        weights += [np.full(2 * fan_in, 1 << 13, dtype=np.int32), np.zeros(2, dtype=np.int32)]
        exponents += [0, 0]
    weights += [np.array([1, -1, 1, 1, -1, -1], dtype=np.int32), np.array([128, 64, 192])]
    exponents += [20, 8]
    return v2_file(DINER, NAN_PARAMS, 12, 8, [nan_inf_latents()], weights, exponents)


def nan_inf_expected(latents: np.ndarray) -> np.ndarray:
    """Pixels SPEC section 11 prescribes for `nan_inf_vector`, from each pixel's latent alone."""
    x = latents.reshape(-1).astype(np.int64)
    out = np.empty((x.size, 3), dtype=np.uint8)
    out[x <= 0] = (128, 64, 191)  # the bias: round(0.5 * 255) = 128 (half to even), 63.75, 191.25
    out[x > 0] = (128, 255, 0)  # finite: 0.5 exactly, huge positive, huge negative
    out[x >= 1 << 17] = (0, 255, 0)  # overflow: NaN -> 0, +inf -> 255, -inf -> 0
    return out.reshape(8, 12, 3)


# ---------------------------------------------------------------------------------------------
# Bombs: a few dozen bytes each, minutes of work and gigabytes without a budget

WIDE_NETWORK = (256, 8)  # hidden width and layers: the largest the header allows


def hashgrid_bomb(width: int, height: int, hidden: tuple[int, int] = (1, 0)) -> bytes:
    """Hashgrid with one tiny table level, so the stream is small whatever the image size."""
    params = (1, 1, 4, 1, 1, hidden[0], hidden[1], 0, 0)
    layouts = _layouts(HASHGRID, params, width, height)
    tables = [np.zeros((t.rows, t.features), dtype=np.int32) for t in layouts]
    from nfcodec.sections import encode_latent_model, encode_latents_arm, plane_shapes

    arm = _zero_arm(len(plane_shapes(layouts)))
    sections = (
        RawSection(LATENT_MODEL, encode_latent_model(arm)),
        RawSection(LATENTS, encode_latents_arm(tables, layouts, arm)),
        RawSection(WEIGHTS, zero_weights(HASHGRID, params, width, height)),
    )
    return assemble(RawFile(2, 0, (3, width, height, 0, HASHGRID, *params), sections))


def diner_bomb(width: int, height: int) -> bytes:
    """Format 1.1 DINER with permutation: its per-pixel table is one all-equal stream."""
    params = (1, 0, 1, 0, 30)
    latents = bytes([0]) + all_equal_stream(width * height)  # class byte, then the stream
    sections = (
        RawSection(LATENTS, latents),
        RawSection(WEIGHTS, zero_weights(DINER, params, width, height)),
    )
    return assemble(RawFile(1, 1, (3 | 0x10, width, height, 1, DINER, *params), sections))


# ---------------------------------------------------------------------------------------------
# Negative vectors: edits of a committed vector


def _base() -> RawFile:
    return parse(BASE_VECTOR.read_bytes())


def _edit_section(raw: RawFile, kind: int, edit: Callable[[bytes], bytes]) -> RawFile:
    sections = tuple(
        RawSection(s.kind, edit(s.payload)) if s.kind == kind else s for s in raw.sections
    )
    return replace(raw, sections=sections)


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def header_end(data: bytes) -> int:
    """Offset of the first section: after the header block and its CRC."""
    from nfc_frames import read_varint

    length, pos = read_varint(data, 6)
    return pos + length + 4


def _negatives() -> list[Crafted]:
    base = BASE_VECTOR.read_bytes()
    raw = _base()
    width_varint_nonshortest = (
        base[:6] + bytes([base[6] + 1]) + base[7:8] + bytes([0x8C, 0x00]) + base[9:]
    )  # width 12 as 8C 00: the CRC is fixed below with the frame helpers
    cases = [
        ("bad_empty", "an empty file", "FormatError", lambda: b""),
        ("bad_magic", "PNG magic instead of .nfc", "FormatError", lambda: b"\x89PNG" + base[4:]),
        ("bad_magic_only", "the magic and nothing else", "CorruptStream", lambda: base[:4]),
        ("bad_version_major", "format 3.0", "UnsupportedVersion",
         lambda: assemble(replace(raw, major=3))),
        ("bad_version_minor", "format 2.3 (a minor above the decoder's)", "UnsupportedVersion",
         lambda: assemble(replace(raw, minor=3))),
        ("bad_header_length", "header length 4097", "CorruptStream",
         lambda: base[:6] + varint(4097) + base[7:]),
        ("bad_header_crc", "header CRC off by one bit", "CorruptStream",
         lambda: _flip(base, header_end(base) - 1)),
        ("bad_reserved_bits", "reserved image bits set, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(IMAGE, 0x83))),
        ("bad_channels", "two channels, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(IMAGE, 2))),
        ("bad_width_zero", "width 0, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(WIDTH, 0))),
        ("bad_width_max", "width 16385, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(WIDTH, 16385))),
        ("bad_pixels", "16384 x 16384: over the format's pixel bound, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(WIDTH, 16384).with_field(HEIGHT, 16384))),
        ("bad_seed_2_64", "seed 2**64 (an 11-byte varint), CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(SEED, 1 << 64))),
        ("bad_field_kind", "field kind 9, CRC fixed", "UnknownComponent",
         lambda: assemble(raw.with_field(KIND, 9))),
        ("bad_hidden_width", "DINER hidden_width 0, CRC fixed", "CorruptStream",
         lambda: assemble(raw.with_field(PARAMS + 2, 0))),
        ("bad_section_count", "65 sections declared, CRC fixed", "CorruptStream",
         lambda: assemble(replace(raw, section_count=65))),
        ("bad_section_crc", "last byte of the file flipped", "CorruptStream",
         lambda: _flip(base, len(base) - 1)),
        ("bad_section_kind", "section kind 7, CRC fixed", "UnknownComponent",
         lambda: assemble(replace(raw, sections=(*raw.sections[:-1],
                                                 RawSection(7, raw.sections[-1].payload))))),
        ("bad_duplicate_section", "WEIGHTS twice", "CorruptStream",
         lambda: assemble(replace(raw, sections=(*raw.sections, raw.sections[-1])))),
        ("bad_missing_weights", "no WEIGHTS section", "CorruptStream",
         lambda: assemble(replace(raw, sections=tuple(
             s for s in raw.sections if s.kind != WEIGHTS)))),
        ("bad_trailing_byte", "one byte after the last section", "CorruptStream",
         lambda: base + b"\x00"),
        ("bad_truncated", "cut in the middle of a section", "CorruptStream",
         lambda: base[: len(base) // 2]),
        ("bad_weight_exponent", "a weight step exponent of 21, CRC fixed", "CorruptStream",
         lambda: assemble(_edit_section(raw, WEIGHTS, lambda p: bytes([21]) + p[1:]))),
        ("bad_weight_count", "weight stream one symbol short, CRC fixed", "CorruptStream",
         lambda: assemble(_edit_section(raw, WEIGHTS, _one_symbol_short))),
        ("bad_latent_model_width", "ARM hidden width 0, CRC fixed", "CorruptStream",
         lambda: assemble(_edit_section(raw, LATENT_MODEL, lambda p: b"\x00" + p[1:]))),
        ("bad_latents_words", "LATENTS not a whole number of words, CRC fixed", "CorruptStream",
         lambda: assemble(_edit_section(raw, LATENTS, lambda p: p[:-1]))),
        ("bad_latents_state", "LATENTS final state word changed, CRC fixed", "CorruptStream",
         lambda: assemble(_edit_section(raw, LATENTS, lambda p: _flip(p, 0)))),
        ("bad_varint_nonshortest", "width written as 8C 00, header CRC fixed", "CorruptStream",
         lambda: _fix_header_crc(width_varint_nonshortest)),
    ]
    return [Crafted(name, text, expect, build) for name, text, expect, build in cases]


def _one_symbol_short(payload: bytes) -> bytes:
    """The base vector's weight payload with its stream head's symbol count one lower."""
    from nfc_frames import read_varint

    hidden_layers = _base().header_fields[PARAMS + 3]
    count_at = 2 * 2 * (hidden_layers + 1)  # (exponent, class) per weight and bias tensor
    count, after = read_varint(payload, count_at)
    return payload[:count_at] + varint(count - 1) + payload[after:]


def _fix_header_crc(data: bytes) -> bytes:
    import zlib

    from nfc_frames import read_varint

    length, pos = read_varint(data, 6)
    end = pos + length
    return data[:end] + zlib.crc32(data[:end]).to_bytes(4, "little") + data[end + 4 :]


# ---------------------------------------------------------------------------------------------

CRAFTED: tuple[Crafted, ...] = (
    Crafted("nan_inf_diner_12x8", "network outputs NaN, +inf and -inf (SPEC section 11)",
            DECODES, nan_inf_vector),
    Crafted("bomb_hashgrid_16384x4096", "hashgrid, 67 M pixels, tiny tables and network",
            "LimitExceeded", lambda: hashgrid_bomb(16384, 4096)),
    Crafted("bomb_diner_8192x8192_permute", "format 1.1 DINER, 67 M pixels, permutation, "
            "all-equal latent stream", "LimitExceeded", lambda: diner_bomb(8192, 8192)),
    Crafted("bomb_wide_network_1024x1024", "hashgrid, 1 M pixels, 256-wide 8-layer network",
            "LimitExceeded", lambda: hashgrid_bomb(1024, 1024, WIDE_NETWORK)),
    Crafted("bomb_wide_network_16384x4096", "hashgrid, 67 M pixels, 256-wide 8-layer network",
            "LimitExceeded", lambda: hashgrid_bomb(16384, 4096, WIDE_NETWORK)),
    *_negatives(),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_entry(case: Crafted, data: bytes) -> dict[str, object]:
    entry: dict[str, object] = {
        "file": f"{case.name}.nfc",
        "sha256": sha256(data),
        "bytes": len(data),
        "description": case.description,
        "expect": case.expect,
    }
    if case.expect == DECODES:
        import nfcodec

        pixels = nfcodec.decode(data)
        entry["decoded_raw_sha256"] = sha256(np.ascontiguousarray(pixels).tobytes())
    return entry


def write_if_changed(path: Path, data: bytes, check: bool) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    print(f"{'would write' if check else 'wrote'} {path.name} ({len(data)} bytes)")
    if not check:
        path.write_bytes(data)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="verify only, write nothing")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    changed = False
    entries = []
    for case in CRAFTED:
        data = case.build()
        changed |= write_if_changed(out / f"{case.name}.nfc", data, args.check)
        entries.append(manifest_entry(case, data))
    manifest = {
        "generator": "scripts/make_crafted_vectors.py",
        "about": "expect: 'decodes' (to decoded_raw_sha256, uint8 H x W x C) or the error "
        "class (nfcodec.errors) a decoder must raise, with default limits",
        "vectors": entries,
    }
    text = json.dumps(manifest, indent=2) + "\n"
    changed |= write_if_changed(out / MANIFEST_NAME, text.encode(), args.check)
    print(f"{len(CRAFTED)} crafted vectors, {'changes pending' if changed else 'all up to date'}")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
