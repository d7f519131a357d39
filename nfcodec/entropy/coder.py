"""Chunked ANS coding of integer symbols under table-driven zero-mean Laplace models.

Payload layout (normative text: bitstream/SPEC.md section 9):

    varint n_symbols
    if n_symbols > 0:
        varint zigzag(lo)      smallest symbol in the stream
        varint hi - lo         range width, <= MAX_RANGE_WIDTH
        varint n_words         number of 32-bit ANS words that follow
        n_words x uint32 little-endian

The writer buffers chunks and encodes them all at `finish()` with one `encode_reverse`, so
the reader pops them front to back, chunk by chunk, from a single ANS stack.
"""

from __future__ import annotations

import constriction
import numpy as np

from nfcodec.entropy.laplace import SCALES, as_class_array
from nfcodec.errors import CorruptStream, InputError

MAX_RANGE_WIDTH = 1 << 20  # hi - lo; constriction needs < 2**24, and wider means heavy leakage
MAX_SYMBOLS = 1 << 30  # per payload; bounds the head so a forged count cannot run forever
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
_MAX_VARINT_BYTES = 5  # every head field fits in 35 bits

_Laplace = constriction.stream.model.QuantizedLaplace
_AnsCoder = constriction.stream.stack.AnsCoder


def _put_varint(out: bytearray, value: int) -> None:
    """Unsigned LEB128: 7 bits per byte, low group first, high bit = more follows."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int) -> int:
    """Map 0, -1, 1, -2, ... to 0, 1, 2, 3, ... so small negatives stay short."""
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    """Inverse of `_zigzag`."""
    return value >> 1 if value % 2 == 0 else -((value + 1) >> 1)


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read one canonical varint at `pos`; return (value, next position)."""
    value = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise CorruptStream("entropy payload head is truncated")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            if byte == 0 and index > 0:
                raise CorruptStream("entropy payload head has an overlong varint")
            return value, pos + index + 1
    raise CorruptStream("entropy payload head has a varint longer than 5 bytes")


def _as_symbol_array(symbols: np.ndarray) -> np.ndarray:
    """Flat int32 copy of caller symbols; rejects non-integers and values beyond int32."""
    array = np.asarray(symbols)
    if array.size and array.dtype.kind not in "iu":
        raise InputError(f"symbols must be integers, got dtype {array.dtype}")
    array = array.reshape(-1)
    if array.size and (int(array.min()) < _INT32_MIN or int(array.max()) > _INT32_MAX):
        raise InputError("symbols must fit in int32")
    return array.astype(np.int32)


class SymbolWriter:
    """Collects chunks in decode order; `finish()` entropy-codes them into one payload."""

    def __init__(self) -> None:
        self._symbols: list[np.ndarray] = []
        self._classes: list[np.ndarray] = []
        self._count = 0
        self._lo = 0
        self._hi = 0
        self._result: bytes | None = None

    def write(self, symbols: np.ndarray, classes: np.ndarray | int) -> None:
        """Append one chunk; `classes` is one scale class for the chunk or one per symbol."""
        if self._result is not None:
            raise InputError("SymbolWriter.write() called after finish()")
        chunk = _as_symbol_array(symbols)
        try:
            checked = as_class_array(classes, chunk.size)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        if chunk.size == 0:
            return
        lo, hi = int(chunk.min()), int(chunk.max())
        if self._count:
            lo, hi = min(lo, self._lo), max(hi, self._hi)
        if hi - lo > MAX_RANGE_WIDTH:
            raise InputError(f"symbol range [{lo}, {hi}] is wider than {MAX_RANGE_WIDTH}")
        if self._count + chunk.size > MAX_SYMBOLS:
            raise InputError(f"more than {MAX_SYMBOLS} symbols in one payload")
        if isinstance(checked, int):
            checked = np.full(chunk.size, checked, dtype=np.uint8)
        self._symbols.append(chunk)
        self._classes.append(checked.astype(np.uint8))
        self._count += chunk.size
        self._lo, self._hi = lo, hi

    def finish(self) -> bytes:
        """Encode every chunk and return the payload; later calls return the same bytes."""
        if self._result is None:
            self._result = self._encode()
            self._symbols, self._classes = [], []
        return self._result

    def _encode(self) -> bytes:
        head = bytearray()
        _put_varint(head, self._count)
        if self._count == 0:
            return bytes(head)
        _put_varint(head, _zigzag(self._lo))
        _put_varint(head, self._hi - self._lo)
        words = np.zeros(0, dtype="<u4")
        if self._hi > self._lo:  # a one-value range is implied by the head: nothing to code
            symbols = np.concatenate(self._symbols)
            scales = SCALES[np.concatenate(self._classes)]
            coder = _AnsCoder()
            model = _Laplace(self._lo, self._hi, 0.0)  # mean fixed at 0, scale per symbol
            coder.encode_reverse(symbols, model, scales)
            words = coder.get_compressed().astype("<u4")
        _put_varint(head, int(words.size))
        return bytes(head) + words.tobytes()


class SymbolReader:
    """Decodes a `SymbolWriter` payload chunk by chunk, in the order the chunks were written."""

    def __init__(self, data: bytes) -> None:
        data = bytes(data)
        count, pos = _get_varint(data, 0)
        if count > MAX_SYMBOLS:
            raise CorruptStream(f"entropy payload claims {count} symbols (max {MAX_SYMBOLS})")
        self._remaining = count
        self._lo = 0
        self._hi = 0
        self._coder: _AnsCoder | None = None
        self._fixed: dict[int, _Laplace] = {}
        self._model: _Laplace | None = None
        if count == 0:
            if pos != len(data):
                raise CorruptStream("empty entropy payload has trailing bytes")
            return
        self._parse_body(data, pos)

    @property
    def remaining(self) -> int:
        """Symbols still to read; lets a decoder check counts before it allocates anything."""
        return self._remaining

    def _parse_body(self, data: bytes, pos: int) -> None:
        """Read range and word count, check them against the payload length, open the coder."""
        zig_lo, pos = _get_varint(data, pos)
        width, pos = _get_varint(data, pos)
        n_words, pos = _get_varint(data, pos)
        lo = _unzigzag(zig_lo)
        if width > MAX_RANGE_WIDTH:
            raise CorruptStream(f"symbol range width {width} exceeds {MAX_RANGE_WIDTH}")
        if lo < _INT32_MIN or lo + width > _INT32_MAX:
            raise CorruptStream("symbol range does not fit in int32")
        if 4 * n_words != len(data) - pos:
            raise CorruptStream(
                f"entropy payload declares {n_words} words but holds {len(data) - pos} bytes"
            )
        if (width == 0) != (n_words == 0):
            raise CorruptStream("entropy word count is inconsistent with the symbol range")
        self._lo, self._hi = lo, lo + width
        if width == 0:
            return
        words = np.frombuffer(data, dtype="<u4", offset=pos).astype(np.uint32)
        try:
            self._coder = _AnsCoder(words)
        except ValueError as exc:
            raise CorruptStream(f"invalid ANS data: {exc}") from exc
        self._model = _Laplace(self._lo, self._hi, 0.0)

    def read(self, count: int, classes: np.ndarray | int) -> np.ndarray:
        """Decode the next `count` symbols (int32) under the given scale classes."""
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise InputError(f"count must be a non-negative int, got {count!r}")
        count = int(count)
        try:
            checked = as_class_array(classes, count)
        except ValueError as exc:
            raise CorruptStream(f"bad scale classes: {exc}") from exc
        if count > self._remaining:
            raise CorruptStream(
                f"asked for {count} symbols but the payload has {self._remaining} left"
            )
        self._remaining -= count
        if self._coder is None or count == 0:
            return np.full(count, self._lo, dtype=np.int32)
        if isinstance(checked, int):
            out = self._coder.decode(self._fixed_model(checked), count)
        else:
            out = self._coder.decode(self._model, SCALES[checked])
        return np.asarray(out, dtype=np.int32)

    def finish(self) -> None:
        """Check that every symbol was read and the ANS stack is exactly empty."""
        if self._remaining:
            raise CorruptStream(f"{self._remaining} entropy-coded symbols were left unread")
        if self._coder is not None and not self._coder.is_empty():
            raise CorruptStream("ANS data left over after the last symbol")

    def _fixed_model(self, klass: int) -> _Laplace:
        """Model with the scale baked in, cached per class: no per-symbol arrays for scalars."""
        model = self._fixed.get(klass)
        if model is None:
            model = _Laplace(self._lo, self._hi, 0.0, float(SCALES[klass]))
            self._fixed[klass] = model
        return model
