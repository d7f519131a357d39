"""Payloads of the LATENTS and WEIGHTS sections (numpy + entropy coder; no torch).

LATENTS: for every latent table, feature by feature, a class table (one scale class per context
bucket when the table is a spatial grid coded with context, else a single class), then one
entropy-coded symbol stream holding all tables in the same order. Grid planes are coded row by
row, each row's classes taken from the rows above it (nfcodec.context), so the decoder reads one
row per call.
WEIGHTS: for every network tensor a step exponent e (step 2**-e) and a class, then one stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from nfcodec.context import NUM_CONTEXTS, buckets_from_activity, grid_buckets, row_activity
from nfcodec.entropy import (
    NUM_SCALE_CLASSES,
    SymbolReader,
    SymbolWriter,
    best_bits_by_context,
    best_class,
    best_classes_by_context,
)
from nfcodec.entropy.arm import (
    MAX_HIDDEN,
    WEIGHT_EXPONENT,
    ArmWeights,
    decode_planes,
    encode_planes,
)
from nfcodec.entropy.arm import latent_bits as arm_latent_bits
from nfcodec.errors import CorruptStream
from nfcodec.quant import MAX_STEP_EXPONENT, MIN_STEP_EXPONENT


@dataclass(frozen=True)
class TableLayout:
    """What the decoder knows of a latent table before reading it (numpy-side LatentTable)."""

    rows: int
    features: int
    grid_shape: tuple[int, int] | None


def _uses_context(layout: TableLayout, context_rows: int) -> bool:
    return layout.grid_shape is not None and context_rows > 0


def _check_class_bytes(raw: bytes) -> np.ndarray:
    classes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    if classes.size and int(classes.max()) >= NUM_SCALE_CLASSES:
        raise CorruptStream("scale class out of range in section payload")
    return classes


def _groups(
    tables: Sequence[np.ndarray], layouts: Sequence[TableLayout], context_rows: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(symbols, buckets) per (table, feature) in wire order; buckets None for plain groups."""
    for symbols, layout in zip(tables, layouts, strict=True):
        for feature in range(layout.features):
            column = np.ascontiguousarray(symbols[:, feature])
            if _uses_context(layout, context_rows):
                plane = column.reshape(layout.grid_shape)
                yield plane, grid_buckets(plane, context_rows)
            else:
                yield column, None


def encode_latents(
    tables: Sequence[np.ndarray], layouts: Sequence[TableLayout], context_rows: int
) -> bytes:
    """tables[t] is an int32 (rows, features) array laid out as layouts[t]."""
    class_bytes = bytearray()
    writer = SymbolWriter()
    for symbols, buckets in _groups(tables, layouts, context_rows):
        if buckets is None:
            cls = best_class(symbols)
            class_bytes.append(cls)
            writer.write(symbols, cls)
            continue
        classes = best_classes_by_context(symbols, buckets, NUM_CONTEXTS)
        class_bytes.extend(int(c) for c in classes)
        per_symbol = classes[buckets]
        for row in range(symbols.shape[0]):
            writer.write(symbols[row], per_symbol[row])
    return bytes(class_bytes) + writer.finish()


def latent_bits(
    tables: Sequence[np.ndarray], layouts: Sequence[TableLayout], context_rows: int
) -> float:
    """Coded size of `encode_latents` in bits, estimated without coding (encoder-side)."""
    total = 8.0 * class_table_bytes(layouts, context_rows)
    for symbols, buckets in _groups(tables, layouts, context_rows):
        total += best_bits_by_context(symbols, buckets, NUM_CONTEXTS)
    return total


def class_table_bytes(layouts: Sequence[TableLayout], context_rows: int) -> int:
    per_feature = [NUM_CONTEXTS if _uses_context(t, context_rows) else 1 for t in layouts]
    return sum(n * t.features for n, t in zip(per_feature, layouts, strict=True))


def decode_latents(
    payload: bytes, layouts: Sequence[TableLayout], context_rows: int
) -> list[np.ndarray]:
    n_class = class_table_bytes(layouts, context_rows)
    if len(payload) < n_class:
        raise CorruptStream("latent section shorter than its class tables")
    classes = _check_class_bytes(payload[:n_class])
    reader = SymbolReader(payload[n_class:])
    expected = sum(t.rows * t.features for t in layouts)
    if reader.remaining != expected:
        raise CorruptStream(
            f"latent stream holds {reader.remaining} symbols, field needs {expected}"
        )
    out, cursor = [], 0
    for layout in layouts:
        table = np.zeros((layout.rows, layout.features), dtype=np.int32)
        for feature in range(layout.features):
            if _uses_context(layout, context_rows):
                table_classes = classes[cursor : cursor + NUM_CONTEXTS]
                cursor += NUM_CONTEXTS
                height, width = layout.grid_shape  # type: ignore[misc]
                plane = np.zeros((height, width), dtype=np.int32)
                for row in range(height):
                    if row == 0:
                        buckets = np.zeros(width, dtype=np.int64)
                    else:
                        above2 = plane[row - 2] if row >= 2 else None
                        activity = row_activity(plane[row - 1], above2, context_rows)
                        buckets = buckets_from_activity(activity)
                    plane[row] = reader.read(width, table_classes[buckets])
                table[:, feature] = plane.reshape(-1)
            else:
                table[:, feature] = reader.read(layout.rows, int(classes[cursor]))
                cursor += 1
        out.append(table)
    reader.finish()
    return out


def encode_weights(symbols: Sequence[np.ndarray], exponents: Sequence[int]) -> bytes:
    head = bytearray()
    writer = SymbolWriter()
    for values, exponent in zip(symbols, exponents, strict=True):
        flat = np.ascontiguousarray(values, dtype=np.int32).reshape(-1)
        cls = best_class(flat)
        head.extend((exponent, cls))
        writer.write(flat, cls)
    return bytes(head) + writer.finish()


def decode_weights(payload: bytes, sizes: Sequence[int]) -> tuple[list[np.ndarray], list[int]]:
    n_head = 2 * len(sizes)
    if len(payload) < n_head:
        raise CorruptStream("weight section shorter than its step table")
    head = np.frombuffer(payload[:n_head], dtype=np.uint8).astype(np.int64).reshape(-1, 2)
    exponents = [int(e) for e in head[:, 0]]
    if any(not MIN_STEP_EXPONENT <= e <= MAX_STEP_EXPONENT for e in exponents):
        raise CorruptStream("weight step exponent out of range")
    if head.size and int(head[:, 1].max()) >= NUM_SCALE_CLASSES:
        raise CorruptStream("weight scale class out of range")
    reader = SymbolReader(payload[n_head:])
    if reader.remaining != sum(sizes):
        raise CorruptStream(
            f"weight stream holds {reader.remaining} symbols, network needs {sum(sizes)}"
        )
    out = [reader.read(size, int(cls)) for size, cls in zip(sizes, head[:, 1], strict=True)]
    reader.finish()
    return out, exponents


# ---------------------------------------------------------------------------------------------
# Format 2: LATENT_MODEL (the ARM's integer parameters) and LATENTS as one rANS stream.


def plane_shapes(layouts: Sequence[TableLayout]) -> list[tuple[int, int]]:
    """One (height, width) plane per table feature, in coding order; a table without a
    spatial layout is one column."""
    shapes = []
    for layout in layouts:
        shape = layout.grid_shape if layout.grid_shape is not None else (layout.rows, 1)
        shapes.extend([(int(shape[0]), int(shape[1]))] * layout.features)
    return shapes


def tables_to_planes(tables: Sequence[np.ndarray], layouts: Sequence[TableLayout]) -> list:
    return [
        np.ascontiguousarray(table[:, feature]).reshape(shape)
        for table, layout in zip(tables, layouts, strict=True)
        for feature, shape in zip(
            range(layout.features), plane_shapes([layout]), strict=True
        )
    ]


def planes_to_tables(planes: Sequence[np.ndarray], layouts: Sequence[TableLayout]) -> list:
    out, cursor = [], 0
    for layout in layouts:
        table = np.empty((layout.rows, layout.features), dtype=np.int32)
        for feature in range(layout.features):
            table[:, feature] = planes[cursor].reshape(-1)
            cursor += 1
        out.append(table)
    return out


def coarsest_exponent(values: np.ndarray) -> int:
    """Smallest e <= 8 such that every value (units of 2**-8) is a multiple of 2**(8 - e)."""
    exponent = WEIGHT_EXPONENT
    while exponent > 0 and not np.any(values % (1 << (WEIGHT_EXPONENT - exponent + 1))):
        exponent -= 1
    return exponent


def encode_latent_model(weights: ArmWeights) -> bytes:
    """Hidden width (one byte), then the four integer tensors as a weight payload, each with
    the coarsest step that holds its values exactly."""
    tensors = weights.tensors()
    exponents = [coarsest_exponent(t) for t in tensors]
    symbols = [t >> (WEIGHT_EXPONENT - e) for t, e in zip(tensors, exponents, strict=True)]
    return bytes([weights.hidden]) + encode_weights(symbols, exponents)


def decode_latent_model(payload: bytes, planes: int) -> ArmWeights:
    if not payload:
        raise CorruptStream("latent model section is empty")
    hidden = payload[0]
    if not 1 <= hidden <= MAX_HIDDEN:
        raise CorruptStream(f"latent model hidden width {hidden} outside 1..{MAX_HIDDEN}")
    shapes = ArmWeights.shapes(hidden, planes)
    symbols, exponents = decode_weights(payload[1:], [int(np.prod(s)) for s in shapes])
    if any(e > WEIGHT_EXPONENT for e in exponents):
        raise CorruptStream(f"latent model steps finer than 2**-{WEIGHT_EXPONENT}")
    tensors = [
        np.asarray(values, dtype=np.int64) << (WEIGHT_EXPONENT - e)
        for values, e in zip(symbols, exponents, strict=True)
    ]
    return ArmWeights.from_tensors(tensors, hidden, planes)


def encode_latents_arm(
    tables: Sequence[np.ndarray], layouts: Sequence[TableLayout], weights: ArmWeights
) -> bytes:
    return encode_planes(tables_to_planes(tables, layouts), weights)


def decode_latents_arm(
    payload: bytes, layouts: Sequence[TableLayout], weights: ArmWeights
) -> list[np.ndarray]:
    planes = decode_planes(payload, plane_shapes(layouts), weights)
    return planes_to_tables(planes, layouts)


def latent_bits_arm(
    tables: Sequence[np.ndarray], layouts: Sequence[TableLayout], weights: ArmWeights
) -> float:
    return arm_latent_bits(tables_to_planes(tables, layouts), weights)
