"""nfcodec: a neural-field image codec.

Public API (imports torch lazily, so `read_info` stays light):
    encode_image(image, output=None, **options) -> EncodeResult
    decode(source, output=None) -> numpy uint8 array (H, W, C)
    read_info(source) -> container info
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from nfcodec.codec import EncodeResult

__all__ = ["encode_image", "decode", "read_info", "__version__"]


def encode_image(image: Any, output: Any = None, **options: Any) -> EncodeResult:
    """Encode a path or uint8 array (H, W, C) into .nfc bytes; see `nfcodec.codec.encode_image`."""
    from nfcodec.codec import encode_image as _encode

    return _encode(image, output, **options)


def decode(source: Any, output: Any = None, **options: Any) -> Any:
    """Decode .nfc bytes or a path to a uint8 array (H, W, C); see `nfcodec.codec.decode`."""
    from nfcodec.codec import decode as _decode

    return _decode(source, output, **options)


def read_info(source: Any) -> Any:
    """Parse the header and section table only (no torch)."""
    from nfcodec.container.reader import read_info_source

    return read_info_source(source)
