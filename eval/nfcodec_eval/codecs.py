"""Codec adapters for the rate-distortion harness.

Every adapter compresses one uint8 picture in memory at one point of its rate sweep and returns
the exact byte count of what it produced plus the decoded picture. The sweep engine only sees
the `Codec` protocol, so adding a baseline means adding one small class and one registry entry.

Byte counts are always those of a complete, decodable file or stream (no header stripping), so
bits per pixel are honest; the one exception is documented on `X265Codec`.
"""

from __future__ import annotations

import fractions
import functools
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "CodecRun",
    "Codec",
    "CodecUnavailable",
    "get_codec",
    "codec_names",
    "as_pil_input",
]

ConfigValue = str | int | float


class CodecUnavailable(RuntimeError):
    """A baseline's library is missing from this installation (never silently replaced)."""


@dataclass(frozen=True)
class CodecRun:
    """Outcome of one encode/decode round trip at one rate point."""

    num_bytes: int
    decoded: np.ndarray
    encode_seconds: float
    decode_seconds: float
    config: dict[str, ConfigValue]


@runtime_checkable
class Codec(Protocol):
    """What the sweep engine needs from a codec."""

    name: str
    uses_gpu: bool

    def rate_points(self) -> list[float]: ...

    def run(self, image: np.ndarray, rate: float) -> CodecRun: ...

    def versions(self) -> dict[str, str]: ...


# --------------------------------------------------------------------------- image helpers


def _check_image(image: np.ndarray) -> None:
    """Reject inputs the baselines cannot represent, quoting what was given."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3)):
        return
    raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {image.shape}")


def _is_gray(image: np.ndarray) -> bool:
    return image.ndim == 2 or image.shape[2] == 1


def as_pil_input(image: np.ndarray) -> Any:
    """A Pillow image in mode 'L' for grayscale inputs and 'RGB' otherwise."""
    from PIL import Image

    _check_image(image)
    if _is_gray(image):
        return Image.fromarray(image.reshape(image.shape[0], image.shape[1]), mode="L")
    return Image.fromarray(image, mode="RGB")


def _like_input(decoded: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Give the decoded array the same layout as the input (gray stays gray, (H,W,1) stays so)."""
    if _is_gray(image):
        if decoded.ndim == 3:
            decoded = decoded[..., 0] if decoded.shape[2] == 1 else _rgb_to_gray(decoded)
        decoded = decoded.reshape(image.shape)
    elif decoded.ndim == 2:
        decoded = np.repeat(decoded[..., None], 3, axis=2)
    if decoded.shape != image.shape:
        raise RuntimeError(f"decoder returned shape {decoded.shape}, input was {image.shape}")
    return np.ascontiguousarray(decoded, dtype=np.uint8)


def _rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Codecs that can only output colour get their luma back through Pillow's own formula."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb, mode="RGB").convert("L"))


def _pillow_round_trip(
    image: np.ndarray, save: Callable[[Any, io.BytesIO], None]
) -> tuple[bytes, np.ndarray, float, float]:
    """Encode with `save` into memory, decode with Pillow, and time both halves separately."""
    from PIL import Image

    pil = as_pil_input(image)
    buffer = io.BytesIO()
    start = time.perf_counter()
    save(pil, buffer)
    encode_seconds = time.perf_counter() - start
    data = buffer.getvalue()
    start = time.perf_counter()
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        mode = "L" if _is_gray(image) else "RGB"
        decoded = np.asarray(opened.convert(mode) if opened.mode != mode else opened)
    decode_seconds = time.perf_counter() - start
    return data, _like_input(decoded, image), encode_seconds, decode_seconds


def _pillow_versions() -> dict[str, str]:
    import PIL

    return {"pillow": PIL.__version__}


def _require_feature(feature: str, codec: str) -> None:
    from PIL import features

    if not features.check(feature):
        raise CodecUnavailable(
            f"codec {codec!r} needs Pillow's {feature!r} support, which this Pillow build lacks"
        )


# --------------------------------------------------------------------------- Pillow baselines


class JpegCodec:
    """Baseline JPEG via Pillow (libjpeg-turbo), Pillow defaults except `quality`.

    Pillow's defaults are what CompressAI's published Kodak curve used: 4:2:0 chroma
    subsampling, standard IJG tables, baseline Huffman coding without `optimize`.
    """

    name = "jpeg"
    uses_gpu = False

    def rate_points(self) -> list[float]:
        return [5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 65.0, 80.0, 90.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        quality = int(round(rate))
        data, decoded, enc, dec = _pillow_round_trip(
            image, lambda pil, buf: pil.save(buf, format="JPEG", quality=quality)
        )
        return CodecRun(
            len(data), decoded, enc, dec, {"quality": quality, "subsampling": "pillow-default"}
        )

    def versions(self) -> dict[str, str]:
        from PIL import features

        versions = _pillow_versions()
        versions["libjpeg"] = str(features.version("jpg"))
        versions["libjpeg_turbo"] = str(features.version("libjpeg_turbo"))
        return versions


class WebpCodec:
    """Lossy WebP via Pillow (libwebp), default method (4) and defaults except `quality`."""

    name = "webp"
    uses_gpu = False

    def __init__(self) -> None:
        _require_feature("webp", self.name)

    def rate_points(self) -> list[float]:
        return [0.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 85.0, 90.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        quality = int(round(rate))
        data, decoded, enc, dec = _pillow_round_trip(
            image, lambda pil, buf: pil.save(buf, format="WEBP", quality=quality)
        )
        return CodecRun(len(data), decoded, enc, dec, {"quality": quality, "lossless": 0})

    def versions(self) -> dict[str, str]:
        from PIL import features

        versions = _pillow_versions()
        versions["libwebp"] = str(features.version("webp"))
        return versions


class AvifCodec:
    """AVIF still image via Pillow's AVIF plugin (libavif), defaults except `quality`.

    Pillow's defaults are 4:2:0 subsampling and speed 6; the AV1 encoder is whichever libavif
    was built with (recorded in `versions`).
    """

    name = "avif"
    uses_gpu = False

    def __init__(self) -> None:
        _require_feature("avif", self.name)

    def rate_points(self) -> list[float]:
        return [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        quality = int(round(rate))
        data, decoded, enc, dec = _pillow_round_trip(
            image, lambda pil, buf: pil.save(buf, format="AVIF", quality=quality)
        )
        return CodecRun(len(data), decoded, enc, dec, {"quality": quality, "subsampling": "4:2:0"})

    def versions(self) -> dict[str, str]:
        from PIL import features

        versions = _pillow_versions()
        versions["libavif"] = str(features.version("avif"))
        try:
            from PIL import _avif

            versions["avif_codecs"] = str(_avif.codec_versions())
        except (ImportError, AttributeError):
            pass
        return versions


class Jpeg2000Codec:
    """JPEG 2000 via Pillow/OpenJPEG, rate-controlled: the rate point *is* the target bpp.

    Settings: one quality layer with `quality_mode='rates'` (compression ratio = raw bits per
    pixel / target bpp), the irreversible 9/7 wavelet, the colour transform (mct) on for RGB,
    and a raw J2K codestream (`no_jp2=True`), which is a complete decodable file without the JP2
    box wrapper. OpenJPEG treats the ratio as an upper bound, so achieved bpp can fall short.
    """

    name = "jpeg2000"
    uses_gpu = False

    def __init__(self) -> None:
        _require_feature("jpg_2000", self.name)

    def rate_points(self) -> list[float]:
        return [0.1, 0.15, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        if rate <= 0:
            raise ValueError(f"jpeg2000 rate is a target bpp and must be > 0, got {rate}")
        gray = _is_gray(image)
        ratio = (8.0 if gray else 24.0) / rate
        options: dict[str, Any] = {
            "quality_mode": "rates",
            "quality_layers": [ratio],
            "irreversible": True,
            "mct": 0 if gray else 1,
            "no_jp2": True,
        }
        data, decoded, enc, dec = _pillow_round_trip(
            image, lambda pil, buf: pil.save(buf, format="JPEG2000", **options)
        )
        config: dict[str, ConfigValue] = {
            "target_bpp": float(rate),
            "compression_ratio": round(ratio, 6),
            "wavelet": "9/7 irreversible",
            "mct": int(options["mct"]),
            "container": "j2k codestream",
        }
        return CodecRun(len(data), decoded, enc, dec, config)

    def versions(self) -> dict[str, str]:
        from PIL import features

        versions = _pillow_versions()
        versions["openjpeg"] = str(features.version("jpg_2000"))
        return versions


# --------------------------------------------------------------------------- HEVC intra


class X265Codec:
    """HEVC intra (one frame) through PyAV's libx265, swept by CRF.

    Pixel format is yuv444p (BT.601, limited range, via swscale with accurate rounding) when
    libx265 offers it, otherwise yuv420p; grayscale pictures use 'gray'. The format used is in
    each run's config. `num_bytes` is the raw Annex-B HEVC bitstream: all packets, including
    VPS/SPS/PPS, *excluding* any container (no MP4/HEIF/BPG wrapper; BPG's own header would add
    a few bytes). x265's informational SEI (encoder version and option string, ~2 KB) is turned
    off with `info=0` because it carries no picture data.
    """

    name = "x265"
    uses_gpu = False
    preset = "medium"

    def __init__(self) -> None:
        import av

        if "libx265" not in av.codecs_available:
            raise CodecUnavailable(
                "codec 'x265' needs libx265 in PyAV's FFmpeg build, which this installation lacks"
            )

    def rate_points(self) -> list[float]:
        return [20.0, 23.0, 26.0, 29.0, 32.0, 35.0, 38.0, 41.0, 44.0]

    @staticmethod
    def colour_format(gray: bool) -> str:
        """yuv444p where libx265 accepts it, since 4:2:0 would throw away chroma detail."""
        import av

        if gray:
            return "gray"
        names = {f.name for f in (av.codec.Codec("libx265", "w").video_formats or [])}
        return "yuv444p" if "yuv444p" in names else "yuv420p"

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        _check_image(image)
        gray = _is_gray(image)
        pix_fmt = self.colour_format(gray)
        crf = int(round(rate))
        frame = self._to_frame(image, pix_fmt)
        start = time.perf_counter()
        data, packets = self._encode(frame, pix_fmt, crf)
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        decoded = self._decode(packets, gray)
        decode_seconds = time.perf_counter() - start
        config: dict[str, ConfigValue] = {
            "crf": crf,
            "pix_fmt": pix_fmt,
            "preset": self.preset,
            "bytes": "raw HEVC bitstream, no container",
        }
        return CodecRun(
            len(data), _like_input(decoded, image), encode_seconds, decode_seconds, config
        )

    @staticmethod
    def _to_frame(image: np.ndarray, pix_fmt: str) -> Any:
        import av
        from av.video.reformatter import Colorspace, Interpolation

        if pix_fmt == "gray":
            return av.VideoFrame.from_ndarray(image.reshape(image.shape[:2]), format="gray")
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        return rgb.reformat(
            format=pix_fmt,
            dst_colorspace=Colorspace.ITU601,
            interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND,
        )

    def _encode(self, frame: Any, pix_fmt: str, crf: int) -> tuple[bytes, list[Any]]:
        import av

        ctx = av.codec.CodecContext.create("libx265", "w")
        ctx.width, ctx.height = frame.width, frame.height
        ctx.pix_fmt = pix_fmt
        ctx.time_base = fractions.Fraction(1, 25)
        ctx.options = {
            "crf": str(crf),
            "preset": self.preset,
            "x265-params": "log-level=error:info=0:keyint=1",
        }
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        return b"".join(bytes(p) for p in packets), packets

    @staticmethod
    def _decode(packets: list[Any], gray: bool) -> np.ndarray:
        import av
        from av.video.reformatter import Colorspace, Interpolation

        ctx = av.codec.CodecContext.create("hevc", "r")
        frames = []
        for packet in packets:
            frames.extend(ctx.decode(packet))
        frames.extend(ctx.decode(None))
        if len(frames) != 1:
            raise RuntimeError(f"HEVC decoder returned {len(frames)} frames, expected 1")
        if gray:
            return frames[0].to_ndarray(format="gray")
        rgb = frames[0].reformat(
            format="rgb24",
            src_colorspace=Colorspace.ITU601,
            interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND,
        )
        return rgb.to_ndarray()

    def versions(self) -> dict[str, str]:
        import av

        versions = {"pyav": av.__version__}
        versions.update(
            {
                lib: ".".join(map(str, v))
                for lib, v in av.library_versions.items()
                if lib == "libavcodec"
            }
        )
        return versions


# --------------------------------------------------------------------------- nfcodec


# Weight-only fields (loe, siren) have no rate control over latents: their size is their
# network's. COIN picks the network per rate; so does the adapter, assuming a coded weight
# costs about a byte (the weight step search then fits the file to the target).
BITS_PER_WEIGHT = 8.0
WEIGHT_ONLY_FIELDS = ("loe", "siren")


def sized_network(field: str, rate: float, pixels: int, channels: int) -> dict[str, int]:
    """The widest `hidden_width` (field defaults otherwise) whose weights fit `rate` bpp."""
    from nfcodec.fields.registry import field_class

    config_type = field_class(field).config_type
    budget = rate * pixels / BITS_PER_WEIGHT
    width = 1
    for candidate in range(1, 257):
        network = config_type(hidden_width=candidate).network(channels)  # type: ignore[call-arg]
        if sum(network.tensor_sizes()) <= budget:
            width = candidate
    return {"hidden_width": width}


class NfcodecCodec:
    """The project's own codec through its public API; the rate point is the target bpp.

    `nfcodec` is the default (medium) preset; `nfcodec-fast` and `nfcodec-slow` run the other
    presets so that a sweep can put the training budgets side by side; `nfcodec-loe` and
    `nfcodec-siren` run the weight-only research baselines, their network sized per rate.
    `options` (field, permute, seed: `encode_image` keywords) make a named variant; they and the
    preset are then part of its job identity. `device` and `threads` change speed only, never
    the bytes.
    """

    def __init__(
        self,
        preset: str = "medium",
        field: str = "hashgrid",
        *,
        name: str | None = None,
        options: dict[str, ConfigValue] | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        import torch

        self.preset = preset  # recorded in every job's configuration
        self.field = field
        default = "nfcodec" if preset == "medium" else f"nfcodec-{preset}"
        self.name = name or (default if field == "hashgrid" else f"nfcodec-{field}")
        self.options = dict(options or {})
        # The registry's codecs keep an empty identity config, so their records still resume.
        self.config: dict[str, ConfigValue] = (
            {"preset": preset, **self.options} if self.options else {}
        )
        self.device = device
        self.threads = threads
        self.uses_gpu = device != "cpu" and bool(torch.cuda.is_available())

    def rate_points(self) -> list[float]:
        return [0.25, 0.5, 0.75, 1.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        import nfcodec

        _check_image(image)
        field = str(self.options.get("field", self.field))
        sized: dict[str, int] = {}
        if field in WEIGHT_ONLY_FIELDS:
            height, width = image.shape[:2]
            channels = 1 if image.ndim == 2 else image.shape[2]
            sized = sized_network(field, rate, height * width, channels)
        keywords = {"field": field, **self.options, "field_options": sized or None}
        encoded = nfcodec.encode_image(
            image, quiet=True, target_bpp=rate, preset=self.preset, device=self.device,
            threads=self.threads, **keywords,  # type: ignore[arg-type]
        )
        data = bytes(encoded.data)
        start = time.perf_counter()
        decoded = np.asarray(nfcodec.decode(data))
        decode_seconds = time.perf_counter() - start
        config: dict[str, ConfigValue] = {
            "target_bpp": float(rate), "preset": self.preset, **self.options
        }
        if self.field != "hashgrid":
            config["field"] = self.field
            config.update(sized)
        return CodecRun(
            len(data),
            _like_input(decoded, image),
            float(encoded.encode_seconds),
            decode_seconds,
            config,
        )

    def versions(self) -> dict[str, str]:
        import torch

        import nfcodec

        return {"nfcodec": str(nfcodec.__version__), "torch": str(torch.__version__)}


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[[], Codec]] = {
    "jpeg": JpegCodec,
    "webp": WebpCodec,
    "avif": AvifCodec,
    "jpeg2000": Jpeg2000Codec,
    "x265": X265Codec,
    "nfcodec": NfcodecCodec,
    "nfcodec-fast": functools.partial(NfcodecCodec, "fast"),
    "nfcodec-slow": functools.partial(NfcodecCodec, "slow"),
    "nfcodec-loe": functools.partial(NfcodecCodec, "medium", "loe"),
    "nfcodec-siren": functools.partial(NfcodecCodec, "medium", "siren"),
    # the weight-only baselines at the budget a 2-core CPU sweep affords (1200 steps)
    "nfcodec-loe-fast": functools.partial(NfcodecCodec, "fast", "loe", name="nfcodec-loe-fast"),
    "nfcodec-siren-fast": functools.partial(
        NfcodecCodec, "fast", "siren", name="nfcodec-siren-fast"
    ),
}


def codec_names() -> list[str]:
    """Every codec name `get_codec` accepts, sorted."""
    return sorted(_REGISTRY)


def get_codec(name: str) -> Codec:
    """Build the adapter for `name`; unknown names list the choices, missing libraries say so."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown codec {name!r}; choose one of: {', '.join(codec_names())}"
        ) from None
    return factory()
