"""Entropy coding of integer symbols with table-driven Laplace models (numpy + constriction only).

Public API:
    NUM_SCALE_CLASSES, SCALES            normative scale table (class k -> 2 ** ((k - 24) / 4))
    nearest_class, laplace_bits, best_class, best_classes_by_context,
    best_bits_by_context                 encoder-side helpers
    SymbolWriter, SymbolReader           chunked payload writer / reader
"""

from nfcodec.entropy.coder import MAX_RANGE_WIDTH, MAX_SYMBOLS, SymbolReader, SymbolWriter
from nfcodec.entropy.laplace import (
    NUM_SCALE_CLASSES,
    SCALES,
    best_bits_by_context,
    best_class,
    best_classes_by_context,
    laplace_bits,
    nearest_class,
)

__all__ = [
    "MAX_RANGE_WIDTH",
    "MAX_SYMBOLS",
    "NUM_SCALE_CLASSES",
    "SCALES",
    "SymbolReader",
    "SymbolWriter",
    "best_bits_by_context",
    "best_class",
    "best_classes_by_context",
    "laplace_bits",
    "nearest_class",
]
