"""nfcodec: a neural-field image codec.

Public API:
    encode_image(image, output=None, **options) -> EncodeResult   (imports torch)
    decode(source, output=None, max_pixels=...) -> uint8 (H, W, C) (numpy/numba, no torch)
    read_info(source) -> container info                           (standard library only)

Importing nfcodec registers its Pillow plugin, so `PIL.Image.open("x.nfc")` works; nothing
heavier than Pillow is imported until a function needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from nfcodec.codec import EncodeResult
    from nfcodec.container import NfcInfo

__all__ = ["encode_image", "decode", "read_info", "__version__"]

from nfcodec import pillow as _pillow  # noqa: E402,F401 - registers the Pillow plugin


def encode_image(image: Any, output: Any = None, **options: Any) -> EncodeResult:
    """Encode a path or uint8 array (H, W, C) into .nfc bytes; see `nfcodec.codec.encode_image`."""
    from nfcodec.codec import encode_image as _encode

    return _encode(image, output, **options)


def decode(source: Any, output: Any = None, **options: Any) -> np.ndarray:
    """Decode .nfc bytes or a path to a uint8 array (H, W, C); see `nfcodec.decoder.decode`
    (`max_pixels=` bounds the image and its synthesis work)."""
    from nfcodec.decoder import decode as _decode

    return _decode(source, output, **options)


def read_info(source: Any) -> NfcInfo:
    """Parse the header and section table only, reading a file in bounded pieces."""
    from nfcodec.container.reader import read_info_source
    from nfcodec.source import naming

    with naming(source):
        return read_info_source(source)
