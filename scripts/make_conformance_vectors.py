"""Generate the committed conformance vectors in bitstream/vectors/ and their MANIFEST.json.

Each vector is a tiny .nfc file encoded with fixed seeds and a 20-step preset from a
deterministic synthetic picture. The manifest records, per vector, what it exercises and:

* ``sha256``: of the .nfc bytes themselves;
* ``decoded_raw_sha256``: of the decoded pixels as raw bytes (uint8, row-major H x W x C). This
  is the normative check: it depends only on the decoder;
* ``decoded_png_sha256``: of the PNG that ``nfcodec.io.write_png`` makes from those pixels.
  PNG bytes also depend on Pillow's encoder and zlib, so the manifest records their versions
  and a check of PNG bytes is only meaningful where they match.

The script is idempotent: files whose bytes would not change are left alone, and it says so.
``--check`` writes nothing and exits 1 if any vector or manifest entry would change or a
committed vector no longer decodes to its recorded pixels.

Usage:
    python scripts/make_conformance_vectors.py [--out bitstream/vectors] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bitstream" / "vectors"
MANIFEST_NAME = "MANIFEST.json"
PRESET_NAME = "conformance"
PRESET_STEPS = 20
MAX_VECTOR_BYTES = 2048
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Vector:
    """One conformance case: the picture to encode and how to encode it."""

    name: str
    description: str
    width: int
    height: int
    channels: int
    field: str
    permute: bool = False
    seed: int = 0
    options: dict[str, int] = field(default_factory=dict)


# The first six were written by the format 1.0 encoder (hash grids with a ReLU MLP, no
# `activation` in the header) and are kept as they are: they pin 1.0 decoding.
VECTORS: tuple[Vector, ...] = (
    Vector("hashgrid_rgb_16x12", "hashgrid defaults (context-coded dense grid), RGB",
           16, 12, 3, "hashgrid"),
    Vector("hashgrid_rgb_16x12_permute", "hashgrid with the pixel permutation (seed 5)",
           16, 12, 3, "hashgrid", permute=True, seed=5),
    Vector("hashgrid_gray_16x12_hashed", "grayscale hashgrid, 2 features, hashed small table, "
           "no latent context", 16, 12, 1, "hashgrid",
           options={"features": 2, "log2_table_size": 4, "context_rows": 0, "levels": 3}),
    Vector("diner_mlp_rgb_12x8", "DINER with the ReLU MLP backbone, RGB",
           12, 8, 3, "diner"),
    Vector("diner_siren_rgb_12x8_permute", "DINER with the SIREN backbone and permutation",
           12, 8, 3, "diner", permute=True, seed=2**64 - 1, options={"backbone": 1}),
    Vector("hashgrid_gray_1x1", "a single grey pixel", 1, 1, 1, "hashgrid"),
    Vector("hashgrid_gelu_rgb_16x12", "format 1.1: hashgrid defaults with the GELU MLP, RGB",
           16, 12, 3, "hashgrid", options={"activation": 1}),
    # Format 2.0: latents coded with the autoregressive model (SPEC section 14).
    Vector("v2_hashgrid_rgb_24x16", "format 2.0: hashgrid defaults, ARM-coded dense grids, RGB",
           24, 16, 3, "hashgrid"),
    Vector("v2_hashgrid_rgb_16x12_permute", "format 2.0: hashgrid with the pixel permutation",
           16, 12, 3, "hashgrid", permute=True, seed=7),
    Vector("v2_hashgrid_gray_16x12_hashed", "format 2.0: grayscale, 2 features, hashed levels "
           "coded as one-column planes", 16, 12, 1, "hashgrid",
           options={"features": 2, "log2_table_size": 4, "levels": 3}),
    Vector("v2_diner_mlp_rgb_12x8", "format 2.0: DINER's per-pixel table as one-column planes",
           12, 8, 3, "diner"),
    Vector("v2_hashgrid_gray_1x1", "format 2.0: a single grey pixel", 1, 1, 1, "hashgrid"),
    # Format 2.1: the hash grid's four-tap reading, Lagrange on the coarsest levels (SPEC 10.5).
    Vector("v21_hashgrid_rgb_24x16", "format 2.1: Lagrange on all levels but the finest, RGB",
           24, 16, 3, "hashgrid", options={"cubic_levels": 7}),
    Vector("v21_hashgrid_gray_16x12_hashed", "format 2.1: Lagrange over hashed levels (taps "
           "clamped at the edges), bilinear finest level", 16, 12, 1, "hashgrid",
           options={"features": 2, "log2_table_size": 4, "levels": 3, "cubic_levels": 2}),
    Vector("v21_hashgrid_rgb_13x7_permute", "format 2.1: hashgrid defaults (every level "
           "Lagrange), permutation, odd sizes", 13, 7, 3, "hashgrid", permute=True, seed=11),
    # Format 2.2: the weight-only kinds, positional encoding and LoE weight tiles (SPEC 11).
    Vector("v22_loe_rgb_16x12", "format 2.2: LoE, 2x2 tiles on both hidden-input layers, "
           "nearest, coarse to fine", 16, 12, 3, "loe",
           options={"pe_octaves": 2, "hidden_width": 8, "hidden_layers": 2, "tiled_layers": 2}),
    Vector("v22_loe_bilinear_gray_13x7_permute", "format 2.2: LoE, bilinear selection, fine to "
           "coarse, 3x3 tiles, permutation, odd sizes", 13, 7, 1, "loe", permute=True, seed=3,
           options={"pe_octaves": 1, "hidden_width": 4, "hidden_layers": 2, "tiled_layers": 2,
                    "tile": 3, "layout": 1, "coarsest_log2": 0, "selection": 1}),
    Vector("v22_siren_rgb_12x8", "format 2.2: COIN's SIREN on the raw coordinates (omega 3, so "
           "its small weights survive the coarse steps of a 20-step fit)", 12, 8, 3,
           "siren", options={"hidden_width": 8, "hidden_layers": 2, "siren_omega": 3}),
    Vector("v22_pemlp_gray_12x8", "format 2.2: ReLU MLP on a 3-octave positional encoding",
           12, 8, 1, "siren",
           options={"backbone": 0, "pe_octaves": 3, "hidden_width": 8, "hidden_layers": 2}),
)


def synthetic_image(width: int, height: int, channels: int, seed: int) -> np.ndarray:
    """A gradient plus noise from numpy's PCG64, whose output numpy keeps stable."""
    rng = np.random.Generator(np.random.PCG64(seed))
    ys = np.linspace(0.0, 1.0, height)[:, None, None]
    xs = np.linspace(0.0, 1.0, width)[None, :, None]
    tint = np.arange(channels)[None, None, :] / channels
    noise = rng.normal(0.0, 10.0, (height, width, channels))
    base = 255.0 * (0.5 * ys + 0.3 * xs + 0.2 * tint) + noise
    return np.clip(np.round(base), 0, 255).astype(np.uint8)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_bytes(pixels: np.ndarray) -> bytes:
    """The bytes nfcodec.io.write_png writes for these pixels."""
    from nfcodec.io import write_png

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder) / "decoded.png"
        write_png(pixels, scratch)
        return scratch.read_bytes()


def describe_decoded(data: bytes) -> dict[str, str]:
    """Hashes of what the decoder makes of `data`."""
    import nfcodec

    pixels = nfcodec.decode(data)
    return {
        "decoded_raw_sha256": sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()),
        "decoded_png_sha256": sha256(png_bytes(pixels)),
    }


def encode_vector(vector: Vector) -> bytes:
    import nfcodec

    image = synthetic_image(vector.width, vector.height, vector.channels, seed=len(vector.name))
    result = nfcodec.encode_image(
        image, field=vector.field, preset=PRESET_NAME, permute=vector.permute, seed=vector.seed,
        device="cpu", quiet=True, field_options=dict(vector.options),
    )
    return result.data


def manifest_entry(vector: Vector, data: bytes) -> dict[str, Any]:
    import nfcodec

    info = nfcodec.read_info(data)
    header = info.header
    return {
        "file": f"{vector.name}.nfc",
        "sha256": sha256(data),
        "bytes": len(data),
        "description": vector.description,
        "exercises": {
            "format": f"{info.major}.{info.minor}",
            "field": vector.field,
            "field_params": header.params(),
            "permute": header.permute,
            "seed": header.seed,
            "channels": header.channels,
            "width": header.width,
            "height": header.height,
            "sections": {kind.name.lower(): size for kind, size in info.sections},
        },
        **describe_decoded(data),
    }


def environment() -> dict[str, str]:
    """Versions that PNG bytes (not raw pixels) depend on."""
    import PIL
    import torch

    import nfcodec

    return {
        "nfcodec": nfcodec.__version__,
        "pillow": PIL.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


def setup() -> None:
    """Register the short preset and keep torch single-threaded (reproducible and quick)."""
    import torch

    from nfcodec.fit.presets import PRESETS, Preset

    PRESETS.setdefault(PRESET_NAME, Preset(PRESET_NAME, steps=PRESET_STEPS))
    torch.set_num_threads(1)


def load_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def existing_vector(out: Path, vector: Vector, old: dict[str, Any] | None) -> bytes | None:
    """A committed vector that still matches its manifest entry: reuse it rather than re-encode.

    Re-encoding is deterministic on one machine but need not be across machines, and the
    committed bytes, not this machine's encoder, are what the manifest pins.
    """
    path = out / f"{vector.name}.nfc"
    if old is None or not path.is_file():
        return None
    entries = {entry["file"]: entry for entry in old.get("vectors", [])}
    entry = entries.get(path.name)
    data = path.read_bytes()
    if entry is None or entry.get("sha256") != sha256(data):
        return None
    return data


def write_if_changed(path: Path, data: bytes, check: bool) -> bool:
    """True when the file's bytes differ from `data` (and, unless checking, rewrite it)."""
    if path.is_file() and path.read_bytes() == data:
        print(f"unchanged  {path.relative_to(REPO_ROOT)} ({len(data)} bytes)")
        return False
    verb = "would write" if check else "wrote"
    if not check:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    print(f"{verb:<10} {path.relative_to(REPO_ROOT)} ({len(data)} bytes)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="vector folder")
    parser.add_argument("--check", action="store_true", help="verify only, write nothing")
    parser.add_argument("--regenerate", action="store_true",
                        help="re-encode every vector even if the committed one is still valid")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    setup()
    old = None if args.regenerate else load_manifest(out / MANIFEST_NAME)
    old_entries = {e["file"]: e for e in (old or {}).get("vectors", [])}

    changed = False
    entries = []
    for vector in VECTORS:
        data = existing_vector(out, vector, old)
        if data is None:
            data = encode_vector(vector)
        if len(data) > MAX_VECTOR_BYTES:
            message = f"error: {vector.name} is {len(data)} bytes (> {MAX_VECTOR_BYTES})"
            print(message, file=sys.stderr)
            return 1
        entry = manifest_entry(vector, data)
        previous = old_entries.get(entry["file"])
        if previous is not None and previous.get("sha256") == entry["sha256"]:
            for key in ("decoded_raw_sha256",):
                if previous.get(key) != entry[key]:
                    print(f"MISMATCH   {entry['file']}: {key} differs from the manifest",
                          file=sys.stderr)
                    changed = True
        changed |= write_if_changed(out / entry["file"], data, args.check)
        entries.append(entry)

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "generator": "scripts/make_conformance_vectors.py",
        "about": (
            "decoded_raw_sha256 is the SHA-256 of the decoded uint8 pixels, row-major H x W x C "
            "(normative). decoded_png_sha256 is the SHA-256 of nfcodec.io.write_png's output and "
            "also depends on the Pillow and zlib versions recorded under 'environment'."
        ),
        "preset": {"name": PRESET_NAME, "steps": PRESET_STEPS},
        "environment": environment(),
        "vectors": entries,
    }
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    changed |= write_if_changed(out / MANIFEST_NAME, text.encode(), args.check)
    stray = sorted(p.name for p in out.glob("*.nfc") if p.name not in {e["file"] for e in entries})
    for name in stray:
        print(f"note: {name} is not generated by this script")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
