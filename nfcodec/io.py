"""Image and video input/output with strict, lossless-only mode handling.

A codec must encode exactly the pixels the user has, so this module never
alters sample values: it converts a picture only when the conversion can be
undone bit for bit, and otherwise refuses with an :class:`InputError` that
names the file and the reason.

Policy, mode by mode (Pillow mode names):

* ``L`` and ``RGB`` are returned as they are.
* ``1`` (bilevel) becomes ``L`` with values 0 and 255.
* ``P`` (palette) becomes ``RGB``, or ``L`` when every pixel is gray.
* Alpha (``LA``, ``La``, ``RGBA``, ``RGBa``, ``PA``, a ``tRNS`` colour key) is
  dropped only when every pixel is fully opaque; any transparency is refused,
  because the codec has no alpha channel and the information would be lost.
* ``RGBX`` loses only its padding byte.
* 16-bit gray (``I;16*``) and 32-bit integer (``I``) images are accepted only
  when every sample is a multiple of 257, i.e. an 8-bit picture widened the
  standard way (``v * 257``); they are narrowed back with ``v // 257``.  Other
  16-bit content is refused: keeping the high byte would silently drop detail,
  and treating small values as 8-bit would change the picture's brightness.
* 16-bit-per-channel colour is refused: Pillow decodes it by keeping only the
  high byte, so whether the result is exact cannot be checked.
* ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` and ``F`` are refused: converting them
  to RGB rounds or depends on a colour profile, so it is not lossless.
* Multi-frame files (animated GIF/WebP, multi-page TIFF, MPO) yield their
  first frame.
* EXIF orientation is *not* applied: the stored pixel grid is what gets coded,
  and rotating it would be an edit the user did not ask for.

Sizes are bounded by :data:`nfcodec.container.spec.MAX_SIDE` per side and
:data:`nfcodec.container.spec.MAX_PIXELS` in all, the same bounds a decoder
enforces, so anything read here can also be written to a stream.
"""

from __future__ import annotations

import contextlib
import fractions
import importlib.resources
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nfcodec.container.spec import MAX_PIXELS, MAX_SIDE
from nfcodec.errors import InputError

# Total pixels (frames x height x width) read_video will hold in memory at once.
MAX_VIDEO_PIXELS = 1 << 28

_SIXTEEN_BIT_GRAY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = {"LA": "L", "La": "L", "RGBA": "RGB", "RGBa": "RGB"}
_LOSSY_MODES = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "F"})


# --------------------------------------------------------------------- reading images


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit image as a ``uint8`` array of shape (H, W, C), C in {1, 3}.

    Raises :class:`InputError` with a one-line message naming ``path`` when the
    file is missing, unreadable, not an image, too large, or in a mode that
    cannot be converted losslessly (see the module docstring for the policy).
    """
    p = _existing_file(path)
    try:
        with _pillow_pixel_limit(), Image.open(p) as im:
            _check_size(p, im.size)
            _refuse_truncated_depth(p, im)
            im.load()
            array = _to_array(p, im)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{p}: image exceeds the {MAX_PIXELS}-pixel limit (refused before decoding)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{p}: not an image format Pillow can read") from exc
    except PermissionError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    except Exception as exc:  # decoders raise many types on damaged untrusted input
        raise InputError(f"{p}: cannot decode image ({_one_line(exc)})") from exc
    return np.ascontiguousarray(array)


def _existing_file(path: str | os.PathLike[str]) -> Path:
    """Resolve the common path mistakes before handing the file to a decoder."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a file")
    return p


@contextlib.contextmanager
def _pillow_pixel_limit() -> Iterator[None]:
    """Align Pillow's decompression-bomb limit with the codec's own bound.

    Pillow warns above ``MAX_IMAGE_PIXELS`` and raises above twice that; we
    silence the warning (our own check rejects such images with a clear
    message) and let the hard error stop absurd headers before any decoding.
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _check_size(p: Path, size: tuple[int, int]) -> None:
    """Refuse images the container cannot describe, before decoding them."""
    width, height = size
    if width < 1 or height < 1:
        raise InputError(f"{p}: image has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InputError(f"{p}: {width}x{height} exceeds the {MAX_SIDE}-pixel side limit")
    if width * height > MAX_PIXELS:
        raise InputError(f"{p}: {width}x{height} exceeds the {MAX_PIXELS}-pixel limit")


def _refuse_truncated_depth(p: Path, im: Image.Image) -> None:
    """Refuse colour images whose 16-bit samples Pillow would squeeze into 8 bits."""
    if im.mode in _SIXTEEN_BIT_GRAY:
        return
    for tile in im.tile:
        codec_name, args = tile[0], tile[3]  # plain 4-tuples in older Pillow releases
        rawmode = args if isinstance(args, str) else None
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            rawmode = args[0]
        wide_ppm = codec_name == "ppm" and isinstance(args, tuple) and _maxval(args) > 255
        if wide_ppm or (rawmode is not None and ";16" in rawmode):
            raise InputError(
                f"{p}: 16-bit-per-channel {im.mode} is not supported "
                "(precision would be lost); convert it to 8-bit first"
            )


def _maxval(args: tuple) -> int:
    """The sample maximum a PPM/PGM tile declares (its second argument), or 0."""
    return args[1] if len(args) > 1 and isinstance(args[1], int) else 0


def _to_array(p: Path, im: Image.Image) -> np.ndarray:
    """Turn a loaded Pillow image into (H, W, C) uint8, or refuse it."""
    mode = im.mode
    if mode in _LOSSY_MODES:
        raise InputError(
            f"{p}: {mode} images are not supported (conversion to RGB is not lossless)"
        )
    if mode in _SIXTEEN_BIT_GRAY:
        return _narrow_sixteen_bit(p, mode, np.asarray(im))[:, :, None]
    if mode == "1":
        return np.asarray(im.convert("L"))[:, :, None]
    if mode == "RGBX":
        return np.asarray(im.convert("RGB"))
    if mode in ("P", "PA"):
        return _palette_to_array(p, im)
    if mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
        mode = im.mode
    if mode in _ALPHA_MODES:
        return _drop_opaque_alpha(p, im)
    if mode == "L":
        return np.asarray(im)[:, :, None]
    if mode == "RGB":
        return np.asarray(im)
    raise InputError(f"{p}: image mode {mode} is not supported")


def _narrow_sixteen_bit(p: Path, mode: str, samples: np.ndarray) -> np.ndarray:
    """Map 8-bit-in-16-bit samples (v * 257) back to 8 bits; refuse anything else."""
    wide = samples.astype(np.int64)
    if wide.min() < 0 or wide.max() > 0xFFFF or np.any(wide % 257):
        raise InputError(
            f"{p}: {mode} samples are not supported unless they are 8-bit values "
            "times 257; convert the image to 8-bit first"
        )
    return (wide // 257).astype(np.uint8)


def _palette_to_array(p: Path, im: Image.Image) -> np.ndarray:
    """Expand a palette, keeping one channel when every pixel is gray."""
    has_alpha = (
        im.mode == "PA"
        or "transparency" in im.info
        or (im.palette is not None and im.palette.mode == "RGBA")
    )
    rgb = _drop_opaque_alpha(p, im.convert("RGBA")) if has_alpha else np.asarray(im.convert("RGB"))
    if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        return np.ascontiguousarray(rgb[:, :, :1])
    return rgb


def _drop_opaque_alpha(p: Path, im: Image.Image) -> np.ndarray:
    """Drop an alpha channel that carries no information; refuse real transparency."""
    if im.mode in ("La", "RGBa"):
        im = im.convert(im.mode[:-1] + "A")
    samples = np.asarray(im)
    if samples[:, :, -1].min() < 255:
        base = _ALPHA_MODES.get(im.mode, im.mode)
        raise InputError(f"{p}: {base} with transparency is not supported (alpha would be lost)")
    return samples[:, :, :-1]


def _one_line(exc: BaseException) -> str:
    """Exception text squeezed onto one line, for CLI messages."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------- writing files


# Lossless formats a decoded picture may be written as, by file suffix: Pillow format name and
# the save options that keep every sample exact. PNG at zlib level 4: a Kodak-size decode
# writes in a third of the default level's time for ~3% more bytes.
LOSSLESS_FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {"compress_level": 4}),
    ".webp": ("WEBP", {"lossless": True, "quality": 100, "exact": True}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".ppm": ("PPM", {}),
    ".pgm": ("PPM", {}),
    ".pnm": ("PPM", {}),
}


def write_image(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a uint8 picture in the lossless format its suffix names (see `LOSSLESS_FORMATS`),
    atomically; any other suffix is refused rather than written as something else."""
    fmt, options = LOSSLESS_FORMATS[check_image_suffix(path)]
    write_bytes_atomic(path, encode_image_file(array, fmt, options, path))


def check_image_suffix(path: str | os.PathLike[str]) -> str:
    """The lower-case suffix of `path` when `write_image` can write it, else InputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in LOSSLESS_FORMATS:
        choices = ", ".join(LOSSLESS_FORMATS)
        shown = suffix or "(no suffix)"
        raise InputError(
            f"cannot write {path}: {shown} is not a lossless image type I write; use {choices}"
        )
    return suffix


def write_png(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a uint8 (H, W), (H, W, 1) or (H, W, 3) array as a PNG, atomically."""
    fmt, options = LOSSLESS_FORMATS[".png"]
    write_bytes_atomic(path, encode_image_file(array, fmt, options, path))


def encode_image_file(
    array: np.ndarray, fmt: str, options: dict[str, object], path: str | os.PathLike[str]
) -> bytes:
    """The bytes of `array` saved by Pillow as `fmt`; `path` only names it in errors."""
    samples = np.asarray(array)
    if samples.dtype != np.uint8:
        raise InputError(f"cannot write {path}: pixels must be uint8, not {samples.dtype}")
    if samples.ndim == 3 and samples.shape[2] == 1:
        samples = samples[:, :, 0]
    if not (samples.ndim == 2 or (samples.ndim == 3 and samples.shape[2] == 3)):
        raise InputError(f"cannot write {path}: unsupported array shape {array.shape}")
    if samples.size == 0:
        raise InputError(f"cannot write {path}: image has no pixels")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(samples)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the target's directory (same file
    system, so the final ``os.replace`` is atomic); on any failure the
    temporary file is removed and :class:`InputError` is raised.
    """
    target = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {_os_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {target}: {_os_reason(exc)}") from exc
        raise


def _current_umask() -> int:
    """The process umask, so the new file gets the permissions a plain open() would give."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_reason(exc: OSError) -> str:
    """The human part of an OSError (without the repeated file name)."""
    return exc.strerror or _one_line(exc)


# --------------------------------------------------------------------- video


def read_video(path: str | os.PathLike[str], max_frames: int | None = None) -> np.ndarray:
    """Decode the first video stream as uint8 RGB frames of shape (T, H, W, 3).

    ``max_frames`` stops after that many frames; without it the whole stream
    is read, up to :data:`MAX_VIDEO_PIXELS` pixels in total.
    """
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise InputError(f"max_frames must be a positive integer, not {max_frames!r}")
    p = _existing_file(path)
    import av  # deferred: PyAV is heavy and only video work needs it

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise InputError(f"{p}: has no video stream")
            stream = container.streams.video[0]
            frames = _decode_frames(p, container.decode(stream), max_frames)
    except InputError:
        raise
    except Exception as exc:  # FFmpeg reports damaged or foreign files in many ways
        raise InputError(f"{p}: cannot decode video ({_one_line(exc)})") from exc
    if not frames:
        raise InputError(f"{p}: video has no frames")
    return np.stack(frames)


def video_frame_rate(path: str | os.PathLike[str]) -> fractions.Fraction:
    """Frame rate of the first video stream as an exact fraction (e.g. 30000/1001).

    The container's average rate, else FFmpeg's guess from the timestamps; a stream with
    neither is refused rather than given an invented rate.
    """
    p = _existing_file(path)
    import av  # deferred: PyAV is heavy and only video work needs it

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise InputError(f"{p}: has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
    except InputError:
        raise
    except Exception as exc:  # FFmpeg reports damaged or foreign files in many ways
        raise InputError(f"{p}: cannot read video ({_one_line(exc)})") from exc
    if not rate or rate <= 0:
        raise InputError(f"{p}: video stream declares no frame rate")
    return fractions.Fraction(rate)


def _decode_frames(p: Path, decoded: Iterator, max_frames: int | None) -> list[np.ndarray]:
    """Collect RGB frames, enforcing the size bounds frame by frame."""
    frames: list[np.ndarray] = []
    total = 0
    for frame in decoded:
        rgb = frame.to_ndarray(format="rgb24")
        height, width = rgb.shape[:2]
        _check_size(p, (width, height))
        if frames and rgb.shape != frames[0].shape:
            raise InputError(f"{p}: frame size changes mid-stream")
        total += height * width
        if total > MAX_VIDEO_PIXELS:
            raise InputError(
                f"{p}: video exceeds {MAX_VIDEO_PIXELS} pixels in memory; pass max_frames"
            )
        frames.append(rgb)
        if max_frames is not None and len(frames) >= max_frames:
            break
    return frames


# --------------------------------------------------------------------- bundled data


def sample_image_path() -> Path:
    """Path of the bundled demo image (a 128x96 RGB crop of Kodak kodim23)."""
    resource = importlib.resources.files("nfcodec").joinpath("data").joinpath("sample.png")
    if not isinstance(resource, Path) or not resource.is_file():
        raise InputError("the bundled sample image is missing from this installation")
    return resource
