"""Pillow plugin: `Image.open("x.nfc")`, `.load()` and `img.save("x.nfc", target_bpp=0.5)`.

Importing nfcodec registers it. `open` reads the header only (size and mode), so Pillow's
`Image.MAX_IMAGE_PIXELS` bomb check runs before any decoding; `load` decodes the whole file
(without torch); `save` encodes (with torch), passing the save options to `encode_image`.
"""

from __future__ import annotations

from typing import IO, Any

from PIL import Image, ImageFile

from nfcodec.container import HEADER_PREFIX_BYTES, MAGIC, read_header
from nfcodec.errors import NfcError

FORMAT = "NFC"
MODES = {1: "L", 3: "RGB"}
# Options `img.save(..., **options)` hands to `nfcodec.encode_image`.
SAVE_OPTIONS = ("target_bpp", "lmbda", "preset", "field", "permute", "seed", "device")


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


class NfcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "nfcodec neural-field image"

    def _open(self) -> None:
        try:
            major, minor, header = read_header(self.fp.read(HEADER_PREFIX_BYTES))
        except NfcError as exc:
            raise SyntaxError(f"not a readable .nfc file: {exc}") from None  # Pillow: not ours
        self._mode = MODES[header.channels]
        self._size = (header.width, header.height)
        self.info["nfc_version"] = f"{major}.{minor}"
        self.info["nfc_field"] = header.field_kind.name.lower()
        self.tile = [ImageFile._Tile(FORMAT, (0, 0) + self.size, 0, None)]


class NfcDecoder(ImageFile.PyDecoder):
    """Reads the whole file and decodes it in one call (the format has no partial decode)."""

    _pulls_fd = True

    def decode(self, buffer: Any) -> tuple[int, int]:
        from nfcodec.container.reader import DEFAULT_MAX_FILE_BYTES
        from nfcodec.decoder import decode_bytes

        assert self.fd is not None
        data = self.fd.read(DEFAULT_MAX_FILE_BYTES + 1)
        if len(data) > DEFAULT_MAX_FILE_BYTES:
            raise OSError(f"cannot decode .nfc file: more than {DEFAULT_MAX_FILE_BYTES} bytes")
        # Pillow's own bomb limit governs (it refuses above twice MAX_IMAGE_PIXELS at open).
        limit = Image.MAX_IMAGE_PIXELS
        try:
            pixels = decode_bytes(data, max_pixels=None if limit is None else 2 * int(limit))
        except NfcError as exc:
            raise OSError(f"cannot decode .nfc file: {exc}") from None
        self.set_as_raw(pixels.tobytes(), self.mode)
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    import numpy as np

    from nfcodec import encode_image

    if im.mode not in MODES.values():
        raise OSError(f"cannot write mode {im.mode} as NFC (use L or RGB)")
    options: dict[str, Any] = {k: v for k, v in im.encoderinfo.items() if k in SAVE_OPTIONS}
    result = encode_image(np.asarray(im), **options)
    fp.write(result.data)


def register() -> None:
    Image.register_open(FORMAT, NfcImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".nfc")
    Image.register_mime(FORMAT, "image/x-nfc")
    Image.register_decoder(FORMAT, NfcDecoder)


register()
