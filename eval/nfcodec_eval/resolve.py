"""Finding codecs for a sweep: registered names per media, ``module:attr`` specs, instances.

A codec spec is resolved in the planner and again inside each worker (jobs travel as specs):

* a registered name (``"jpeg"``), looked up in the image registry (`nfcodec_eval.codecs`) or
  the video one (`nfcodec_eval.video_codecs`); one name may be in both (``x265``: intra HEVC
  on pictures, HEVC video on clips), and the item's media decides;
* ``"package.module:attr"``, where ``attr`` is a codec instance, a codec class or a
  zero-argument factory; its ``media`` attribute (default image) says what it codes.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any, Literal

from nfcodec.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from nfcodec_eval.codecs import Codec

Media = Literal["image", "video"]


class SweepError(InputError):
    """A sweep cannot be planned as asked (bad folder, unknown codec, no images)."""


@functools.cache
def _load_spec(spec: str) -> Any:
    """Codec for a ``module:attr`` spec, cached per process so workers build each codec once."""
    module_name, _, attr = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot load codec {spec!r}: {exc}") from exc
    is_factory = isinstance(target, type) or (callable(target) and not hasattr(target, "run"))
    if not is_factory:
        return target
    try:
        return target()
    except Exception as exc:  # construction failures are planning errors, shown in one line
        raise SweepError(f"codec {spec!r} is unavailable: {exc}") from exc


def _registry_names(media: Media) -> list[str]:
    if media == "video":
        from nfcodec_eval.video_codecs import video_codec_names

        return video_codec_names()
    from nfcodec_eval.codecs import codec_names

    return codec_names()


@functools.cache
def _named_codec(name: str, media: Media) -> Any:
    """Registered codec for `name` in the registry of `media`, cached per process."""
    if media == "video":
        from nfcodec_eval.video_codecs import get_video_codec as getter
    else:
        from nfcodec_eval.codecs import get_codec as getter
    try:
        return getter(name)
    except (KeyError, ValueError) as exc:  # unknown name: the message lists the choices
        raise SweepError(str(exc.args[0] if exc.args else exc)) from exc
    except Exception as exc:  # e.g. CodecUnavailable: a library or encoder is missing
        raise SweepError(f"codec {name!r} is unavailable: {exc}") from exc


def media_of(codec: Any) -> Media:
    """What a codec codes: video adapters say so with ``media = "video"``; others code images."""
    return "video" if getattr(codec, "media", "image") == "video" else "image"


def resolve_codec(spec: str | Codec, media: Media = "image") -> Codec:
    """A codec object from a registered name (looked up for `media`), ``module:attr`` or an
    instance."""
    if not isinstance(spec, str):
        return spec
    return _load_spec(spec) if ":" in spec else _named_codec(spec, media)


def adapters_for(spec: str | Codec, medias: set[Media]) -> dict[Media, Codec]:
    """The codec `spec` names for each media of the dataset; an error if it codes none."""
    if not isinstance(spec, str) or ":" in spec:
        codec = resolve_codec(spec)
        known: list[Media] = [media_of(codec)]
        found = {known[0]: codec} if known[0] in medias else {}
    else:
        known = [m for m in ("image", "video") if spec in _registry_names(m)]  # type: ignore[misc]
        if not known:
            names = sorted(set(_registry_names("image")) | set(_registry_names("video")))
            raise SweepError(f"unknown codec {spec!r}; choose one of: {', '.join(names)}")
        found = {m: resolve_codec(spec, m) for m in known if m in medias}
    if not found:
        name = getattr(spec, "name", spec)
        raise SweepError(
            f"codec {name!r} codes {' and '.join(known)}, but the dataset holds "
            f"{' and '.join(sorted(medias))} only"
        )
    return found
